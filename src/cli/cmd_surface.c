/* sgdscape surface: f on the plane X + alpha d1 + beta d2 (docs/geometry.md). */
#include "geom_cli.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/geometry.h"

#include <stdio.h>
#include <string.h>

const char sgd_cmd_surface_summary[] = "f on a 2-D plane X + a d1 + b d2 (filter-normalised, files or PCA)";

static const char help[] =
    "usage: sgdscape surface --run DIR [X.npy] [options]\n"
    "       sgdscape surface --model SPEC [--data SPEC] X.npy [options]\n\n"
    "Train loss and accuracy on the grid X + alpha d1 + beta d2 (Li et al. 2018). X defaults\n"
    "to the run's final point (RUN/x.npy). With --run its trajectory (x/x_EEEE.npy and x.npy)\n"
    "is projected onto the plane (least squares) and drawn on the contour plot.\n\n"
    "  --dirs random      (default) two Gaussian directions (seeded by --dir-seed), each filter\n"
    "                     (output channel of a conv, row of a linear layer) scaled to the\n"
    "                     norm of the same filter of X; bias and BN entries set to 0\n"
    "  --keep-bias-bn     random: set the bias and BN entries to X's instead of 0\n"
    "  --dir-seed N       random: the directions' seed (default 1)\n"
    "  --dirs pca         the top two principal directions of the run's trajectory (sgdscape pca)\n"
    "  --dirs D1.npy,D2.npy   given directions (float32/float64, p values each; e.g. pca's\n"
    "                     directions.npy rows, or files made in PyTorch)\n"
    "  --alpha LO:HI:N, --beta LO:HI:N   the grid (default -1:1:21 each)\n" GEOM_CLI_SOURCE_HELP
    "  --out DIR          run directory (default runs/surface)\n"
    "  --resume           continue a killed or interrupted surface in DIR.partial (same options)\n"
    "  --threads N        threads (default all cores; results do not depend on it)\n\n"
    "Under mpirun the grid points are split over the ranks; the files are the same bytes.\n"
    "Writes surface.npy (nalpha x nbeta x 2: train loss, accuracy; float64), surface.csv and\n"
    "surface.dat (alpha, beta, train_loss, train_acc), directions.npy (2 x p float32),\n"
    "trajectory.csv/.dat (epoch (-1: x_T), alpha, beta, relative residual) with --run,\n"
    "summary.json, manifest.json, surface_contour and surface_3d (pm3d) .{gp,png,svg}.\n"
    "Finished grid points are kept in DIR.partial/points while it runs: Ctrl-C (between\n"
    "points) or a kill leaves them for --resume, which computes only the missing ones; the\n"
    "files are the same bytes.\n";

/* --dirs: random, pca, or D1.npy,D2.npy */
static int parse_dirs(const char *C, char *v, sgd_surface_config *c)
{
    if (!strcmp(v, "random")) c->dirs = SGD_DIRS_RANDOM;
    else if (!strcmp(v, "pca")) c->dirs = SGD_DIRS_PCA;
    else {
        char *comma = strchr(v, ',');
        if (!comma || comma == v || !comma[1] || strchr(comma + 1, ','))
            return cli_usage(C, "--dirs '%s': want random, pca or D1.npy,D2.npy", v);
        *comma = '\0';
        c->dirs = SGD_DIRS_FILES;
        c->dir_files[0] = v;
        c->dir_files[1] = comma + 1;
    }
    return 0;
}

int sgd_cmd_surface(int argc, char **argv)
{
    enum { O_ALPHA = CLI_OPT_OWN, O_BETA, O_DIRS, O_KEEP, O_DSEED, O_RESUME };
    static const struct option opts[] = {
        {"alpha", 1, 0, O_ALPHA}, {"beta", 1, 0, O_BETA},      {"dirs", 1, 0, O_DIRS},
        {"keep-bias-bn", 0, 0, O_KEEP}, {"dir-seed", 1, 0, O_DSEED}, {"resume", 0, 0, O_RESUME}, GEOM_CLI_SOURCE_OPTIONS,
        CLI_OUT_OPTION, CLI_SEED_OPTION, CLI_THREADS_OPTION, CLI_HELP_OPTION, {0, 0, 0, 0}};
    const char *C = "surface", *out = "runs/surface";
    sgd_surface_config cfg;
    sgd_surface_defaults(&cfg);
    int threads = 0, quiet = 0, resume = 0, ch, e;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        e = -1;
        switch (ch) {
        case O_ALPHA:
            if (sgd_geom_parse_range("--alpha", optarg, &cfg.alpha_lo, &cfg.alpha_hi, &cfg.nalpha)) e = cli_lib_usage(C);
            break;
        case O_BETA:
            if (sgd_geom_parse_range("--beta", optarg, &cfg.beta_lo, &cfg.beta_hi, &cfg.nbeta)) e = cli_lib_usage(C);
            break;
        case O_DIRS: e = parse_dirs(C, optarg, &cfg) ? 2 : -1; break;
        case O_KEEP: cfg.keep_bias_bn = 1; break;
        case O_RESUME: resume = 1; break;
        case O_DSEED: e = cli_u64(C, "--dir-seed", optarg, &cfg.dir_seed) ? 2 : -1; break;
        default:
            if ((e = geom_cli_source_opt(C, ch, &cfg.src, &quiet)) < 0)
                e = cli_common_opt(C, ch, help, argv, &out, &cfg.src.seed, &threads);
            else if (e == 0) e = -1;
        }
        if (e >= 0) return e;
    }
    int nops = argc - optind;
    if (nops > 1) return cli_usage(C, "unexpected argument '%s' (see --help)", argv[optind + 1]);
    if (nops == 1) cfg.x = argv[optind];
    if (!cfg.x && !cfg.src.run) return cli_usage(C, "give --run DIR or X.npy with --model (see --help)");
    if (cfg.dirs == SGD_DIRS_PCA && !cfg.src.run) return cli_usage(C, "--dirs pca needs --run DIR");
    cfg.threads = cli_threads(threads);
    cfg.argc = argc;
    cfg.argv = argv;
    sgd_progress pg;
    sgd_rundir rd;
    char keep[4400];
    geom_cli_progress(&pg, C, quiet);
    if ((e = geom_cli_open(C, &rd, out, resume, "points", keep, sizeof keep))) return e;
    cfg.keep = (sgd_geom_keep){keep[0] ? keep : NULL, cli_stop_requested, NULL};
    sgd_surface_result r;
    int rc = sgd_surface_run(&cfg, &r, cli_progress_cb, &pg);
    sgd_progress_end(&pg);
    if ((e = geom_cli_ran(C, &rd, resume, rc, 0)) >= 0) return e;
    rc = geom_cli_commit(C, &rd, sgd_surface_write(rd.path, &cfg, &r));
    if (!rc) {
        printf("surface: %s, %zu x %zu grid (%.1f s)\n", r.model, r.nalpha, r.nbeta, r.seconds);
        printf("  f(X) = %.6g (accuracy %.4g); smallest on the grid %.6g at alpha %.3g, beta %.3g\n", r.center_loss,
               r.center_acc, r.min_loss, r.min_alpha, r.min_beta);
        printf("  |d1| = %.6g, |d2| = %.6g, cos(d1, d2) = %.3g\n", r.dir_norm[0], r.dir_norm[1], r.dir_cos);
        printf("wrote %s/\n", out);
    }
    sgd_surface_result_free(&r);
    return rc;
}
