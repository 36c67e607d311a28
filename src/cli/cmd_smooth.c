/* sgdscape smooth: g(y) = E f(y - eta*omega) and grad g on a grid or at points. */
#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char sgd_cmd_smooth_summary[] = "the convolved landscape g = E f(y - eta w) and grad g, with error bars";

static const char help[] =
    "usage: sgdscape smooth [options]\n\n"
    "Computes g(y) = E_{w ~ W} f(y - eta w) and grad g(y) = E grad f(y - eta w), the function SGD's\n"
    "y_t = x_t - eta grad f(x_t) approximately descends (the paper's alternative view), on a grid\n"
    "(d = 1, 2) or at given points, and writes smooth.csv (y, f, g, g_err, grad g, its errors),\n"
    "summary.json and, in 1-D / 2-D, the figure smooth.{gp,png,svg} of f and g.\n\n"
    "landscape and noise:\n"
    "  --f SPEC              catalog name[:k=v,...] | formula | plugin:PATH.so (default spiky)\n"
    "  --d N                 dimension (default 1)\n"
    "  --no-jit              a formula runs interpreted, not compiled (same bits)\n"
    "  --noise KIND          ball | cube | gauss | none (default ball; ball = interval in 1-D)\n"
    "  --eta ETA             step size (default 0.1)\n"
    "  --r R | --level S     noise radius r, or the kernel width S = eta*r (default level 0.15)\n"
    "method:\n"
    "  --method M            auto | exact | quad | mc (default auto: exact, else quad in d <= 2, else mc)\n"
    "  --samples N           Monte Carlo samples per point (default 10000)\n"
    "  --tol T               instead: pick n so every reported half-width is <= T (pilot run;\n"
    "                        CLT: n = (z s / T)^2, Hoeffding: n = R^2 log(2/alpha) / (2 T^2))\n"
    "  --confidence P        two-sided level of each interval (default 0.95)\n"
    "  --interval I          clt | hoeffding (Lemma 6) (default clt)\n"
    "  --range R             Hoeffding: known range of f(y - eta w) values (default: the sample\n"
    "                        range times 1.5 -- an estimate, not a guarantee; the summary says which)\n"
    "  --grad-range R        Hoeffding: known range of each gradient coordinate\n"
    "  --gauss-sigmas K      quadrature, Gaussian noise: truncate at K sigmas (default 10; 0 = infinite\n"
    "                        range, qagi)\n"
    "  --epsabs A --epsrel E quadrature tolerances (default 1e-10, 1e-8)\n"
    "  --compare             also evaluate the closed form and report |estimate - exact| against the\n"
    "                        reported error (coverage)\n"
    "where:\n"
    "  --grid LO:HI          grid box (default: the landscape's domain)\n"
    "  --n N                 grid points per axis (default 401 in 1-D, 61 in 2-D)\n"
    "  --at P[;P...]         points instead of a grid; each P is d comma-separated numbers or one number\n"
    "                        for all coordinates (required for d > 2)\n"
    "  --no-grad             skip grad g\n"
    "  --grad-only           only grad g (Monte Carlo then uses the landscape's batched gradient)\n"
    "common:\n"
    "  --out DIR             run directory (default runs/smooth)\n"
    "  --seed N              seed of the Monte Carlo samples (default 1)\n"
    "  --threads N           threads (default: all cores, at most 1024); results do not depend on it\n"
    "  --force               run work above 1e10 evaluations x dims (points x Monte Carlo samples x d)\n"
    "  --help                this text\n";

/* Parse "P;P;..." into a malloc'ed n*d array. */
static int parse_points(const char *C, const char *s, size_t d, double **pts, size_t *np)
{
    size_t cap = 1;
    for (const char *q = s; *q; q++) cap += *q == ';';
    double *out = malloc(cap * d * sizeof(double));
    char *copy = strdup(s);
    size_t n = 0;
    int rc = 0;
    if (!out || !copy) rc = cli_fail(C, "out of memory");
    char *save = NULL;
    for (char *tok = rc ? NULL : strtok_r(copy, ";", &save); tok && !rc; tok = strtok_r(NULL, ";", &save))
        if (!(rc = cli_point(C, "--at", tok, d, out + n * d))) n++;
    free(copy);
    if (!rc && n == 0) rc = cli_usage(C, "--at: no points");
    if (rc) {
        free(out);
        return rc;
    }
    *pts = out;
    *np = n;
    return 0;
}

int sgd_cmd_smooth(int argc, char **argv)
{
    const char *C = "smooth";
    const char *out = "runs/smooth", *at = NULL;
    cli_estimator E = CLI_ESTIMATOR_DEFAULTS;
    size_t ngrid = 0;
    double lo = NAN, hi = NAN;
    int threads = 0;
    sgd_smooth_points_config pc = {.want_grad = 1};
    sgd_smooth_params_default(&pc.sp);
    sgd_smooth_params *sp = &pc.sp;
    cli_problem P; /* no --x-star: smooth has no target */
    cli_problem_init(&P, "spiky", 0.1);
    static const struct option opts[] = {
        CLI_PROBLEM_OPTIONS,       CLI_ESTIMATOR_OPTIONS,     {"confidence", 1, 0, 'P'},
        {"gauss-sigmas", 1, 0, 'K'}, {"epsabs", 1, 0, 'A'},   {"epsrel", 1, 0, 'E'},
        {"compare", 0, 0, 'c'},    {"grid", 1, 0, 'g'},       {"n", 1, 0, 'k'},         {"at", 1, 0, 'a'},
        {"no-grad", 0, 0, 'x'},    {"grad-only", 0, 0, 'Y'},  CLI_COMMON_OPTIONS,       {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'P': bad = cli_double(C, "--confidence", optarg, &sp->confidence) ||
                        (!(sp->confidence > 0 && sp->confidence < 1) && cli_usage(C, "--confidence: must be in (0, 1)"));
            break;
        case 'K': bad = cli_double(C, "--gauss-sigmas", optarg, &sp->gauss_sigmas) || (sp->gauss_sigmas < 0 && cli_usage(C, "--gauss-sigmas: must be >= 0")); break;
        case 'A': bad = cli_positive(C, "--epsabs", optarg, &sp->epsabs); break;
        case 'E': bad = cli_positive(C, "--epsrel", optarg, &sp->epsrel); break;
        case 'c': pc.compare = 1; break;
        case 'g': bad = cli_parse_box(C, "--grid", optarg, &lo, &hi); break;
        case 'k': bad = cli_count(C, "--n", optarg, &ngrid) || (ngrid < 1 && cli_usage(C, "--n: need >= 1")); break;
        case 'a': at = optarg; break;
        case 'x': pc.want_grad = 0; break;
        case 'Y': sp->grad_only = 1; break;
        default: {
            int e = cli_estimator_opt(C, ch, &E, sp, &P, help, argv, &out, &sp->seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (P.d == 0) return cli_usage(C, "--d: must be >= 1");
    if (sp->grad_only && !pc.want_grad) return cli_usage(C, "--grad-only and --no-grad exclude each other");
    if (at && (!isnan(lo) || ngrid)) return cli_usage(C, "give --at or --grid/--n, not both");
    if (cli_estimator_finish(C, &E, sp)) return 2;
    /* default noise level eta*r = 0.15 */
    pc.W = (sgd_noise){SGD_NOISE_BALL, 0, NULL, NULL};
    if (cli_problem_noise(C, &P, 0.15 / P.eta, &pc.W.kind, &pc.W.scale)) return 2;
    const size_t d = P.d;
    pc.eta = P.eta;
    pc.threads = threads = cli_threads(threads);

    sgd_landscape *f = cli_landscape(C, P.fspec, d, P.no_jit);
    if (!f) return cli_lib_fail(C);
    pc.f = f;
    double *pts = NULL;
    int rc = 0;
    if (at) {
        rc = parse_points(C, at, d, &pts, &pc.n);
    } else if (d > 2) {
        rc = cli_usage(C, "d = %zu: a grid is for d <= 2, give points with --at", d);
    } else {
        pc.grid_n = ngrid ? ngrid : d == 1 ? 401 : 61;
        double npd = d == 1 ? (double)pc.grid_n : (double)pc.grid_n * (double)pc.grid_n;
        /* about 12 doubles a point in all (points, values, errors) */
        if (npd * 12 * sizeof(double) > 64e9)
            rc = cli_usage(C, "--n %zu: %.3g grid points need %.3g GB; use a smaller --n", pc.grid_n, npd,
                           npd * 12 * sizeof(double) / 1e9);
        else if (sgd_smooth_grid(d, isnan(lo) ? f->lo : lo, isnan(lo) ? f->hi : hi, pc.grid_n, &pts, &pc.n))
            rc = cli_lib_fail(C);
    }
    pc.y = pts;
    if (!rc) rc = cli_mc_work(C, f, &pc.W, pc.eta, pts, (double)pc.n, sp, pc.want_grad, threads);
    sgd_smooth_points_result res = {0};
    sgd_rundir rd;
    if (!rc) {
        sgd_progress pg;
        sgd_progress_start(&pg, "smooth");
        rc = sgd_smooth_points(&pc, &res, cli_progress_cb, &pg) ? cli_lib_fail(C) : 0;
        sgd_progress_end(&pg);
    }
    if (!rc && cli_rundir_open(C, &rd, out)) rc = 1;
    else if (!rc) {
        sgd_json *man = sgd_json_new();
        sgd_json_manifest_header(man, argc, argv, threads);
        sgd_smooth_points_manifest_json(man, &pc, P.fspec, E.method_s);
        char path[4400];
        rc = sgd_rundir_file(&rd, "manifest.json", path, sizeof path) ||
                     sgd_smooth_points_write(rd.path, &pc, &res) || sgd_json_write(man, path)
                 ? cli_lib_fail(C) : 0;
        sgd_json_free(man);
        if (!rc) rc = cli_rundir_commit(C, &rd);
        if (rc) cli_rundir_abort(&rd);
    }
    if (!rc) {
        sgd_smooth_points_print(stdout, &pc, &res);
        printf("wrote %s/\n", rd.final);
    }
    sgd_smooth_points_free(&res);
    free(pts);
    sgd_landscape_free(f);
    return rc;
}
