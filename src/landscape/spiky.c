/* The spiky landscape of Figure 3. The paper gives no formula; this one is
 * designed so that every panel of the figure happens for a documented reason:
 *   - spikes A1 (1 - cos(w1 x)), period 0.079, everywhere: GD stops at the
 *     nearest spike minimum wherever |x| < A1 w1 (about 0.64);
 *   - ripples A2 e(x) (1 - cos(w2 x)), period 0.31, only for |x| > a = 1.5
 *     (e is a C^2 smoothstep from 0 at |x| = a to 1 at |x| = b): their slope
 *     A2 w2 = 7 beats the parabola's |x| out to |x| = 7, so GD and SGD with
 *     small noise stay in them; they are why the small level fails outside
 *     [-1.5, 1.5] while [-1.5, 1.5] itself is convex after smoothing;
 *   - uniform smoothing of half-width s multiplies a cosine of frequency w by
 *     sin(ws)/(ws): s = 0.04 removes the spikes (w1 s = 3.2) but keeps the
 *     ripples (w2 s = 0.8); s = 0.13 leaves a fifth of the ripples, too
 *     little to hold SGD (w2 s = 2.6); s = 0.8 makes SGD a random walk.
 * The exact convolution with uniform noise is (Phi(y+s) - Phi(y-s))/(2s),
 * where Phi is the closed-form antiderivative below. */
#include "landscape/spiky.h"
#include "core/isa.h"

#include <complex.h>
#include <math.h>

void spiky_defaults(double *p)
{
    p[SPIKY_A1] = 0.008;
    p[SPIKY_W1] = 80.0;
    p[SPIKY_A2] = 0.35;
    p[SPIKY_W2] = 20.0;
    p[SPIKY_EA] = 1.5;
    p[SPIKY_EB] = 2.0;
}

double spiky_phi(const double *p, double x, double *d1, double *d2)
{
    double g;
    double v = spiky_core(p[SPIKY_A1], p[SPIKY_W1], p[SPIKY_A2], p[SPIKY_W2], p[SPIKY_EA],
                          p[SPIKY_EB] - p[SPIKY_EA], spiky_form(p), x, &g, d2);
    if (d1) *d1 = g;
    return v;
}

/* int_0^U S(u) e^{iku} du by repeated integration by parts (S has degree 5). */
static double complex poly_exp_integral(double U, double k)
{
    double complex ik = I * k;
    /* derivatives of S at u: S, S', ..., S^(5) */
    double dU[6] = {10 * U * U * U - 15 * U * U * U * U + 6 * U * U * U * U * U,
                    30 * U * U - 60 * U * U * U + 30 * U * U * U * U,
                    60 * U - 180 * U * U + 120 * U * U * U,
                    60 - 360 * U + 360 * U * U,
                    -360 + 720 * U,
                    720};
    double d0[6] = {0, 0, 0, 60, -360, 720};
    double complex sU = 0, s0 = 0, pw = ik;
    for (int j = 0; j < 6; j++) {
        double sgn = (j & 1) ? -1.0 : 1.0;
        sU += sgn * dU[j] / pw;
        s0 += sgn * d0[j] / pw;
        pw *= ik;
    }
    return cexp(ik * U) * sU - s0;
}

/* E(t) = int_0^t A2 e(u) (1 - cos(w2 u)) du for t >= 0. */
static double ripple_integral(const double *p, double t)
{
    double A2 = p[SPIKY_A2], w2 = p[SPIKY_W2];
    double a = p[SPIKY_EA], b = p[SPIKY_EB], w = b - a;
    if (t <= a) return 0.0;
    double U = t < b ? (t - a) / w : 1.0;
    double intS = U * U * U * U * (2.5 - 3 * U + U * U);
    double complex ic = cexp(I * w2 * a) * poly_exp_integral(U, w2 * w);
    double E = A2 * w * (intS - creal(ic));
    if (t > b) E += A2 * ((t - b) - (sin(w2 * t) - sin(w2 * b)) / w2);
    return E;
}

double spiky_Phi(const double *p, double x)
{
    double A1 = p[SPIKY_A1], w1 = p[SPIKY_W1];
    double sg = x < 0 ? -1.0 : 1.0;
    return x * x * x / 6 + A1 * (x - sin(w1 * x) / w1) + sg * ripple_integral(p, fabs(x));
}

/* The batched kernels run in the variant chosen at start-up (spiky_kern.c). */
void spiky_grad_batch(const double *p, size_t n, const double *x, double *g)
{
    sgd_kern()->spiky_grad_batch(p, n, x, g);
}

void spiky_phi_batch(const double *p, size_t n, const double *x, double *phi, double *dphi)
{
    sgd_kern()->spiky_phi_batch(p, n, x, phi, dphi);
}

double spiky_phi_sum(const double *p, size_t n, const double *x) { return sgd_kern()->spiky_phi_sum(p, n, x); }

/* Not dispatched: its sum over coordinates is an `omp simd` reduction, whose
 * order follows the vector width. */
static inline __attribute__((always_inline)) void value_batch_q(const double *p, size_t n, size_t d,
                                                                const double *x, double *fx, const int form)
{
    SPIKY_UNPACK;
    for (size_t j = 0; j < n; j++) {
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (size_t i = 0; i < d; i++) {
            double gi;
            s += spiky_core(A1, w1, A2, w2, a, w, form, x[j * d + i], &gi, NULL);
        }
        fx[j] = s;
    }
}

void spiky_value_batch(const double *p, size_t n, size_t d, const double *x, double *fx)
{
    SPIKY_DISPATCH(value_batch_q, p, n, d, x, fx);
}
