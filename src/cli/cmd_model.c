/* sgdscape model: build a network from a spec and print its layers. */
#include "cli.h"
#include "nn_cli.h"
#include "sgdscape/error.h"
#include "sgdscape/nn.h"

#include "sgdscape/io.h"
#include "sgdscape/rng.h"

#include <stdlib.h>
#include <string.h>

/* Training-step throughput on random data (bench/nn_bench.sh). */
static int bench(sgd_net *net, int steps, size_t batch, int threads)
{
    int c, h, w;
    sgd_net_input_shape(net, &c, &h, &w);
    size_t p = sgd_net_nparams(net), per = (size_t)c * h * w;
    float *x = malloc(sizeof(float) * p), *g = malloc(sizeof(float) * p), *m = calloc(p, sizeof(float));
    float *buf = malloc(sizeof(float) * (sgd_net_nbuffers(net) + 1));
    float *in = malloc(sizeof(float) * batch * per);
    int32_t *lab = malloc(sizeof(int32_t) * batch);
    if (!x || !g || !m || !buf || !in || !lab) {
        free(x), free(g), free(m), free(buf), free(in), free(lab);
        return cli_fail("model", "--bench: out of memory for %zu parameters and a batch of %zu inputs (%.0f bytes)",
                        p, batch, 4.0 * ((double)p * 3 + (double)batch * ((double)per + 1)));
    }
    sgd_net_init(net, 1, x, buf);
    double z[2];
    for (size_t i = 0; i < batch * per; i += 2) {
        sgd_rng_normal2(1, SGD_RNG_USER, 0, 0, (uint32_t)(i / 2), z);
        in[i] = (float)z[0];
        if (i + 1 < batch * per) in[i + 1] = (float)z[1];
    }
    for (size_t i = 0; i < batch; i++) lab[i] = (int32_t)(i % (size_t)sgd_net_classes(net));
    int rc = 0;
    double t0 = 0, loss = 0;
    for (int s = 0; s <= steps && !rc; s++) {
        if (s == 1) t0 = sgd_now();
        rc = sgd_net_run(net, x, buf, SGD_NN_TRAIN, in, lab, batch, &loss, g, NULL);
        sgd_nn_sgd_step(x, g, m, p, 0.01, 0.9, 1e-4);
    }
    double t = sgd_now() - t0;
    if (rc) rc = cli_lib_fail("model");
    else
        printf("bench: %s threads %d batch %zu: %.1f img/s (%d steps, %.3f s/step, last loss %.4f)\n",
               sgd_net_spec(net), threads, batch, (double)steps * batch / t, steps, t / steps, loss);
    free(x), free(g), free(m), free(buf), free(in), free(lab);
    return rc;
}

const char sgd_cmd_model_summary[] = "print a network's layers and parameter count";

static const char help[] =
    "usage: sgdscape model --spec SPEC [--in CxHxW] [--classes K] [--layout FILE.json]\n\n"
    "Builds the network SPEC and prints its layer table and parameter count p (the\n"
    "length of the flat weight vector x). --layout writes the JSON manifest of\n"
    "tensor names, offsets and shapes (PyTorch state_dict order, see docs/nn.md).\n\n"
    "  --spec SPEC      resnet20|resnet32|resnet44|resnet56|resnet110, resnet:n=N,w=W[,shortcut=A|B],\n"
    "                   resnet34[:w=16], densenet[:depth=100,k=12,reduction=0.5], mlp[:w=128,d=2],\n"
    "                   convnet[:w=16]   (--model is an alias)\n"
    "  --in CxHxW       input shape (default 3x32x32; Fashion-MNIST 1x28x28)\n"
    "  --classes K      number of classes (default 10)\n"
    "  --layout FILE    write the tensor layout manifest\n"
    "  --bench STEPS    time STEPS training steps (forward, backward, SGD momentum step) on\n"
    "                   random data and print img/s (after one warm-up step)\n"
    "  --batch B        batch size for --bench (default 128)\n"
    "  --threads N      OpenMP threads for --bench (default: all cores)\n";

int sgd_cmd_model(int argc, char **argv)
{
    static struct option opts[] = {{"spec", required_argument, 0, 's'},
                                   {"model", required_argument, 0, 's'},
                                   {"in", required_argument, 0, 'i'},
                                   {"classes", required_argument, 0, 'k'},
                                   {"layout", required_argument, 0, 'l'},
                                   {"bench", required_argument, 0, 'B'},
                                   {"batch", required_argument, 0, 'b'},
                                   CLI_THREADS_OPTION,
                                   CLI_HELP_OPTION,
                                   {0, 0, 0, 0}};
    const char *spec = NULL, *layout = NULL, *spec_opt = NULL;
    int c = 3, h = 32, w = 32, classes = 10, steps = 0, threads = 0;
    size_t batch = 128;
    optind = 1;
    opterr = 0;
    int o, li = -1;
    while ((o = getopt_long(argc, argv, CLI_OPTSTRING, opts, &li)) != -1) {
        if (o == 's' && nn_cli_once("model", &spec_opt, opts[li].name)) return 2;
        li = -1;
        switch (o) {
        case 's': spec = optarg; break;
        case 'i':
            if (sgd_nn_parse_shape(optarg, &c, &h, &w)) return cli_lib_fail("model");
            break;
        case 'k':
            if (nn_cli_classes("model", optarg, &classes)) return 2;
            break;
        case 'l': layout = optarg; break;
        case 'B':
            if (cli_int("model", "--bench", optarg, &steps)) return 2;
            if (steps < 1) return cli_usage("model", "--bench: must be >= 1");
            break;
        case 'b':
            if (cli_size("model", "--batch", optarg, &batch)) return 2;
            if (batch < 1) return cli_usage("model", "--batch: must be >= 1");
            break;
        default: {
            int e = cli_common_opt("model", o, help, argv, NULL, NULL, &threads);
            if (e >= 0) return e;
        }
        }
    }
    if (cli_no_operands("model", argc, argv)) return 2;
    if (!spec) return cli_usage("model", "--spec is required (see --help)");
    sgd_net *net = sgd_net_create(spec, c, h, w, classes);
    if (!net) return cli_lib_fail("model");
    char *d = sgd_net_describe(net);
    if (d) fputs(d, stdout);
    free(d);
    int rc = 0;
    if (layout && sgd_net_write_layout(net, layout)) rc = cli_lib_fail("model");
    if (!rc && steps) rc = bench(net, steps, batch, cli_threads(threads));
    sgd_net_free(net);
    return rc;
}
