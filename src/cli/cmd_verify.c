/* sgdscape verify: Theorem 1 and Theorem 3 predictions against simulated SGD. */
#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/theory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char sgd_cmd_verify_summary[] = "run SGD where Theorem 1 applies and compare its predictions with what happens";

static const char help[] =
    "usage: sgdscape verify [options]\n\n"
    "Computes Theorem 1's eta window, lambda, b, T1, 20b/lambda and delta, runs --trials SGD trials for\n"
    "T1 + T2 steps recording y_t = x_t - eta grad f(x_t), and reports (table verify.csv, summary.json,\n"
    "figure verify.{gp,png,svg}):\n"
    "  P(||y_T1 - x*||^2 <= 20b/lambda)            theory >= 1/2 (the Markov step alone gives 0.9)\n"
    "  P(||y_t - x*|| <= delta, T1 <= t <= T1+T2)   theory: with the above, >= 1/2 jointly\n"
    "  quantiles of ||y_T1 - x*||^2 against 20b/lambda, and the mean of ||y_t - x*||^2 against the\n"
    "  proof's E||y_t - x*||^2 <= b/lambda + (1-lambda)^t ||y0 - x*||^2 (how loose the constants are)\n"
    "and Theorem 3: one gradient-descent step at eta above / below the threshold\n"
    "2 c' ||x - x*||^2/||grad f(x)||^2, with the distance to x* before and after.\n\n"
    "  --f SPEC              landscape (default quadratic)\n"
    "  --d N                 dimension (default 1)\n"
    "  --x-star V[,V...]     target (default: the landscape's x*)\n"
    "  --noise KIND          ball | cube (bounded noise; default ball)\n"
    "  --eta ETA             step size (default 0.1)\n"
    "  --r R | --level S     noise radius (default r = 1)\n"
    "  --c C                 Assumption 1 constant; or --from DIR (a `check` run: c_lower, L, and\n"
    "                        eta and r unless given);\n"
    "                        default: run the check on the start box (1000 random points)\n"
    "  --L L                 smoothness constant (default: the landscape's)\n"
    "  --x0 V[,V...]         fixed start x_0 (default 0.8 * the domain's upper end)\n"
    "  --start LO:HI         random starts in [LO, HI]^d instead (T1 from the largest ||y0 - x*||^2)\n"
    "  --trials N            trials (default 1000)\n"
    "  --T2 N                steps after T1 (default 1000)\n"
    "  --thm3-x V[,V...]     point for the Theorem-3 step (default x_0)\n"
    "  --thm3-factor F       eta = F x threshold (default 1.5; also 0.5 x threshold for contrast)\n"
    "  --out DIR             run directory (default runs/verify)\n"
    "  --seed N              seed (default 1)\n"
    "  --threads N           threads (default: all cores, at most 1024); results do not depend on it\n"
    "  --force               run work above 1e10 gradient evaluations x dims (trials x (T1 + T2) x d)\n"
    "  --help                this text\n";

/* The start must keep ||x - x*||^2 and ||y0 - x*||^2 finite (y0 = x0 - eta
 * grad f(x0)): beyond that every distance is inf and nothing can be tested.
 * x0 NULL: the box [lo, hi]^d. 0, or 2 after the message. */
static int start_in_range(const char *C, const sgd_landscape *f, double eta, const double *xs, const double *x0,
                          double lo, double hi, double *g)
{
    size_t d = f->d;
    double dx = 0, dy = 0;
    if (x0) f->fg(f, x0, g);
    for (size_t i = 0; i < d; i++) {
        double e = x0 ? x0[i] - xs[i] : fmax(fabs(lo - xs[i]), fabs(hi - xs[i]));
        dx += e * e;
        if (x0) dy += (e - eta * g[i]) * (e - eta * g[i]);
    }
    if (isfinite(dx) && isfinite(dy)) return 0;
    return cli_usage(C, "%s: the start is out of range: ||%s - x*||^2 overflows", x0 ? "--x0" : "--start",
                    isfinite(dx) ? "y0" : "x0");
}

static void print_result(const sgd_verify_config *c, const sgd_verify_result *r)
{
    const sgd_thm1 *t = &r->thm;
    const double *s1 = r->dist2_T1;
    printf("Theorem 1 on %s (d=%zu), %s noise: eta = %g, c = %.6g (%s), L = %.6g, r = %.6g\n", c->f->name, c->f->d,
           sgd_noise_name(c->W.kind), c->eta, r->c, r->c_source, r->L, r->in.r);
    printf("  lambda = %.6g, b = %.6g, ||y0 - x*||^2 = %.6g, T1 = %.0f, T2 = %zu, 20b/lambda = %.6g, delta = %.6g\n",
           t->lambda, t->b, r->y0_dist2, t->T1, c->T2, t->radius2, t->delta);
    printf("  %zu trials%s:\n", c->trials, r->record_every > 1 ? " (trajectories recorded every k steps)" : "");
    printf("    P(||y_T1 - x*||^2 <= 20b/lambda)           = %.4f  [%.4f, %.4f]   theory >= 0.5\n", r->p_radius,
           r->ci_radius[0], r->ci_radius[1]);
    printf("    P(||y_t - x*|| <= delta, T1 <= t <= T1+T2)  = %.4f  [%.4f, %.4f]   theory >= 0.5 (jointly)\n",
           r->p_stay, r->ci_stay[0], r->ci_stay[1]);
    printf("    both                                       = %.4f\n", r->p_joint);
    printf("    ||y_T1 - x*||^2: mean %.4g (proof: <= 2b/lambda = %.4g); median %.4g, q90 %.4g, q99 %.4g, max "
           "%.4g vs bound %.4g (%.3gx the median)\n",
           r->mean_T1, 2 * t->floor, s1[0], s1[1], s1[2], s1[3], t->radius2, s1[0] > 0 ? t->radius2 / s1[0] : NAN);
    printf("    max over T1..T1+T2 of ||y_t - x*||^2: median %.4g, max %.4g vs delta^2 = %.4g\n", r->window_max[0],
           r->window_max[1], t->delta * t->delta);
    if (r->thm3) {
        printf("  Theorem 3 at x with ||x - x*||^2 = %.6g: threshold eta = %.6g\n", r->thm3_at.dist2,
               r->thm3_at.eta_threshold);
        printf("    eta = %.6g (above): ||x - x*||^2 -> %.6g (%s)\n", r->eta_above, r->thm3_above.dist2_after,
               r->thm3_above.dist2_after >= r->thm3_at.dist2 ? "moved away, as predicted" : "moved closer: CONTRADICTS");
        if (r->eta_below > 0) printf("    eta = %.6g (below): ||x - x*||^2 -> %.6g\n", r->eta_below, r->thm3_below.dist2_after);
    }
}

int sgd_cmd_verify(int argc, char **argv)
{
    const char *C = "verify";
    const char *out = "runs/verify", *from = NULL, *x0_s = NULL, *x3_s = NULL;
    size_t trials = 1000, T2 = 1000;
    double c = NAN, L = NAN, lo = NAN, hi = NAN, factor = 1.5;
    int threads = 0;
    uint64_t seed = 1;
    cli_problem P;
    cli_problem_init(&P, "quadratic", 0.1);
    P.positive = 1; /* Theorem 1 wants real noise: --r, --level > 0 */
    static const struct option opts[] = {
        CLI_PROBLEM_OPTIONS,     CLI_XSTAR_OPTION,        {"c", 1, 0, 'c'},
        {"from", 1, 0, 'F'},     {"L", 1, 0, 'L'},        {"x0", 1, 0, 'x'},        {"start", 1, 0, 'b'},
        {"trials", 1, 0, 'N'},   {"T2", 1, 0, 'T'},       {"thm3-x", 1, 0, '3'},    {"thm3-factor", 1, 0, 'k'},
        CLI_COMMON_OPTIONS,      {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'c': bad = cli_double(C, "--c", optarg, &c); break;
        case 'F': from = optarg; break;
        case 'L': bad = cli_double(C, "--L", optarg, &L); break;
        case 'x': x0_s = optarg; break;
        case 'b': bad = cli_parse_box(C, "--start", optarg, &lo, &hi); break;
        case 'N': bad = cli_count(C, "--trials", optarg, &trials) || (trials < 1 && cli_fail(C, "--trials: need >= 1")); break;
        case 'T': bad = cli_count(C, "--T2", optarg, &T2) || (T2 < 1 && cli_fail(C, "--T2: need >= 1")); break;
        case '3': x3_s = optarg; break;
        case 'k': bad = cli_positive(C, "--thm3-factor", optarg, &factor); break;
        default: {
            int e = cli_problem_opt(C, ch, &P, help, argv, &out, &seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (P.d == 0) return cli_usage(C, "--d: must be >= 1");
    if (cli_problem_conflict(C, &P)) return 2;
    if (x0_s && !isnan(lo)) return cli_usage(C, "give --x0 or --start, not both");
    const char *c_src = "--c";
    if (from) {
        /* the check run's eta, noise radius, c and L, unless given here */
        char path[4400];
        snprintf(path, sizeof path, "%s/summary.json", from);
        sgd_json *s = sgd_json_load(path);
        if (!s) return cli_lib_fail(C);
        double v;
        if (!P.have_eta && !sgd_json_get_num(s, "eta", &v)) P.eta = v;
        if (isnan(P.r) && isnan(P.level) && !sgd_json_get_num(s, "noise_radius", &v)) P.r = v;
        if (isnan(c) && !sgd_json_get_num(s, "c_lower", &v)) c = v;
        if (isnan(L) && !sgd_json_get_num(s, "L", &v)) L = v;
        sgd_json_free(s);
        c_src = "check run (c_lower)";
    }
    sgd_verify_config vc;
    sgd_verify_defaults(&vc, NULL);
    if (cli_problem_noise(C, &P, 1.0, &vc.W.kind, &vc.W.scale)) return 2; /* default r = 1 */
    const size_t d = P.d;
    if (vc.W.kind != SGD_NOISE_BALL && vc.W.kind != SGD_NOISE_CUBE)
        return cli_usage(C, "Theorem 1 needs bounded noise: --noise ball or cube");
    threads = cli_threads(threads);

    sgd_landscape *f = sgd_landscape_create(P.fspec, d);
    if (!f) return cli_lib_fail(C);
    int rc = 0;
    double *xst = malloc(4 * d * sizeof(double)), *x0 = xst + d, *x3 = xst + 2 * d, *g = xst + 3 * d;
    if (!xst) rc = cli_fail(C, "out of memory");
    if (!rc) rc = cli_problem_xstar(C, d, P.xstar_s, f, xst);
    if (!rc) {
        if (x0_s) rc = cli_point(C, "--x0", x0_s, d, x0);
        else
            for (size_t i = 0; i < d; i++) x0[i] = 0.8 * f->hi;
    }
    if (!rc) {
        if (x3_s) rc = cli_point(C, "--thm3-x", x3_s, d, x3);
        else memcpy(x3, x0, d * sizeof(double));
    }
    int random_start = !isnan(lo);
    if (!rc) rc = start_in_range(C, f, P.eta, xst, random_start ? NULL : x0, lo, hi, g);
    vc.f = f;
    vc.eta = P.eta;
    vc.x_star = xst;
    vc.c = c;
    vc.L = L;
    vc.c_source = c_src;
    vc.x0 = random_start ? NULL : x0;
    vc.start_lo = lo;
    vc.start_hi = hi;
    vc.thm3_x = x3;
    vc.thm3_factor = factor;
    vc.trials = trials;
    vc.T2 = T2;
    vc.seed = seed;
    vc.threads = threads;
    sgd_verify_result res = {0};
    if (!rc) {
        rc = sgd_verify_prepare(&vc, &res) ? cli_lib_fail(C) : 0;
        if (res.checked)
            printf("Assumption 1 check on [%g, %g]^%zu: c_hat = %.6g, c_lower = %.6g, %zu failing points\n",
                   res.check_lo, res.check_hi, d, res.check_c_hat, res.c, res.check_nfail);
    }
    const sgd_thm1 *t = &res.thm;
    if (!rc) {
        char what[160];
        snprintf(what, sizeof what, "%zu trials x (T1 = %.4g + T2 = %zu) steps x d = %zu", trials, t->T1, T2, d);
        rc = cli_work(C, (double)trials * (t->T1 + (double)T2) * (double)d, what, f, threads);
        if (!rc && !(t->T1 + (double)T2 <= CLI_MAX_COUNT))
            rc = cli_usage(C, "T1 + T2 = %.4g steps is too many (at most 2^53)", t->T1 + (double)T2);
    }
    if (!rc) {
        sgd_progress pg;
        sgd_progress_start(&pg, "verify");
        rc = sgd_verify_theorem1(&vc, &res, cli_progress_cb, &pg) ? cli_lib_fail(C) : 0;
        sgd_progress_end(&pg);
    }
    sgd_rundir rd;
    if (!rc && cli_rundir_open(C, &rd, out)) rc = 1;
    else if (!rc) {
        sgd_json *man = sgd_json_new();
        sgd_json_manifest_header(man, argc, argv, threads);
        sgd_json_str(man, "command", "verify");
        sgd_json_str(man, "landscape", P.fspec);
        sgd_json_int(man, "d", (long long)d);
        sgd_json_str(man, "noise", sgd_noise_name(vc.W.kind));
        sgd_json_num(man, "eta", vc.eta);
        sgd_json_num(man, "noise_radius", vc.W.scale);
        sgd_json_int(man, "trials", (long long)trials);
        sgd_json_int(man, "T2", (long long)T2);
        sgd_json_bool(man, "random_start", random_start);
        sgd_json_int(man, "seed", (long long)seed);
        char path[4400];
        rc = sgd_rundir_file(&rd, "manifest.json", path, sizeof path) || sgd_json_write(man, path) ||
                     sgd_verify_write(rd.path, &vc, &res)
                 ? cli_lib_fail(C) : 0;
        sgd_json_free(man);
        if (!rc) print_result(&vc, &res);
        if (!rc) rc = cli_rundir_commit(C, &rd);
        if (rc) cli_rundir_abort(&rd);
        else printf("wrote %s/\n", rd.final);
    }
    sgd_verify_result_free(&res);
    free(xst);
    sgd_landscape_free(f);
    return rc;
}
