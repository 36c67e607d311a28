/* sgdscape branch: Section 5.3, SGD branches from one point. */
#include "cli.h"
#include "sgdscape/dist.h"
#include "sgdscape/branch.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char sgd_cmd_branch_summary[] = "Section 5.3: SGD branches from one point, every epoch against every final";

static const char help[] =
    "usage: sgdscape branch --model SPEC [--data SPEC] [options]\n"
    "       sgdscape branch --run DIR --shared-epochs E0 [options]\n\n"
    "Trains a shared prefix of E0 epochs (or takes x_E0 from a train run), then B branches\n"
    "from that point for E1 epochs at a constant lr that differ only in their shuffle and\n"
    "augmentation seed (branch i: Philox of (--seed, i)); each is a train run in\n"
    "DIR/branches/bNNN. For every epoch t of every branch i and every final x_T^(j):\n"
    "  inner(i, t, j) = <-grad f(x_t^(i)), x_T^(j) - x_t^(i)>\n"
    "with f as sgdscape probe takes it (K fixed mini-batches, BN batch statistics), and the\n"
    "distances between the finals. Paper: 50 branches x 140 epochs after 10, lr 0.1.\n\n"
    "  --run DIR          branch from DIR/x/x_E0.npy (and its momentum); model, data and\n"
    "                     training options then come from DIR's manifest\n"
    "  --model SPEC       network (see sgdscape model --help)\n"
    "  --data SPEC        data set (default fashion-mnist)\n"
    "  --subset K         train on the first K training images\n"
    "  --shared-epochs E0 the prefix (default 10)\n"
    "  --branches B       (default 50)\n"
    "  --epochs E1        epochs of each branch (default 140)\n"
    "  --lr LR            constant learning rate, prefix and branches (default 0.1)\n"
    "  --batch B          (default 128)\n"
    "  --momentum MU      (default 0.9); --no-momentum sets 0\n"
    "  --wd WD            weight decay (default 1e-4); --no-wd sets 0\n"
    "  --fresh-momentum   branches start with zero momentum (default: the prefix's at E0)\n"
    "  --crop P / --flip / --no-flip / --no-normalize   as for train\n"
    "  --batches K        probe-set mini-batches of f (default 10; 0 = the whole split)\n"
    "  --sharpness M      also each final's top Hessian eigenvalue of f (exact Hessian-vector\n"
    "                     products, Lanczos of at most M steps, e.g. 30): finals.csv's sharpness\n"
    "                     column; not a claim of the paper (off by default)\n"
    "  --sharpness-precision 64|32\n"
    "                     its products in float64 (default: exact to rounding) or float32 (half the\n"
    "                     memory, about twice as fast; as hessian --precision)\n"
    "  --resume           continue a killed or interrupted run in DIR.partial (same options)\n"
    "  --out DIR          run directory (default runs/branch)\n"
    "  --seed N           prefix, branch seeds and probe set (default 1)\n"
    "  --threads N        threads (default all cores; results do not depend on it)\n\n"
    "Writes branch.csv (branch, epoch, loss, grad_norm, inner_self, inner_min, inner_mean,\n"
    "inner_max, nonpositive, nonpositive_others), inner.npy (B x E1 x B), distances.csv/.npy,\n"
    "finals.csv, summary.json (the paper's claims as numbers), manifest.json, branch_hist and\n"
    "branch_heat (.png, .svg, .gp, .dat), prefix/ and branches/. Cost: (E0 + B E1) training\n"
    "epochs and B (E1 + 1) gradients of K batches.\n";


typedef struct branch_out {
    const char *C, *out;
    int resume, opened, failed;
    sgd_rundir rd;
} branch_out;

/* The output directory, made once every input has passed its checks; --resume reopens DIR.partial. */
static int on_ready(void *ctx, const char **work)
{
    branch_out *o = ctx;
    if (sgd_dist_rank() != 0) { /* rank 0's directory: the library passes its path on */
        *work = NULL;
        cli_stop_signals();
        return SGD_OK;
    }
    if (o->resume) {
        if (sgd_rundir_reopen(&o->rd, o->out, "config.txt", "branch run")) o->failed = cli_lib_fail(o->C);
    } else if (cli_rundir_open(o->C, &o->rd, o->out)) o->failed = 1;
    if (o->failed) return SGD_EIO; /* the message is out already */
    o->opened = 1;
    *work = o->rd.path;
    cli_stop_signals(); /* from here a signal stops between epochs and keeps DIR.partial */
    return SGD_OK;
}

int sgd_cmd_branch(int argc, char **argv)
{
    enum {
        O_RUN = CLI_OPT_OWN, O_MODEL, O_DATA, O_SUBSET, O_E0, O_B, O_E1, O_LR, O_BATCH, O_MOM, O_NOMOM, O_WD, O_NOWD,
        O_FRESH, O_CROP, O_FLIP, O_NOFLIP, O_NONORM, O_BATCHES, O_RESUME,
        O_SHARP, O_SHARPP
    };
    static const struct option opts[] = {
        {"run", 1, 0, O_RUN},           {"model", 1, 0, O_MODEL},      {"data", 1, 0, O_DATA},
        {"subset", 1, 0, O_SUBSET},     {"shared-epochs", 1, 0, O_E0}, {"branches", 1, 0, O_B},
        {"epochs", 1, 0, O_E1},         {"lr", 1, 0, O_LR},            {"batch", 1, 0, O_BATCH},
        {"momentum", 1, 0, O_MOM},      {"no-momentum", 0, 0, O_NOMOM}, {"wd", 1, 0, O_WD},
        {"no-wd", 0, 0, O_NOWD},        {"fresh-momentum", 0, 0, O_FRESH}, {"crop", 1, 0, O_CROP},
        {"flip", 0, 0, O_FLIP},         {"no-flip", 0, 0, O_NOFLIP},   {"no-normalize", 0, 0, O_NONORM},
        {"batches", 1, 0, O_BATCHES},   {"resume", 0, 0, O_RESUME},    {"sharpness", 1, 0, O_SHARP}, {"sharpness-precision", 1, 0, O_SHARPP}, CLI_OUT_OPTION, CLI_SEED_OPTION,
        CLI_THREADS_OPTION,             CLI_HELP_OPTION,               {0, 0, 0, 0}};
    const char *C = "branch", *out = "runs/branch", *training = NULL;
    sgd_branch_config cfg;
    sgd_branch_defaults(&cfg);
    int threads = 0, resume = 0, bad = 0, ch, li = -1;
    optind = 1;
    opterr = 0;
    while (!bad && (ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, &li)) != -1) {
        /* the options a --run brings with it from its manifest */
        if (ch >= O_MODEL && ch <= O_NONORM && ch != O_E0 && ch != O_B && ch != O_E1 && ch != O_LR && ch != O_FRESH)
            training = opts[li].name;
        li = -1;
        switch (ch) {
        case O_RUN: cfg.run = optarg; break;
        case O_MODEL: cfg.model = optarg; break;
        case O_DATA: cfg.data = optarg; break;
        case O_SUBSET: bad = cli_count(C, "--subset", optarg, &cfg.subset); break;
        case O_E0: bad = cli_int(C, "--shared-epochs", optarg, &cfg.shared_epochs); break;
        case O_B: bad = cli_int(C, "--branches", optarg, &cfg.branches); break;
        case O_E1: bad = cli_int(C, "--epochs", optarg, &cfg.epochs); break;
        case O_LR: bad = cli_positive(C, "--lr", optarg, &cfg.lr); break;
        case O_BATCH: bad = cli_count(C, "--batch", optarg, &cfg.batch); break;
        case O_MOM: bad = cli_double(C, "--momentum", optarg, &cfg.momentum); break;
        case O_NOMOM: cfg.momentum = 0; break;
        case O_WD: bad = cli_double(C, "--wd", optarg, &cfg.weight_decay); break;
        case O_NOWD: cfg.weight_decay = 0; break;
        case O_FRESH: cfg.fresh_momentum = 1; break;
        case O_CROP: bad = cli_int(C, "--crop", optarg, &cfg.crop) || (cfg.crop < 0 && cli_usage(C, "--crop: must be >= 0")); break;
        case O_FLIP: cfg.flip = 1; break;
        case O_NOFLIP: cfg.flip = 0; break;
        case O_NONORM: cfg.normalize = 0; break;
        case O_BATCHES: bad = cli_count(C, "--batches", optarg, &cfg.batches); break;
        case O_SHARP:
            bad = cli_count(C, "--sharpness", optarg, &cfg.sharpness_steps) ||
                  (cfg.sharpness_steps < 1 && cli_usage(C, "--sharpness: at least 1 Lanczos step"));
            break;
        case O_SHARPP: bad = cli_precision(C, "--sharpness-precision", optarg, &cfg.sharpness_precision); break;
        case O_RESUME: resume = 1; break;
        default: {
            int e = cli_common_opt(C, ch, help, argv, &out, &cfg.seed, &threads);
            if (e >= 0) return e;
        }
        }
    }
    if (bad || cli_no_operands(C, argc, argv)) return 2;
    if (cfg.run && training) return cli_usage(C, "--%s: with --run the training options come from the run's manifest", training);
    if (!cfg.run && !cfg.model) return cli_usage(C, "give --model SPEC (or --run DIR; see --help)");
    if (cfg.branches < 1 || cfg.epochs < 1 || cfg.shared_epochs < (cfg.run ? 0 : 1) || (!cfg.run && cfg.batch < 1))
        return cli_usage(C, "--branches, --epochs, --batch must be >= 1 and --shared-epochs >= %d", cfg.run ? 0 : 1);
    if (cfg.momentum < 0 || cfg.momentum >= 1 || cfg.weight_decay < 0)
        return cli_usage(C, "--momentum must lie in [0, 1) and --wd be >= 0");
    cfg.threads = cli_threads(threads);
    cfg.argc = argc;
    cfg.argv = argv;
    branch_out bo = {C, out, resume, 0, 0, {{0}, {0}, 0}};
    cfg.ready = on_ready;
    cfg.ready_ctx = &bo;
    cfg.stop = cli_stop_requested;
    sgd_progress pg;
    sgd_progress_start(&pg, "branch");
    sgd_branch_result res;
    int rc = sgd_branch_run(&cfg, &res, cli_progress_cb, &pg);
    sgd_progress_end(&pg);
    if (rc && cli_stop_signal()) {
        if (sgd_dist_rank() == 0)
            fprintf(stderr, "sgdscape branch: interrupted (%s); kept in %s: continue with --resume\n",
                cli_stop_name(), bo.rd.path);
        return 128 + cli_stop_signal();
    }
    if (rc) {
        rc = bo.failed ? 1 : cli_lib_fail(C);
        if (bo.opened) fprintf(stderr, "sgdscape branch: what was trained stays in %s (--resume)\n", bo.rd.path);
        return rc;
    }
    if (sgd_branch_write(bo.rd.path, &cfg, &res)) rc = cli_lib_fail(C);
    else rc = cli_rundir_commit(C, &bo.rd);
    if (!rc) {
        printf("branch: %zu branches x %zu epochs after %d shared, p = %zu, K = %zu batches of %zu (%.2f s%s)\n",
               res.branches, res.epochs, cfg.shared_epochs, res.p, res.batches, res.batch, res.seconds,
               res.resumed_branches || res.resumed_rows ? ", resumed" : "");
        printf("  inner products not positive, j != i: %zu of %zu (%.3g; paper: 2 of 343,000 ResNet, 0.1%% DenseNet)\n",
               res.nonpositive_others, res.count_others, res.frac_nonpositive_others);
        printf("  inner products not positive, all:    %zu of %zu (%.3g)\n", res.nonpositive, res.count,
               res.frac_nonpositive);
        printf("  distances between finals: min %.4g mean %.4g max %.4g (paper: min 40)\n", res.dist_min,
               res.dist_mean, res.dist_max);
        printf("wrote %s/ (branch.csv, inner.npy, distances, finals.csv, summary.json, branch_hist, branch_heat)\n", out);
    }
    sgd_branch_result_free(&res);
    return rc;
}
