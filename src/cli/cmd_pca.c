/* sgdscape pca: principal components of a run's trajectory (docs/geometry.md). */
#include "geom_cli.h"
#include "sgdscape/error.h"
#include "sgdscape/geometry.h"

#include <stdio.h>

const char sgd_cmd_pca_summary[] = "PCA of a run's trajectory {x_t - x_T}: explained variance, 2-D path";

static const char help[] =
    "usage: sgdscape pca RUN [--out DIR] [--threads N] [--quiet]\n\n"
    "Principal components of the rows x_t - x_T, for every stored epoch t of the train run\n"
    "RUN (RUN/x/x_EEEE.npy) and its final point x_T (RUN/x.npy, a zero row), centred by their\n"
    "mean as PCA does: the eigen-decomposition of their n x n Gram matrix (LAPACK dsyevd).\n"
    "The path is <x_t - x_T, v_k> on the top two directions v_1, v_2 (x_T at the origin).\n\n"
    "  --out DIR          run directory (default runs/pca)\n"
    "  --threads N        threads (default all cores; results do not depend on it)\n"
    "  --quiet            no progress line\n\n"
    "Writes pca.csv (component, variance, ratio, cumulative), path.csv and path.dat (epoch\n"
    "(-1: x_T), pc1, pc2), directions.npy (2 x p float32: v_1, v_2; sgdscape surface --dirs\n"
    "takes them as two files or as --dirs pca), summary.json, manifest.json, pca_path.{gp,png,svg}.\n";

int sgd_cmd_pca(int argc, char **argv)
{
    enum { O_QUIET = CLI_OPT_OWN };
    static const struct option opts[] = {{"quiet", 0, 0, O_QUIET}, CLI_OUT_OPTION, CLI_THREADS_OPTION, CLI_HELP_OPTION,
                                         {0, 0, 0, 0}};
    const char *C = "pca", *out = "runs/pca";
    sgd_pca_config cfg = {0};
    int threads = 0, quiet = 0, ch, e;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        if (ch == O_QUIET) quiet = 1;
        else if ((e = cli_common_opt(C, ch, help, argv, &out, NULL, &threads)) >= 0) return e;
    }
    if (argc - optind != 1) return cli_usage(C, "give one train run directory RUN (see --help)");
    cfg.run = argv[optind];
    cfg.threads = cli_threads(threads);
    cfg.argc = argc;
    cfg.argv = argv;
    sgd_progress pg;
    geom_cli_progress(&pg, C, quiet);
    sgd_pca_result r;
    int rc = sgd_pca_run(&cfg, &r, cli_progress_cb, &pg);
    sgd_progress_end(&pg);
    if (rc) return cli_lib_fail(C);
    sgd_rundir rd;
    rc = cli_rundir_open(C, &rd, out) ? 1 : geom_cli_commit(C, &rd, sgd_pca_write(rd.path, &cfg, &r));
    if (!rc) {
        printf("pca: %zu points of %s (p = %zu), %zu components (%.1f s)\n", r.n, cfg.run, r.p, r.ncomp, r.seconds);
        printf("  explained variance ratio: PC1 %.4f, PC2 %.4f (together %.4f)\n", r.ratio[0], r.ratio[1],
               r.ratio[0] + r.ratio[1]);
        printf("wrote %s/\n", out);
    }
    sgd_pca_result_free(&r);
    return rc;
}
