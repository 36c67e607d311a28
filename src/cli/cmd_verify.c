/* sgdscape verify: Theorem 1 and Theorem 3 predictions against simulated SGD. */
#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/landscape.h"
#include "sgdscape/noise.h"
#include "sgdscape/optim.h"
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

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* quantile of a sorted array (linear interpolation) */
static double quant(const double *s, size_t n, double q)
{
    if (n == 0) return NAN;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return s[n - 1];
    double w = pos - (double)i;
    return s[i] * (1 - w) + s[i + 1] * w;
}

/* Wilson 95% interval for k successes of n */
static void wilson(size_t k, size_t n, double *lo, double *hi)
{
    double z = 1.959963984540054, p = (double)k / (double)n, nn = (double)n;
    double den = 1 + z * z / nn, ctr = (p + z * z / (2 * nn)) / den;
    double h = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / den;
    *lo = fmax(0, ctr - h);
    *hi = fmin(1, ctr + h);
}

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
    return cli_fail(C, "%s: the start is out of range: ||%s - x*||^2 overflows", x0 ? "--x0" : "--start",
                    isfinite(dx) ? "y0" : "x0") + 1;
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
    if (cli_no_operands(C, argc, argv)) return 1;
    if (P.d == 0) return cli_fail(C, "--d: must be >= 1");
    if (cli_problem_conflict(C, &P)) return 1;
    if (x0_s && !isnan(lo)) return cli_fail(C, "give --x0 or --start, not both") + 1;
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
    sgd_noise W = {SGD_NOISE_BALL, 0, NULL, NULL};
    if (cli_problem_noise(C, &P, 1.0, &W.kind, &W.r)) return 1; /* default r = 1 */
    const size_t d = P.d;
    const double eta = P.eta, r = W.r;
    if (W.kind != SGD_NOISE_BALL && W.kind != SGD_NOISE_CUBE)
        return cli_fail(C, "Theorem 1 needs bounded noise: --noise ball or cube");
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
    if (!rc) rc = start_in_range(C, f, eta, xst, random_start ? NULL : x0, lo, hi, g);
    if (!rc && isnan(L)) L = f->L;
    if (!rc && isnan(c)) {
        /* check Assumption 1 where the trials live */
        sgd_onepoint_config oc;
        sgd_onepoint_defaults(&oc, f);
        oc.W = W;
        oc.eta = eta;
        oc.x_star = xst;
        oc.seed = seed;
        oc.D.kind = SGD_DOMAIN_BOX;
        double m = 0, xlo = INFINITY, xhi = -INFINITY;
        for (size_t i = 0; i < d; i++) {
            m = fmax(m, fabs(x0[i] - xst[i]));
            xlo = fmin(xlo, xst[i]);
            xhi = fmax(xhi, xst[i]);
        }
        oc.D.lo = random_start ? lo : xlo - m;
        oc.D.hi = random_start ? hi : xhi + m;
        oc.D.n = 1000;
        sgd_onepoint_result res;
        if (sgd_onepoint_check(&oc, &res)) rc = cli_lib_fail(C);
        else {
            c = res.c_lower;
            if (isnan(L)) L = res.L_hess;
            c_src = "Assumption-1 check on the start box (c_lower, 1000 points)";
            printf("Assumption 1 check on [%g, %g]^%zu: c_hat = %.6g, c_lower = %.6g, %zu failing points\n",
                   oc.D.lo, oc.D.hi, d, res.c_hat, res.c_lower, res.nfail);
            sgd_onepoint_result_free(&res);
        }
    }
    sgd_trials_config cfg;
    sgd_trials_result tr;
    memset(&tr, 0, sizeof tr);
    int have_tr = 0;
    double y0max = 0;
    sgd_thm1_input in;
    sgd_thm1 t;
    if (!rc) {
        sgd_trials_defaults(&cfg, f);
        cfg.noise = W;
        cfg.ntrials = trials;
        cfg.seed = seed;
        cfg.threads = threads;
        if (random_start) {
            cfg.start_lo = lo;
            cfg.start_hi = hi;
            cfg.x0 = NULL;
        } else
            cfg.x0 = x0;
        /* ||y0 - x*||^2: y0 = x0 - eta grad f(x0), over every start */
        if (random_start) {
            sgd_trials_config c0 = cfg;
            c0.record_every = 1;
            if (sgd_schedule_parse("const", eta, r, 1, &c0.sched)) rc = cli_lib_fail(C);
            sgd_trials_result r0;
            if (!rc && sgd_trials_run(&c0, &r0, NULL, NULL)) rc = cli_lib_fail(C);
            if (!rc) {
                for (size_t j = 0; j < trials; j++) {
                    double s = 0;
                    for (size_t i = 0; i < d; i++) {
                        double e = r0.traj_y[(j * r0.nrec) * d + i] - xst[i];
                        s += e * e;
                    }
                    y0max = fmax(y0max, s);
                }
                sgd_trials_result_free(&r0);
            }
        } else {
            f->fg(f, x0, g);
            for (size_t i = 0; i < d; i++) {
                double e = x0[i] - eta * g[i] - xst[i];
                y0max += e * e;
            }
        }
    }
    if (!rc) {
        in = (sgd_thm1_input){eta, c, L, sgd_noise_max_norm(&W, d), y0max, (double)T2};
        if (sgd_bounds_theorem1(&in, &t)) rc = cli_fail(C, "Theorem 1 does not apply: %s", sgd_errmsg());
    }
    size_t k = 1, T1 = 0, total = 0;
    if (!rc) {
        char what[160];
        snprintf(what, sizeof what, "%zu trials x (T1 = %.4g + T2 = %zu) steps x d = %zu", trials, t.T1, T2, d);
        rc = cli_work(C, (double)trials * (t.T1 + (double)T2) * (double)d, what, f, threads);
        if (!rc && !(t.T1 + (double)T2 <= CLI_MAX_COUNT))
            rc = cli_fail(C, "T1 + T2 = %.4g steps is too many (at most 2^53)", t.T1 + (double)T2) + 1;
    }
    if (!rc) {
        T1 = (size_t)t.T1;
        total = T1 + T2;
        double cells = (double)trials * (double)(total + 1) * (double)d;
        if (cells > 2.5e7) k = (size_t)ceil(cells / 2.5e7);
        cfg.record_every = k;
        if (sgd_schedule_parse("const", eta, r, total, &cfg.sched)) rc = cli_lib_fail(C);
        else {
            sgd_progress pg;
            sgd_progress_start(&pg, "verify");
            int e = sgd_trials_run(&cfg, &tr, cli_progress_cb, &pg);
            sgd_progress_end(&pg);
            if (e) rc = cli_lib_fail(C);
            else have_tr = 1;
        }
    }
    sgd_rundir rd;
    int opened = 0;
    if (!rc) {
        if (cli_rundir_open(C, &rd, out)) rc = 1;
        else opened = 1;
    }
    if (!rc) {
        size_t nrec = tr.nrec, q1 = T1 / k, qe = total / k;
        if (qe >= nrec) qe = nrec - 1;
        double *D1 = malloc(trials * sizeof(double)), *Dmax = malloc(trials * sizeof(double));
        double *mean = calloc(nrec, sizeof(double)), *q50 = malloc(nrec * sizeof(double));
        double *q90 = malloc(nrec * sizeof(double)), *mx = malloc(nrec * sizeof(double));
        double *col = malloc(trials * sizeof(double));
        if (!D1 || !Dmax || !mean || !q50 || !q90 || !mx || !col) rc = cli_fail(C, "out of memory");
        size_t in_r = 0, stay = 0, joint = 0, diverged = 0;
        double delta2 = t.delta * t.delta;
        for (size_t q = 0; !rc && q < nrec; q++) {
            for (size_t j = 0; j < trials; j++) {
                double s = 0;
                const double *yy = tr.traj_y + (j * nrec + q) * d;
                for (size_t i = 0; i < d; i++) {
                    double e = yy[i] - xst[i];
                    s += e * e;
                }
                if (!isfinite(s)) s = INFINITY;
                col[j] = s;
                mean[q] += s / (double)trials;
                if (q == q1) D1[j] = s;
                if (q == q1) Dmax[j] = s;
                else if (q > q1 && q <= qe) Dmax[j] = fmax(Dmax[j], s);
            }
            qsort(col, trials, sizeof(double), cmp_d);
            q50[q] = quant(col, trials, 0.5);
            q90[q] = quant(col, trials, 0.9);
            mx[q] = quant(col, trials, 1.0);
        }
        for (size_t j = 0; !rc && j < trials; j++) {
            int a = D1[j] <= t.radius2, b = Dmax[j] <= delta2;
            in_r += a;
            stay += b;
            joint += a && b;
            diverged += tr.status[j] == SGD_TRIAL_DIVERGED;
        }
        double p1 = (double)in_r / (double)trials, p2 = (double)stay / (double)trials,
               pj = (double)joint / (double)trials;
        double l1, h1, l2, h2, lj, hj;
        wilson(in_r, trials, &l1, &h1);
        wilson(stay, trials, &l2, &h2);
        wilson(joint, trials, &lj, &hj);
        double s1[4] = {0}, sm[2] = {0};
        double mean_T1 = 0;
        if (!rc) {
            for (size_t j = 0; j < trials; j++) mean_T1 += D1[j] / (double)trials;
            qsort(D1, trials, sizeof(double), cmp_d);
            qsort(Dmax, trials, sizeof(double), cmp_d);
            s1[0] = quant(D1, trials, 0.5);
            s1[1] = quant(D1, trials, 0.9);
            s1[2] = quant(D1, trials, 0.99);
            s1[3] = quant(D1, trials, 1.0);
            sm[0] = quant(Dmax, trials, 0.5);
            sm[1] = quant(Dmax, trials, 1.0);
        }
        /* Theorem 3 */
        sgd_thm3 th, lo3, hi3;
        double eta_hi = NAN, eta_lo = NAN;
        int t3 = 0;
        if (!rc) {
            f->fg(f, x3, g);
            if (sgd_bounds_theorem3(d, x3, g, xst, NAN, NAN, &th) == SGD_OK) {
                t3 = 1;
                eta_hi = th.eta_threshold > 0 ? factor * th.eta_threshold : factor;
                eta_lo = 0.5 * th.eta_threshold;
                sgd_bounds_theorem3(d, x3, g, xst, NAN, eta_hi, &hi3);
                sgd_bounds_theorem3(d, x3, g, xst, NAN, eta_lo > 0 ? eta_lo : NAN, &lo3);
            } else
                sgd_error_clear();
        }
        char path[4400];
        if (!rc) {
            sgd_afile af;
            sgd_rundir_file(&rd, "verify.csv", path, sizeof path);
            if (sgd_afile_open(&af, path)) rc = cli_lib_fail(C);
            else {
                FILE *o = af.fp;
                fprintf(o, "quantity,theory,observed,ci95_lo,ci95_hi\n");
                fprintf(o, "P(||y_T1-x*||^2 <= 20b/lambda),0.5,%.6g,%.6g,%.6g\n", p1, l1, h1);
                fprintf(o, "P(||y_t-x*|| <= delta for T1..T1+T2),0.5,%.6g,%.6g,%.6g\n", p2, l2, h2);
                fprintf(o, "P(both),0.5,%.6g,%.6g,%.6g\n", pj, lj, hj);
                fprintf(o, "E||y_T1-x*||^2 (proof: <= 2b/lambda),%.10g,%.10g,,\n", 2 * t.floor, mean_T1);
                fprintf(o, "median ||y_T1-x*||^2 vs 20b/lambda,%.10g,%.10g,,\n", t.radius2, s1[0]);
                fprintf(o, "q90 ||y_T1-x*||^2,%.10g,%.10g,,\n", t.radius2, s1[1]);
                fprintf(o, "q99 ||y_T1-x*||^2,%.10g,%.10g,,\n", t.radius2, s1[2]);
                fprintf(o, "max ||y_T1-x*||^2,%.10g,%.10g,,\n", t.radius2, s1[3]);
                fprintf(o, "median max_t ||y_t-x*||^2 vs delta^2,%.10g,%.10g,,\n", delta2, sm[0]);
                fprintf(o, "max max_t ||y_t-x*||^2 vs delta^2,%.10g,%.10g,,\n", delta2, sm[1]);
                if (t3) {
                    fprintf(o, "thm3 eta_threshold,%.10g,,,\n", th.eta_threshold);
                    fprintf(o, "thm3 ||x-x*||^2 before,,%.10g,,\n", th.dist2);
                    fprintf(o, "thm3 ||x-x*||^2 after eta=%.6g (above),>= before,%.10g,,\n", eta_hi, hi3.dist2_after);
                    if (eta_lo > 0)
                        fprintf(o, "thm3 ||x-x*||^2 after eta=%.6g (below),,%.10g,,\n", eta_lo, lo3.dist2_after);
                }
                if (sgd_afile_commit(&af)) rc = cli_lib_fail(C);
            }
        }
        if (!rc) {
            sgd_rundir_file(&rd, "verify.dat", path, sizeof path);
            FILE *fp = fopen(path, "w");
            if (!fp) rc = cli_fail(C, "cannot write %s", path);
            else {
                for (size_t q = 0; q < nrec; q++) {
                    double tt = (double)(q * k);
                    double bound = t.floor + pow(1 - t.lambda, tt) * y0max;
                    fprintf(fp, "%.0f %.10g %.10g %.10g %.10g %.10g\n", tt, mean[q], q50[q], q90[q], mx[q], bound);
                }
                fclose(fp);
                char script[3072];
                snprintf(script, sizeof script,
                         "if (!exists(\"term_kind\")) term_kind='png'\n"
                         "if (term_kind eq 'svg') set terminal svg size 960,560; else set terminal pngcairo size 960,560\n"
                         "set title \"Theorem 1 on %s: ||y_t - x*||^2 over %zu trials (eta %g, r %g, c %.3g, L %.3g)\" noenhanced\n"
                         "set logscale y\nset xlabel 't'\nset ylabel '||y_t - x*||^2'\nset grid\nset key right center opaque box\n"
                         "set arrow from %zu, graph 0 to %zu, graph 1 nohead dt 3 lc rgb 'gray'\n"
                         "set label 'T1' at %zu, graph 0.95 offset 0.5,0\n"
                         "plot 'verify.dat' using 1:2 with lines lw 2 title 'mean', \\\n"
                         "     'verify.dat' using 1:3 with lines title 'median', \\\n"
                         "     'verify.dat' using 1:4 with lines title '90%%', \\\n"
                         "     'verify.dat' using 1:5 with lines title 'max', \\\n"
                         "     'verify.dat' using 1:6 with lines dt 2 lw 2 title 'proof: b/lambda + (1-lambda)^t d0', \\\n"
                         "     %.10g with lines lw 2 lc rgb '#d62728' title '20b/lambda', \\\n"
                         "     %.10g with lines lw 2 lc rgb '#9467bd' title 'delta^2'\n",
                         f->name, trials, eta, r, c, L, T1, T1, T1, t.radius2, delta2);
                int rendered;
                if (sgd_figure_render(rd.path, "verify", script, &rendered)) rc = cli_lib_fail(C);
            }
        }
        if (!rc) {
            sgd_json *man = sgd_json_new();
            sgd_json_manifest_header(man, argc, argv, threads);
            sgd_json_str(man, "command", "verify");
            sgd_json_str(man, "landscape", P.fspec);
            sgd_json_int(man, "d", (long long)d);
            sgd_json_str(man, "noise", sgd_noise_name(W.kind));
            sgd_json_num(man, "eta", eta);
            sgd_json_num(man, "noise_radius", r);
            sgd_json_int(man, "trials", (long long)trials);
            sgd_json_int(man, "T2", (long long)T2);
            sgd_json_bool(man, "random_start", random_start);
            sgd_json_int(man, "seed", (long long)seed);
            sgd_rundir_file(&rd, "manifest.json", path, sizeof path);
            if (sgd_json_write(man, path)) rc = cli_lib_fail(C);
            sgd_json_free(man);
            sgd_json *s = sgd_json_new();
            sgd_json_num(s, "eta", eta);
            sgd_json_num(s, "c", c);
            sgd_json_str(s, "c_source", c_src);
            sgd_json_num(s, "L", L);
            sgd_json_num(s, "r", in.r);
            sgd_json_num(s, "y0_dist2", y0max);
            sgd_json_num(s, "lambda", t.lambda);
            sgd_json_num(s, "b", t.b);
            sgd_json_num(s, "T1", t.T1);
            sgd_json_int(s, "T2", (long long)T2);
            sgd_json_num(s, "radius2", t.radius2);
            sgd_json_num(s, "mu", t.mu);
            sgd_json_num(s, "delta", t.delta);
            sgd_json_num(s, "p_radius", p1);
            sgd_json_num(s, "p_radius_lo", l1);
            sgd_json_num(s, "p_radius_hi", h1);
            sgd_json_num(s, "p_stay", p2);
            sgd_json_num(s, "p_joint", pj);
            sgd_json_num(s, "mean_dist2_T1", mean_T1);
            sgd_json_nums(s, "dist2_T1_q50_q90_q99_max", s1, 4);
            sgd_json_num(s, "looseness_median", s1[0] > 0 ? t.radius2 / s1[0] : NAN);
            sgd_json_num(s, "looseness_max", s1[3] > 0 ? t.radius2 / s1[3] : NAN);
            sgd_json_num(s, "window_max_dist2_max", sm[1]);
            sgd_json_int(s, "diverged", (long long)diverged);
            sgd_json_int(s, "record_every", (long long)k);
            if (t3) {
                sgd_json_num(s, "thm3_eta_threshold", th.eta_threshold);
                sgd_json_num(s, "thm3_dist2_before", th.dist2);
                sgd_json_num(s, "thm3_eta_above", eta_hi);
                sgd_json_num(s, "thm3_dist2_after_above", hi3.dist2_after);
                sgd_json_num(s, "thm3_eta_below", eta_lo);
                sgd_json_num(s, "thm3_dist2_after_below", eta_lo > 0 ? lo3.dist2_after : NAN);
            }
            sgd_rundir_file(&rd, "summary.json", path, sizeof path);
            if (!rc && sgd_json_write(s, path)) rc = cli_lib_fail(C);
            sgd_json_free(s);
        }
        if (!rc) {
            printf("Theorem 1 on %s (d=%zu), %s noise: eta = %g, c = %.6g (%s), L = %.6g, r = %.6g\n", f->name, d,
                   sgd_noise_name(W.kind), eta, c, c_src, L, in.r);
            printf("  lambda = %.6g, b = %.6g, ||y0 - x*||^2 = %.6g, T1 = %.0f, T2 = %zu, 20b/lambda = %.6g, delta = "
                   "%.6g\n",
                   t.lambda, t.b, y0max, t.T1, T2, t.radius2, t.delta);
            printf("  %zu trials%s:\n", trials, k > 1 ? " (trajectories recorded every k steps)" : "");
            printf("    P(||y_T1 - x*||^2 <= 20b/lambda)           = %.4f  [%.4f, %.4f]   theory >= 0.5\n", p1, l1, h1);
            printf("    P(||y_t - x*|| <= delta, T1 <= t <= T1+T2)  = %.4f  [%.4f, %.4f]   theory >= 0.5 (jointly)\n",
                   p2, l2, h2);
            printf("    both                                       = %.4f\n", pj);
            printf("    ||y_T1 - x*||^2: mean %.4g (proof: <= 2b/lambda = %.4g); median %.4g, q90 %.4g, q99 %.4g, max "
                   "%.4g vs bound %.4g (%.3gx the median)\n",
                   mean_T1, 2 * t.floor, s1[0], s1[1], s1[2], s1[3], t.radius2, s1[0] > 0 ? t.radius2 / s1[0] : NAN);
            printf("    max over T1..T1+T2 of ||y_t - x*||^2: median %.4g, max %.4g vs delta^2 = %.4g\n", sm[0], sm[1],
                   delta2);
            if (t3) {
                printf("  Theorem 3 at x with ||x - x*||^2 = %.6g: threshold eta = %.6g\n", th.dist2, th.eta_threshold);
                printf("    eta = %.6g (above): ||x - x*||^2 -> %.6g (%s)\n", eta_hi, hi3.dist2_after,
                       hi3.dist2_after >= th.dist2 ? "moved away, as predicted" : "moved closer: CONTRADICTS");
                if (eta_lo > 0)
                    printf("    eta = %.6g (below): ||x - x*||^2 -> %.6g\n", eta_lo, lo3.dist2_after);
            }
        }
        free(D1);
        free(Dmax);
        free(mean);
        free(q50);
        free(q90);
        free(mx);
        free(col);
    }
    if (!rc) rc = cli_rundir_commit(C, &rd);
    if (rc && opened) cli_rundir_abort(&rd);
    if (!rc) printf("wrote %s/\n", rd.final);
    if (have_tr) sgd_trials_result_free(&tr);
    free(xst);
    sgd_landscape_free(f);
    return rc;
}
