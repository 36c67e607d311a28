/* sgdscape probe: Figures 5a, 5b, 5c on stored trajectories. */
#include "cli.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/probes.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char sgd_cmd_probe_summary[] = "Section 5 on a trajectory: one-point convexity (Figs 5a, 5b), gradient norms (5c)";

static const char help[] =
    "usage: sgdscape probe --run DIR [--run DIR ...] [options]\n"
    "       sgdscape probe --traj DIR --target X.npy --model SPEC --data SPEC [options]\n\n"
    "For every stored epoch t of every trial (x_t = DIR/x/x_EEEE.npy of a train run, or\n"
    "DIR/x_EEEE.npy with --traj), towards x_T (the run's x.npy unless --target):\n"
    "  5.1  f(x_t), |grad f(x_t)|, inner = <-grad f(x_t), x_T - x_t>, cos, dist = |x_T - x_t|\n"
    "  5.2  <-grad f(w), x_T - x_t> at N points w uniform in the ball of radius R around x_t:\n"
    "       mean, min, max, std, and one-sided lower bounds on its expectation by Hoeffding\n"
    "       (Lemma 6 with the observed range) and by the CLT\n"
    "  5c   norms of M mini-batch gradients at x_t; step_bound = lr_t * max |g|\n"
    "f is the mean loss over K fixed mini-batches (batches 0..K-1 of epoch 0 of the training\n"
    "split shuffled with --seed, no augmentation, BN batch statistics: sgdscape grad --epoch 0).\n"
    "Model, data, batch size and normalisation come from the run's manifest.json.\n\n"
    "  --run DIR          a train run directory; repeat once per trial\n"
    "  --traj DIR         x_EEEE.npy files of one trajectory (with --target, --model, --data)\n"
    "  --target FILE      x_T (float32 .npy; default: RUN/x.npy)\n"
    "  --model SPEC       network (default: the run's)\n"
    "  --data SPEC        data set (default: the run's)\n"
    "  --classes K        classes of the network (default: the run's, or the data's)\n"
    "  --subset K         probe on the first K training images (default: the run's split)\n"
    "  --no-normalize     no per-channel normalisation (default: the run's)\n"
    "  --batch B          mini-batch size (default: the run's; --traj 128)\n"
    "  --batches K        probe-set mini-batches (default 10; 0 = the whole training split)\n"
    "  --points N         neighbourhood points per epoch (default 100; 0 skips 5.2)\n"
    "  --radius R         ball radius (default 0.5)\n"
    "  --confidence C     of the lower bounds (default 0.95)\n"
    "  --sg-batches M     mini-batch gradients per epoch for 5c (default 10; 0 skips 5c)\n"
    "  --epochs A:B[:S]   probe epochs A..B (inclusive) in steps of S (default: all stored)\n"
    "  --lr LR            --traj: base learning rate for lr_t (default: unknown, step_bound nan)\n"
    "  --schedule S       --traj: schedule of --lr as for train (step spans the stored epochs)\n"
    "  --resume           continue a killed or interrupted probe in DIR.partial (same options)\n"
    "  --out DIR          run directory (default runs/probe)\n"
    "  --seed N           probe set, ball points and mini-batches (default 1)\n"
    "  --threads N        threads (default all cores; results do not depend on it)\n\n"
    "Writes probe.csv (trial, epoch, lr, loss, grad_norm, dist, inner, cos, nb_mean, nb_min,\n"
    "nb_max, nb_std, nb_hoeffding_lower, nb_clt_lower, sg_mean, sg_min, sg_max, step_bound),\n"
    "neighbors.npy (trials x epochs x points), summary.json (the paper's claims as numbers),\n"
    "manifest.json and fig5a, fig5b, fig5c (.png, .svg, .gp, .dat). Finished rows are kept\n"
    "in DIR.partial/rows while it runs: Ctrl-C or a kill leaves them for --resume.\n";


/* The output directory, made once every input has passed its checks. */
typedef struct probe_out {
    const char *C, *out;
    int resume, opened, failed;
    sgd_rundir rd;
    char rows[4400];
} probe_out;

static int on_ready(void *ctx, const char **rows_dir)
{
    probe_out *o = ctx;
    if (sgd_dist_rank() != 0) { /* rank 0 alone keeps rows and writes (docs/mpi.md) */
        *rows_dir = NULL;
        cli_stop_signals();
        return SGD_OK;
    }
    if (o->resume ? sgd_probe_reopen(&o->rd, o->out) && cli_lib_fail(o->C) : cli_rundir_open(o->C, &o->rd, o->out)) {
        o->failed = 1; /* the message is out already */
        return SGD_EIO;
    }
    o->opened = 1;
    snprintf(o->rows, sizeof o->rows, "%s/rows", o->rd.path);
    *rows_dir = o->rows;
    /* from here a signal stops between rows and keeps DIR.partial for --resume */
    cli_stop_signals();
    return SGD_OK;
}

/* The run after parsing; its exit code. */
static int probe(sgd_probe_config *cfg, const char *C, const char *out, int resume)
{
    probe_out po = {C, out, resume, 0, 0, {{0}, {0}, 0}, {0}};
    cfg->ready = on_ready;
    cfg->ready_ctx = &po;
    cfg->stop = cli_stop_requested;
    sgd_rundir *rd = &po.rd;
    sgd_progress pg;
    sgd_progress_start(&pg, "probe");
    sgd_probe_result res;
    int rc = sgd_probe_run(cfg, &res, cli_progress_cb, &pg);
    sgd_progress_end(&pg);
    const char *sig = cli_stop_name();
    if (rc && cli_stop_signal()) {
        if (sgd_dist_rank() == 0)
            fprintf(stderr, "sgdscape probe: interrupted (%s); finished rows kept in %s: continue with --resume\n", sig,
                rd->path);
        return 128 + cli_stop_signal();
    }
    if (rc) {
        rc = po.failed ? 1 : cli_lib_fail(C);
        if (po.opened && !resume) cli_rundir_abort(rd); /* a resumed one keeps its rows */
        return rc;
    }
    if (sgd_probe_write(rd->path, cfg, &res)) {
        rc = cli_lib_fail(C);
        cli_rundir_abort(rd);
    } else if (cli_stop_signal()) {
        cli_rundir_abort(rd);
        fprintf(stderr, "sgdscape probe: interrupted (%s); removed %s\n", sig, rd->path);
        rc = 128 + cli_stop_signal();
    } else {
        rc = cli_rundir_commit(C, rd);
        if (rc && !resume) cli_rundir_abort(rd); /* the final rename failed: as any failure */
    }
    if (!rc) {
        sgd_probe_print(stdout, cfg, &res);
        printf("wrote %s/ (probe.csv, neighbors.npy, summary.json, fig5a, fig5b, fig5c)\n", out);
    }
    sgd_probe_result_free(&res);
    return rc;
}

int sgd_cmd_probe(int argc, char **argv)
{
    enum {
        O_RUN = 0x200, O_TRAJ, O_TARGET, O_MODEL, O_DATA, O_CLASSES, O_SUBSET, O_NONORM, O_BATCH, O_BATCHES,
        O_POINTS, O_RADIUS, O_CONF, O_SG, O_EPOCHS, O_LR, O_SCHED, O_RESUME
    };
    static const struct option opts[] = {
        {"run", 1, 0, O_RUN},         {"traj", 1, 0, O_TRAJ},         {"target", 1, 0, O_TARGET},
        {"model", 1, 0, O_MODEL},     {"data", 1, 0, O_DATA},         {"classes", 1, 0, O_CLASSES},
        {"subset", 1, 0, O_SUBSET},   {"no-normalize", 0, 0, O_NONORM}, {"batch", 1, 0, O_BATCH},
        {"batches", 1, 0, O_BATCHES}, {"points", 1, 0, O_POINTS},     {"radius", 1, 0, O_RADIUS},
        {"confidence", 1, 0, O_CONF}, {"sg-batches", 1, 0, O_SG},     {"epochs", 1, 0, O_EPOCHS},
        {"lr", 1, 0, O_LR},           {"schedule", 1, 0, O_SCHED},    {"resume", 0, 0, O_RESUME},
        CLI_COMMON_OPTIONS,           {0, 0, 0, 0}};
    const char *C = "probe", *out = "runs/probe";
    sgd_probe_config cfg;
    sgd_probe_defaults(&cfg);
    const char **runs = calloc((size_t)argc + 1, sizeof *runs);
    if (!runs) return cli_fail(C, "out of memory");
    cfg.runs = runs;
    int threads = 0, resume = 0, rc = -1, sched_given = 0;
    optind = 1;
    opterr = 0;
    int ch;
    while (rc < 0 && (ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case O_RUN: runs[cfg.nruns++] = optarg; break;
        case O_TRAJ: cfg.traj = optarg; break;
        case O_TARGET: cfg.target = optarg; break;
        case O_MODEL: cfg.model = optarg; break;
        case O_DATA: cfg.data = optarg; break;
        case O_CLASSES:
            bad = cli_int(C, "--classes", optarg, &cfg.classes) || (cfg.classes < 2 && cli_usage(C, "--classes: must be >= 2"));
            break;
        case O_SUBSET: bad = cli_count(C, "--subset", optarg, &cfg.subset); break;
        case O_NONORM: cfg.normalize = 0; break;
        case O_BATCH: bad = cli_count(C, "--batch", optarg, &cfg.batch) || (cfg.batch < 1 && cli_usage(C, "--batch: must be >= 1")); break;
        case O_BATCHES: bad = cli_count(C, "--batches", optarg, &cfg.batches); break;
        case O_POINTS: bad = cli_count(C, "--points", optarg, &cfg.points); break;
        case O_RADIUS: bad = cli_positive(C, "--radius", optarg, &cfg.radius); break;
        case O_CONF:
            bad = cli_double(C, "--confidence", optarg, &cfg.confidence) ||
                  (!(cfg.confidence > 0 && cfg.confidence < 1) && cli_usage(C, "--confidence: must lie in (0, 1)"));
            break;
        case O_SG: bad = cli_count(C, "--sg-batches", optarg, &cfg.sg_batches); break;
        case O_EPOCHS: cfg.epochs = optarg; break;
        case O_LR: bad = cli_positive(C, "--lr", optarg, &cfg.lr); break;
        case O_SCHED: cfg.schedule = optarg; sched_given = 1; break;
        case O_RESUME: resume = 1; break;
        default: rc = cli_common_opt(C, ch, help, argv, &out, &cfg.seed, &threads);
        }
        if (bad) rc = 2;
    }
    if (rc >= 0) {
    } else if (cli_no_operands(C, argc, argv)) rc = 2;
    else if (cfg.nruns && cfg.traj) rc = cli_usage(C, "give --run or --traj, not both");
    else if (!cfg.nruns && !cfg.traj) rc = cli_usage(C, "give --run DIR (once per trial) or --traj DIR");
    else if (cfg.traj && (!cfg.target || !cfg.model || !cfg.data))
        rc = cli_usage(C, "--traj needs --target, --model and --data");
    else if (cfg.nruns && (cfg.lr > 0 || sched_given))
        rc = cli_usage(C, "--lr and --schedule are for --traj: a run's lr_t comes from its train.csv");
    else {
        cfg.threads = cli_threads(threads);
        cfg.argc = argc;
        cfg.argv = argv;
        rc = probe(&cfg, C, out, resume);
    }
    free(runs);
    return rc;
}
