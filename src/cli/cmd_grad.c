/* sgdscape grad: loss f(x) and flat gradient at given weights. */
#include "cli.h"
#include "nn_cli.h"
#include "sgdscape/data.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char sgd_cmd_grad_summary[] = "loss and flat gradient of a network at given weights";

static const char help[] =
    "usage: sgdscape grad --model SPEC --weights X.npy --out DIR [options]\n\n"
    "f(x) = mean over K mini-batches of the mean softmax cross-entropy, BN in training\n"
    "mode (batch statistics) unless --eval; the batches are batches FIRST..FIRST+K-1 of\n"
    "epoch E's shuffle of the training split (seed --seed), without augmentation.\n"
    "Writes DIR/grad.npy (float64, p values), DIR/summary.json (loss, accuracy,\n"
    "gradient norm) and DIR/manifest.json, and prints the loss.\n\n"
    "  --model SPEC      network (see sgdscape model --help)\n"
    "  --weights X.npy   float32 flat parameter vector (p values, docs/nn.md)\n"
    "  --buffers B.npy   BN running statistics (needed with --eval)\n"
    "  --data SPEC       as for train (default fashion-mnist)\n"
    "  --batches K       number of mini-batches (default 1; 0 = the whole epoch)\n"
    "  --first F         first batch (default 0)\n"
    "  --epoch E         which epoch's shuffle (default 0)\n"
    "  --batch B         batch size (default 128)\n"
    "  --subset K        use the first K training images only\n"
    "  --classes K       classes of the network (default: the data set's; for npy the\n"
    "                    largest label + 1, which a subset may lower: give the model's K)\n"
    "  --eval            BN with running statistics instead of batch statistics\n"
    "  --no-normalize    skip per-channel normalization (default: train-set mean/std)\n"
    "  --seed S          shuffle seed (default 1)\n"
    "  --threads N       OpenMP threads (default: all cores)\n";

int sgd_cmd_grad(int argc, char **argv)
{
    enum { O_EVAL = CLI_OPT_OWN, O_NONORM, O_FIRST, O_BUF, O_CLASSES };
    static struct option opts[] = {{"model", required_argument, 0, 'm'},
                                   {"spec", required_argument, 0, 'm'},
                                   {"weights", required_argument, 0, 'W'},
                                   {"buffers", required_argument, 0, O_BUF},
                                   {"data", required_argument, 0, 'd'},
                                   {"batches", required_argument, 0, 'K'},
                                   {"first", required_argument, 0, O_FIRST},
                                   {"epoch", required_argument, 0, 'e'},
                                   {"batch", required_argument, 0, 'b'},
                                   {"subset", required_argument, 0, 'k'},
                                   {"classes", required_argument, 0, O_CLASSES},
                                   {"eval", no_argument, 0, O_EVAL},
                                   {"no-normalize", no_argument, 0, O_NONORM},
                                   CLI_SEED_OPTION,
                                   CLI_THREADS_OPTION,
                                   CLI_OUT_OPTION,
                                   CLI_HELP_OPTION,
                                   {0, 0, 0, 0}};
    const char *C = "grad", *out = NULL;
    sgd_grad_config c;
    sgd_grad_defaults(&c);
    int threads = 0;
    const char *model_opt = NULL;
    optind = 1;
    opterr = 0;
    int o, li = -1;
    while ((o = getopt_long(argc, argv, CLI_OPTSTRING, opts, &li)) != -1) {
        if (o == 'm' && nn_cli_once(C, &model_opt, opts[li].name)) return 2;
        li = -1;
        switch (o) {
        case 'm': c.model = optarg; break;
        case 'W': c.weights = optarg; break;
        case O_BUF: c.buffers = optarg; break;
        case 'd': c.data = optarg; break;
        case 'K': if (cli_size(C, "--batches", optarg, &c.batches)) return 2; break;
        case O_FIRST: if (cli_size(C, "--first", optarg, &c.first)) return 2; break;
        case 'e': if (cli_u64(C, "--epoch", optarg, &c.epoch)) return 2; break;
        case 'b':
            if (cli_size(C, "--batch", optarg, &c.batch)) return 2;
            if (c.batch < 1) return cli_usage(C, "--batch: must be >= 1");
            break;
        case 'k': if (cli_size(C, "--subset", optarg, &c.subset)) return 2; break;
        case O_CLASSES:
            if (nn_cli_classes(C, optarg, &c.classes)) return 2;
            break;
        case O_EVAL: c.eval = 1; break;
        case O_NONORM: c.normalize = 0; break;
        default: {
            int e = cli_common_opt(C, o, help, argv, &out, &c.seed, &threads);
            if (e >= 0) return e;
        }
        }
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (!c.model || !c.weights || !out) return cli_usage(C, "--model, --weights and --out are required");
    if (c.eval && !c.buffers) return cli_usage(C, "--eval needs --buffers B.npy (BN running statistics)");
    c.threads = cli_threads(threads);
    c.argc = argc;
    c.argv = argv;
    sgd_grad_result r;
    if (sgd_grad_run(&c, &r)) return cli_lib_fail(C);
    sgd_rundir rd;
    int rc = sgd_rundir_open(&rd, out);
    if (!rc && (rc = sgd_grad_write(rd.path, &c, &r))) sgd_rundir_abort(&rd);
    if (!rc && (rc = sgd_rundir_commit(&rd))) sgd_rundir_abort(&rd);
    if (rc) rc = cli_lib_fail(C);
    else
        printf("loss %.17g  accuracy %.6g  |grad| %.10g  (p = %zu) -> %s/grad.npy\n", r.loss, r.accuracy, r.grad_norm,
               r.p, out);
    sgd_grad_result_free(&r);
    return rc;
}
