/* The paper's statements as calculators and checks.
 *
 *   sgd_onepoint_*   Assumption 1: <-grad g(y), x* - y> >= c ||x* - y||^2 at
 *                    y = x - eta grad f(x), x in D, g = f smoothed by eta*omega
 *   sgd_bounds_*     Theorem 1, Corollary 2 and Theorem 3 with the paper's
 *                    exact constants
 *
 * Names follow the paper: eta, r, c, L, lambda, b, T1, T2, delta, mu, x_star.
 *
 * Under MPI (dist.h) sgd_onepoint_check, sgd_onepoint_scan and
 * sgd_verify_theorem1 split their points or trials over the ranks: rank 0
 * gets the whole result, the others SGD_DIST_ELSEWHERE and none. */
#ifndef SGDSCAPE_THEORY_H
#define SGDSCAPE_THEORY_H

#include <stddef.h>
#include <stdint.h>
#include "sgdscape/landscape.h"
#include "sgdscape/noise.h"
#include "sgdscape/smooth.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Theorem 1 ------------------------------------------------------------- */

/* Which of eta < 1/(2L), eta < c/L^2, eta < 1/(2c) fail (bit mask). */
enum {
    SGD_THM1_ETA_HALF_L = 1,  /* eta >= 1/(2L) */
    SGD_THM1_ETA_C_L2 = 2,    /* eta >= c/L^2 */
    SGD_THM1_ETA_HALF_C = 4   /* eta >= 1/(2c) */
};

typedef struct sgd_thm1_input {
    double eta, c, L, r;
    double y0_dist2;   /* ||y_0 - x*||^2 */
    double T2;         /* horizon of the "stays close" part (>= 1) */
} sgd_thm1_input;

typedef struct sgd_thm1 {
    double limit[3];    /* 1/(2L), c/L^2, 1/(2c) */
    double eta_max;     /* min of the three: Theorem 1 needs eta < eta_max */
    unsigned violated;  /* SGD_THM1_* bits */
    double lambda;      /* 2 eta c - eta^2 L^2 */
    double b;           /* eta^2 r^2 (1 + eta L)^2 */
    double floor;       /* b / lambda: the fixed point of the expected recursion */
    double radius2;     /* 20 b / lambda: ||y_T1 - x*||^2 bound, prob >= 1/2 */
    double T1_real;     /* log(lambda ||y0-x*||^2 / b) / lambda (may be <= 0) */
    double T1;          /* max(0, ceil(T1_real)) */
    double zeta;        /* 9 T2 / 4 */
    double mu;          /* max{8, 42 sqrt(log zeta)} */
    double delta;       /* mu sqrt(b / lambda): ||y_t - x*|| <= delta for T1 <= t <= T1+T2 */
} sgd_thm1;

/* Fill out. Returns SGD_EINVAL with a one-line explanation for impossible
 * input (c <= 0, L <= 0, r < 0, r = 0, eta <= 0, NaN, T2 < 1) and for eta outside the
 * window (out->violated says which condition failed; the derived numbers are NaN). */
int sgd_bounds_theorem1(const sgd_thm1_input *in, sgd_thm1 *out);

/* Text of the conditions named by a violated mask, e.g.
 * "eta >= c/L^2 (0.1 >= 0.05)". Writes into buf. */
void sgd_bounds_explain(const sgd_thm1_input *in, const sgd_thm1 *t, char *buf, size_t n);

/* ---- Corollary 2 (a chain of stages) ------------------------------------------ */

typedef struct sgd_cor2_stage {
    double eta, c, r;           /* input */
    double start_dist2;         /* ||y - x*||^2 the stage starts from (the previous radius2) */
    sgd_thm1 thm;               /* Theorem 1 for this stage (T1 counted from start_dist2) */
    double steps;               /* thm.T1: steps to run at this eta */
    int c_increases;            /* c_k > c_{k-1} (1 for the first stage) */
    int eta_decreases;          /* eta_k < eta_{k-1} (1 for the first stage) */
    int radius_shrinks;         /* radius2_k < radius2_{k-1} (1 for the first stage) */
} sgd_cor2_stage;

/* Stages share L and T2; stage 0 starts at y0_dist2 and stage k at
 * radius2_{k-1}. prob = 2^-K (the paper's 1/4 for two stages). Returns
 * SGD_EINVAL if any stage fails Theorem 1, or if c does not increase / eta
 * does not decrease (the corollary's hypotheses), naming the stage. The
 * stage array is filled as far as it could be. */
int sgd_bounds_corollary2(size_t K, sgd_cor2_stage *stages, double L, double y0_dist2,
                          double T2, double *prob);

/* ---- Theorem 3 -------------------------------------------------------------------- */

typedef struct sgd_thm3 {
    double dist2;          /* ||x - x*||^2 */
    double grad_norm2;     /* ||grad f(x)||^2 */
    double inner;          /* <-grad f(x), x* - x> */
    double c_point;        /* inner / ||x* - x||^2: the smallest c' the hypothesis allows at x */
    double c_used;         /* c' used for the threshold (given, or c_point) */
    double eta_threshold;  /* 2 c' ||x - x*||^2 / ||grad f(x)||^2 (0 if c' <= 0) */
    double eta;            /* the step tried (NaN if none) */
    double dist2_after;    /* ||x - eta grad f(x) - x*||^2 */
    int moved_away;        /* dist2_after >= dist2 */
} sgd_thm3;

/* c_prime NaN: use c_point. A given c' smaller than c_point contradicts the
 * hypothesis at x: SGD_EINVAL. x = x* or grad f(x) = 0: SGD_EINVAL. eta NaN:
 * no step is tried. */
int sgd_bounds_theorem3(size_t d, const double *x, const double *grad, const double *x_star,
                        double c_prime, double eta, sgd_thm3 *out);

/* ---- Assumption 1 ------------------------------------------------------------------ */

typedef enum {
    SGD_DOMAIN_BOX = 0,   /* uniform in [lo, hi]^d */
    SGD_DOMAIN_BALL = 1,  /* uniform in the ball (center, radius) */
    SGD_DOMAIN_GRID = 2   /* n (1-D) or n x n (2-D) grid on [lo, hi]^d */
} sgd_domain_kind;

typedef struct sgd_domain {
    sgd_domain_kind kind;
    double lo, hi;
    const double *center;  /* ball: d entries (NULL: x*) */
    double radius;
    size_t n;              /* points (box, ball) or per axis (grid) */
} sgd_domain;

typedef struct sgd_onepoint_config {
    const sgd_landscape *f;
    sgd_noise W;
    double eta;
    const double *x_star;
    sgd_domain D;
    uint64_t seed;
    sgd_smooth_params sp;   /* how grad g is computed (sp.confidence is ignored) */
    double confidence;      /* level of the one-sided bound on c (default 0.95) */
    double exclude;         /* points with ||x* - y|| < exclude are skipped (default 1e-9) */
    double exclude_x;       /* points with ||x - x*|| < exclude_x are skipped (D minus a ball; default 0) */
    int estimate_L;         /* also estimate L (default 1) */
} sgd_onepoint_config;

void sgd_onepoint_defaults(sgd_onepoint_config *c, const sgd_landscape *f);

typedef struct sgd_onepoint_result {
    size_t n, d;            /* points evaluated */
    double *x, *y;          /* n*d */
    double *ratio;          /* n: <-grad g(y), x*-y> / ||x*-y||^2 (NaN if excluded) */
    double *ratio_err;      /* n: bound on |ratio error| from grad g's error at the per-point level */
    double *f_ratio;        /* n: <-grad f(x), x*-x> / ||x*-x||^2 (Theorem 3's c' at x) */
    size_t nexcluded;
    size_t nfail;           /* ratio <= 0 */
    size_t nfail_sure;      /* ratio + err <= 0: fails even at the interval's far end */
    double c_hat;           /* min ratio */
    double c_lower;         /* min (ratio - err): one-sided bound at `confidence` for these points */
    double c_upper;         /* min (ratio + err): with c_lower, an interval for the min over the points */
    size_t argmin;
    double fail_radius;     /* max ||x - x*|| over failing points (0 if none): failures only near x* are benign */
    double point_confidence; /* per-coordinate interval level used (Bonferroni over n*d) */
    double cprime_max;      /* max f_ratio over the points (Theorem 3's c' estimate, from below) */
    double L_hess;          /* max spectral norm of the Hessian over x and y points (NaN if none) */
    double L_lower;         /* max ||grad f(a) - grad f(b)|| / ||a - b|| over sampled pairs */
    double r;               /* sgd_noise_max_norm */
    sgd_smooth_method method;
    size_t mc_samples;      /* total Monte Carlo samples */
    int range_from_sample;
    double seconds;         /* wall time of the check */
} sgd_onepoint_result;

int sgd_onepoint_check(const sgd_onepoint_config *c, sgd_onepoint_result *res);
void sgd_onepoint_result_free(sgd_onepoint_result *res);

/* The L a check's numbers go with: the landscape's global constant, else the
 * largest Hessian norm seen, else the lower bound from gradient differences;
 * *source (if not NULL) says which. */
double sgd_onepoint_L(const sgd_landscape *f, const sgd_onepoint_result *r, const char **source);
/* One line: holds (with c_lower), inconclusive, or fails (where). */
void sgd_onepoint_verdict(const sgd_onepoint_config *c, const sgd_onepoint_result *r, char *buf, size_t n);
/* points.csv, summary.json and, in 1-D / 2-D, map.{dat,gp,png,svg} into dir. */
int sgd_onepoint_write(const char *dir, const sgd_onepoint_config *c, const sgd_onepoint_result *r);

/* ---- Assumption 1 over a range of eta or noise levels (src/theory/onepoint_scan.c) ---- */

typedef enum { SGD_SCAN_ETA = 0, SGD_SCAN_LEVEL = 1 } sgd_scan_kind;

typedef struct sgd_onepoint_scan_config {
    sgd_onepoint_config check; /* repeated at every value: eta (SGD_SCAN_ETA, r fixed) or W.r = value / eta */
    sgd_scan_kind kind;
    const double *values;      /* n values > 0 */
    size_t n;
} sgd_onepoint_scan_config;

typedef struct sgd_onepoint_scan_row {
    double value, eta, r;      /* the scanned value, and the check's eta and noise radius */
    double c_hat, c_lower, fail_fraction, fail_radius;
    size_t nfail, points;      /* points: those not excluded */
    double L;                  /* sgd_onepoint_L */
    int window;                /* no failing point, c_lower > 0, and eta inside Theorem 1's window */
    double lambda, b, radius2; /* Theorem 1's numbers (NaN outside the window) */
    double remark_scale;       /* eta r^2 / c_lower: the Remark's scale of where SGD stays (NaN if c_lower <= 0) */
} sgd_onepoint_scan_row;

typedef struct sgd_onepoint_scan_result {
    size_t n;
    sgd_onepoint_scan_row *row;
    double holds_from, holds_to; /* the smallest / largest value where it holds (NaN: none) */
} sgd_onepoint_scan_result;

typedef void (*sgd_theory_progress_fn)(void *ctx, double done, double total);
int sgd_onepoint_scan(const sgd_onepoint_scan_config *c, sgd_onepoint_scan_result *r, sgd_theory_progress_fn progress,
                      void *ctx);
/* scan.csv, summary.json and scan.{dat,gp,png,svg} into dir. */
int sgd_onepoint_scan_write(const char *dir, const sgd_onepoint_scan_config *c, const sgd_onepoint_scan_result *r);
void sgd_onepoint_scan_free(sgd_onepoint_scan_result *r);

/* ---- Theorem 1 against simulated SGD (src/theory/verify.c) ---- */

typedef struct sgd_verify_config {
    const sgd_landscape *f;
    sgd_noise W;             /* ball or cube, r > 0 */
    double eta;
    const double *x_star;
    double c, L;             /* NaN: c from an Assumption-1 check on the start box (1000 points), L from f
                              * (else that check's L_hess) */
    const char *c_source;    /* what c is, for the summary (ignored when the check sets it) */
    const double *x0;        /* fixed start, or NULL: uniform starts in [start_lo, start_hi]^d */
    double start_lo, start_hi;
    const double *thm3_x;    /* the point of the Theorem-3 step (NULL: x0) */
    double thm3_factor;      /* eta = factor x threshold (1.5) */
    size_t trials, T2;       /* 1000, 1000 */
    double max_cells;        /* recorded trials x rows x d at most this (2.5e7): every k steps */
    uint64_t seed;
    int threads;
} sgd_verify_config;

typedef struct sgd_verify_result {
    /* sgd_verify_prepare */
    double c, L;
    const char *c_source;
    int checked;                       /* c came from the check below */
    double check_lo, check_hi, check_c_hat; /* the check's box and estimate */
    size_t check_nfail;
    double y0_dist2;                   /* max ||y_0 - x*||^2 over the starts */
    sgd_thm1_input in;
    sgd_thm1 thm;
    /* sgd_verify_theorem1 */
    size_t T1, record_every, nrec;     /* rows at t = 0, k, 2k, ... */
    double *mean, *q50, *q90, *max;    /* nrec: ||y_t - x*||^2 over the trials */
    size_t in_radius, stay, joint, diverged;
    double p_radius, p_stay, p_joint;  /* with their Wilson 95% intervals */
    double ci_radius[2], ci_stay[2], ci_joint[2];
    double mean_T1;
    double dist2_T1[4];                /* ||y_T1 - x*||^2: median, q90, q99, max */
    double window_max[2];              /* max over T1..T1+T2 of ||y_t - x*||^2: median, max */
    int thm3;                          /* Theorem 3 applies at thm3_x */
    sgd_thm3 thm3_at, thm3_above, thm3_below;
    double eta_above, eta_below;
} sgd_verify_result;

void sgd_verify_defaults(sgd_verify_config *c, const sgd_landscape *f);
/* c (running the check if needed), L, ||y_0 - x*||^2 and Theorem 1's numbers,
 * so a caller can size the run (trials x (T1 + T2) x d) before it starts.
 * Theorem 1 not applying is an SGD_EINVAL naming why. */
int sgd_verify_prepare(const sgd_verify_config *c, sgd_verify_result *r);
/* The trials (after sgd_verify_prepare on r) and their statistics. */
int sgd_verify_theorem1(const sgd_verify_config *c, sgd_verify_result *r, sgd_theory_progress_fn progress, void *ctx);
/* verify.csv, summary.json and verify.{dat,gp,png,svg} into dir. */
int sgd_verify_write(const char *dir, const sgd_verify_config *c, const sgd_verify_result *r);
void sgd_verify_result_free(sgd_verify_result *r);

/* ---- statistics ------------------------------------------------------------------- */

/* Quantile q of a sorted array (linear interpolation; NaN if n = 0). */
double sgd_stats_quantile(const double *sorted, size_t n, double q);
/* Wilson score 95% interval for k successes in n trials. */
void sgd_stats_wilson95(size_t k, size_t n, double *lo, double *hi);

/* Largest |eigenvalue| of a symmetric d x d matrix (row-major). */
double sgd_theory_spectral_norm(size_t d, const double *H);

/* ---- for a reader: tables, JSON, manifests (bounds_report.c, onepoint_report.c, verify_report.c) ----
 * The tables go to the FILE the caller gives (the library never prints on
 * its own); the manifest functions add an experiment's parameters to an
 * object the caller started (sgd_json_manifest_header, io.h). */
struct sgd_json;

void sgd_bounds_theorem1_print(FILE *o, const sgd_thm1_input *in, const sgd_thm1 *t);
/* {"statement": "theorem1", input and numbers}; the caller frees it. */
struct sgd_json *sgd_bounds_theorem1_json(const sgd_thm1_input *in, const sgd_thm1 *t);
void sgd_bounds_corollary2_print(FILE *o, size_t K, const sgd_cor2_stage *stages, double L, double y0_dist2,
                                 double T2, double prob);
struct sgd_json *sgd_bounds_corollary2_json(size_t K, const sgd_cor2_stage *stages, double L, double y0_dist2,
                                            double T2, double prob);
/* name: the landscape's; c_prime: as given to sgd_bounds_theorem3 (NaN: pointwise). */
void sgd_bounds_theorem3_print(FILE *o, const sgd_thm3 *t, const char *name, double c_prime);
struct sgd_json *sgd_bounds_theorem3_json(const sgd_thm3 *t, const char *landscape);
/* manifest.json (argc, argv: the command line) and bounds.json (one of the
 * objects above) into dir. */
int sgd_bounds_write(const char *dir, const struct sgd_json *bounds, int argc, char **argv);

void sgd_onepoint_print(FILE *o, const sgd_onepoint_config *c, const sgd_onepoint_result *r);
void sgd_onepoint_scan_print(FILE *o, const sgd_onepoint_scan_config *c, const sgd_onepoint_scan_result *r);
/* landscape, method: the specification and the method name as the user gave them. */
void sgd_onepoint_manifest_json(struct sgd_json *manifest, const sgd_onepoint_scan_config *c, const char *landscape,
                                const char *method);
/* The numbers a check run's DIR/summary.json gives the theorems; a field
 * the file lacks keeps the value it had (null in the file: NaN). */
typedef struct sgd_onepoint_summary {
    double eta, r, noise_radius, L, c_hat, c_lower;
} sgd_onepoint_summary;
int sgd_onepoint_summary_load(const char *dir, sgd_onepoint_summary *s);

/* The Assumption-1 check sgd_verify_prepare ran, if it ran one (one line). */
void sgd_verify_print_check(FILE *o, const sgd_verify_config *c, const sgd_verify_result *r);
void sgd_verify_print(FILE *o, const sgd_verify_config *c, const sgd_verify_result *r);
void sgd_verify_manifest_json(struct sgd_json *manifest, const sgd_verify_config *c, const char *landscape);

#ifdef __cplusplus
}
#endif
#endif
