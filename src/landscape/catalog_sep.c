/* The catalog's separable entries, f(x) = sum_i phi(x_i) (the table and
 * what they share are in catalog.c): each phi once, as one inline core
 * (catalog_sep.h), with the scalar op here and the batched kernels in
 * catalog_sep_kern.c built from it. */
#include "sgdscape/landscape.h"
#include "sgdscape/error.h"
#include "core/rng_internal.h"
#include "core/fastmath.h"
#include "landscape/catalog_internal.h"
#include "landscape/catalog_sep.h"
#include "core/isa.h"
#include "landscape/landscape_internal.h"
#include "landscape/spiky.h"

#include <math.h>
#include <stdlib.h>

/* The scalar op of a separable entry from its one inline phi,
 * NAME##_core(b, x, d1, d2) (b: the parameter block; catalog_sep.h has the
 * cores, and catalog_sep_kern.c the batched kernels built from them, in
 * every kernel variant). */
#define SEP_PHI_OP(NAME)                                                                    \
    static double NAME##_phi(const void *p, size_t i, double x, double *d1, double *d2)     \
    {                                                                                       \
        (void)i;                                                                            \
        return NAME##_core(((const sep_params *)p)->buf, x, d1, d2);                        \
    }
/* f at n points, the values summed over coordinates by an `omp simd`
 * reduction: its order follows the vector width, so it is compiled once,
 * here, not per kernel variant. */
#define SEP_VALUE_BATCH(NAME)                                                               \
    static void NAME##_value_batch(const sgd_landscape *f, size_t n, const double *x, double *fx) \
    {                                                                                       \
        const sep_params *sp = f->params;                                                   \
        const double *b = sp->buf;                                                          \
        size_t d = f->d;                                                                    \
        for (size_t j = 0; j < n; j++) {                                                    \
            const double *xj = x + j * d;                                                   \
            double s = 0;                                                                   \
            _Pragma("omp simd reduction(+ : s)") for (size_t i = 0; i < d; i++) s += NAME##_core(b, xj[i], NULL, NULL); \
            fx[j] = sp->c0 + s;                                                             \
        }                                                                                   \
    }

/* The batched kernels into f: the values from SEP_VALUE_BATCH(NAME), the
 * rest from the kernel variant in use (the landscape keeps the variant it
 * was made under). */
#define SEP_USE_BATCH_KERNELS(f, NAME, ID)                                  \
    do {                                                                    \
        const sep_kernels *k_ = sgd_kern()->catalog_sep_kernels(ID);        \
        (f)->grad_batch = k_->grad_batch;                                   \
        (f)->value_batch = NAME##_value_batch;                              \
        (f)->fast = k_->fast;                                               \
    } while (0)

/* ---- quadratic: phi_i = a_i x^2 / 2 -------------------------------------- */
static double quadratic_a(const void *p, size_t i)
{
    const sep_params *sp = p;
    return sp->a ? sp->a[i] : sp->buf[0];
}
static double quadratic_phi(const void *p, size_t i, double x, double *d1, double *d2)
{
    double a = quadratic_a(p, i);
    return quadratic_core(&a, x, d1, d2);
}
static double quadratic_Phi(const void *p, size_t i, double x) { return quadratic_a(p, i) * x * x * x / 6.0; }
static double quadratic_gauss(const void *p, size_t i, double y, double s, double *dg)
{
    double a = quadratic_a(p, i);
    *dg = a * y;
    return 0.5 * a * (y * y + s * s);
}
static const sep_ops quadratic_ops = {quadratic_phi, quadratic_Phi, quadratic_gauss};
SEP_VALUE_BATCH(quadratic)

/* The uniform ball in d > 1 is not separable, but for a quadratic
 * E f(y - eta w) = f(y) + eta^2/2 sum a_i E w_i^2 with E w_i^2 = r^2/(d+2). */
static int quadratic_smooth(const sgd_landscape *f, const sgd_noise *W, double eta,
                            const double *y, double *g, double *grad)
{
    if (W->kind == SGD_NOISE_BALL && f->d > 1) {
        double v = f->fg(f, y, grad), tr = 0;
        for (size_t i = 0; i < f->d; i++) tr += quadratic_a(f->params, i);
        if (g) *g = v + 0.5 * eta * eta * W->scale * W->scale / ((double)f->d + 2.0) * tr;
        return SGD_OK;
    }
    return catalog_sep_smooth(f, W, eta, y, g, grad);
}

sgd_landscape *catalog_quadratic(kvlist *kl, size_t d)
{
    sep_params *sp;
    sgd_landscape *f = catalog_sep_new("quadratic",
                                       "f(x) = 1/2 sum_i a_i x_i^2; a_i = a (isotropic) or a geometric from a to "
                                       "a*cond; x* = 0; L = max a_i; c = min a_i for any mean-zero noise",
                                       d, &quadratic_ops, &sp);
    if (!f) return NULL;
    double a = catalog_param(kl, "a", 1.0), cond = catalog_param(kl, "cond", 1.0);
    if (!(a > 0) || !(cond >= 1)) {
        sgd_landscape_free(f);
        sgd_error(SGD_EINVAL, "--f quadratic: need a > 0 and cond >= 1");
        return NULL;
    }
    sp->buf[0] = a;
    f->L = a * cond;
    if (cond != 1.0) {
        sp->a = malloc(d * sizeof *sp->a);
        if (!sp->a) {
            sgd_landscape_free(f);
            sgd_error(SGD_ENOMEM, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < d; i++)
            sp->a[i] = d == 1 ? a : a * pow(cond, (double)i / (double)(d - 1));
    }
    f->smooth = quadratic_smooth;
    if (!sp->a) { /* isotropic: the vectorised kernels apply */
        SEP_USE_BATCH_KERNELS(f, quadratic, SEP_K_QUADRATIC);
    }
    f->lo = -5;
    f->hi = 5;
    return catalog_with_xstar(f, 0.0);
}

/* ---- Rastrigin: phi = x^2 - A cos(2 pi x) + A ------------------------------ */
SEP_PHI_OP(rast)
static double rast_Phi(const void *p, size_t i, double x)
{
    (void)i;
    double A = ((const sep_params *)p)->buf[0], w = 2 * PI;
    return x * x * x / 3 - A * sin(w * x) / w + A * x;
}
static double rast_gauss(const void *p, size_t i, double y, double s, double *dg)
{
    (void)i;
    double A = ((const sep_params *)p)->buf[0], w = 2 * PI, damp = exp(-0.5 * w * w * s * s);
    *dg = 2 * y + A * w * sin(w * y) * damp;
    return y * y + s * s - A * cos(w * y) * damp + A;
}
static const sep_ops rast_ops = {rast_phi, rast_Phi, rast_gauss};
SEP_VALUE_BATCH(rast)

sgd_landscape *catalog_rastrigin(kvlist *kl, size_t d)
{
    sep_params *sp;
    sgd_landscape *f = catalog_sep_new("rastrigin", "f(x) = sum_i x_i^2 - A cos(2 pi x_i) + A (A = 10); x* = 0; "
                                       "domain [-5.12, 5.12]; L = 2 + 4 pi^2 A",
                                       d, &rast_ops, &sp);
    if (!f) return NULL;
    sp->buf[0] = catalog_param(kl, "A", 10.0);
    f->L = 2 + 4 * PI * PI * fabs(sp->buf[0]);
    SEP_USE_BATCH_KERNELS(f, rast, SEP_K_RAST);
    f->lo = -5.12;
    f->hi = 5.12;
    return catalog_with_xstar(f, 0.0);
}

/* ---- Styblinski-Tang: phi = (x^4 - 16 x^2 + 5 x)/2 -------------------------- */
SEP_PHI_OP(st)
static double st_Phi(const void *p, size_t i, double x)
{
    (void)p; (void)i;
    double x2 = x * x;
    return (x2 * x2 * x / 5 - 16 * x2 * x / 3 + 2.5 * x2) / 2;
}
static double st_gauss(const void *p, size_t i, double y, double s, double *dg)
{
    (void)p; (void)i;
    /* E(y+sz)^4 = y^4 + 6 y^2 s^2 + 3 s^4, E(y+sz)^2 = y^2 + s^2. */
    double y2 = y * y, s2 = s * s;
    *dg = (4 * y2 * y + 12 * y * s2 - 32 * y + 5) / 2;
    return (y2 * y2 + 6 * y2 * s2 + 3 * s2 * s2 - 16 * (y2 + s2) + 5 * y) / 2;
}
static const sep_ops st_ops = {st_phi, st_Phi, st_gauss};
SEP_VALUE_BATCH(st)

sgd_landscape *catalog_styblinski(kvlist *kl, size_t d)
{
    (void)kl;
    sep_params *sp;
    sgd_landscape *f = catalog_sep_new("styblinski-tang", "f(x) = 1/2 sum_i (x_i^4 - 16 x_i^2 + 5 x_i); "
                                       "x*_i = -2.903534; domain [-5, 5]; L = 134 on the domain",
                                       d, &st_ops, &sp);
    if (!f) return NULL;
    f->lo = -5;
    f->hi = 5;
    f->L = (12 * 25 - 32) / 2.0;
    SEP_USE_BATCH_KERNELS(f, st, SEP_K_ST);
    return catalog_with_xstar(f, catalog_argmin(sp, -2.9));
}

/* ---- tilted double well: phi = (x^2 - 1)^2 + tilt x ------------------------ */
SEP_PHI_OP(dw)
static double dw_Phi(const void *p, size_t i, double x)
{
    (void)i;
    double t = ((const sep_params *)p)->buf[0], x2 = x * x;
    return x2 * x2 * x / 5 - 2 * x2 * x / 3 + x + t * x2 / 2;
}
static double dw_gauss(const void *p, size_t i, double y, double s, double *dg)
{
    (void)i;
    double t = ((const sep_params *)p)->buf[0], y2 = y * y, s2 = s * s;
    /* (x^2-1)^2 = x^4 - 2x^2 + 1 */
    *dg = 4 * y2 * y + 12 * y * s2 - 4 * y + t;
    return y2 * y2 + 6 * y2 * s2 + 3 * s2 * s2 - 2 * (y2 + s2) + 1 + t * y;
}
static const sep_ops dw_ops = {dw_phi, dw_Phi, dw_gauss};
SEP_VALUE_BATCH(dw)

sgd_landscape *catalog_double_well(kvlist *kl, size_t d)
{
    sep_params *sp;
    sgd_landscape *f = catalog_sep_new("double-well", "f(x) = sum_i (x_i^2 - 1)^2 + tilt x_i (tilt = 0.3): minima "
                                       "near -1 (global) and +1; x* = the global one; domain [-2, 2]; L = 44 there",
                                       d, &dw_ops, &sp);
    if (!f) return NULL;
    sp->buf[0] = catalog_param(kl, "tilt", 0.3);
    f->lo = -2;
    f->hi = 2;
    f->L = 44;
    SEP_USE_BATCH_KERNELS(f, dw, SEP_K_DW);
    return catalog_with_xstar(f, catalog_argmin(sp, sp->buf[0] >= 0 ? -1.0 : 1.0));
}

/* ---- sharp vs flat: a narrow deep basin beside a wide shallow one ---------- */
/* phi = k x^2/2 - A_s exp(-(x-m_s)^2/(2 s_s^2)) - A_f exp(-(x-m_f)^2/(2 s_f^2)) */
enum { SF_K, SF_AS, SF_MS, SF_SS, SF_AF, SF_MF, SF_SF };
static double gbump(double A, double m, double s, double x, double *d1, double *d2)
{
    double u = (x - m) / s, e = A * exp(-0.5 * u * u);
    *d1 = -e * u / s;
    *d2 = e * (u * u - 1) / (s * s);
    return e;
}
static double sf_phi(const void *p, size_t i, double x, double *d1, double *d2)
{
    (void)i;
    const double *b = ((const sep_params *)p)->buf;
    double a1, a2, c1, c2;
    double vs = gbump(b[SF_AS], b[SF_MS], b[SF_SS], x, &a1, &a2);
    double vf = gbump(b[SF_AF], b[SF_MF], b[SF_SF], x, &c1, &c2);
    *d1 = b[SF_K] * x - a1 - c1;
    *d2 = b[SF_K] - a2 - c2;
    return 0.5 * b[SF_K] * x * x - vs - vf;
}
static double sf_Phi(const void *p, size_t i, double x)
{
    (void)i;
    const double *b = ((const sep_params *)p)->buf;
    double is = b[SF_AS] * b[SF_SS] * sqrt(PI / 2) * erf((x - b[SF_MS]) / (b[SF_SS] * sqrt(2.0)));
    double iff = b[SF_AF] * b[SF_SF] * sqrt(PI / 2) * erf((x - b[SF_MF]) / (b[SF_SF] * sqrt(2.0)));
    return b[SF_K] * x * x * x / 6 - is - iff;
}
static double sf_gauss(const void *p, size_t i, double y, double s, double *dg)
{
    (void)i;
    const double *b = ((const sep_params *)p)->buf;
    /* A Gaussian bump convolved with N(0, s^2) stays a Gaussian bump. */
    double ss = sqrt(b[SF_SS] * b[SF_SS] + s * s), sf = sqrt(b[SF_SF] * b[SF_SF] + s * s);
    double a1, a2, c1, c2;
    double vs = gbump(b[SF_AS] * b[SF_SS] / ss, b[SF_MS], ss, y, &a1, &a2);
    double vf = gbump(b[SF_AF] * b[SF_SF] / sf, b[SF_MF], sf, y, &c1, &c2);
    *dg = b[SF_K] * y - a1 - c1;
    return 0.5 * b[SF_K] * (y * y + s * s) - vs - vf;
}
static const sep_ops sf_ops = {sf_phi, sf_Phi, sf_gauss};

sgd_landscape *catalog_sharp_flat(kvlist *kl, size_t d)
{
    sep_params *sp;
    sgd_landscape *f = catalog_sep_new(
        "sharp-flat",
        "f(x) = sum_i k x_i^2/2 - A_s exp(-(x_i-m_s)^2/2s_s^2) - A_f exp(-(x_i-m_f)^2/2s_f^2): "
        "a sharp deep basin (A_s=1.3, m_s=-1, s_s=0.08) beside a flat shallow one "
        "(A_f=1, m_f=1.5, s_f=0.8), k = 0.1; x* = the flat minimum, which noise prefers",
        d, &sf_ops, &sp);
    if (!f) return NULL;
    double *b = sp->buf;
    b[SF_K] = catalog_param(kl, "k", 0.1);
    b[SF_AS] = catalog_param(kl, "As", 1.3);
    b[SF_MS] = catalog_param(kl, "ms", -1.0);
    b[SF_SS] = catalog_param(kl, "ss", 0.08);
    b[SF_AF] = catalog_param(kl, "Af", 1.0);
    b[SF_MF] = catalog_param(kl, "mf", 1.5);
    b[SF_SF] = catalog_param(kl, "sf", 0.8);
    if (!(b[SF_SS] > 0 && b[SF_SF] > 0 && b[SF_K] >= 0)) {
        sgd_landscape_free(f);
        sgd_error(SGD_EINVAL, "--f sharp-flat: need ss > 0, sf > 0, k >= 0");
        return NULL;
    }
    f->lo = -4;
    f->hi = 4;
    f->L = catalog_L_scan(sp, -6, 6, 200000);
    return catalog_with_xstar(f, catalog_argmin(sp, b[SF_MF]));
}

/* ---- spiky (Figure 3) ---------------------------------------------------- */
static double spiky_sep_phi(const void *p, size_t i, double x, double *d1, double *d2)
{
    (void)i;
    return spiky_phi(((const sep_params *)p)->buf, x, d1, d2);
}
static double spiky_sep_Phi(const void *p, size_t i, double x)
{
    (void)i;
    return spiky_Phi(((const sep_params *)p)->buf, x);
}
static const sep_ops spiky_ops = {spiky_sep_phi, spiky_sep_Phi, NULL};

static void spiky_f_grad_batch(const sgd_landscape *f, size_t n, const double *x, double *grad)
{
    const sep_params *sp = f->params;
    spiky_grad_batch(sp->buf, n * f->d, x, grad);
}

static void spiky_f_value_batch(const sgd_landscape *f, size_t n, const double *x, double *fx)
{
    const sep_params *sp = f->params;
    spiky_value_batch(sp->buf, n, f->d, x, fx);
}

static void spiky_f_phi_batch(const sgd_landscape *f, size_t n, const double *x, double *phi, double *dphi)
{
    const sep_params *sp = f->params;
    spiky_phi_batch(sp->buf, n, x, phi, dphi);
}

static double spiky_f_phi_sum(const sgd_landscape *f, size_t n, const double *x)
{
    const sep_params *sp = f->params;
    return spiky_phi_sum(sp->buf, n, x);
}

static const struct sgd_landscape_fast spiky_fast = {spiky_f_phi_batch, spiky_f_phi_sum, NULL, NULL};

sgd_landscape *catalog_spiky(kvlist *kl, size_t d)
{
    sep_params *sp;
    sgd_landscape *f = catalog_sep_new("spiky", SPIKY_DOC, d, &spiky_ops, &sp);
    if (!f) return NULL;
    double *b = sp->buf;
    spiky_defaults(b);
    b[SPIKY_A1] = catalog_param(kl, "A1", b[SPIKY_A1]);
    b[SPIKY_W1] = catalog_param(kl, "w1", b[SPIKY_W1]);
    b[SPIKY_A2] = catalog_param(kl, "A2", b[SPIKY_A2]);
    b[SPIKY_W2] = catalog_param(kl, "w2", b[SPIKY_W2]);
    b[SPIKY_EA] = catalog_param(kl, "a", b[SPIKY_EA]);
    b[SPIKY_EB] = catalog_param(kl, "b", b[SPIKY_EB]);
    if (!(b[SPIKY_EB] > b[SPIKY_EA] && b[SPIKY_EA] >= 0 && b[SPIKY_W1] > 0 &&
          b[SPIKY_W2] > 0)) {
        sgd_landscape_free(f);
        sgd_error(SGD_EINVAL, "--f spiky: need 0 <= a < b, w1 > 0, w2 > 0");
        return NULL;
    }
    f->grad_batch = spiky_f_grad_batch;
    f->value_batch = spiky_f_value_batch;
    f->fast = &spiky_fast;
    f->lo = -5;
    f->hi = 5;
    /* Beyond b, phi'' = 1 + A1 w1^2 cos(w1 x) + A2 w2^2 cos(w2 x), whose
     * supremum is 1 + A1 w1^2 + A2 w2^2 (both cosines come arbitrarily close
     * to 1 together unless the frequencies are commensurate, and then the
     * bound is attained); inside [-b, b] we scan densely. */
    double tail = 1 + fabs(b[SPIKY_A1]) * b[SPIKY_W1] * b[SPIKY_W1] +
                  fabs(b[SPIKY_A2]) * b[SPIKY_W2] * b[SPIKY_W2];
    double inner = catalog_L_scan(sp, -b[SPIKY_EB], b[SPIKY_EB], 400000);
    f->L = inner > tail ? inner : tail;
    return catalog_with_xstar(f, 0.0);
}
