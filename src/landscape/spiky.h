/* The Figure-3 landscape (private to the landscape module); p holds
 * SPIKY_NPARAM parameters. */
#ifndef SGD_LANDSCAPE_SPIKY_H
#define SGD_LANDSCAPE_SPIKY_H
#include "core/fastmath.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* spiky_core's `form`: literal flags, so that each batch loop is compiled
 * for one form (SPIKY_DISPATCH). */
enum { SPIKY_NESTED = 1, SPIKY_POW2_W = 2 };

/* phi and its derivatives, written branch-free (clamped smoothstep, sincos
 * kernel) so the batch kernels (spiky_kern.c) vectorise across trials. The scalar
 * and batch paths share this code, so they give the same bits. */
static inline double spiky_core(double A1, double w1, double A2, double w2, double a, double w, int form,
                                double x, double *d1, double *d2)
{
    const int nested = form & SPIKY_NESTED;
    double ax = x < 0 ? -x : x, sg = x < 0 ? -1.0 : 1.0;
    /* With w a power of two, 1/w is exact and q / w == q * (1/w) in every
     * bit (the default w = 0.5): two divisions per point fewer, ~3% of a
     * Figure-3 trial step. */
    const double iw = 1.0 / w;
#define SPIKY_OVER_W(q) ((form & SPIKY_POW2_W) ? (q) * iw : (q) / w)
    double u = SPIKY_OVER_W(ax - a);
    u = u < 0 ? 0 : (u > 1 ? 1 : u);
    double u2 = u * u, v = 1 - u;
    double e = u2 * u * (10 - 15 * u + 6 * u2);   /* quintic smoothstep S(u) */
    double de = SPIKY_OVER_W(sg * 30 * u2 * v * v); /* dS/dx */
#undef SPIKY_OVER_W
    double s1, c1, s2, c2;
    sgd_sincos(w2 * x, &s2, &c2);
    if (nested) {
        /* w1 = 4 w2 (the default design: spikes nest in the ripples). Two
         * double-angle steps give the spikes' cos and sin at exactly w1 x
         * (scaling by 4 commutes with rounding) for a fifth of a sincos. */
        double c = c2 * c2 - s2 * s2, sn = 2 * s2 * c2;
        c1 = c * c - sn * sn;
        s1 = 2 * sn * c;
    } else
        sgd_sincos(w1 * x, &s1, &c1);
    double rip = 1 - c2;
    *d1 = x + A1 * w1 * s1 + A2 * (de * rip + e * w2 * s2);
    if (d2) {
        double dde = 60 * u * v * (1 - 2 * u) / (w * w);
        *d2 = 1 + A1 * w1 * w1 * c1 + A2 * (dde * rip + 2 * de * w2 * s2 + e * w2 * w2 * c2);
    }
    return 0.5 * x * x + A1 * (1 - c1) + A2 * e * rip;
}

/* The batched kernels take the form (nested: w1 = 4 w2, sines by double
 * angles; w = b - a a power of two) as a literal from one dispatch each:
 * with it known only at run time the compiler could not unswitch these
 * loops and computed both forms in every lane. */
#define SPIKY_UNPACK                                                                                           \
    const double A1 = p[SPIKY_A1], w1 = p[SPIKY_W1], A2 = p[SPIKY_A2], w2 = p[SPIKY_W2]; \
    const double a = p[SPIKY_EA], w = p[SPIKY_EB] - a
#define SPIKY_DISPATCH(body, ...)                                                                             \
    (spiky_form(p) == 3   ? body(__VA_ARGS__, 3)                                                              \
     : spiky_form(p) == 2 ? body(__VA_ARGS__, 2)                                                              \
     : spiky_form(p) == 1 ? body(__VA_ARGS__, 1)                                                              \
                          : body(__VA_ARGS__, 0))

/* The form flags of parameters p. Inline bit tests, no libm call: the
 * dispatch runs once per batch of points. w is a power of two when its
 * mantissa bits are zero, positive, and far from overflow and subnormals
 * (so 1/w is exact too). */
static inline int spiky_form(const double *p)
{
    double w = p[SPIKY_EB] - p[SPIKY_EA];
    uint64_t bits;
    memcpy(&bits, &w, sizeof bits);
    unsigned ex = (unsigned)(bits >> 52); /* sign and biased exponent */
    int pow2 = (bits & 0xFFFFFFFFFFFFFull) == 0 && ex > 23 && ex < 2000;
    return (p[SPIKY_W1] == 4 * p[SPIKY_W2] ? SPIKY_NESTED : 0) | (pow2 ? SPIKY_POW2_W : 0);
}

#endif
