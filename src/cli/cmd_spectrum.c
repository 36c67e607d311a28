/* sgdscape spectrum: Section 5.4, Figure 6, the spectrum of local minima. */
#include "cli.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/spectrum.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char sgd_cmd_spectrum_summary[] = "Section 5.4: local minima fine-tuned from each epoch of a run (Fig 6)";

static const char help[] =
    "usage: sgdscape spectrum --model SPEC [options]      (trains the base run)\n"
    "       sgdscape spectrum --run DIR [options]         (reuses a train run)\n\n"
    "Trains at --lr (constant) for --epochs E, or reuses a train run; from each start epoch s\n"
    "in --starts, fine-tunes at --lr-fine for --epochs-fine F from x_s (momentum 0, fresh BN\n"
    "buffers, the same seed for every start). For each local minimum x_min: train loss and\n"
    "accuracy (whole training split, BN running statistics), validation loss and accuracy,\n"
    "|x_min - x_0| (x_0 the base's initialisation), |x_min - x_s|, and the fraction of its\n"
    "fine-tune epochs t with <-grad f(x_t), x_min - x_t> > 0 (sgdscape probe's 5.1).\n\n"
    "  --model SPEC       network (with --run: the run's)\n"
    "  --data SPEC        data set (default fashion-mnist; with --run: the run's)\n"
    "  --val V, --subset K, --val-subset K   the split, as for train (with --run: the run's)\n"
    "  --epochs E         base epochs (default 300)\n"
    "  --lr LR            base learning rate, constant (default 0.1)\n"
    "  --batch B, --momentum MU, --wd WD, --crop P, --flip/--no-flip, --no-normalize\n"
    "                     as for train (defaults 128, 0.9, 1e-4, train's augmentation)\n"
    "  --run DIR          reuse this train run as the base (its settings; x/ must be kept)\n"
    "  --starts LIST      start epochs: 0,10,20 (increasing, <= E) or every:K (default every:10)\n"
    "  --lr-fine LR       fine-tune learning rate, constant (default 0.01)\n"
    "  --epochs-fine F    fine-tune epochs (default 150)\n"
    "  --batches K        probe-set mini-batches of the one-point check (default 10; 0 = all)\n"
    "  --sharpness M      also each minimum's top Hessian eigenvalue on the probe's f (exact\n"
    "                     Hessian-vector products, Lanczos of at most M steps, e.g. 30): spectrum.csv's\n"
    "                     sharpness column; not a claim of the paper (off by default)\n"
    "  --sharpness-precision 64|32\n"
    "                     its products in float64 (default: exact to rounding) or float32 (half the\n"
    "                     memory, about twice as fast; as hessian --precision)\n"
    "  --resume           continue a killed spectrum in DIR.partial (same options)\n"
    "  --quiet            no progress line\n"
    "  --out DIR          run directory (default runs/spectrum)\n"
    "  --seed N           base init, every run's shuffle, the probe set (default 1)\n"
    "  --threads N        threads (default all cores; results do not depend on it)\n\n"
    "Writes spectrum.csv (start, train_loss, train_acc, val_loss, val_acc, fit_loss, fit_acc,\n"
    "dist_init, dist_start, start_dist_init, onepoint_frac, inner_min), inner.npy (starts x F),\n"
    "summary.json (the paper's claims as numbers), manifest.json, fig6a (losses), fig6b\n"
    "(accuracies), fig6c (distances), fig6d (one-point fraction) as .png/.svg/.gp/.dat, and\n"
    "the train runs base/ and fine/sSSSS/. Ctrl-C or SIGTERM stops at the next epoch start\n"
    "and keeps DIR.partial (as does a kill): --resume skips finished fine-tunes and continues\n"
    "a half-done one from its checkpoint, to the same bytes.\n";


typedef struct spec_out {
    const char *C, *out;
    int resume, opened, failed;
    sgd_rundir rd;
} spec_out;

static int on_ready(void *ctx, const char **work)
{
    spec_out *o = ctx;
    if (sgd_dist_rank() != 0) { /* rank 0's directory: the library passes its path on */
        *work = NULL;
        cli_stop_signals();
        return SGD_OK;
    }
    if (o->resume) {
        if (sgd_rundir_reopen(&o->rd, o->out, "config.txt", "spectrum")) {
            o->failed = cli_lib_fail(o->C);
            return SGD_EIO;
        }
    } else if (cli_rundir_open(o->C, &o->rd, o->out)) {
        o->failed = 1;
        return SGD_EIO;
    }
    o->opened = 1;
    *work = o->rd.path;
    /* from here a signal stops at the next epoch start and keeps DIR.partial */
    cli_stop_signals();
    return SGD_OK;
}

int sgd_cmd_spectrum(int argc, char **argv)
{
    enum { O_MODEL = CLI_OPT_OWN, O_DATA, O_VAL, O_SUBSET, O_VALSUB, O_EPOCHS, O_LR, O_BATCH, O_MOM, O_WD, O_CROP,
           O_FLIP, O_NOFLIP, O_NONORM, O_RUN, O_STARTS, O_LRF, O_EF, O_BATCHES, O_RESUME, O_QUIET,
           O_SHARP, O_SHARPP };
    static const struct option opts[] = {
        {"model", 1, 0, O_MODEL},     {"data", 1, 0, O_DATA},           {"val", 1, 0, O_VAL},
        {"subset", 1, 0, O_SUBSET},   {"val-subset", 1, 0, O_VALSUB},   {"epochs", 1, 0, O_EPOCHS},
        {"lr", 1, 0, O_LR},           {"batch", 1, 0, O_BATCH},         {"momentum", 1, 0, O_MOM},
        {"wd", 1, 0, O_WD},           {"crop", 1, 0, O_CROP},           {"flip", 0, 0, O_FLIP},
        {"no-flip", 0, 0, O_NOFLIP},  {"no-normalize", 0, 0, O_NONORM}, {"run", 1, 0, O_RUN},
        {"starts", 1, 0, O_STARTS},   {"lr-fine", 1, 0, O_LRF},         {"epochs-fine", 1, 0, O_EF},
        {"batches", 1, 0, O_BATCHES}, {"resume", 0, 0, O_RESUME},       {"quiet", 0, 0, O_QUIET},
        {"sharpness", 1, 0, O_SHARP}, {"sharpness-precision", 1, 0, O_SHARPP},
        CLI_OUT_OPTION, CLI_SEED_OPTION, CLI_THREADS_OPTION, CLI_HELP_OPTION, {0, 0, 0, 0}};
    const char *C = "spectrum", *out = "runs/spectrum";
    sgd_spectrum_config cfg;
    sgd_spectrum_defaults(&cfg);
    int threads = 0, resume = 0, quiet = 0, ch, bad;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        bad = 0;
        switch (ch) {
        case O_MODEL: cfg.model = optarg; break;
        case O_DATA: cfg.data = optarg; break;
        case O_VAL: bad = cli_count(C, "--val", optarg, &cfg.val); break;
        case O_SUBSET: bad = cli_count(C, "--subset", optarg, &cfg.subset); break;
        case O_VALSUB: bad = cli_count(C, "--val-subset", optarg, &cfg.val_subset); break;
        case O_EPOCHS:
            bad = cli_int(C, "--epochs", optarg, &cfg.epochs) ||
                  (cfg.epochs < 1 && cli_fail(C, "--epochs: must be >= 1"));
            break;
        case O_LR: bad = cli_positive(C, "--lr", optarg, &cfg.lr); break;
        case O_BATCH:
            bad = cli_count(C, "--batch", optarg, &cfg.batch) ||
                  (cfg.batch < 1 && cli_fail(C, "--batch: must be >= 1"));
            break;
        case O_MOM:
            bad = cli_double(C, "--momentum", optarg, &cfg.momentum) ||
                  (!(cfg.momentum >= 0 && cfg.momentum < 1) && cli_fail(C, "--momentum: must lie in [0, 1)"));
            break;
        case O_WD: bad = cli_double(C, "--wd", optarg, &cfg.weight_decay) ||
                         (cfg.weight_decay < 0 && cli_fail(C, "--wd: must be >= 0")); break;
        case O_CROP:
            bad = cli_int(C, "--crop", optarg, &cfg.crop) || (cfg.crop < 0 && cli_fail(C, "--crop: must be >= 0"));
            break;
        case O_FLIP: cfg.flip = 1; break;
        case O_NOFLIP: cfg.flip = 0; break;
        case O_NONORM: cfg.normalize = 0; break;
        case O_RUN: cfg.run = optarg; break;
        case O_STARTS: cfg.starts = optarg; break;
        case O_LRF: bad = cli_positive(C, "--lr-fine", optarg, &cfg.lr_fine); break;
        case O_EF:
            bad = cli_int(C, "--epochs-fine", optarg, &cfg.epochs_fine) ||
                  (cfg.epochs_fine < 1 && cli_fail(C, "--epochs-fine: must be >= 1"));
            break;
        case O_BATCHES: bad = cli_count(C, "--batches", optarg, &cfg.probe_batches); break;
        case O_SHARP:
            bad = cli_count(C, "--sharpness", optarg, &cfg.sharpness_steps) ||
                  (cfg.sharpness_steps < 1 && cli_usage(C, "--sharpness: at least 1 Lanczos step"));
            break;
        case O_SHARPP: bad = cli_precision(C, "--sharpness-precision", optarg, &cfg.sharpness_precision); break;
        case O_RESUME: resume = 1; break;
        case O_QUIET: quiet = 1; break;
        default: {
            int e = cli_common_opt(C, ch, help, argv, &out, &cfg.seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (!cfg.model && !cfg.run) return cli_usage(C, "give --model SPEC (a new base run) or --run DIR (see --help)");
    cfg.threads = cli_threads(threads);
    cfg.argc = argc;
    cfg.argv = argv;
    spec_out so = {C, out, resume, 0, 0, {{0}, {0}, 0}};
    cfg.ready = on_ready;
    cfg.ready_ctx = &so;
    cfg.stop = cli_stop_requested;
    sgd_progress pg;
    sgd_progress_start(&pg, "spectrum");
    if (quiet) pg.enabled = 0;
    sgd_spectrum_result res;
    int rc = sgd_spectrum_run(&cfg, &res, cli_progress_cb, &pg);
    sgd_progress_end(&pg);
    if (rc && cli_stop_signal()) {
        if (sgd_dist_rank() == 0)
            fprintf(stderr, "sgdscape spectrum: interrupted (%s); %s kept: continue with --resume\n",
                cli_stop_name(), so.rd.path);
        return 128 + cli_stop_signal();
    }
    if (rc) {
        if (so.failed) return 1;
        if (!so.opened) return cli_lib_fail(C);
        return cli_fail(C, "%s (%s kept for --resume)", sgd_errmsg(), so.rd.path);
    }
    if (sgd_spectrum_write(so.rd.path, &cfg, &res)) rc = cli_lib_fail(C);
    else rc = cli_rundir_commit(C, &so.rd);
    if (!rc) {
        printf("spectrum: %zu minima of %s (p = %zu) from a %d-epoch base, %d fine-tune epochs each (%.1f s)\n",
               res.nstarts, res.model, res.p, res.epochs, cfg.epochs_fine, res.seconds);
        printf("  Spearman(start, train loss) %.3g, (start, val loss) %.3g  (paper: < 0)\n", res.spearman_train_loss,
               res.spearman_val_loss);
        printf("  Spearman(start, |x_min - x_0|) %.3g  (paper: > 0)\n", res.spearman_dist_init);
        printf("  minima whose fine-tune is one-point convex at every epoch: %.3g  (paper: all)\n", res.frac_onepoint);
        if (cfg.sharpness_steps)
            printf("  Spearman(start, sharpness) %.3g  (top Hessian eigenvalue; < 0: later minima flatter; not a "
                   "claim of the paper)\n", res.spearman_sharpness);
        printf("wrote %s/ (spectrum.csv, inner.npy, summary.json, fig6a-d, base/, fine/)\n", out);
    }
    sgd_spectrum_result_free(&res);
    return rc;
}
