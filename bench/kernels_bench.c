/* Hand-written kernels against libraries (issue 12 section 5, docs/bench.md):
 * our sin/cos (src/core/fastmath.h) against SLEEF and libm, our Philox4x32-10
 * against Random123's, and the Figure-3 trial step and Rastrigin Monte Carlo
 * smoothing with SLEEF in place of our sin/cos. One thread; throughput as
 * the median of R repeats, every implementation once per repeat in turn (a
 * shared machine's load falls on all of them); accuracy and bit identity
 * over fixed argument sets. Run through bench/kernels_bench.sh.
 *   bench_kernels [REPEATS]
 *
 * Built only where SLEEF is installed (CMakeLists.txt); the library never
 * uses it. Like the library's kernels (src/core/isa.h) this file is compiled
 * three times: with KB_TAG=avx2 and KB_TAG=avx512 and those variants' flags
 * it is only the kernels below, suffixed; without KB_TAG (the build's own
 * flags: baseline) it is the baseline kernels and main. */
#include "core/fastmath.h"
#include "core/isa.h"
#include "core/rng_internal.h"
#include "landscape/spiky.h"
#include "sgdscape/rng.h"

#include "sgdscape/io.h"

#include <sleef.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef KB_TAG
#define KB_TAG baseline
#define KB_MAIN 1
#endif
#define KB_PASTE_(a, b) a##_##b
#define KB_EXPAND_(a, b) KB_PASTE_(a, b)
#define KB(name) KB_EXPAND_(name, KB_TAG)

enum { KB_TRIALS = 64 }; /* trials.c's block */

/* sin/cos of x[0..n) into s, c; or one value per x into c (cos 2 pi x). */
typedef void (*kb_sincos_fn)(size_t n, const double *x, double *s, double *c);
typedef struct kb_impl {
    const char *name;
    kb_sincos_fn fn;
} kb_impl;

/* What one compile gives, per row. The table ends at a NULL name. */
typedef struct kb_variant {
    kb_impl sincos[4];
    kb_impl cos2pi[4];
    void (*philox)(size_t n, uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, uint32_t k0, uint32_t k1);
    /* Figure-3 step kernels: the spiky gradient of m <= KB_TRIALS points */
    void (*grad_ours)(const double *p, size_t m, const double *x, double *g);
    /* the same computed in two passes (sin/cos of all m points first) by
     * SLEEF u10, u35 and ours: the form a library call imposes */
    void (*grad_sleef[3])(const double *p, size_t m, const double *x, double *g);
    void (*noise)(uint64_t seed, uint64_t trial0, uint64_t half, double r, size_t m, double *om, double *pair);
    int (*step)(size_t m, double eta, double r, double *x, const double *g, const double *s, const int *active,
                int all);
    /* Rastrigin (A = 10) values at y - eta r sym(w) summed over n = 4 nb
     * Philox words (the phi_cube_sum road of catalog_sep_kern.c) */
    double (*rast_ours)(size_t nb, const uint32_t ctr[4], double y, double eta, double r2, uint32_t *w, double *xs);
    /* two passes by SLEEF's cospi(2x) u05, cos(2 pi x) u35, ours */
    double (*rast_sleef[3])(size_t nb, const uint32_t ctr[4], double y, double eta, double r2, uint32_t *w, double *xs);
} kb_variant;

/* ---- ours, at this compile's vector width -------------------------------- */
static void KB(ours_sincos)(size_t n, const double *x, double *s, double *c)
{
#pragma omp simd simdlen(8)
    for (size_t i = 0; i < n; i++) sgd_sincos(x[i], &s[i], &c[i]);
}

static void KB(ours_cos2pi)(size_t n, const double *x, double *s, double *c)
{
    (void)s;
#pragma omp simd simdlen(8)
    for (size_t i = 0; i < n; i++) c[i] = sgd_cos2pi(x[i]);
}

/* ---- SLEEF at this compile's width, one vector per call ---------------- */
#if defined(__AVX512F__)
typedef __m512d kb_vd;
#define KB_SLEEF(f, u) Sleef_##f##d8_##u##avx512f
#elif defined(__AVX2__)
typedef __m256d kb_vd;
#define KB_SLEEF(f, u) Sleef_##f##d4_##u##avx2
#else
typedef __m128d kb_vd;
#define KB_SLEEF(f, u) Sleef_##f##d2_##u##sse2
#endif
#define KB_VW (sizeof(kb_vd) / sizeof(double))

/* sin and cos of x[0..n) (n a multiple of KB_VW) by SLEEF's F */
#define KB_SLEEF_SINCOS(name, F)                                   \
    static void KB(name)(size_t n, const double *x, double *s, double *c) \
    {                                                              \
        for (size_t i = 0; i < n; i += KB_VW) {                    \
            kb_vd v;                                               \
            memcpy(&v, x + i, sizeof v);                           \
            __typeof__(F(v)) r = F(v);                             \
            memcpy(s + i, &r.x, sizeof v);                         \
            memcpy(c + i, &r.y, sizeof v);                         \
        }                                                          \
    }
KB_SLEEF_SINCOS(sleef_sincos10, KB_SLEEF(sincos, u10))
KB_SLEEF_SINCOS(sleef_sincos35, KB_SLEEF(sincos, u35))

/* cos(2 pi x): by cospi(2 x) (2 x exact), or by cos(w x) with w = 2 pi
 * rounded, as catalog_sep.h's derivative form does */
#define KB_SLEEF_COS2PI(name, F, SCALE)                            \
    static void KB(name)(size_t n, const double *x, double *s, double *c) \
    {                                                              \
        (void)s;                                                   \
        for (size_t i = 0; i < n; i += KB_VW) {                    \
            kb_vd v;                                               \
            memcpy(&v, x + i, sizeof v);                           \
            v = F(v * (SCALE));                                    \
            memcpy(c + i, &v, sizeof v);                           \
        }                                                          \
    }
KB_SLEEF_COS2PI(sleef_cospi, KB_SLEEF(cospi, u05), 2.0)
KB_SLEEF_COS2PI(sleef_cos35, KB_SLEEF(cos, u35), 2 * 3.14159265358979323846)

static void KB(ours_philox)(size_t n, uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, uint32_t k0, uint32_t k1)
{
    sgd_philox4x32_soa(n, c0, c1, c2, c3, k0, k1);
}

/* Bench-only copy of spiky_core (src/landscape/spiky.h), nested form
 * (w1 = 4 w2, the default), gradient only, with the ripples' sin and cos
 * from SLEEF (sc: u10 or u35) computed first for the m points. */
static inline __attribute__((always_inline)) void KB(grad_sleef)(const double *p, size_t m, const double *x,
                                                                double *g, kb_sincos_fn sc)
{
    SPIKY_UNPACK;
    double s2v[KB_TRIALS], c2v[KB_TRIALS], wx[KB_TRIALS];
    const size_t mv = (m + KB_VW - 1) / KB_VW * KB_VW;
    /* all KB_TRIALS (m is KB_TRIALS in the timed rows): gcc cannot see mv <= KB_TRIALS */
    for (size_t k = 0; k < KB_TRIALS; k++) wx[k] = k < m ? w2 * x[k] : 0;
    sc(mv, wx, s2v, c2v);
#pragma omp simd simdlen(8)
    for (size_t k = 0; k < m; k++) {
        double xk = x[k], ax = xk < 0 ? -xk : xk, sg = xk < 0 ? -1.0 : 1.0;
        double u = (ax - a) / w;
        u = u < 0 ? 0 : (u > 1 ? 1 : u);
        double u2 = u * u, v = 1 - u;
        double e = u2 * u * (10 - 15 * u + 6 * u2);
        double de = sg * 30 * u2 * v * v / w;
        double s2 = s2v[k], c2 = c2v[k];
        double c = c2 * c2 - s2 * s2, sn = 2 * s2 * c2;
        double s1 = 2 * sn * c;
        g[k] = xk + A1 * w1 * s1 + A2 * (de * (1 - c2) + e * w2 * s2);
    }
}

static void KB(grad_sleef10)(const double *p, size_t m, const double *x, double *g)
{
    KB(grad_sleef)(p, m, x, g, KB(sleef_sincos10));
}

static void KB(grad_sleef35)(const double *p, size_t m, const double *x, double *g)
{
    KB(grad_sleef)(p, m, x, g, KB(sleef_sincos35));
}

static void KB(grad_ours2)(const double *p, size_t m, const double *x, double *g)
{
    KB(grad_sleef)(p, m, x, g, KB(ours_sincos));
}

/* Rastrigin's phi (A = 10) as rast_core's value form (catalog_sep.h). */
static inline double KB(rast_val)(double x) { return x * x - 10.0 * sgd_cos2pi(x) + 10.0; }

/* The Rastrigin cube-noise sum, ours: the phi_cube_sum road (Philox words
 * straight into the value, catalog_sep_kern.c). */
static double KB(rast_ours)(size_t nb, const uint32_t ctr[4], double y, double eta, double r2, uint32_t *w, double *xs)
{
    (void)xs;
    sgd_philox4x32_run(nb, ctr, 0, 42u, 0u, (uint32_t *const[4]){w, w + nb, w + 2 * nb, w + 3 * nb});
    double s;
    SGD_SUM16(s, 4 * nb, KB(rast_val)(y - eta * sgd_sym32_scaled(w[k_], r2)));
    return s;
}

/* The same with SLEEF's cos(2 pi x) (cs: cospi(2x) or cos(w x)): the points
 * first, then the cosines a vector at a time, then the same sum. */
static inline __attribute__((always_inline)) double KB(rast_sleef)(size_t nb, const uint32_t ctr[4], double y,
                                                                  double eta, double r2, uint32_t *w, double *xs,
                                                                  kb_sincos_fn cs_fn)
{
    const size_t n = 4 * nb;
    sgd_philox4x32_run(nb, ctr, 0, 42u, 0u, (uint32_t *const[4]){w, w + nb, w + 2 * nb, w + 3 * nb});
    double *cs = xs + n;
#pragma omp simd
    for (size_t k = 0; k < n; k++) xs[k] = y - eta * sgd_sym32_scaled(w[k], r2);
    cs_fn(n, xs, NULL, cs);
    double s;
    SGD_SUM16(s, n, xs[k_] * xs[k_] - 10.0 * cs[k_] + 10.0);
    return s;
}

static double KB(rast_cospi)(size_t nb, const uint32_t ctr[4], double y, double eta, double r2, uint32_t *w, double *xs)
{
    return KB(rast_sleef)(nb, ctr, y, eta, r2, w, xs, KB(sleef_cospi));
}

static double KB(rast_ours2)(size_t nb, const uint32_t ctr[4], double y, double eta, double r2, uint32_t *w, double *xs)
{
    return KB(rast_sleef)(nb, ctr, y, eta, r2, w, xs, KB(ours_cos2pi));
}

static double KB(rast_cos35)(size_t nb, const uint32_t ctr[4], double y, double eta, double r2, uint32_t *w, double *xs)
{
    return KB(rast_sleef)(nb, ctr, y, eta, r2, w, xs, KB(sleef_cos35));
}

const kb_variant KB(kb_variant) = {
    .sincos = {{"ours sgd_sincos", KB(ours_sincos)},
               {"SLEEF sincos u10", KB(sleef_sincos10)},
               {"SLEEF sincos u35", KB(sleef_sincos35)},
               {NULL, NULL}},
    .cos2pi = {{"ours sgd_cos2pi", KB(ours_cos2pi)},
               {"SLEEF cospi(2x) u05", KB(sleef_cospi)},
               {"SLEEF cos(2pi*x) u35", KB(sleef_cos35)},
               {NULL, NULL}},
    .philox = KB(ours_philox),
    .grad_ours = KB(spiky_grad_batch),
    .grad_sleef = {KB(grad_sleef10), KB(grad_sleef35), KB(grad_ours2)},
    .noise = KB(trials_noise_1d),
    .step = KB(trials_step_flat),
    .rast_ours = KB(rast_ours),
    .rast_sleef = {KB(rast_cospi), KB(rast_cos35), KB(rast_ours2)},
};

#ifdef KB_MAIN
/* ======================= baseline compile only: main ====================== */
#include <Random123/philox.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern const kb_variant kb_variant_avx2, kb_variant_avx512;

static void libm_sincos(size_t n, const double *x, double *s, double *c)
{
    for (size_t i = 0; i < n; i++) sincos(x[i], &s[i], &c[i]);
}

static void libm_cos2pi(size_t n, const double *x, double *s, double *c)
{
    (void)s;
    for (size_t i = 0; i < n; i++) c[i] = cos(2 * 3.14159265358979323846 * x[i]);
}

/* sin and cos by a scalar SLEEF function F, one argument at a time */
#define KB_SLEEF_SCALAR(name, F)                                    \
    static void name(size_t n, const double *x, double *s, double *c) \
    {                                                               \
        for (size_t i = 0; i < n; i++) {                            \
            __typeof__(F(0.0)) r = F(x[i]);                         \
            s[i] = r.x;                                             \
            c[i] = r.y;                                             \
        }                                                           \
    }
/* sleef.h declares the FMA forms only under __FMA__ (declaring it again
 * there conflicts with its attributes under clang); this one is called
 * only where the CPU has FMA. */
#ifndef __FMA__
Sleef_double_2 Sleef_sincosd1_u10purecfma(double);
#endif
KB_SLEEF_SCALAR(sleef_scalar_sincos10, Sleef_sincos_u10)
KB_SLEEF_SCALAR(sleef_purec_sincos10, Sleef_sincosd1_u10purec)
KB_SLEEF_SCALAR(sleef_purecfma_sincos10, Sleef_sincosd1_u10purecfma)

static void sleef_scalar_cospi(size_t n, const double *x, double *s, double *c)
{
    (void)s;
    for (size_t i = 0; i < n; i++) c[i] = Sleef_cospi_u05(2 * x[i]);
}

static void r123_philox(size_t n, uint32_t *c0, uint32_t *c1, uint32_t *c2, uint32_t *c3, uint32_t k0, uint32_t k1)
{
    philox4x32_key_t k = {{k0, k1}};
    for (size_t i = 0; i < n; i++) {
        philox4x32_ctr_t c = {{c0[i], c1[i], c2[i], c3[i]}};
        philox4x32_ctr_t r = philox4x32(c, k);
        c0[i] = r.v[0];
        c1[i] = r.v[1];
        c2[i] = r.v[2];
        c3[i] = r.v[3];
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Error of y in units in the last place of the double nearest ref. */
static double ulps(double y, long double ref)
{
    double r = (double)ref;
    if (r == 0) return y == 0 ? 0 : INFINITY;
    int e;
    frexp(r, &e);
    return (double)(fabsl((long double)y - ref) / ldexpl(1.0L, e - 53));
}

/* x - round(x) and its exact quarter-period complement: cos(2 pi x) =
 * sin(2 pi (1/4 - |f|)), whose long double sine is accurate to its
 * precision however close to a zero (the reference of cos2pi). */
static long double ref_cos2pi(double x)
{
    long double f = (long double)x - nearbyintl((long double)x);
    return sinl(6.283185307179586476925286766559L * (0.25L - fabsl(f)));
}

/* A variant of the table, or NULL where the CPU lacks it. */
enum { NV = 3 };
static const char *const vname[NV] = {"baseline", "avx2", "avx512"};
static const kb_variant *variant(int v)
{
    if (v == 0) return &kb_variant_baseline;
    if (v == 1) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &kb_variant_avx2 : NULL;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")
               ? &kb_variant_avx512
               : NULL;
}

/* One row of a table: an implementation at a variant, its repeats. */
enum { MAXROW = 32, MAXREP = 51, NACC = 1 << 20, NT = 4096 };
typedef struct row {
    const char *name, *var;
    kb_sincos_fn fn;
    double t[MAXREP];
    double ulp_s, ulp_c, abs_e, *s, *c; /* accuracy and outputs over the accuracy set */
} row;

/* Rows for table `which` (0 sincos, 1 cos2pi): ours and SLEEF at every
 * variant the CPU has, then the scalar libraries. */
static int build_rows(int which, row *rows)
{
    int nr = 0;
    for (int v = 0; v < NV; v++) {
        const kb_variant *V = variant(v);
        if (!V) continue;
        const kb_impl *im = which ? V->cos2pi : V->sincos;
        for (; im->name; im++) {
            rows[nr].name = im->name;
            rows[nr].var = vname[v];
            rows[nr++].fn = im->fn;
        }
    }
    const kb_impl extra[2][5] = {{{"libm sincos", libm_sincos},
                                  {"SLEEF sincos u10", sleef_scalar_sincos10},
                                  {"SLEEF sincos u10", sleef_purec_sincos10},
                                  {"SLEEF sincos u10", sleef_purecfma_sincos10},
                                  {NULL, NULL}},
                                 {{"libm cos(2pi*x)", libm_cos2pi}, {"SLEEF cospi(2x) u05", sleef_scalar_cospi},
                                  {NULL, NULL}}};
    const char *evar[2][4] = {{"scalar", "scalar", "purec", "purecfma"}, {"scalar", "scalar"}};
    for (int k = 0; extra[which][k].name; k++) {
        if (extra[which][k].fn == sleef_purecfma_sincos10 && !__builtin_cpu_supports("fma")) continue;
        rows[nr].name = extra[which][k].name;
        rows[nr].var = evar[which][k];
        rows[nr++].fn = extra[which][k].fn;
    }
    return nr;
}

/* sin/cos or cos 2 pi x: throughput (ns per argument, one thread), max ulp
 * over NACC arguments uniform in [-range, range], and which rows give the
 * same bits as the first row of the same name. */
static void table_trig(int which, double range, int reps)
{
    row rows[MAXROW];
    memset(rows, 0, sizeof rows);
    int nr = build_rows(which, rows);
    double *x = malloc(NACC * sizeof *x);
    long double *rs = malloc(NACC * sizeof *rs), *rc = malloc(NACC * sizeof *rc);
    uint64_t st = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < NACC; i++) {
        st = st * 6364136223846793005u + 1442695040888963407u;
        x[i] = range * (2.0 * (double)(st >> 11) * 0x1.0p-53 - 1.0);
        if (which) {
            rc[i] = ref_cos2pi(x[i]);
            rs[i] = 0;
        } else {
            rs[i] = sinl((long double)x[i]);
            rc[i] = cosl((long double)x[i]);
        }
    }
    for (int k = 0; k < nr; k++) {
        rows[k].s = malloc(NACC * sizeof(double));
        rows[k].c = malloc(NACC * sizeof(double));
        rows[k].fn(NACC, x, rows[k].s, rows[k].c);
        for (size_t i = 0; i < NACC; i++) {
            double es = which ? 0 : ulps(rows[k].s[i], rs[i]), ec = ulps(rows[k].c[i], rc[i]);
            if (es > rows[k].ulp_s) rows[k].ulp_s = es;
            if (ec > rows[k].ulp_c) rows[k].ulp_c = ec;
            /* absolute error in units of 2^-53 (an ulp of [0.5, 1)): what
             * a value like x^2 - A cos(2 pi x) + A inherits */
            long double ea = fmaxl(fabsl(rows[k].c[i] - rc[i]), which ? 0 : fabsl(rows[k].s[i] - rs[i]));
            if (ea * 0x1.0p53L > rows[k].abs_e) rows[k].abs_e = (double)(ea * 0x1.0p53L);
        }
    }
    /* timing: NT arguments (in L1/L2), each repeat every row in turn */
    double s[NT], c[NT];
    const int calls = 200;
    for (int r = 0; r < reps; r++)
        for (int k0 = 0; k0 < nr; k0++) {
            int k = (k0 + r) % nr; /* rotate who goes first */
            rows[k].fn(NT, x, s, c);
            double t0 = sgd_now();
            for (int it = 0; it < calls; it++) rows[k].fn(NT, x + (it & 7) * NT, s, c);
            rows[k].t[r] = (sgd_now() - t0) / ((double)calls * NT) * 1e9;
        }
    printf("\n== %s, |x| <= %g, 1 thread: ns per argument (median of %d; min-max), max ulp over %d arguments\n",
           which ? "cos(2 pi x) (Rastrigin's value)" : "sin and cos of x (spiky, Rastrigin's gradient)", range,
           reps, NACC);
    printf("%-22s %-9s %8s %17s %9s %9s %9s  %s\n", "implementation", "variant", "ns/arg", "(min-max)", "ulp sin",
           "ulp cos", "abs/2^-53", "same bits as");
    for (int k = 0; k < nr; k++) {
        double lo = 1e30, hi = 0;
        for (int r = 0; r < reps; r++) {
            lo = rows[k].t[r] < lo ? rows[k].t[r] : lo;
            hi = rows[k].t[r] > hi ? rows[k].t[r] : hi;
        }
        double med = median(rows[k].t, reps);
        char same[256] = "";
        for (int j = 0; j < nr; j++) {
            if (j == k || strcmp(rows[j].name, rows[k].name)) continue;
            size_t diff = 0;
            for (size_t i = 0; i < NACC; i++)
                diff += memcmp(&rows[j].c[i], &rows[k].c[i], 8) || (!which && memcmp(&rows[j].s[i], &rows[k].s[i], 8));
            size_t l = strlen(same);
            if (diff == 0)
                snprintf(same + l, sizeof same - l, "%s%s", l ? ", " : "", rows[j].var);
            else
                snprintf(same + l, sizeof same - l, "%s%s: %zu differ", l ? ", " : "", rows[j].var, diff);
        }
        printf("%-22s %-9s %8.3f %8.3f-%-8.3f %9.3f %9.3g %9.3f  %s\n", rows[k].name, rows[k].var, med, lo, hi,
               rows[k].ulp_s, rows[k].ulp_c, rows[k].abs_e, same);
    }
    for (int k = 0; k < nr; k++) {
        free(rows[k].s);
        free(rows[k].c);
    }
    free(x);
    free(rs);
    free(rc);
}

/* Philox4x32-10: ns per block (4 words), ours per variant against
 * Random123's scalar philox4x32, and whether every output equals
 * Random123's. */
static void table_philox(int reps)
{
    enum { N = 4096 };
    static uint32_t in[4][N], ref[4][N], w[4][N];
    for (int j = 0; j < 4; j++)
        for (size_t i = 0; i < N; i++) in[j][i] = (uint32_t)(i * 2654435761u + (unsigned)j * 40503u);
    memcpy(ref, in, sizeof in);
    r123_philox(N, ref[0], ref[1], ref[2], ref[3], 0xdeadbeefu, 0x12345678u);
    typedef void (*pfn)(size_t, uint32_t *, uint32_t *, uint32_t *, uint32_t *, uint32_t, uint32_t);
    pfn fn[NV + 1];
    const char *nm[NV + 1];
    int nr = 0;
    fn[nr] = r123_philox, nm[nr++] = "Random123 philox4x32, scalar";
    for (int v = 0; v < NV; v++)
        if (variant(v)) fn[nr] = variant(v)->philox, nm[nr++] = vname[v];
    double t[NV + 1][MAXREP];
    int same[NV + 1];
    for (int k = 0; k < nr; k++) {
        memcpy(w, in, sizeof in);
        fn[k](N, w[0], w[1], w[2], w[3], 0xdeadbeefu, 0x12345678u);
        same[k] = !memcmp(w, ref, sizeof w);
    }
    const int calls = 100;
    for (int r = 0; r < reps; r++)
        for (int k0 = 0; k0 < nr; k0++) {
            int k = (k0 + r) % nr;
            memcpy(w, in, sizeof in);
            double t0 = sgd_now();
            for (int it = 0; it < calls; it++) fn[k](N, w[0], w[1], w[2], w[3], 0xdeadbeefu, (uint32_t)it);
            t[k][r] = (sgd_now() - t0) / ((double)calls * N) * 1e9;
        }
    printf("\n== Philox4x32-10, 1 thread: ns per block of 4 words (median of %d), bits against Random123\n", reps);
    for (int k = 0; k < nr; k++)
        printf("%-30s%-9s %8.3f ns/block   %s\n", k ? "ours sgd_philox4x32_soa, " : nm[k], k ? nm[k] : "",
               median(t[k], reps), same[k] ? "identical to Random123" : "DIFFERS from Random123");
}

/* The Figure-3 trial step on KB_TRIALS-trial blocks, as trials.c runs it in
 * 1-D (the variant's trials_noise_1d, the gradient, trials_step_flat; level
 * 0.13 at eta 0.01, starts in [-6, 6]): trial-steps per second, one thread,
 * and a checksum of the final x. */
static double fig3_run(const kb_variant *V, int impl, size_t steps, double *check)
{
    double p[SPIKY_NPARAM];
    spiky_defaults(p);
    enum { NB = 16 };
    static double x[NB][KB_TRIALS];
    double g[KB_TRIALS], om[KB_TRIALS], spare[3 * KB_TRIALS];
    for (size_t b = 0; b < NB; b++)
        for (size_t j = 0; j < KB_TRIALS; j++) x[b][j] = -6 + 12.0 * (double)(b * KB_TRIALS + j) / (NB * KB_TRIALS);
    const double eta = 0.01, r = 0.13 / 0.01;
    double t0 = sgd_now();
    for (size_t b = 0; b < NB; b++)
        for (size_t T = 0; T < steps; T++) {
            if (!(T & 3)) V->noise(42, b * KB_TRIALS, T >> 2, r, KB_TRIALS, om, spare);
            (impl ? V->grad_sleef[impl - 1] : V->grad_ours)(p, KB_TRIALS, x[b], g);
            if (T & 3)
                V->step(KB_TRIALS, eta, r, x[b], g, spare + ((T & 3) - 1) * KB_TRIALS, NULL, 1);
            else
                V->step(KB_TRIALS, eta, 1.0, x[b], g, om, NULL, 1);
        }
    double t = sgd_now() - t0;
    double cs = 0;
    for (size_t b = 0; b < NB; b++)
        for (size_t j = 0; j < KB_TRIALS; j++) cs += x[b][j];
    *check = cs;
    return (double)(NB * KB_TRIALS) * (double)steps / t;
}

/* Rastrigin Monte Carlo smoothing under cube noise (the value, d = 4 nb):
 * points x values per second, one thread, and the mean value. */
static double rast_run(const kb_variant *V, int impl, size_t samples, double *mean)
{
    enum { NB = 256 };
    static uint32_t w[4 * NB];
    static double xs[8 * NB];
    double tot = 0;
    double t0 = sgd_now();
    for (size_t s = 0; s < samples; s++) {
        uint32_t ctr[4];
        sgd_rng_counter(SGD_RNG_SMOOTH, 0, s, 0, ctr);
        tot += (impl ? V->rast_sleef[impl - 1] : V->rast_ours)(NB, ctr, 0.3, 0.1, 20.0 * 0x1.0p-31, w, xs);
    }
    double t = sgd_now() - t0;
    *mean = tot / ((double)samples * 4 * NB);
    return (double)samples * 4 * NB / t;
}

/* ours (the library's kernel) against SLEEF's two accuracies (sin/cos
 * u10 and u35; cos 2 pi x by cospi u05 and by cos u35 of the rounded
 * 2 pi x), and ours in the two-pass form the SLEEF rows take; in turn. */
static void table_inkernel(int reps)
{
    enum { NI = 4 };
    printf("\n== In the kernels, 1 thread (median of %d; checksums: the same experiment every way)\n", reps);
    printf("%-28s %-8s %10s %10s %10s %10s %7s %7s   %s\n", "kernel", "variant", "ours/s", "SLEEF-a/s", "SLEEF-b/s",
           "ours2/s", "ours/a", "ours/b", "checksum ours | a | b | ours2");
    for (int which = 0; which < 2; which++)
        for (int v = 0; v < NV; v++) {
            const kb_variant *V = variant(v);
            if (!V) continue;
            double t[NI][MAXREP], cs[NI] = {0};
            for (int r = 0; r < reps; r++)
                for (int k0 = 0; k0 < NI; k0++) {
                    int k = (k0 + r) % NI;
                    t[k][r] = which ? rast_run(V, k, 4000, &cs[k]) : fig3_run(V, k, 2000, &cs[k]);
                }
            double m[NI];
            for (int k = 0; k < NI; k++) m[k] = median(t[k], reps);
            printf("%-28s %-8s %10.4g %10.4g %10.4g %10.4g %6.2fx %6.2fx   %.15g | %.15g | %.15g | %.15g\n",
                   which ? "Rastrigin MC, pts/s" : "Figure-3 step, trial-steps/s", vname[v], m[0], m[1], m[2], m[3],
                   m[0] / m[1], m[0] / m[2], cs[0], cs[1], cs[2], cs[3]);
        }
    printf("(a, b: Figure-3 SLEEF sincos u10, u35; Rastrigin SLEEF cospi(2x) u05, cos(2 pi x) u35, each a first\n"
           " pass over the points; ours2: ours in that two-pass form, bench-only)\n");
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (argc > 2 || reps < 1 || reps > MAXREP) {
        fprintf(stderr, "usage: bench_kernels [REPEATS]   (1..%d, default 5)\n", MAXREP);
        return 2;
    }
    table_trig(0, 128, reps);
    table_trig(1, 8, reps);
    table_philox(reps);
    table_inkernel(reps);
    return 0;
}
#endif
