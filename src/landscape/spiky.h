/* The Figure-3 landscape (private to the landscape module); p holds
 * SPIKY_NPARAM parameters. */
#ifndef SGD_LANDSCAPE_SPIKY_H
#define SGD_LANDSCAPE_SPIKY_H
#include <stddef.h>

enum { SPIKY_A1, SPIKY_W1, SPIKY_A2, SPIKY_W2, SPIKY_EA, SPIKY_EB, SPIKY_NPARAM };

#define SPIKY_DOC                                                                                  \
    "Figure 3: phi(x) = x^2/2 + A1 (1 - cos(w1 x)) + A2 e(x) (1 - cos(w2 x)), f = sum_i phi(x_i); "     \
    "spikes A1=0.008, w1=80 everywhere (gone after smoothing at level >= 0.04); ripples A2=0.35, "   \
    "w2=20 switched on by the quintic smoothstep e(x) for |x| between a=1.5 and b=2 (they survive "    \
    "level 0.04, mostly gone at 0.13); x* = 0; exact uniform convolution"

void spiky_defaults(double *p);
double spiky_phi(const double *p, double x, double *d1, double *d2);
double spiky_Phi(const double *p, double x);   /* antiderivative, Phi(0) = 0 */
/* phi'(x[k]) for k < n. */
void spiky_grad_batch(const double *p, size_t n, const double *x, double *g);
/* phi(x[k]) and phi'(x[k]) for k < n (either output may be NULL). */
void spiky_phi_batch(const double *p, size_t n, const double *x, double *phi, double *dphi);
/* sum_k phi(x[k]), k < n, in 16 interleaved partial sums (sgd_sum16_fold). */
double spiky_phi_sum(const double *p, size_t n, const double *x);
/* f of n points of dimension d (sum of phi over coordinates). */
void spiky_value_batch(const double *p, size_t n, size_t d, const double *x, double *fx);

#endif
