/* sgdscape train: SGD training of a network with checkpoints and resume. */
#include "cli.h"
#include "nn_cli.h"
#include "sgdscape/data.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"

#include <stdlib.h>
#include <string.h>

const char sgd_cmd_train_summary[] = "train a network with SGD (checkpoints, resume, per-epoch CSV)";

static const char help[] =
    "usage: sgdscape train --model SPEC --out DIR [options]\n\n"
    "SGD with momentum and weight decay (PyTorch semantics: d = g + wd*x; m = mu*m + d;\n"
    "x -= lr*m), BN in training mode, mean softmax cross-entropy. At the start of every\n"
    "epoch the state (x, momentum, BN buffers, epoch) is checkpointed into DIR; --resume\n"
    "continues a killed run bit-identically. One seed gives the same bits with any --threads.\n"
    "Under mpirun every batch is split over the ranks (data-parallel, --threads per rank): the\n"
    "same bits as one process for any rank count; rank 0 writes DIR (docs/mpi.md).\n\n"
    "  --model SPEC       network (see sgdscape model --help)\n"
    "  --data SPEC        fashion-mnist[:DIR] (default), mnist:DIR, cifar10:DIR, cifar100:DIR,\n"
    "                     npy:X.npy,y.npy[,Xtest.npy,ytest.npy]\n"
    "  --val V            hold out V training images for validation (default 0: use the test split)\n"
    "  --subset K         train on the first K training images only\n"
    "  --val-subset K     validate on the first K validation/test images only\n"
    "  --epochs N         (default 10)\n"
    "  --batch B          (default 128)\n"
    "  --lr LR            base learning rate (default 0.1)\n"
    "  --schedule S       const (default) | step (LR, LR/10 at 50%, LR/100 at 75% of the epochs)\n"
    "                     | exp[:0.99] (x F per epoch) | list:E:LR,E:LR,... (first E = 0)\n"
    "  --momentum MU      (default 0.9); --no-momentum sets 0\n"
    "  --wd WD            weight decay (default 1e-4); --no-wd sets 0\n"
    "  --crop P           random crop with P-pixel padding (default 4 for 3x32x32, else 0)\n"
    "  --flip / --no-flip random horizontal flip (default on for 3x32x32)\n"
    "  --no-normalize     skip per-channel normalization (default: train-set mean/std)\n"
    "  --init X.npy       start from these weights (float32, p values) instead of the seed\n"
    "  --no-save-x        do not keep x at every epoch start (DIR/x/x_EEEE.npy)\n"
    "  --resume           continue the run in DIR (or DIR.partial, a killed new run) from its\n"
    "                     last checkpoint; an error when there is none or it is damaged\n"
    "  --seed S           init, shuffle and augmentation seed (default 1)\n"
    "  --threads N        OpenMP threads (default: all cores)\n"
    "  --quiet            no progress line\n\n"
    "Writes DIR/manifest.json, layout.json, train.csv (epoch, lr, train_loss, train_acc,\n"
    "val_loss, val_acc, grad_norm, img_per_s, seconds), checkpoint/, x/, x.npy,\n"
    "buffers.npy, summary.json (a new run is built in DIR.partial and renamed at the end;\n"
    "checkpoint/state.json records each checkpoint file's size and CRC32). A NaN loss\n"
    "or gradient stops the run (exit 1) and names the epoch and step; the checkpoint of\n"
    "that epoch's start stays in DIR.\n";

int sgd_cmd_train(int argc, char **argv)
{
    enum { O_VALSUB = CLI_OPT_OWN, O_NOMOM, O_NOWD, O_NOFLIP, O_NONORM, O_NOSAVE, O_INIT, O_RESUME, O_QUIET };
    static struct option opts[] = {{"model", required_argument, 0, 'm'},
                                   {"spec", required_argument, 0, 'm'},
                                   {"data", required_argument, 0, 'd'},
                                   {"val", required_argument, 0, 'v'},
                                   {"subset", required_argument, 0, 'k'},
                                   {"val-subset", required_argument, 0, O_VALSUB},
                                   {"epochs", required_argument, 0, 'e'},
                                   {"batch", required_argument, 0, 'b'},
                                   {"lr", required_argument, 0, 'l'},
                                   {"schedule", required_argument, 0, 'S'},
                                   {"momentum", required_argument, 0, 'M'},
                                   {"no-momentum", no_argument, 0, O_NOMOM},
                                   {"wd", required_argument, 0, 'w'},
                                   {"no-wd", no_argument, 0, O_NOWD},
                                   {"crop", required_argument, 0, 'c'},
                                   {"flip", no_argument, 0, 'f'},
                                   {"no-flip", no_argument, 0, O_NOFLIP},
                                   {"no-normalize", no_argument, 0, O_NONORM},
                                   {"init", required_argument, 0, O_INIT},
                                   {"no-save-x", no_argument, 0, O_NOSAVE},
                                   {"resume", no_argument, 0, O_RESUME},
                                   CLI_SEED_OPTION,
                                   CLI_THREADS_OPTION,
                                   CLI_OUT_OPTION,
                                   {"quiet", no_argument, 0, O_QUIET},
                                   CLI_HELP_OPTION,
                                   {0, 0, 0, 0}};
    const char *model = NULL, *data = "fashion-mnist", *sched = "const", *out = NULL, *init = NULL;
    size_t val = 0, subset = 0, valsub = 0, batch = 128;
    int epochs = 10, crop = -1, flip = -1, normalize = 1, save_x = 1, resume = 0, threads = 0, quiet = 0;
    double lr = 0.1, mom = 0.9, wd = 1e-4;
    uint64_t seed = 1;
    /* options that set one thing in two ways: the last must not silently win */
    const char *model_opt = NULL, *mom_opt = NULL, *wd_opt = NULL, *flip_opt = NULL;
    optind = 1;
    opterr = 0;
    int o, li = -1;
    const char *C = "train";
    while ((o = getopt_long(argc, argv, CLI_OPTSTRING, opts, &li)) != -1) {
        const char *name = li >= 0 ? opts[li].name : "";
        if ((o == 'm' && nn_cli_once(C, &model_opt, name)) ||
            ((o == 'M' || o == O_NOMOM) && nn_cli_once(C, &mom_opt, name)) ||
            ((o == 'w' || o == O_NOWD) && nn_cli_once(C, &wd_opt, name)) ||
            ((o == 'f' || o == O_NOFLIP) && nn_cli_once(C, &flip_opt, name)))
            return 2;
        li = -1;
        switch (o) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 'v': if (cli_size(C, "--val", optarg, &val)) return 2; break;
        case 'k': if (cli_size(C, "--subset", optarg, &subset)) return 2; break;
        case O_VALSUB: if (cli_size(C, "--val-subset", optarg, &valsub)) return 2; break;
        case 'e':
            if (cli_int(C, "--epochs", optarg, &epochs)) return 2;
            if (epochs < 1) return cli_usage(C, "--epochs: must be >= 1");
            break;
        case 'b':
            if (cli_size(C, "--batch", optarg, &batch)) return 2;
            if (batch < 1) return cli_usage(C, "--batch: must be >= 1");
            break;
        case 'l': if (cli_positive(C, "--lr", optarg, &lr)) return 2; break;
        case 'S': sched = optarg; break;
        case 'M':
            if (cli_double(C, "--momentum", optarg, &mom)) return 2;
            if (mom < 0 || mom >= 1) return cli_usage(C, "--momentum: must lie in [0, 1)");
            break;
        case O_NOMOM: mom = 0; break;
        case 'w':
            if (cli_double(C, "--wd", optarg, &wd)) return 2;
            if (wd < 0) return cli_usage(C, "--wd: must be >= 0");
            break;
        case O_NOWD: wd = 0; break;
        case 'c':
            if (cli_int(C, "--crop", optarg, &crop)) return 2;
            if (crop < 0) return cli_usage(C, "--crop: must be >= 0");
            break;
        case 'f': flip = 1; break;
        case O_NOFLIP: flip = 0; break;
        case O_NONORM: normalize = 0; break;
        case O_INIT: init = optarg; break;
        case O_NOSAVE: save_x = 0; break;
        case O_RESUME: resume = 1; break;
        case O_QUIET: quiet = 1; break;
        default: {
            int e = cli_common_opt(C, o, help, argv, &out, &seed, &threads);
            if (e >= 0) return e;
        }
        }
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (!model) return cli_usage(C, "--model is required (see --help)");
    if (!out) return cli_usage(C, "--out DIR is required");
    threads = cli_threads(threads);

    sgd_train_config cfg;
    sgd_train_defaults(&cfg);
    if (sgd_lr_schedule_parse(sched, lr, epochs, &cfg.lr)) return cli_lib_usage(C);
    /* Check the model spec before touching data or disk. */
    sgd_net *probe = sgd_net_create(model, 1, 32, 32, 10);
    if (!probe && sgd_errmsg()[0] && strstr(sgd_errmsg(), "spec")) return cli_lib_fail(C);
    if (!probe && strstr(sgd_errmsg(), "unknown model")) return cli_lib_fail(C);
    sgd_net_free(probe);
    sgd_error_clear();

    sgd_train_data_spec ds = {data, val, subset, valsub, crop, flip, normalize};
    sgd_train_data D;
    if (sgd_train_data_load(&ds, &D)) return cli_lib_fail(C);
    sgd_train_config_data(&cfg, &D, data);
    int rc = 0;
    float *x0 = NULL;
    sgd_npy W = {0};
    if (init) {
        if (sgd_npy_read(init, &W)) {
            rc = cli_lib_fail(C);
            goto done;
        }
        if (W.dtype != SGD_NPY_F32) {
            rc = cli_fail(C, "--init %s: want float32 weights", init);
            sgd_npy_free(&W);
            goto done;
        }
        x0 = W.data; /* its length is checked by sgd_train_run, against the network it builds */
    }
    cfg.x0_count = W.count;
    char x0_name[4200];
    snprintf(x0_name, sizeof x0_name, "--init %s", init ? init : "");
    cfg.x0_name = x0_name;
    cfg.spec = model;
    cfg.seed = seed;
    cfg.epochs = epochs;
    cfg.batch = batch;
    cfg.momentum = mom;
    cfg.weight_decay = wd;
    cfg.threads = threads;
    cfg.save_every_x = save_x;
    cfg.x0 = x0;
    cfg.quiet = quiet;
    cfg.argc = argc;
    cfg.argv = argv;
    cfg.split = 1; /* under mpirun: data-parallel over the ranks */
    if (sgd_train_run(&cfg, out, resume)) rc = cli_lib_fail(C);
    else if (!quiet) printf("trained %s for %d epochs into %s\n", model, epochs, out);
    if (init) sgd_npy_free(&W);
done:
    sgd_train_data_free(&D);
    return rc;
}
