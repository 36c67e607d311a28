/* sgdscape hessian: curvature at a point (hessian.h): top and bottom
 * eigenvalues, trace and spectral density, of a landscape or a network. */
#include "geom_cli.h"
#include "nn_cli.h"
#include "sgdscape/error.h"
#include "sgdscape/hessian.h"
#include "sgdscape/io.h"

#include <stdlib.h>
#include <string.h>

const char sgd_cmd_hessian_summary[] = "Hessian at a point: top/bottom eigenvalues (Lanczos), trace (Hutchinson), "
                                       "spectral density (SLQ)";

static const char help[] =
    "usage: sgdscape hessian --f SPEC --at X [options]          (an analytic landscape)\n"
    "       sgdscape hessian WEIGHTS.npy --model SPEC [options]  (a network at given weights)\n"
    "       sgdscape hessian RUN [options]                       (a train run's final weights)\n\n"
    "Curvature of f at x through Hessian-vector products v -> Hv (float64):\n"
    "  eigenvalues  Lanczos with full reorthogonalisation from a Rademacher start; the top K\n"
    "               (largest) and bottom K (most negative: the low end of the same Krylov\n"
    "               space). It stops when every asked Ritz pair has Lanczos residual bound\n"
    "               |beta_j s_ji| <= TOL max|theta|, and reports the true ||H y - theta y||.\n"
    "               A closed Krylov space restarts from a fresh vector, so repeated\n"
    "               eigenvalues are all found; with M >= n steps the spectrum is exact.\n"
    "  trace        Hutchinson: mean of z^T H z over N Rademacher z, with a Student-t\n"
    "               interval (N - 1 degrees of freedom) at --confidence.\n"
    "  density      stochastic Lanczos quadrature: R runs of M steps from Rademacher starts;\n"
    "               nodes theta_i (Ritz values) with weights tau_i (squared first components,\n"
    "               sum 1); density (1/R) sum tau_i N(t; theta_i, sigma^2) on a grid.\n"
    "Landscapes use their exact Hessian (formed once; d <= 4096), else central differences of\n"
    "the exact gradient (said in manifest.json). Networks use exact R-operator products\n"
    "(Pearlmutter) of the mean cross-entropy over K fixed batches.\n\n"
    "what to compute (default: --top 1):\n"
    "  --top K              the K largest eigenvalues\n"
    "  --bottom K           the K most negative eigenvalues\n"
    "  --lanczos-steps M    at most M Lanczos steps (default min(n, max(100, 4(top+bottom))))\n"
    "  --tol T              relative residual tolerance (default 1e-8)\n"
    "  --vectors            also write the eigenvectors (eigvecs_top.npy, eigvecs_bottom.npy)\n"
    "  --trace N            Hutchinson samples (0: none)\n"
    "  --confidence P       level of the trace interval (default 0.95)\n"
    "  --density R          SLQ runs (0: none)\n"
    "  --density-steps M    Lanczos steps per SLQ run (default min(n, 80))\n"
    "  --sigma S            Gaussian width of the density (default 1% of the node range)\n"
    "  --grid N             density grid points (default 1001)\n"
    "landscape:\n"
    "  --f SPEC             landscape (catalog name, formula or plugin:PATH.so; see sgdscape list)\n"
    "  --d N                dimension (default: the number of values in --at)\n"
    "  --at X[,X...]        the point x (one value: every coordinate)\n"
    "  --fd                 central differences of the gradient even where a Hessian exists\n"
    "  --fd-step H          their relative step (default eps^(1/3) = 6.1e-6)\n"
    "network:\n"
    "  WEIGHTS.npy | RUN    flat float32 weights in state_dict order, or a train run directory\n"
    "                       (its x.npy, buffers.npy, model, data, batch and normalisation)\n"
    "  --model SPEC         network (with WEIGHTS.npy)\n"
    "  --buffers B.npy      BN running statistics (needed with --bn eval)\n"
    "  --data SPEC          training split (default the run's, or fashion-mnist)\n"
    "  --batches K          loss over batches 0..K-1 of epoch 0's shuffle (default 0: all)\n"
    "  --batch B            batch size (default the run's, or 128)\n"
    "  --subset K           the first K training images (default the run's, or all)\n"
    "  --classes K          classes of the network (default the run's, or the data's)\n"
    "  --bn train|eval      BN with batch statistics (default) or running statistics\n"
    "  --precision 64|32    products in float64 (default: exact to rounding) or float32\n"
    "                       (PyHessian's precision: half the memory, about twice as fast)\n"
    "  --no-normalize       no per-channel normalisation\n"
    "common:\n"
    "  --out DIR            run directory (default runs/hessian)\n"
    "  --seed N             random vectors and the batch shuffle (default 1)\n"
    "  --threads N          threads (default all cores); results do not depend on it\n"
    "  --quiet              no progress line\n"
    "  --resume             continue a killed or interrupted run in DIR.partial (same options):\n"
    "                       kept Hutchinson samples and SLQ runs are not computed again; the\n"
    "                       eigenvalue Lanczos (--top, --bottom) starts over\n"
    "  --help               this text\n\n"
    "Writes eigenvalues.csv (end, k, eigenvalue, residual), eigvecs_*.npy (--vectors),\n"
    "trace.csv (sample, zHz, running mean), density.csv (t, density), density.npy (grid x 2),\n"
    "slq_nodes.csv (run, node, weight), density.{gp,dat,png,svg}, summary.json, manifest.json.\n"
    "Exit status: 0, 1 (the run failed), 2 (a usage error).\n";

int sgd_cmd_hessian(int argc, char **argv)
{
    enum { O_TOP = CLI_OPT_OWN, O_BOTTOM, O_STEPS, O_TOL, O_VEC, O_TRACE, O_CONF, O_DENS, O_DSTEPS, O_SIGMA, O_GRID,
           O_F, O_D, O_AT, O_FD, O_FDH, O_MODEL, O_BUF, O_DATA, O_BATCHES, O_BATCH, O_SUBSET, O_CLASSES, O_BN,
           O_NONORM, O_QUIET, O_RESUME, O_PREC };
    static const struct option opts[] = {
        {"top", 1, 0, O_TOP},         {"bottom", 1, 0, O_BOTTOM},       {"lanczos-steps", 1, 0, O_STEPS},
        {"tol", 1, 0, O_TOL},         {"vectors", 0, 0, O_VEC},         {"trace", 1, 0, O_TRACE},
        {"confidence", 1, 0, O_CONF}, {"density", 1, 0, O_DENS},        {"density-steps", 1, 0, O_DSTEPS},
        {"sigma", 1, 0, O_SIGMA},     {"grid", 1, 0, O_GRID},           {"f", 1, 0, O_F},
        {"d", 1, 0, O_D},             {"at", 1, 0, O_AT},               {"fd", 0, 0, O_FD},
        {"fd-step", 1, 0, O_FDH},     {"model", 1, 0, O_MODEL},         {"buffers", 1, 0, O_BUF},
        {"data", 1, 0, O_DATA},       {"batches", 1, 0, O_BATCHES},     {"batch", 1, 0, O_BATCH},
        {"subset", 1, 0, O_SUBSET},   {"classes", 1, 0, O_CLASSES},     {"bn", 1, 0, O_BN},
        {"no-normalize", 0, 0, O_NONORM}, {"quiet", 0, 0, O_QUIET},     {"resume", 0, 0, O_RESUME}, {"precision", 1, 0, O_PREC}, CLI_OUT_OPTION,
        CLI_SEED_OPTION,              CLI_THREADS_OPTION,               CLI_HELP_OPTION,
        {0, 0, 0, 0}};
    const char *C = "hessian", *out = "runs/hessian", *fspec = NULL, *at = NULL;
    sgd_hessian_config c;
    sgd_hessian_defaults(&c);
    size_t d = 0;
    int threads = 0, quiet = 0, resume = 0, ch, bad, asked = 0, have_top = 0;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        bad = 0;
        switch (ch) {
        case O_TOP: bad = cli_count(C, "--top", optarg, &c.top); asked = have_top = 1; break;
        case O_BOTTOM: bad = cli_count(C, "--bottom", optarg, &c.bottom); asked = 1; break;
        case O_STEPS:
            bad = cli_count(C, "--lanczos-steps", optarg, &c.lanczos_steps) ||
                  (c.lanczos_steps < 1 && cli_usage(C, "--lanczos-steps: must be >= 1"));
            break;
        case O_TOL: bad = cli_positive(C, "--tol", optarg, &c.tol); break;
        case O_VEC: c.vectors = 1; break;
        case O_TRACE: bad = cli_count(C, "--trace", optarg, &c.trace_samples); asked = 1; break;
        case O_CONF:
            bad = cli_double(C, "--confidence", optarg, &c.confidence) ||
                  (!(c.confidence > 0 && c.confidence < 1) && cli_usage(C, "--confidence: must be in (0, 1)"));
            break;
        case O_DENS: bad = cli_count(C, "--density", optarg, &c.density_runs); asked = 1; break;
        case O_DSTEPS:
            bad = cli_count(C, "--density-steps", optarg, &c.density_steps) ||
                  (c.density_steps < 1 && cli_usage(C, "--density-steps: must be >= 1"));
            break;
        case O_SIGMA: bad = cli_positive(C, "--sigma", optarg, &c.sigma); break;
        case O_GRID:
            bad = cli_count(C, "--grid", optarg, &c.grid) || (c.grid < 2 && cli_usage(C, "--grid: need >= 2 points"));
            break;
        case O_F: fspec = optarg; break;
        case O_D: bad = cli_count(C, "--d", optarg, &d) || (d < 1 && cli_usage(C, "--d: must be >= 1")); break;
        case O_AT: at = optarg; break;
        case O_FD: c.fd = 1; break;
        case O_FDH: bad = cli_positive(C, "--fd-step", optarg, &c.fd_h); break;
        case O_MODEL: c.model = optarg; break;
        case O_BUF: c.buffers = optarg; break;
        case O_DATA: c.data = optarg; break;
        case O_BATCHES: bad = cli_count(C, "--batches", optarg, &c.batches); break;
        case O_BATCH:
            bad = cli_count(C, "--batch", optarg, &c.batch) || (c.batch < 1 && cli_usage(C, "--batch: must be >= 1"));
            break;
        case O_SUBSET: bad = cli_count(C, "--subset", optarg, &c.subset); break;
        case O_CLASSES: bad = nn_cli_classes(C, optarg, &c.classes) ? 2 : 0; break;
        case O_BN:
            if (!strcmp(optarg, "train")) c.bn_eval = 0;
            else if (!strcmp(optarg, "eval")) c.bn_eval = 1;
            else bad = cli_usage(C, "--bn: '%s': give train or eval", optarg);
            break;
        case O_NONORM: c.normalize = 0; break;
        case O_PREC: bad = cli_precision(C, "--precision", optarg, &c.precision); break;
        case O_QUIET: quiet = 1; break;
        case O_RESUME: resume = 1; break;
        default: {
            int e = cli_common_opt(C, ch, help, argv, &out, &c.seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (!have_top && asked) c.top = 0;
    const char *point = optind < argc ? argv[optind++] : NULL;
    if (cli_no_operands(C, argc, argv)) return 2;
    if (fspec && point) return cli_usage(C, "give --f SPEC --at X (a landscape) or a weights file / run (a network), not both");
    if (fspec && c.precision != 64) return cli_usage(C, "--precision is for a network's products, not a landscape");
    if (!fspec && (at || d || c.fd)) return cli_usage(C, "--at, --d and --fd are for a landscape: give --f SPEC");
    if (fspec && !at) return cli_usage(C, "--f needs the point: --at X[,X...]");
    if (!fspec && !point) return cli_usage(C, "give --f SPEC --at X, or WEIGHTS.npy --model SPEC, or a run directory");
    if ((bad = geom_cli_weights(C, point, &c.model, &c.weights, &c.run))) return bad;
    if (c.bn_eval && !c.buffers && !c.run) return cli_usage(C, "--bn eval needs --buffers B.npy (BN running statistics)");
    c.threads = cli_threads(threads);
    c.argc = argc;
    c.argv = argv;
    sgd_landscape *f = NULL;
    double *x = NULL;
    if (fspec && (bad = geom_cli_landscape(C, fspec, at, d, &f, &x))) return bad;
    c.f = f;
    c.x = x;
    sgd_progress pg;
    sgd_rundir rd;
    char keep[4400];
    sgd_hessian_result r;
    geom_cli_progress(&pg, C, quiet);
    int rc = geom_cli_open(C, &rd, out, resume, "parts", keep, sizeof keep);
    if (!rc) {
        c.keep_dir = keep[0] ? keep : NULL;
        c.stop = cli_stop_requested;
        rc = sgd_hessian_run(&c, &r, cli_progress_cb, &pg);
        sgd_progress_end(&pg);
        /* under MPI every rank computes the same; rank 0 alone writes (its rd.path is set) */
        if (!rc && !rd.path[0]) sgd_hessian_result_free(&r);
        else if ((rc = geom_cli_ran(C, &rd, resume, rc, 1)) < 0) {
            if (!(rc = geom_cli_commit(C, &rd, sgd_hessian_write(rd.path, &c, &r)))) sgd_hessian_print(stdout, &r, out);
            sgd_hessian_result_free(&r);
        }
    }
    free(x);
    sgd_landscape_free(f);
    return rc;
}
