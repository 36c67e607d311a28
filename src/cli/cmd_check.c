/* sgdscape check: Assumption 1 on a domain, and its window in eta / noise level. */
#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/landscape.h"
#include "sgdscape/noise.h"
#include "sgdscape/smooth.h"
#include "sgdscape/theory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char sgd_cmd_check_summary[] = "check Assumption 1 (one-point convexity of the smoothed f): c, L, r, where it fails";

static const char help[] =
    "usage: sgdscape check [options]\n\n"
    "Assumption 1: for x in D and y = x - eta grad f(x),\n"
    "    <-grad g(y), x* - y> >= c ||x* - y||^2,   g(y) = E_{w ~ W} f(y - eta w).\n"
    "At points of D it evaluates ratio(x) = <-grad g(y), x* - y> / ||x* - y||^2 (grad g exact if the\n"
    "landscape has a closed form, else quadrature (d <= 2) or Monte Carlo with its error), and reports\n"
    "c = min ratio with a one-sided bound c_lower = min(ratio - err) (MC intervals Bonferroni-corrected\n"
    "over all points and coordinates so the bound holds for every point at once at --confidence),\n"
    "the points where ratio <= 0, L (max Hessian spectral norm over the points if analytic; also a\n"
    "lower bound from gradient differences) and r = max ||w||. Writes points.csv, summary.json\n"
    "(read by `bounds --from`), map.{gp,png,svg} in 1-D / 2-D.\n\n"
    "landscape and noise:\n"
    "  --f SPEC              landscape (default spiky)\n"
    "  --d N                 dimension (default 1)\n"
    "  --x-star V[,V...]     target x* (default: the landscape's)\n"
    "  --noise KIND          ball | cube | gauss (default ball)\n"
    "  --eta ETA             step size (default 0.01)\n"
    "  --r R | --level S     noise radius r, or level S = eta*r (default level 0.15)\n"
    "domain D:\n"
    "  --box LO:HI           uniform random points in [LO, HI]^d (default: the landscape's domain)\n"
    "  --ball R              uniform random points in the ball of radius R around --center (default x*)\n"
    "  --center V[,V...]     ball centre\n"
    "  --grid LO:HI          a grid on [LO, HI]^d, d = 1 or 2\n"
    "  --points N            random points, or grid points per axis (default 1000 random, 801 grid)\n"
    "  --exclude R           leave out points with ||x - x*|| < R (D minus a small ball around x*)\n"
    "smoothing (see `sgdscape smooth --help`):\n"
    "  --method M            auto | exact | quad | mc      --samples N   --tol T\n"
    "  --interval clt|hoeffding   --range R   --grad-range R\n"
    "  --confidence P        level of the one-sided bound on c (default 0.95)\n"
    "scans (the window where Assumption 1 holds):\n"
    "  --scan-eta LIST       repeat the check for each eta (r fixed); LIST = a,b,c or LO:HI:N (log-spaced)\n"
    "  --scan-level LIST     repeat for each noise level eta*r (eta fixed)\n"
    "                        writes scan.csv (c_hat, c_lower, fail fraction, Theorem 1's radius 20b/lambda\n"
    "                        when the window condition holds) and scan.{gp,png,svg}\n"
    "common:\n"
    "  --out DIR             run directory (default runs/check)\n"
    "  --seed N              seed for the sample points and Monte Carlo (default 1)\n"
    "  --threads N           threads (default: all cores, at most 1024); results do not depend on it\n"
    "  --force               run work above 1e10 evaluations x dims (points x Monte Carlo samples x d)\n"
    "  --help                this text\n";

#define MAX_SCAN 256

static int parse_list(const char *C, const char *opt, const char *s, double *v, int max)
{
    double a, b, nn;
    if (sscanf(s, "%lf:%lf:%lf", &a, &b, &nn) == 3 && strchr(s, ':')) {
        int n = (int)nn;
        if (!(a > 0 && b > 0) || n < 2 || n > max || nn != n)
            return cli_fail(C, "%s: LO:HI:N needs 0 < LO, 0 < HI and 2 <= N <= %d", opt, max), -1;
        for (int i = 0; i < n; i++) v[i] = a * pow(b / a, (double)i / (n - 1));
        return n;
    }
    int n = cli_doubles(C, opt, s, v, max);
    for (int i = 0; i < n; i++)
        if (!(v[i] > 0)) return cli_fail(C, "%s: values must be > 0", opt), -1;
    return n;
}

static double pick_L(const sgd_landscape *f, const sgd_onepoint_result *r, const char **src)
{
    if (isfinite(f->L) && f->L > 0) {
        *src = "landscape (global constant)";
        return f->L;
    }
    if (isfinite(r->L_hess) && r->L_hess > 0) {
        *src = "max Hessian spectral norm over the points (estimate)";
        return r->L_hess;
    }
    *src = "lower bound from gradient differences (not an upper bound: Theorem 1 numbers are optimistic)";
    return r->L_lower;
}

static void verdict(const sgd_onepoint_config *c, const sgd_onepoint_result *r, char *buf, size_t n)
{
    const char *sampled = c->D.kind == SGD_DOMAIN_GRID ? "on the grid" : "on the sampled points";
    if (r->nfail == 0 && r->c_lower > 0)
        snprintf(buf, n,
                 "holds %s with c >= %.6g at confidence %g (estimate c = %.6g)%s", sampled, r->c_lower,
                 c->confidence, r->c_hat,
                 c->D.kind == SGD_DOMAIN_GRID ? "" : "; the minimum over samples estimates the infimum over D");
    else if (r->nfail == 0)
        snprintf(buf, n, "inconclusive: every ratio > 0 (min %.6g) but error bars reach 0; use more samples",
                 r->c_hat);
    else
        snprintf(buf, n,
                 "fails at %zu of %zu points (ratio <= 0; %zu even at the interval's upper end), all within "
                 "||x - x*|| <= %.4g",
                 r->nfail, r->n - r->nexcluded, r->nfail_sure, r->fail_radius);
}

int sgd_cmd_check(int argc, char **argv)
{
    const char *C = "check";
    const char *out = "runs/check", *center_s = NULL, *scan_eta = NULL, *scan_level = NULL;
    size_t npts = 0;
    double lo = NAN, hi = NAN, ball = NAN;
    int threads = 0, grid = 0, have_box = 0;
    cli_estimator E = CLI_ESTIMATOR_DEFAULTS;
    sgd_onepoint_config cfg;
    sgd_onepoint_defaults(&cfg, NULL);
    cli_problem P;
    cli_problem_init(&P, "spiky", 0.01);
    static const struct option opts[] = {
        CLI_PROBLEM_OPTIONS,      CLI_XSTAR_OPTION,            {"box", 1, 0, 'b'},
        {"ball", 1, 0, 'B'},      {"center", 1, 0, 'C'},       {"grid", 1, 0, 'g'},      {"points", 1, 0, 'p'},
        CLI_ESTIMATOR_OPTIONS,    {"confidence", 1, 0, 'P'},   {"scan-eta", 1, 0, 'E'},
        {"scan-level", 1, 0, 'S'}, {"exclude", 1, 0, 'x'},   CLI_COMMON_OPTIONS,       {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'b': bad = cli_parse_box(C, "--box", optarg, &lo, &hi); have_box = 1; break;
        case 'B': bad = cli_positive(C, "--ball", optarg, &ball); break;
        case 'C': center_s = optarg; break;
        case 'g': bad = cli_parse_box(C, "--grid", optarg, &lo, &hi); grid = 1; break;
        case 'p': bad = cli_count(C, "--points", optarg, &npts) || (npts < 1 && cli_fail(C, "--points: need >= 1")); break;
        case 'P': bad = cli_double(C, "--confidence", optarg, &cfg.confidence) ||
                        (!(cfg.confidence > 0 && cfg.confidence < 1) && cli_fail(C, "--confidence: must be in (0, 1)"));
            break;
        case 'E': scan_eta = optarg; break;
        case 'x': bad = cli_double(C, "--exclude", optarg, &cfg.exclude_x) || (cfg.exclude_x < 0 && cli_fail(C, "--exclude: must be >= 0")); break;
        case 'S': scan_level = optarg; break;
        default: {
            int e = cli_estimator_opt(C, ch, &E, &cfg.sp, &P, help, argv, &out, &cfg.seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 1;
    if (P.d == 0) return cli_fail(C, "--d: must be >= 1");
    if (scan_eta && scan_level) return cli_fail(C, "give --scan-eta or --scan-level, not both");
    if (have_box + grid + !isnan(ball) > 1) return cli_fail(C, "give one of --box, --grid and --ball") + 1;
    if (center_s && isnan(ball)) return cli_fail(C, "--center is the centre of --ball: give --ball too") + 1;
    if (cli_estimator_finish(C, &E, &cfg.sp)) return 2;
    /* default noise level eta*r = 0.15 */
    if (cli_problem_noise(C, &P, 0.15 / P.eta, &cfg.W.kind, &cfg.W.r)) return 1;
    const size_t d = P.d;
    const double eta = P.eta, r = cfg.W.r;
    cfg.eta = eta;
    threads = cli_threads(threads);
    double scan[MAX_SCAN];
    int nscan = 0;
    if (scan_eta && (nscan = parse_list(C, "--scan-eta", scan_eta, scan, MAX_SCAN)) < 0) return 2;
    if (scan_level && (nscan = parse_list(C, "--scan-level", scan_level, scan, MAX_SCAN)) < 0) return 2;

    sgd_landscape *f = sgd_landscape_create(P.fspec, d);
    if (!f) return cli_lib_fail(C);
    int rc = 0;
    double *xst = malloc(2 * d * sizeof(double)), *ctr = xst + d;
    if (!xst) rc = cli_fail(C, "out of memory");
    if (!rc) rc = cli_problem_xstar(C, d, P.xstar_s, f, xst);
    if (!rc && center_s) rc = cli_point(C, "--center", center_s, d, ctr);
    if (rc) {
        free(xst);
        sgd_landscape_free(f);
        return rc;
    }
    cfg.f = f;
    cfg.x_star = xst;
    if (!isnan(ball)) {
        cfg.D.kind = SGD_DOMAIN_BALL;
        cfg.D.radius = ball;
        cfg.D.center = center_s ? ctr : NULL;
    } else {
        cfg.D.kind = grid ? SGD_DOMAIN_GRID : SGD_DOMAIN_BOX;
        cfg.D.lo = isnan(lo) ? f->lo : lo;
        cfg.D.hi = isnan(lo) ? f->hi : hi;
    }
    cfg.D.n = npts ? npts : (grid ? (d == 1 ? 801 : 61) : 1000);

    /* a scan repeats the check at every value */
    if (!rc) rc = cli_mc_work(C, f, &cfg.W, eta, xst, (grid && d == 2 ? (double)cfg.D.n : 1) * (double)cfg.D.n * (nscan > 0 ? nscan : 1),
                             &cfg.sp, 1, threads);
    sgd_rundir rd;
    if (rc || cli_rundir_open(C, &rd, out)) {
        free(xst);
        sgd_landscape_free(f);
        return rc ? rc : 1;
    }
    char path[4400];
    sgd_json *man = sgd_json_new();
    sgd_json_manifest_header(man, argc, argv, threads);
    sgd_json_str(man, "command", "check");
    sgd_json_str(man, "landscape", P.fspec);
    sgd_json_str(man, "landscape_doc", f->doc);
    sgd_json_int(man, "d", (long long)d);
    sgd_json_nums(man, "x_star", xst, d <= 1000 ? d : 1000);
    sgd_json_str(man, "noise", sgd_noise_name(cfg.W.kind));
    sgd_json_num(man, "eta", eta);
    sgd_json_num(man, "r", r);
    sgd_json_str(man, "domain", cfg.D.kind == SGD_DOMAIN_BALL ? "ball" : cfg.D.kind == SGD_DOMAIN_GRID ? "grid" : "box");
    sgd_json_num(man, "domain_lo", cfg.D.lo);
    sgd_json_num(man, "domain_hi", cfg.D.hi);
    sgd_json_num(man, "domain_radius", cfg.D.kind == SGD_DOMAIN_BALL ? cfg.D.radius : NAN);
    sgd_json_int(man, "points", (long long)cfg.D.n);
    sgd_json_str(man, "method", E.method_s);
    sgd_json_int(man, "samples", (long long)cfg.sp.nsamples);
    sgd_json_num(man, "tol", cfg.sp.tol);
    sgd_json_str(man, "interval", sgd_smooth_interval_name(cfg.sp.interval));
    sgd_json_num(man, "confidence", cfg.confidence);
    sgd_json_int(man, "seed", (long long)cfg.seed);
    if (scan_eta) sgd_json_nums(man, "scan_eta", scan, (size_t)nscan);
    if (scan_level) sgd_json_nums(man, "scan_level", scan, (size_t)nscan);
    /* the manifest is written last: DIR.partial stays empty while the check
     * computes, so an interrupt can remove it at once */
    if (!rc && nscan > 0) {
        /* ---- the window scan ---- */
        sgd_afile af;
        sgd_rundir_file(&rd, "scan.csv", path, sizeof path);
        if (sgd_afile_open(&af, path)) rc = cli_lib_fail(C);
        FILE *dat = NULL;
        char datp[4400];
        sgd_rundir_file(&rd, "scan.dat", datp, sizeof datp);
        if (!rc) {
            dat = fopen(datp, "w");
            if (!dat) rc = cli_fail(C, "cannot write %s", datp);
        }
        if (!rc)
            fprintf(af.fp, "value,eta,r,level,c_hat,c_lower,fail_fraction,nfail,points,L,theorem1_window,"
                           "lambda,b,radius2,fail_radius,remark_scale\n");
        sgd_json *s = sgd_json_new();
        double win_lo = NAN, win_hi = NAN;
        printf("%-12s %-10s %-10s %-12s %-12s %-8s %-11s %-12s %-10s\n", scan_eta ? "eta" : "level", "eta", "r",
               "c_hat", "c_lower", "fail", "fail_rad", "eta r^2/c", "20b/lambda");
        for (int k = 0; k < nscan && !rc && !cli_interrupted(); k++) {
            sgd_onepoint_config ck = cfg;
            if (scan_eta) {
                ck.eta = scan[k];
                ck.W.r = r;
            } else {
                ck.eta = eta;
                ck.W.r = scan[k] / eta;
            }
            sgd_onepoint_result res;
            if (sgd_onepoint_check(&ck, &res)) {
                rc = cli_lib_fail(C);
                break;
            }
            const char *lsrc;
            double L = pick_L(f, &res, &lsrc);
            size_t m = res.n - res.nexcluded;
            sgd_thm1_input in = {ck.eta, res.c_lower, L, res.r, 1.0, 1000};
            sgd_thm1 t;
            int ok = res.nfail == 0 && res.c_lower > 0 && sgd_bounds_theorem1(&in, &t) == SGD_OK;
            sgd_error_clear();
            /* the Remark's scale eta r^2 / c of the region SGD stays in (window condition aside) */
            double remark = res.c_lower > 0 ? ck.eta * res.r * res.r / res.c_lower : NAN;
            fprintf(af.fp, "%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%zu,%zu,%.17g,%d,%.17g,%.17g,%.17g,%.17g,%.17g\n",
                    scan[k], ck.eta, ck.W.r, ck.eta * ck.W.r, res.c_hat, res.c_lower, (double)res.nfail / (double)m,
                    res.nfail, m, L, ok, ok ? t.lambda : NAN, ok ? t.b : NAN, ok ? t.radius2 : NAN, res.fail_radius,
                    remark);
            fprintf(dat, "%.10g %.10g %.10g %.10g\n", scan[k], res.c_hat, res.c_lower, (double)res.nfail / (double)m);
            printf("%-12.5g %-10.4g %-10.4g %-12.5g %-12.5g %-8.4f %-11.4g %-12.4g %-10.4g\n", scan[k], ck.eta, ck.W.r,
                   res.c_hat, res.c_lower, (double)res.nfail / (double)m, res.fail_radius, remark, ok ? t.radius2 : NAN);
            if (res.nfail == 0 && res.c_lower > 0) {
                if (isnan(win_lo) || scan[k] < win_lo) win_lo = scan[k];
                if (isnan(win_hi) || scan[k] > win_hi) win_hi = scan[k];
            }
            sgd_json *e = sgd_json_arr_obj(s, "scan");
            sgd_json_num(e, "value", scan[k]);
            sgd_json_num(e, "eta", ck.eta);
            sgd_json_num(e, "r", ck.W.r);
            sgd_json_num(e, "c_hat", res.c_hat);
            sgd_json_num(e, "c_lower", res.c_lower);
            sgd_json_num(e, "fail_fraction", (double)res.nfail / (double)m);
            sgd_json_num(e, "radius2", ok ? t.radius2 : NAN);
            sgd_json_num(e, "fail_radius", res.fail_radius);
            sgd_json_num(e, "remark_scale", remark);
            sgd_onepoint_result_free(&res);
        }
        if (dat) fclose(dat);
        if (!rc && sgd_afile_commit(&af)) rc = cli_lib_fail(C);
        sgd_json_str(s, "scanned", scan_eta ? "eta" : "level");
        sgd_json_num(s, "holds_from", win_lo);
        sgd_json_num(s, "holds_to", win_hi);
        sgd_rundir_file(&rd, "summary.json", path, sizeof path);
        if (!rc && sgd_json_write(s, path)) rc = cli_lib_fail(C);
        sgd_json_free(s);
        if (!rc) {
            char script[2048];
            snprintf(script, sizeof script,
                     "if (!exists(\"term_kind\")) term_kind='png'\n"
                     "if (term_kind eq 'svg') set terminal svg size 900,520; else set terminal pngcairo size 900,520\n"
                     "set title \"Assumption 1 on %s: c(%s), %s noise\" noenhanced\n"
                     "set logscale x\nset xlabel '%s'\nset ylabel 'c (min ratio)'\nset y2label 'fraction failing'\n"
                     "set ytics nomirror\nset y2tics\nset y2range [0:1]\nset grid\nset key bottom right\n"
                     "plot 'scan.dat' using 1:2 with linespoints lw 2 title 'c estimate', \\\n"
                     "     'scan.dat' using 1:3 with linespoints dt 2 title 'c lower bound', \\\n"
                     "     'scan.dat' using 1:4 axes x1y2 with linespoints lc rgb '#d62728' title 'fraction with ratio <= 0', \\\n"
                     "     0 with lines lc rgb 'black' notitle\n",
                     f->name, scan_eta ? "eta" : "level", sgd_noise_name(cfg.W.kind), scan_eta ? "eta" : "noise level eta r");
            int rendered;
            if (sgd_figure_render(rd.path, "scan", script, &rendered)) rc = cli_lib_fail(C);
        }
        if (!rc) {
            if (isnan(win_lo)) printf("Assumption 1 holds at none of the scanned values\n");
            else printf("Assumption 1 holds (c_lower > 0, no failing point) for %s in [%g, %g] of the scanned values\n",
                        scan_eta ? "eta" : "level", win_lo, win_hi);
        }
    } else if (!rc) {
        /* ---- one check ---- */
        sgd_onepoint_result res;
        double t0 = sgd_now();
        if (sgd_onepoint_check(&cfg, &res)) rc = cli_lib_fail(C);
        double secs = sgd_now() - t0;
        if (!rc) {
            const char *lsrc;
            double L = pick_L(f, &res, &lsrc);
            char vt[512];
            verdict(&cfg, &res, vt, sizeof vt);
            size_t m = res.n - res.nexcluded;
            sgd_afile af;
            sgd_rundir_file(&rd, "points.csv", path, sizeof path);
            size_t dc = d <= 16 ? d : 1;
            if (sgd_afile_open(&af, path)) rc = cli_lib_fail(C);
            else {
                for (size_t i = 0; i < dc; i++) fprintf(af.fp, "x%zu,", i + 1);
                for (size_t i = 0; i < dc; i++) fprintf(af.fp, "y%zu,", i + 1);
                fprintf(af.fp, "ratio,ratio_err,f_ratio,fails\n");
                for (size_t j = 0; j < res.n; j++) {
                    for (size_t i = 0; i < dc; i++) fprintf(af.fp, "%.17g,", res.x[j * d + i]);
                    for (size_t i = 0; i < dc; i++) fprintf(af.fp, "%.17g,", res.y[j * d + i]);
                    fprintf(af.fp, "%.17g,%.17g,%.17g,%d\n", res.ratio[j], res.ratio_err[j], res.f_ratio[j],
                            res.ratio[j] <= 0);
                }
                if (sgd_afile_commit(&af)) rc = cli_lib_fail(C);
            }
            if (!rc && d <= 2) {
                sgd_rundir_file(&rd, "map.dat", path, sizeof path);
                FILE *fp = fopen(path, "w");
                if (!fp) rc = cli_fail(C, "cannot write %s", path);
                else {
                    for (size_t j = 0; j < res.n; j++) {
                        if (isnan(res.ratio[j])) continue;
                        fprintf(fp, "%.10g %.10g %.10g %.10g %d\n", res.x[j * d], d == 2 ? res.x[j * d + 1] : 0.0,
                                res.ratio[j], res.ratio_err[j], res.ratio[j] <= 0);
                    }
                    fclose(fp);
                    char script[2048];
                    if (d == 1)
                        snprintf(script, sizeof script,
                                 "if (!exists(\"term_kind\")) term_kind='png'\n"
                                 "if (term_kind eq 'svg') set terminal svg size 900,520; else set terminal pngcairo size 900,520\n"
                                 "set title \"%s: <-grad g(y), x*-y>/||x*-y||^2 at y = x - eta grad f(x); eta %g, level %g\" noenhanced\n"
                                 "set xlabel 'x'\nset ylabel 'ratio'\nset grid\nset logscale y 10\nset key top left\n"
                                 "set ylabel 'ratio (log scale; failing points at the bottom)'\n"
                                 "floor_v = %.10g\n"
                                 "plot 'map.dat' using 1:($5 == 0 ? $3 : 1/0) with points pt 7 ps 0.4 lc rgb '#1f77b4' title 'holds (ratio > 0)', \\\n"
                                 "     'map.dat' using 1:($5 == 1 ? floor_v : 1/0) with points pt 7 ps 0.6 lc rgb '#d62728' title 'fails (ratio <= 0)'\n",
                                 f->name, eta, eta * r, res.c_hat > 0 ? res.c_hat / 2 : 1e-3);
                    else
                        snprintf(script, sizeof script,
                                 "if (!exists(\"term_kind\")) term_kind='png'\n"
                                 "if (term_kind eq 'svg') set terminal svg size 800,700; else set terminal pngcairo size 800,700\n"
                                 "set title \"%s: Assumption-1 ratio over D (red: fails); eta %g, level %g\" noenhanced\n"
                                 "set xlabel 'x_1'\nset ylabel 'x_2'\nset size ratio -1\nset palette rgb 33,13,10\n"
                                 "plot 'map.dat' using 1:2:($5 == 0 ? $3 : 1/0) with points pt 7 ps 0.5 palette notitle, \\\n"
                                 "     'map.dat' using 1:2:($5 == 1 ? 0 : 1/0) with points pt 7 ps 0.7 lc rgb '#d62728' title 'fails'\n",
                                 f->name, eta, eta * r);
                    int rendered;
                    if (sgd_figure_render(rd.path, "map", script, &rendered)) rc = cli_lib_fail(C);
                }
            }
            if (!rc) {
                sgd_json *s = sgd_json_new();
                sgd_json_str(s, "verdict", vt);
                sgd_json_num(s, "eta", eta);
                sgd_json_num(s, "r", res.r);
                sgd_json_num(s, "noise_radius", r);
                sgd_json_num(s, "noise_level", eta * r);
                sgd_json_num(s, "c_hat", res.c_hat);
                sgd_json_num(s, "c_lower", res.c_lower);
                sgd_json_num(s, "c_upper", res.c_upper);
                sgd_json_num(s, "confidence", cfg.confidence);
                sgd_json_num(s, "point_confidence", res.point_confidence);
                sgd_json_str(s, "c_lower_meaning",
                             res.method == SGD_SMOOTH_MC
                                 ? "min over points of ratio - err, err from Bonferroni-corrected MC intervals"
                                 : res.method == SGD_SMOOTH_QUAD ? "min over points of ratio - quadrature error estimate"
                                                                 : "exact grad g: c_lower = c_hat");
                sgd_json_bool(s, "domain_sampled", cfg.D.kind != SGD_DOMAIN_GRID);
                sgd_json_int(s, "points", (long long)m);
                sgd_json_int(s, "excluded", (long long)res.nexcluded);
                sgd_json_int(s, "nfail", (long long)res.nfail);
                sgd_json_int(s, "nfail_sure", (long long)res.nfail_sure);
                sgd_json_num(s, "fail_radius", res.fail_radius);
                sgd_json_num(s, "fail_fraction", (double)res.nfail / (double)m);
                sgd_json_nums(s, "argmin_x", res.x + res.argmin * d, d <= 1000 ? d : 1000);
                sgd_json_num(s, "L", L);
                sgd_json_str(s, "L_source", lsrc);
                sgd_json_num(s, "L_landscape", f->L);
                sgd_json_num(s, "L_hess", res.L_hess);
                sgd_json_num(s, "L_lower", res.L_lower);
                sgd_json_num(s, "cprime_max", res.cprime_max);
                sgd_json_str(s, "method", sgd_smooth_method_name(res.method));
                sgd_json_int(s, "mc_samples", (long long)res.mc_samples);
                if (res.method == SGD_SMOOTH_MC && cfg.sp.interval == SGD_SMOOTH_CI_HOEFFDING)
                    sgd_json_str(s, "hoeffding_range", res.range_from_sample ? "sample range x 1.5 (estimate)" : "user-given");
                sgd_json_num(s, "seconds", secs);
                sgd_rundir_file(&rd, "summary.json", path, sizeof path);
                if (sgd_json_write(s, path)) rc = cli_lib_fail(C);
                sgd_json_free(s);
            }
            if (!rc) {
                printf("Assumption 1 for %s (d=%zu), %s noise, eta = %g, r = %g (level %g), %zu points, grad g: %s\n",
                       f->name, d, sgd_noise_name(cfg.W.kind), eta, r, eta * r, m, sgd_smooth_method_name(res.method));
                printf("  c estimate (min ratio) = %.6g, one-sided bound c >= %.6g (confidence %g)\n", res.c_hat,
                       res.c_lower, cfg.confidence);
                printf("  ratio <= 0 at %zu points (%.4g%%)\n", res.nfail, 100.0 * (double)res.nfail / (double)m);
                size_t shown = 0;
                for (size_t j = 0; j < res.n && shown < 5; j++)
                    if (res.ratio[j] <= 0) {
                        printf("    x = %.6g%s: ratio %.4g\n", res.x[j * d], d > 1 ? ",..." : "", res.ratio[j]);
                        shown++;
                    }
                printf("  L = %.6g (%s); L_hess = %.6g, L_lower = %.6g; r = max||w|| = %.6g\n", L, lsrc, res.L_hess,
                       res.L_lower, res.r);
                printf("  verdict: %s\n", vt);
            }
            sgd_onepoint_result_free(&res);
        }
    }
    if (!rc) {
        sgd_rundir_file(&rd, "manifest.json", path, sizeof path);
        rc = sgd_json_write(man, path) ? cli_lib_fail(C) : 0;
    }
    sgd_json_free(man);
    if (!rc) rc = cli_rundir_commit(C, &rd);
    if (rc) cli_rundir_abort(&rd);
    else printf("wrote %s/\n", rd.final);
    free(xst);
    sgd_landscape_free(f);
    return rc;
}
