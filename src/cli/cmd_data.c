/* sgdscape data: inspect the image data sets the network experiments read. */
#include "cli.h"
#include "sgdscape/data.h"
#include "sgdscape/error.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char sgd_cmd_data_summary[] = "inspect image data sets (shape, classes, per-channel mean/std)";

static const char help[] =
    "usage: sgdscape data info SPEC... [options]\n\n"
    "Loads each data set and prints its size, image shape, storage, number of classes,\n"
    "images per class and the per-channel mean and standard deviation (on the [0,1]\n"
    "scale for 8-bit images: the numbers to normalize with).\n\n"
    "SPEC:\n"
    "  fashion-mnist[:DIR]      IDX files (default DIR " SGD_DATA_FASHION_MNIST_DIR ")\n"
    "  mnist:DIR                train-images-idx3-ubyte[.gz], t10k-... (gzip or plain)\n"
    "  cifar10:DIR              data_batch_1..5.bin, test_batch.bin\n"
    "  cifar100:DIR             train.bin, test.bin (fine labels)\n"
    "  npy:X.npy,y.npy[,Xt.npy,yt.npy]  X uint8/float32 NHWC or NCHW; y int64/int32/uint8\n"
    "  DIR                      a directory holding one of the layouts above\n\n"
    "options:\n"
    "  --split S        train, test, val or all (default all: train and test, and val\n"
    "                   when --val is given)\n"
    "  --val V          hold out V training images for validation\n"
    "  --val-random     pick them at random from --seed (default: the last V)\n"
    "  --seed S         seed of the random validation split (default 0)\n"
    "  --layout L       npy image layout: auto (default), nhwc or nchw\n"
    "  --classes K      npy: number of classes (default: largest label + 1)\n"
    "  --subset K       only the first K images of each split\n"
    "  --threads N      threads for the statistics (default: all cores)\n";

/* A bare directory: recognise the layout from the files it holds. */
static int guess_spec(const char *arg, char *out, size_t n)
{
    struct stat st;
    char p[4200];
    if (strchr(arg, ':') || !strcmp(arg, "fashion-mnist") || !strcmp(arg, "mnist") ||
        stat(arg, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(out, n, "%s", arg);
        return 0;
    }
    static const struct { const char *file, *kind; } probes[] = {
        {"train-images-idx3-ubyte.gz", "mnist"}, {"train-images-idx3-ubyte", "mnist"},
        {"t10k-images-idx3-ubyte.gz", "mnist"},  {"t10k-images-idx3-ubyte", "mnist"},
        {"data_batch_1.bin", "cifar10"},         {"cifar-10-batches-bin", "cifar10"},
        {"train.bin", "cifar100"},               {"cifar-100-binary", "cifar100"}};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", arg, probes[i].file);
        if (stat(p, &st) == 0) {
            snprintf(out, n, "%s:%s", probes[i].kind, arg);
            return 0;
        }
    }
    return cli_fail("data", "%s: no IDX, CIFAR-10 or CIFAR-100 files found in this directory", arg);
}

/* quiet_missing: a data set without that split (npy with two files) is only noted. */
static int info_one(const char *spec, int split, const sgd_data_opts *o, int quiet_missing)
{
    sgd_dataset d;
    int rc = sgd_data_load(spec, split, o, &d);
    if (rc) {
        if (quiet_missing && !sgd_data_has_test(spec)) {
            printf("%s: no %s split (%s)\n", spec, split == SGD_DATA_TEST ? "test" : "val", sgd_errmsg());
            return 0;
        }
        return cli_lib_fail("data");
    }
    printf("%s  (%s)\n", d.name, spec);
    printf("  images   %zu\n", d.n);
    printf("  shape    %d x %d x %d (C x H x W), %s\n", d.c, d.h, d.w,
           d.storage == SGD_DATA_U8 ? "uint8 (read as value/255)" : "float32");
    printf("  classes  %d\n", d.classes);
    size_t *counts = calloc((size_t)d.classes, sizeof *counts);
    double *mean = malloc((size_t)d.c * sizeof *mean), *std = malloc((size_t)d.c * sizeof *std);
    if (!counts || !mean || !std) {
        free(counts), free(mean), free(std);
        sgd_data_free(&d);
        return cli_fail("data", "%s: out of memory for the per-class counts and channel statistics (%d classes, "
                        "%d channels)", d.name, d.classes, d.c);
    }
    for (size_t i = 0; i < d.n; i++) counts[d.labels[i]]++;
    printf("  per class");
    for (int k = 0; k < d.classes; k++) {
        if (d.classes > 20 && k % 20 == 0) printf("\n   ");
        printf(" %zu", counts[k]);
    }
    printf("\n");
    rc = sgd_data_channel_stats(&d, mean, std);
    if (rc) {
        free(counts), free(mean), free(std);
        sgd_data_free(&d);
        return cli_lib_fail("data");
    }
    for (int c = 0; c < d.c; c++) printf("  channel %d  mean %.6f  std %.6f\n", c, mean[c], std[c]);
    free(counts);
    free(mean);
    free(std);
    sgd_data_free(&d);
    return 0;
}

int sgd_cmd_data(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        cli_help(help);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "info")) {
        return cli_usage("data", "unknown action '%s' (only 'info'; see --help)", argv[1]);
    }
    static const struct option longopts[] = {
        {"split", required_argument, 0, 's'},  {"val", required_argument, 0, 'v'},
        {"val-random", no_argument, 0, 'r'},   CLI_SEED_OPTION,
        {"layout", required_argument, 0, 'l'}, {"classes", required_argument, 0, 'k'},
        {"subset", required_argument, 0, 'n'}, CLI_THREADS_OPTION,
        CLI_HELP_OPTION,         {0, 0, 0, 0}};
    sgd_data_opts o;
    memset(&o, 0, sizeof o);
    const char *split = "all";
    int threads = 0;
    int ac = argc - 1;
    char **av = argv + 1;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(ac, av, CLI_OPTSTRING, longopts, NULL)) != -1) {
        switch (ch) {
        case 's': split = optarg; break;
        case 'v':
            if (cli_size("data", "--val", optarg, &o.val)) return 2;
            break;
        case 'r': o.val_random = 1; break;
        case 'l':
            if (!strcmp(optarg, "auto")) o.layout = SGD_DATA_LAYOUT_AUTO;
            else if (!strcmp(optarg, "nhwc")) o.layout = SGD_DATA_NHWC;
            else if (!strcmp(optarg, "nchw")) o.layout = SGD_DATA_NCHW;
            else {
                return cli_usage("data", "--layout: '%s' is not auto, nhwc or nchw", optarg);
            }
            break;
        case 'k':
            if (cli_int("data", "--classes", optarg, &o.classes)) return 2;
            if (o.classes < 1) {
                return cli_usage("data", "--classes: need a positive count, got %d", o.classes);
            }
            break;
        case 'n':
            if (cli_size("data", "--subset", optarg, &o.subset)) return 2;
            break;
        default: {
            int e = cli_common_opt("data", ch, help, av, NULL, &o.val_seed, &threads);
            if (e >= 0) return e;
        }
        }
    }
    int want[3] = {0, 0, 0};
    if (!strcmp(split, "all")) want[SGD_DATA_TRAIN] = want[SGD_DATA_TEST] = 1, want[SGD_DATA_VAL] = o.val > 0;
    else if (!strcmp(split, "train")) want[SGD_DATA_TRAIN] = 1;
    else if (!strcmp(split, "test")) want[SGD_DATA_TEST] = 1;
    else if (!strcmp(split, "val")) want[SGD_DATA_VAL] = 1;
    else {
        return cli_usage("data", "--split: '%s' is not train, test, val or all", split);
    }
    if (optind >= ac) {
        return cli_usage("data", "info: no data set given (see --help)");
    }
    cli_threads(threads);
    int status = 0;
    for (int i = optind; i < ac; i++) {
        char spec[8400];
        if (guess_spec(av[i], spec, sizeof spec)) {
            status = 1;
            continue;
        }
        for (int s = 0; s < 3; s++) {
            if (!want[s]) continue;
            /* With --split all a data set without a test part is not an error. */
            if (info_one(spec, s, &o, s == SGD_DATA_TEST && !strcmp(split, "all"))) {
                status = 1;
                break;  /* the other splits would repeat the same complaint */
            }
        }
    }
    return status;
}
