/* sgdscape check: Assumption 1 on a domain, and its window in eta / noise level. */
#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
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
    "  --no-jit              a formula runs interpreted, not compiled (same bits)\n"
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
            return cli_usage(C, "%s: LO:HI:N needs 0 < LO, 0 < HI and 2 <= N <= %d", opt, max), -1;
        for (int i = 0; i < n; i++) v[i] = a * pow(b / a, (double)i / (n - 1));
        return n;
    }
    int n = cli_doubles(C, opt, s, v, max);
    for (int i = 0; i < n; i++)
        if (!(v[i] > 0)) return cli_usage(C, "%s: values must be > 0", opt), -1;
    return n;
}

int sgd_cmd_check(int argc, char **argv)
{
    const char *C = "check";
    const char *out = "runs/check", *center_s = NULL, *scan_eta = NULL, *scan_level = NULL;
    size_t npts = 0;
    double lo = NAN, hi = NAN, ball = NAN, scan[MAX_SCAN];
    int threads = 0, grid = 0, have_box = 0, nscan = 0;
    cli_estimator E = CLI_ESTIMATOR_DEFAULTS;
    sgd_onepoint_scan_config sc = {.values = scan};
    sgd_onepoint_config *cfg = &sc.check;
    sgd_onepoint_defaults(cfg, NULL);
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
        case 'p': bad = cli_count(C, "--points", optarg, &npts) || (npts < 1 && cli_usage(C, "--points: need >= 1")); break;
        case 'P': bad = cli_double(C, "--confidence", optarg, &cfg->confidence) ||
                        (!(cfg->confidence > 0 && cfg->confidence < 1) && cli_usage(C, "--confidence: must be in (0, 1)"));
            break;
        case 'E': scan_eta = optarg; break;
        case 'x': bad = cli_double(C, "--exclude", optarg, &cfg->exclude_x) || (cfg->exclude_x < 0 && cli_usage(C, "--exclude: must be >= 0")); break;
        case 'S': scan_level = optarg; break;
        default: {
            int e = cli_estimator_opt(C, ch, &E, &cfg->sp, &P, help, argv, &out, &cfg->seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (P.d == 0) return cli_usage(C, "--d: must be >= 1");
    if (scan_eta && scan_level) return cli_usage(C, "give --scan-eta or --scan-level, not both");
    if (have_box + grid + !isnan(ball) > 1) return cli_usage(C, "give one of --box, --grid and --ball");
    if (center_s && isnan(ball)) return cli_usage(C, "--center is the centre of --ball: give --ball too");
    if (cli_estimator_finish(C, &E, &cfg->sp)) return 2;
    /* default noise level eta*r = 0.15 */
    if (cli_problem_noise(C, &P, 0.15 / P.eta, &cfg->W.kind, &cfg->W.scale)) return 2;
    const size_t d = P.d;
    cfg->eta = P.eta;
    threads = cli_threads(threads);
    sc.kind = scan_eta ? SGD_SCAN_ETA : SGD_SCAN_LEVEL;
    if ((scan_eta || scan_level) &&
        (nscan = parse_list(C, scan_eta ? "--scan-eta" : "--scan-level", scan_eta ? scan_eta : scan_level, scan,
                            MAX_SCAN)) < 0)
        return 2;
    sc.n = (size_t)nscan;

    sgd_landscape *f = cli_landscape(C, P.fspec, d, P.no_jit);
    if (!f) return cli_lib_fail(C);
    int rc = 0;
    double *xst = malloc(2 * d * sizeof(double)), *ctr = xst + d;
    if (!xst) rc = cli_fail(C, "out of memory");
    if (!rc) rc = cli_problem_xstar(C, d, P.xstar_s, f, xst);
    if (!rc && center_s) rc = cli_point(C, "--center", center_s, d, ctr);
    cfg->f = f;
    cfg->x_star = xst;
    if (!isnan(ball)) {
        cfg->D.kind = SGD_DOMAIN_BALL;
        cfg->D.radius = ball;
        cfg->D.center = center_s ? ctr : NULL;
    } else {
        cfg->D.kind = grid ? SGD_DOMAIN_GRID : SGD_DOMAIN_BOX;
        cfg->D.lo = isnan(lo) ? f->lo : lo;
        cfg->D.hi = isnan(lo) ? f->hi : hi;
    }
    cfg->D.n = npts ? npts : (grid ? (d == 1 ? 801 : 61) : 1000);
    /* a scan repeats the check at every value */
    double npoints = (grid && d == 2 ? (double)cfg->D.n : 1) * (double)cfg->D.n * (nscan > 0 ? nscan : 1);
    if (!rc) rc = cli_mc_work(C, f, &cfg->W, cfg->eta, xst, npoints, &cfg->sp, 1, threads);
    sgd_rundir rd;
    if (rc || cli_rundir_open(C, &rd, out)) {
        free(xst);
        sgd_landscape_free(f);
        return rc ? rc : 1;
    }
    /* nothing is written until the check is done, so an interrupt removes DIR.partial at once */
    sgd_onepoint_scan_result sres = {0};
    sgd_onepoint_result res = {0};
    sgd_progress pg;
    sgd_progress_start(&pg, "check");
    if (nscan ? sgd_onepoint_scan(&sc, &sres, cli_progress_cb, &pg) : sgd_onepoint_check(cfg, &res)) rc = 1;
    sgd_progress_end(&pg);
    if (!rc) rc = nscan ? sgd_onepoint_scan_write(rd.path, &sc, &sres) : sgd_onepoint_write(rd.path, cfg, &res);
    if (!rc) {
        sgd_json *man = sgd_json_new();
        sgd_json_manifest_header(man, argc, argv, threads);
        sgd_onepoint_manifest_json(man, &sc, P.fspec, E.method_s);
        rc = sgd_json_write_free(man, rd.path, "manifest.json");
    }
    if (rc) rc = cli_lib_fail(C);
    else if (nscan) sgd_onepoint_scan_print(stdout, &sc, &sres);
    else sgd_onepoint_print(stdout, cfg, &res);
    if (!rc) rc = cli_rundir_commit(C, &rd);
    if (rc) cli_rundir_abort(&rd);
    else printf("wrote %s/\n", rd.final);
    sgd_onepoint_scan_free(&sres);
    sgd_onepoint_result_free(&res);
    free(xst);
    sgd_landscape_free(f);
    return rc;
}
