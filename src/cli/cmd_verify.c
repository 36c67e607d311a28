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
    "  --no-jit              a formula runs interpreted, not compiled (same bits)\n"
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

int sgd_cmd_verify(int argc, char **argv)
{
    const char *C = "verify";
    const char *out = "runs/verify", *from = NULL, *x0_s = NULL, *x3_s = NULL;
    int threads = 0;
    sgd_verify_config vc;
    sgd_verify_defaults(&vc, NULL);
    vc.c_source = "--c";
    vc.start_lo = vc.start_hi = NAN;
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
        case 'c': bad = cli_double(C, "--c", optarg, &vc.c); break;
        case 'F': from = optarg; break;
        case 'L': bad = cli_double(C, "--L", optarg, &vc.L); break;
        case 'x': x0_s = optarg; break;
        case 'b': bad = cli_parse_box(C, "--start", optarg, &vc.start_lo, &vc.start_hi); break;
        case 'N': bad = cli_count(C, "--trials", optarg, &vc.trials) || (vc.trials < 1 && cli_usage(C, "--trials: need >= 1")); break;
        case 'T': bad = cli_count(C, "--T2", optarg, &vc.T2) || (vc.T2 < 1 && cli_usage(C, "--T2: need >= 1")); break;
        case '3': x3_s = optarg; break;
        case 'k': bad = cli_positive(C, "--thm3-factor", optarg, &vc.thm3_factor); break;
        default: {
            int e = cli_problem_opt(C, ch, &P, help, argv, &out, &vc.seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (P.d == 0) return cli_usage(C, "--d: must be >= 1");
    if (cli_problem_conflict(C, &P)) return 2;
    int random_start = !isnan(vc.start_lo);
    if (x0_s && random_start) return cli_usage(C, "give --x0 or --start, not both");
    if (from) { /* the check run's eta, noise radius, c and L, unless given here */
        sgd_onepoint_summary s = {P.eta, NAN, NAN, NAN, NAN, NAN};
        if (sgd_onepoint_summary_load(from, &s)) return cli_lib_fail(C);
        P.eta = P.have_eta ? P.eta : s.eta;
        if (isnan(P.r) && isnan(P.level)) P.r = s.noise_radius;
        vc.c = isnan(vc.c) ? s.c_lower : vc.c;
        vc.L = isnan(vc.L) ? s.L : vc.L;
        vc.c_source = "check run (c_lower)";
    }
    if (cli_problem_noise(C, &P, 1.0, &vc.W.kind, &vc.W.scale)) return 2; /* default r = 1 */
    const size_t d = P.d;
    if (vc.W.kind != SGD_NOISE_BALL && vc.W.kind != SGD_NOISE_CUBE)
        return cli_usage(C, "Theorem 1 needs bounded noise: --noise ball or cube");
    vc.threads = threads = cli_threads(threads);
    vc.eta = P.eta;

    sgd_landscape *f = cli_landscape(C, P.fspec, d, P.no_jit);
    if (!f) return cli_lib_fail(C);
    vc.f = f;
    double *xst = malloc(4 * d * sizeof(double)), *x0 = xst + d, *x3 = xst + 2 * d, *g = xst + 3 * d;
    int rc = xst ? cli_problem_xstar(C, d, P.xstar_s, f, xst) : cli_fail(C, "out of memory");
    if (!rc && x0_s) rc = cli_point(C, "--x0", x0_s, d, x0);
    else if (!rc)
        for (size_t i = 0; i < d; i++) x0[i] = 0.8 * f->hi;
    if (!rc && x3_s) rc = cli_point(C, "--thm3-x", x3_s, d, x3);
    else if (!rc) memcpy(x3, x0, d * sizeof(double));
    if (!rc) rc = start_in_range(C, f, P.eta, xst, random_start ? NULL : x0, vc.start_lo, vc.start_hi, g);
    vc.x_star = xst;
    vc.x0 = random_start ? NULL : x0;
    vc.thm3_x = x3;
    sgd_verify_result res = {0};
    if (!rc) {
        rc = sgd_verify_prepare(&vc, &res) ? cli_lib_fail(C) : 0;
        sgd_verify_print_check(stdout, &vc, &res);
    }
    double steps = res.thm.T1 + (double)vc.T2;
    if (!rc) {
        char what[160];
        snprintf(what, sizeof what, "%zu trials x (T1 = %.4g + T2 = %zu) steps x d = %zu", vc.trials, res.thm.T1,
                 vc.T2, d);
        rc = cli_work(C, (double)vc.trials * steps * (double)d, what, f, threads);
        if (!rc && !(steps <= CLI_MAX_COUNT)) rc = cli_usage(C, "T1 + T2 = %.4g steps is too many (at most 2^53)", steps);
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
        sgd_verify_manifest_json(man, &vc, P.fspec);
        rc = sgd_json_write_free(man, rd.path, "manifest.json") || sgd_verify_write(rd.path, &vc, &res)
                 ? cli_lib_fail(C) : 0;
        if (!rc) sgd_verify_print(stdout, &vc, &res);
        if (!rc) rc = cli_rundir_commit(C, &rd);
        if (rc) cli_rundir_abort(&rd);
        else printf("wrote %s/\n", rd.final);
    }
    sgd_verify_result_free(&res);
    free(xst);
    sgd_landscape_free(f);
    return rc;
}
