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
    const char *C = "grad", *model = NULL, *weights = NULL, *bufpath = NULL, *data = "fashion-mnist",
               *out = NULL;
    size_t K = 1, first = 0, batch = 128, subset = 0;
    uint64_t epoch = 0, seed = 1;
    int eval = 0, normalize = 1, threads = 0, classes = 0;
    const char *model_opt = NULL;
    optind = 1;
    opterr = 0;
    int o, li = -1;
    while ((o = getopt_long(argc, argv, CLI_OPTSTRING, opts, &li)) != -1) {
        if (o == 'm' && nn_cli_once(C, &model_opt, opts[li].name)) return 2;
        li = -1;
        switch (o) {
        case 'm': model = optarg; break;
        case 'W': weights = optarg; break;
        case O_BUF: bufpath = optarg; break;
        case 'd': data = optarg; break;
        case 'K': if (cli_size(C, "--batches", optarg, &K)) return 2; break;
        case O_FIRST: if (cli_size(C, "--first", optarg, &first)) return 2; break;
        case 'e': if (cli_u64(C, "--epoch", optarg, &epoch)) return 2; break;
        case 'b':
            if (cli_size(C, "--batch", optarg, &batch)) return 2;
            if (batch < 1) return cli_usage(C, "--batch: must be >= 1");
            break;
        case 'k': if (cli_size(C, "--subset", optarg, &subset)) return 2; break;
        case O_CLASSES:
            if (nn_cli_classes(C, optarg, &classes)) return 2;
            break;
        case O_EVAL: eval = 1; break;
        case O_NONORM: normalize = 0; break;
        default: {
            int e = cli_common_opt(C, o, help, argv, &out, &seed, &threads);
            if (e >= 0) return e;
        }
        }
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (!model || !weights || !out) return cli_usage(C, "--model, --weights and --out are required");
    if (eval && !bufpath) return cli_usage(C, "--eval needs --buffers B.npy (BN running statistics)");
    threads = cli_threads(threads);

    int rc = 0;
    sgd_dataset tr = {0};
    sgd_npy W = {0}, Bf = {0};
    sgd_net *net = NULL;
    double *grad = NULL;
    sgd_data_loader L = {0};
    int haveL = 0;
    sgd_data_opts dopt = {0};
    dopt.subset = subset;
    dopt.classes = classes;   /* npy: a label at or above it is an error */
    dopt.min_classes = 2;
    if (sgd_npy_read(weights, &W)) return cli_lib_fail(C);
    if (bufpath && sgd_npy_read(bufpath, &Bf)) {
        rc = cli_lib_fail(C);
        goto done;
    }
    if (sgd_data_load(data, SGD_DATA_TRAIN, &dopt, &tr)) {
        rc = cli_lib_fail(C);
        goto done;
    }
    if (classes && tr.classes > classes) {
        rc = cli_fail(C, "--classes %d: the labels of %s need %d", classes, tr.name, tr.classes);
        goto done;
    }
    net = sgd_net_create(model, tr.c, tr.h, tr.w, classes ? classes : tr.classes);
    if (!net) {
        rc = cli_lib_fail(C);
        goto done;
    }
    size_t p = sgd_net_nparams(net);
    if (W.dtype != SGD_NPY_F32) {
        rc = cli_fail(C, "--weights %s: want float32 values", weights);
        goto done;
    }
    if (W.count != p) {
        /* the class count comes from the labels unless given, and sizes the last layer */
        rc = cli_fail(C, "--weights %s: weights have %zu parameters, model %s with %d classes needs %zu%s", weights,
                      W.count, model, sgd_net_classes(net), p, classes ? "" : "; pass --classes?");
        goto done;
    }
    if (bufpath && (Bf.dtype != SGD_NPY_F32 || Bf.count != sgd_net_nbuffers(net))) {
        rc = cli_fail(C, "--buffers %s: %zu values, but model %s has %zu float32 BN buffer values",
                      bufpath, Bf.count, model, sgd_net_nbuffers(net));
        goto done;
    }
    {
        char what[4200];
        snprintf(what, sizeof what, "--weights %s", weights);
        int bad = sgd_net_check_finite(net, W.data, 0, what);
        snprintf(what, sizeof what, "--buffers %s", bufpath ? bufpath : "");
        if (!bad && bufpath) bad = sgd_net_check_finite(net, Bf.data, 1, what);
        if (bad) {
            rc = cli_lib_fail(C);
            goto done;
        }
    }
    sgd_data_loader_opts lo = {0};
    lo.batch = batch;
    lo.shuffle = 1;
    lo.seed = seed;
    if (normalize && sgd_data_loader_opts_normalize_from(&lo, &tr)) {
        rc = cli_lib_fail(C);
        goto done;
    }
    if (sgd_data_loader_init(&L, &tr, &lo)) {
        rc = cli_lib_fail(C);
        goto done;
    }
    haveL = 1;
    grad = malloc(sizeof(double) * p);
    double loss = 0, acc = 0;
    if (!grad) {
        rc = cli_fail(C, "out of memory for the gradient (%zu doubles)", p);
        goto done;
    }
    if (sgd_net_loss_grad(net, W.data, bufpath ? Bf.data : NULL, eval ? SGD_NN_EVAL : SGD_NN_TRAIN, &L,
                          epoch, first, K, &loss, grad, &acc)) {
        rc = cli_lib_fail(C);
        goto done;
    }
    double gn = 0;
    for (size_t i = 0; i < p; i++) gn += grad[i] * grad[i];
    gn = sqrt(gn);
    sgd_rundir rd;
    if (sgd_rundir_open(&rd, out)) {
        rc = cli_lib_fail(C);
        goto done;
    }
    char path[4400];
    size_t shape[1] = {p};
    int wrc = sgd_rundir_file(&rd, "grad.npy", path, sizeof path);
    if (!wrc) wrc = sgd_npy_write(path, SGD_NPY_F64, grad, 1, shape);
    sgd_json *s = sgd_json_new();
    sgd_json_num(s, "loss", loss);
    sgd_json_num(s, "accuracy", acc);
    sgd_json_num(s, "grad_norm", gn);
    sgd_json_int(s, "parameters", (long long)p);
    if (!wrc) wrc = sgd_rundir_file(&rd, "summary.json", path, sizeof path);
    if (!wrc) wrc = sgd_json_write(s, path);
    sgd_json_free(s);
    sgd_json *m = sgd_json_new();
    sgd_json_manifest_header(m, argc, argv, threads);
    sgd_json_str(m, "command", "grad");
    sgd_json_str(m, "model", model);
    sgd_json_str(m, "weights", weights);
    sgd_json_str(m, "buffers", bufpath ? bufpath : "");
    sgd_json_str(m, "data", data);
    sgd_json_str(m, "bn_mode", eval ? "eval (running statistics)" : "train (batch statistics)");
    sgd_json_int(m, "batch", (long long)batch);
    sgd_json_int(m, "first_batch", (long long)first);
    sgd_json_int(m, "batches", (long long)(K ? K : sgd_data_loader_batches(&L) - first));
    sgd_json_int(m, "epoch", (long long)epoch);
    char sd[32];
    snprintf(sd, sizeof sd, "%llu", (unsigned long long)seed);
    sgd_json_str(m, "seed", sd);
    sgd_json_bool(m, "normalize", normalize);
    if (!wrc) wrc = sgd_rundir_file(&rd, "manifest.json", path, sizeof path);
    if (!wrc) wrc = sgd_json_write(m, path);
    sgd_json_free(m);
    if (!wrc) wrc = sgd_rundir_commit(&rd);
    if (wrc) {
        sgd_rundir_abort(&rd);
        rc = cli_lib_fail(C);
        goto done;
    }
    printf("loss %.17g  accuracy %.6g  |grad| %.10g  (p = %zu) -> %s/grad.npy\n", loss, acc, gn, p, out);
done:
    free(grad);
    if (haveL) sgd_data_loader_free(&L);
    sgd_net_free(net);
    sgd_data_free(&tr);
    sgd_npy_free(&W);
    if (bufpath) sgd_npy_free(&Bf);
    return rc;
}
