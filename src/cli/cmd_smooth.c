/* sgdscape smooth: g(y) = E f(y - eta*omega) and grad g on a grid or at points. */
#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/landscape.h"
#include "sgdscape/noise.h"
#include "sgdscape/smooth.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    if (!rc && n == 0) rc = cli_fail(C, "--at: no points");
    if (rc) {
        free(out);
        return rc;
    }
    *pts = out;
    *np = n;
    return 0;
}

static const char *figure_1d =
    "if (!exists(\"term_kind\")) term_kind='png'\n"
    "if (term_kind eq 'svg') set terminal svg size 900,560; else set terminal pngcairo size 900,560\n"
    "set title \"%s: f and g(y) = E f(y - eta w), %s noise, eta r = %g (%s)\" noenhanced\n"
    "set xlabel 'y'\nset ylabel 'value'\nset key top center\nset grid\n"
    "plot 'smooth.dat' using 1:2 with lines lw 1 lc rgb '#999999' title 'f', \\\n"
    "     'smooth.dat' using 1:3 with lines lw 2 lc rgb '#1f77b4' title 'g'%s\n";

static const char *figure_2d =
    "if (!exists(\"term_kind\")) term_kind='png'\n"
    "if (term_kind eq 'svg') set terminal svg size 1100,500; else set terminal pngcairo size 1100,500\n"
    "set multiplot layout 1,2 title \"%s, %s noise, eta r = %g (%s)\" noenhanced\n"
    "set view map\nset size ratio -1\nset xlabel 'y_1'\nset ylabel 'y_2'\nset palette rgb 33,13,10\n"
    "set title 'f'\nsplot 'smooth.dat' using 1:2:3 with pm3d notitle\n"
    "set title 'g'\nsplot 'smooth.dat' using 1:2:4 with pm3d notitle\n"
    "unset multiplot\n";

int sgd_cmd_smooth(int argc, char **argv)
{
    const char *C = "smooth";
    const char *out = "runs/smooth", *at = NULL;
    cli_estimator E = CLI_ESTIMATOR_DEFAULTS;
    size_t ngrid = 0;
    double lo = NAN, hi = NAN;
    int threads = 0, compare = 0, want_grad = 1;
    sgd_smooth_params sp;
    sgd_smooth_params_default(&sp);
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
        case 'P': bad = cli_double(C, "--confidence", optarg, &sp.confidence) ||
                        (!(sp.confidence > 0 && sp.confidence < 1) && cli_fail(C, "--confidence: must be in (0, 1)"));
            break;
        case 'K': bad = cli_double(C, "--gauss-sigmas", optarg, &sp.gauss_sigmas) || (sp.gauss_sigmas < 0 && cli_fail(C, "--gauss-sigmas: must be >= 0")); break;
        case 'A': bad = cli_positive(C, "--epsabs", optarg, &sp.epsabs); break;
        case 'E': bad = cli_positive(C, "--epsrel", optarg, &sp.epsrel); break;
        case 'c': compare = 1; break;
        case 'g': bad = cli_parse_box(C, "--grid", optarg, &lo, &hi); break;
        case 'k': bad = cli_count(C, "--n", optarg, &ngrid) || (ngrid < 1 && cli_fail(C, "--n: need >= 1")); break;
        case 'a': at = optarg; break;
        case 'x': want_grad = 0; break;
        case 'Y': sp.grad_only = 1; break;
        default: {
            int e = cli_estimator_opt(C, ch, &E, &sp, &P, help, argv, &out, &sp.seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 1;
    if (P.d == 0) return cli_fail(C, "--d: must be >= 1");
    if (sp.grad_only && !want_grad) return cli_fail(C, "--grad-only and --no-grad exclude each other");
    if (at && (!isnan(lo) || ngrid)) return cli_fail(C, "give --at or --grid/--n, not both") + 1;
    if (cli_estimator_finish(C, &E, &sp)) return 2;
    sgd_noise W = {SGD_NOISE_BALL, 0, NULL, NULL};
    /* default noise level eta*r = 0.15 */
    if (cli_problem_noise(C, &P, 0.15 / P.eta, &W.kind, &W.r)) return 1;
    const size_t d = P.d;
    const double eta = P.eta, r = W.r;
    threads = cli_threads(threads);

    sgd_landscape *f = sgd_landscape_create(P.fspec, d);
    if (!f) return cli_lib_fail(C);
    double *pts = NULL;
    size_t np = 0;
    int rc = 0;
    if (at) {
        rc = parse_points(C, at, d, &pts, &np);
    } else if (d > 2) {
        rc = cli_fail(C, "d = %zu: a grid is for d <= 2, give points with --at", d);
    } else {
        if (isnan(lo)) {
            lo = f->lo;
            hi = f->hi;
        }
        if (!ngrid) ngrid = d == 1 ? 401 : 61;
        double npd = d == 1 ? (double)ngrid : (double)ngrid * (double)ngrid;
        /* about 12 doubles a point in all (points, values, errors) */
        if (npd * 12 * sizeof(double) > 64e9)
            rc = cli_fail(C, "--n %zu: %.3g grid points need %.3g GB; use a smaller --n", ngrid, npd,
                          npd * 12 * sizeof(double) / 1e9) + 1;
        np = (size_t)npd;
        pts = rc ? NULL : malloc(np * d * sizeof(double));
        if (!rc && !pts) rc = cli_fail(C, "out of memory for %zu points (%.3g GB)", np, (double)np * (double)d * 8e-9);
        for (size_t j = 0; !rc && j < np; j++) {
            double step = ngrid > 1 ? (hi - lo) / (double)(ngrid - 1) : 0;
            if (d == 1) pts[j] = lo + step * (double)j;
            else {
                pts[2 * j] = lo + step * (double)(j % ngrid);
                pts[2 * j + 1] = lo + step * (double)(j / ngrid);
            }
        }
    }
    if (!rc) rc = cli_mc_work(C, f, &W, eta, pts, (double)np, &sp, want_grad, threads);
    if (rc) {
        free(pts);
        sgd_landscape_free(f);
        return rc;
    }
    /* per point: f, g, g_err, n, method, [exact g], then grad, grad_err, [exact grad] */
    size_t gd = want_grad ? d : 0;
    double *F = calloc(np, sizeof(double)), *G = calloc(np, sizeof(double)), *GE = calloc(np, sizeof(double));
    double *GX = calloc(np, sizeof(double)), *DG = calloc(np * (gd ? gd : 1), sizeof(double));
    double *DGE = calloc(np * (gd ? gd : 1), sizeof(double)), *DGX = calloc(np * (gd ? gd : 1), sizeof(double));
    size_t *NS = calloc(np, sizeof(size_t));
    int *ST = calloc(np, sizeof(int)), *RFS = calloc(np, sizeof(int)), *QS = calloc(np, sizeof(int));
    sgd_smooth_method used = sp.method;
    int outer_par = np >= 2 * (size_t)threads && np > 1;
    int nws = outer_par ? threads : 1;
    sgd_smooth_workspace **ws = calloc((size_t)nws, sizeof *ws);
    if (!F || !G || !GE || !GX || !DG || !DGE || !DGX || !NS || !ST || !RFS || !QS || !ws) rc = cli_fail(C, "out of memory");
    for (int t = 0; !rc && t < nws; t++)
        if (!(ws[t] = sgd_smooth_workspace_alloc(d, sp.limit))) rc = cli_lib_fail(C);
    char errmsg[512] = "";
    sgd_smooth_params spx = sp;
    spx.method = SGD_SMOOTH_EXACT;
    double t0 = sgd_now();
    sgd_progress pg;
    sgd_progress_start(&pg, "smooth");
    size_t done = 0;
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    if (!rc) {
        #pragma omp parallel for schedule(dynamic, 1) if (outer_par) num_threads(nws)
        for (size_t j = 0; j < np; j++) {
            sgd_smooth_workspace *w = ws[outer_par ? omp_get_thread_num() : 0];
            const double *y = pts + j * d;
            sgd_smooth_params pj = sp;
            pj.stream = j;
            sgd_smooth_value v;
            memset(&v, 0, sizeof v);
            v.grad = gd ? DG + j * d : NULL;
            v.grad_err = gd ? DGE + j * d : NULL;
            int e = sgd_smooth_eval(f, &W, eta, y, &pj, w, &v);
            if (!e && compare) {
                sgd_smooth_value x;
                memset(&x, 0, sizeof x);
                x.grad = gd ? DGX + j * d : NULL;
                e = sgd_smooth_eval(f, &W, eta, y, &spx, w, &x);
                GX[j] = x.g;
            }
            if (e) {
                ST[j] = e;
                #pragma omp critical(sgd_smooth_cli_err)
                if (!errmsg[0]) snprintf(errmsg, sizeof errmsg, "at point %zu: %s", j, sgd_errmsg());
                continue;
            }
            G[j] = v.g;
            GE[j] = v.g_err;
            size_t now;
            #pragma omp atomic capture
            now = ++done;
            if (omp_get_thread_num() == 0) sgd_progress_update(&pg, (double)now, (double)np);
            NS[j] = v.n;
            RFS[j] = v.range_from_sample;
            QS[j] = v.quad_status;
            if (j == 0) used = v.method;
        }
        for (size_t j = 0; j < np && !rc; j++)
            if (ST[j]) rc = cli_fail(C, "%s", errmsg);
    }
    double secs = sgd_now() - t0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    /* f(y) beside g(y): outside the timed estimate */
    for (size_t j = 0; j < np && !rc; j++) F[j] = f->fg(f, pts + j * d, NULL);
    sgd_progress_end(&pg);
    double cpu_secs = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
    sgd_rundir rd;
    int opened = 0;
    if (!rc) {
        if (cli_rundir_open(C, &rd, out)) rc = 1;
        else opened = 1;
    }
    char path[4400];
    /* coverage against the closed form */
    size_t cover = 0, ncomp = 0, range_sample = 0, quad_warn = 0;
    double maxdiff = 0, maxerr = 0, maxratio = 0;
    for (size_t j = 0; j < np && !rc; j++) {
        range_sample |= (size_t)RFS[j];
        quad_warn += QS[j] != 0;
        maxerr = fmax(maxerr, GE[j]);
        for (size_t i = 0; i < gd; i++) maxerr = fmax(maxerr, DGE[j * d + i]);
        if (!compare) continue;
        double dv = fabs(G[j] - GX[j]);
        maxdiff = fmax(maxdiff, dv);
        cover += dv <= GE[j] + 1e-12 * fabs(GX[j]);
        ncomp++;
        if (GE[j] > 0) maxratio = fmax(maxratio, dv / GE[j]);
        for (size_t i = 0; i < gd; i++) {
            double di = fabs(DG[j * d + i] - DGX[j * d + i]);
            maxdiff = fmax(maxdiff, di);
            cover += di <= DGE[j * d + i] + 1e-12 * fabs(DGX[j * d + i]);
            ncomp++;
            if (DGE[j * d + i] > 0) maxratio = fmax(maxratio, di / DGE[j * d + i]);
        }
    }
    if (!rc) {
        /* CSV */
        sgd_afile af;
        sgd_rundir_file(&rd, "smooth.csv", path, sizeof path);
        if (sgd_afile_open(&af, path)) rc = cli_lib_fail(C);
        else {
            size_t dcol = d <= 16 ? d : 0; /* wide points: print the first coordinate only */
            if (dcol)
                for (size_t i = 0; i < d; i++) fprintf(af.fp, "y%zu,", i + 1);
            else
                fprintf(af.fp, "y1,");
            fprintf(af.fp, "f,g,g_err,n%s", compare ? ",g_exact" : "");
            size_t gcol = gd && gd <= 16 ? gd : 0;
            for (size_t i = 0; i < gcol; i++) fprintf(af.fp, ",dg%zu,dg%zu_err", i + 1, i + 1);
            if (compare)
                for (size_t i = 0; i < gcol; i++) fprintf(af.fp, ",dg%zu_exact", i + 1);
            fputc('\n', af.fp);
            for (size_t j = 0; j < np; j++) {
                for (size_t i = 0; i < (dcol ? dcol : 1); i++) fprintf(af.fp, "%.17g,", pts[j * d + i]);
                fprintf(af.fp, "%.17g,%.17g,%.17g,%zu", F[j], G[j], GE[j], NS[j]);
                if (compare) fprintf(af.fp, ",%.17g", GX[j]);
                for (size_t i = 0; i < gcol; i++) fprintf(af.fp, ",%.17g,%.17g", DG[j * d + i], DGE[j * d + i]);
                if (compare)
                    for (size_t i = 0; i < gcol; i++) fprintf(af.fp, ",%.17g", DGX[j * d + i]);
                fputc('\n', af.fp);
            }
            if (sgd_afile_commit(&af)) rc = cli_lib_fail(C);
        }
    }
    if (!rc && d <= 2 && !at) {
        /* figure data and script */
        sgd_afile af;
        sgd_rundir_file(&rd, "smooth.dat", path, sizeof path);
        if (sgd_afile_open(&af, path)) rc = cli_lib_fail(C);
        else {
            for (size_t j = 0; j < np; j++) {
                if (d == 2 && j > 0 && j % ngrid == 0) fputc('\n', af.fp);
                if (d == 1) fprintf(af.fp, "%.10g %.10g %.10g %.10g\n", pts[j], F[j], G[j], GE[j]);
                else fprintf(af.fp, "%.10g %.10g %.10g %.10g\n", pts[2 * j], pts[2 * j + 1], F[j], G[j]);
            }
            if (sgd_afile_commit(&af)) rc = cli_lib_fail(C);
        }
        if (!rc) {
            char script[4096];
            if (d == 1)
                snprintf(script, sizeof script, figure_1d, f->name, sgd_noise_name(W.kind), eta * r,
                         sgd_smooth_method_name(used),
                         used == SGD_SMOOTH_MC
                             ? ", \\\n     'smooth.dat' every 10 using 1:3:4 with yerrorbars pt 0 lc rgb '#d62728' "
                               "title 'interval'"
                             : "");
            else
                snprintf(script, sizeof script, figure_2d, f->name, sgd_noise_name(W.kind), eta * r,
                         sgd_smooth_method_name(used));
            int rendered = 0;
            if (sgd_figure_render(rd.path, "smooth", script, &rendered)) rc = cli_lib_fail(C);
        }
    }
    if (!rc) {
        sgd_json *man = sgd_json_new();
        sgd_json_manifest_header(man, argc, argv, threads);
        sgd_json_str(man, "command", "smooth");
        sgd_json_str(man, "landscape", P.fspec);
        sgd_json_str(man, "landscape_doc", f->doc);
        sgd_json_int(man, "d", (long long)d);
        sgd_json_str(man, "noise", sgd_noise_name(W.kind));
        sgd_json_num(man, "eta", eta);
        sgd_json_num(man, "r", r);
        sgd_json_num(man, "noise_level", eta * r);
        sgd_json_str(man, "method", E.method_s);
        sgd_json_int(man, "samples", (long long)sp.nsamples);
        sgd_json_num(man, "tol", sp.tol);
        sgd_json_num(man, "confidence", sp.confidence);
        sgd_json_str(man, "interval", sgd_smooth_interval_name(sp.interval));
        sgd_json_num(man, "range", sp.range);
        sgd_json_num(man, "grad_range", sp.grad_range);
        sgd_json_num(man, "gauss_sigmas", sp.gauss_sigmas);
        sgd_json_int(man, "seed", (long long)sp.seed);
        sgd_rundir_file(&rd, "manifest.json", path, sizeof path);
        rc = sgd_json_write(man, path) ? cli_lib_fail(C) : 0;
        sgd_json_free(man);
        sgd_json *s = sgd_json_new();
        sgd_json_str(s, "method", sgd_smooth_method_name(used));
        sgd_json_int(s, "points", (long long)np);
        size_t ntot = 0;
        for (size_t j = 0; j < np; j++) ntot += NS[j];
        sgd_json_int(s, "mc_samples_total", (long long)ntot);
        sgd_json_num(s, "max_error", maxerr);
        sgd_json_str(s, "error_meaning",
                     used == SGD_SMOOTH_MC ? "half-width of a two-sided interval at `confidence`"
                     : used == SGD_SMOOTH_QUAD ? "GSL quadrature error estimate"
                                               : "closed form (0)");
        if (used == SGD_SMOOTH_MC && sp.interval == SGD_SMOOTH_CI_HOEFFDING)
            sgd_json_str(s, "hoeffding_range", range_sample ? "sample range x 1.5 (estimate, not a guarantee)"
                                                            : "user-given bound");
        sgd_json_int(s, "quad_warnings", (long long)quad_warn);
        if (compare) {
            sgd_json_num(s, "max_abs_diff_exact", maxdiff);
            sgd_json_num(s, "max_diff_over_error", maxratio);
            sgd_json_num(s, "coverage", ncomp ? (double)cover / (double)ncomp : NAN);
            sgd_json_int(s, "components_compared", (long long)ncomp);
        }
        sgd_json_num(s, "seconds", secs);
        sgd_json_num(s, "cpu_seconds", cpu_secs);
        sgd_rundir_file(&rd, "summary.json", path, sizeof path);
        if (!rc && sgd_json_write(s, path)) rc = cli_lib_fail(C);
        sgd_json_free(s);
    }
    if (!rc) rc = cli_rundir_commit(C, &rd);
    if (rc && opened) cli_rundir_abort(&rd);
    if (!rc) {
        printf("smoothed %s (d=%zu), %s noise, eta = %g, r = %g (level %g), method %s: %zu points in %.3g s\n",
               f->name, d, sgd_noise_name(W.kind), eta, r, eta * r, sgd_smooth_method_name(used), np, secs);
        if (np <= 8)
            for (size_t j = 0; j < np; j++)
                printf("  y%s = %.6g: g = %.10g +- %.3g\n", d > 1 ? "_1" : "", pts[j * d], G[j], GE[j]);
        if (compare)
            printf("  vs closed form: max |diff| = %.3g, max |diff|/error = %.3g, %zu of %zu components within "
                   "their error\n",
                   maxdiff, maxratio, cover, ncomp);
        printf("wrote %s/\n", rd.final);
    }
    for (int t = 0; ws && t < nws; t++) sgd_smooth_workspace_free(ws[t]);
    free(ws);
    free(F);
    free(G);
    free(GE);
    free(GX);
    free(DG);
    free(DGE);
    free(DGX);
    free(NS);
    free(ST);
    free(RFS);
    free(QS);
    free(pts);
    sgd_landscape_free(f);
    return rc;
}
