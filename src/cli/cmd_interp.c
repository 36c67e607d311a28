/* sgdscape interp: f along (1 - alpha) A + alpha B (docs/geometry.md). */
#include "geom_cli.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/geometry.h"

#include <stdio.h>
#include <string.h>

const char sgd_cmd_interp_summary[] = "f along the line (1 - alpha) A + alpha B: barrier, monotonicity";

static const char help[] =
    "usage: sgdscape interp --run DIR [A.npy B.npy] [options]\n"
    "       sgdscape interp --model SPEC [--data SPEC] A.npy B.npy [options]\n\n"
    "Train and validation loss and accuracy at (1 - alpha) A + alpha B for N values of alpha\n"
    "(Goodfellow & Vinyals 2015). With --run, A defaults to the run's initialisation\n"
    "(RUN/x/x_0000.npy) and B to its final point (RUN/x.npy). Reports, for the train and the\n"
    "validation loss on [0, 1]: the barrier max_alpha f(alpha) - max(f(0), f(1)) and whether f\n"
    "is monotone there (over the grid's alphas; 0 and 1 must be on the grid).\n\n"
    "  --alpha LO:HI:N    the alphas, ends included (default -0.5:1.5:41)\n"
    "  --no-val           train split only (else also K batches of the validation split: the\n"
    "                     run's, or without --run the data set's test split)\n" GEOM_CLI_SOURCE_HELP
    "  --out DIR          run directory (default runs/interp)\n"
    "  --resume           continue a killed or interrupted interp in DIR.partial (same options)\n"
    "  --threads N        threads (default all cores; results do not depend on it)\n\n"
    "Under mpirun the alphas are split over the ranks; the files are the same bytes.\n"
    "Writes interp.csv and interp.dat (alpha, train_loss, train_acc, val_loss, val_acc),\n"
    "interp.npy (N x 5), summary.json (distance |B - A|, barrier, barrier_alpha, monotone per\n"
    "loss), manifest.json, interp.{gp,png,svg}. Finished alphas are kept in DIR.partial/points\n"
    "while it runs: Ctrl-C (between alphas) or a kill leaves them for --resume, which computes\n"
    "only the missing ones; the files are the same bytes.\n";

int sgd_cmd_interp(int argc, char **argv)
{
    enum { O_ALPHA = CLI_OPT_OWN, O_NOVAL, O_RESUME };
    static const struct option opts[] = {{"alpha", 1, 0, O_ALPHA}, {"no-val", 0, 0, O_NOVAL}, {"resume", 0, 0, O_RESUME},
                                         GEOM_CLI_SOURCE_OPTIONS,
                                         CLI_OUT_OPTION, CLI_SEED_OPTION, CLI_THREADS_OPTION, CLI_HELP_OPTION, {0, 0, 0, 0}};
    const char *C = "interp", *out = "runs/interp";
    sgd_interp_config cfg;
    sgd_interp_defaults(&cfg);
    int threads = 0, quiet = 0, resume = 0, ch, e;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        if (ch == O_ALPHA) {
            if (sgd_geom_parse_range("--alpha", optarg, &cfg.alpha_lo, &cfg.alpha_hi, &cfg.n)) return cli_lib_usage(C);
        } else if (ch == O_NOVAL) {
            cfg.val = 0;
        } else if (ch == O_RESUME) {
            resume = 1;
        } else if ((e = geom_cli_source_opt(C, ch, &cfg.src, &quiet)) > 0) {
            return e;
        } else if (e < 0 && (e = cli_common_opt(C, ch, help, argv, &out, &cfg.src.seed, &threads)) >= 0) {
            return e;
        }
    }
    int nops = argc - optind;
    if (nops == 2) {
        cfg.a = argv[optind];
        cfg.b = argv[optind + 1];
    } else if (nops) {
        return cli_usage(C, "give two weight files A.npy B.npy, or none with --run DIR (see --help)");
    }
    if (!nops && !cfg.src.run) return cli_usage(C, "give --run DIR or A.npy B.npy with --model (see --help)");
    if (cfg.n < 2) return cli_usage(C, "--alpha: want LO:HI:N with N >= 2");
    cfg.threads = cli_threads(threads);
    cfg.argc = argc;
    cfg.argv = argv;
    sgd_progress pg;
    sgd_rundir rd;
    char keep[4400];
    geom_cli_progress(&pg, C, quiet);
    if ((e = geom_cli_open(C, &rd, out, resume, "points", keep, sizeof keep))) return e;
    cfg.keep = (sgd_geom_keep){keep[0] ? keep : NULL, cli_stop_requested, NULL};
    sgd_interp_result r;
    int rc = sgd_interp_run(&cfg, &r, cli_progress_cb, &pg);
    sgd_progress_end(&pg);
    if ((e = geom_cli_ran(C, &rd, resume, rc, 0)) >= 0) return e;
    rc = geom_cli_commit(C, &rd, sgd_interp_write(rd.path, &cfg, &r));
    if (!rc) {
        printf("interp: %s, %zu alphas in [%g, %g], |B - A| = %.6g (%.1f s)\n", r.model, r.n, cfg.alpha_lo,
               cfg.alpha_hi, r.dist, r.seconds);
        printf("  train loss: on [0, 1] %s, barrier %.6g at alpha %.3g\n",
               r.train.monotone ? "monotone" : "not monotone", r.train.barrier, r.train.barrier_alpha);
        if (r.have_val)
            printf("  val loss:   on [0, 1] %s, barrier %.6g at alpha %.3g\n",
                   r.val.monotone ? "monotone" : "not monotone", r.val.barrier, r.val.barrier_alpha);
        printf("wrote %s/\n", out);
    }
    sgd_interp_result_free(&r);
    return rc;
}
