/* The Figure-3 landscape (private to the landscape module). */
#ifndef SGD_LANDSCAPE_SPIKY_H
#define SGD_LANDSCAPE_SPIKY_H
#include <stddef.h>

enum { SGD_SPIKY_A1, SGD_SPIKY_W1, SGD_SPIKY_A2, SGD_SPIKY_W2, SGD_SPIKY_EA, SGD_SPIKY_EB, SGD_SPIKY_NPARAM };

#define SGD_SPIKY_DOC                                                                                  \
    "Figure 3: phi(x) = x^2/2 + A1 (1 - cos(w1 x)) + A2 e(x) (1 - cos(w2 x)), f = sum_i phi(x_i); "     \
    "spikes A1=0.008, w1=80 everywhere (gone after smoothing at level >= 0.04); ripples A2=0.35, "   \
    "w2=20 switched on by the quintic smoothstep e(x) for |x| between a=1.5 and b=2 (they survive "    \
    "level 0.04, mostly gone at 0.13); x* = 0; exact uniform convolution"

void sgd_spiky_defaults(double *p);
double sgd_spiky_phi(const double *p, double x, double *d1, double *d2);
double sgd_spiky_Phi(const double *p, double x);   /* antiderivative, Phi(0) = 0 */
void sgd_spiky_grad_batch(const double *p, size_t n, const double *x, double *g);
/* f of n points of dimension d (sum of phi over coordinates). */
/* phi(x[k]) and phi'(x[k]) for k < n (either output may be NULL). */
void sgd_spiky_phi_batch(const double *p, size_t n, const double *x, double *phi, double *dphi);
/* sum_k phi(x[k]), k < n, in 16 interleaved partial sums (sgd_sum16_fold). */
double sgd_spiky_phi_sum(const double *p, size_t n, const double *x);
void sgd_spiky_value_batch(const double *p, size_t n, size_t d, const double *x, double *fx);

#endif
