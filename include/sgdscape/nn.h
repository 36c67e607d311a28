/* Neural networks for the Section 5 experiments: models from a spec string,
 * forward and backward passes over one flat parameter vector, the flat
 * loss/gradient function the probes call, and the SGD training loop.
 *
 * Parameter vector x (float32, p entries): the network's learnable tensors
 * concatenated in PyTorch state_dict order of the equivalent module (conv
 * weights OIHW, BN weight then bias, linear weight (out x in) then bias).
 * BN running means/variances live in a separate buffer vector (same order,
 * running_mean then running_var per BN layer). Names and shapes are listed
 * by sgd_net_tensor_info and written by sgd_net_write_layout (JSON), so
 * weights move to and from PyTorch as a .npy plus that manifest
 * (docs/nn.md).
 *
 * Determinism: every reduction over the batch runs in a fixed order that
 * does not depend on the number of OpenMP threads, so one seed gives the
 * same bits with any --threads. The engine loads OpenBLAS when the first
 * network is created (OPENBLAS_NUM_THREADS=1: no BLAS thread pool) and
 * parallelises around it. */
#ifndef SGDSCAPE_NN_H
#define SGDSCAPE_NN_H

#include <stddef.h>
#include <stdint.h>
#include "sgdscape/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sgd_net sgd_net;

/* Build a network from a spec (input c x h x w, `classes` outputs):
 *   resnet20 resnet32 resnet44 resnet56 resnet110   CIFAR ResNet 6n+2
 *   resnet:n=N,w=W[,shortcut=A|B]   6n+2 layers, base width W (default 16);
 *                                   B (default): 1x1 conv + BN projection when
 *                                   the shape changes; A: subsample + zero pad
 *   resnet34[:w=W]                  ImageNet layout [3,4,6,3] basic blocks,
 *                                   3x3 stem, widths W,2W,4W,8W (default 16)
 *   densenet[:depth=D,k=K,reduction=R]  DenseNet-BC (default D=100, K=12, R=0.5)
 *   mlp[:w=W,d=D]                   D hidden layers of width W (128, 2), ReLU
 *   convnet[:w=W]                   conv-BN-ReLU x3 (W, 2W, 4W) with 2x2 avg
 *                                   pools, global pool, linear (W = 16)
 * Any spec also accepts the keys of the base form (resnet20:w=8,shortcut=A).
 * Returns NULL and sets an sgd_error message on a bad spec. */
sgd_net *sgd_net_create(const char *spec, int in_c, int in_h, int in_w, int classes);
void sgd_net_free(sgd_net *net);
/* Parse an input shape "CxHxW" (e.g. 3x32x32, 1x28x28). */
int sgd_nn_parse_shape(const char *s, int *c, int *h, int *w);

size_t sgd_net_nparams(const sgd_net *net);   /* p = length of x */
size_t sgd_net_nbuffers(const sgd_net *net);  /* length of the BN buffer vector */
int sgd_net_classes(const sgd_net *net);
void sgd_net_input_shape(const sgd_net *net, int *c, int *h, int *w);
const char *sgd_net_spec(const sgd_net *net); /* the spec it was built from */

/* Named tensors: params (is_buffer = 0) in x order, then buffers. */
typedef struct sgd_net_tensor {
    char name[96];
    size_t offset;      /* into x (params) or the buffer vector (buffers) */
    size_t count;
    int ndim;
    size_t shape[4];
    int is_buffer;
} sgd_net_tensor;
size_t sgd_net_ntensors(const sgd_net *net);
int sgd_net_tensor_info(const sgd_net *net, size_t i, sgd_net_tensor *out);

/* SGD_EINVAL when v (the p weights, or with buffers = 1 the BN buffers)
 * holds a NaN or an infinity: "WHAT hold NaN at index I (tensor NAME)". */
int sgd_net_check_finite(const sgd_net *net, const float *v, int buffers, const char *what);

/* Layer table and parameter count as text (caller frees). */
char *sgd_net_describe(const sgd_net *net);
/* JSON manifest of the layout: spec, input shape, classes, p, tensors. */
int sgd_net_write_layout(const sgd_net *net, const char *path);

/* Initial weights, a pure function of the seed (rng domain SGD_RNG_WEIGHTS,
 * stream = tensor index): conv He normal N(0, 2/fan_in); linear weight and
 * bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BN weight 1, bias 0, running
 * mean 0, running var 1. buffers may be NULL. */
void sgd_net_init(const sgd_net *net, uint64_t seed, float *x, float *buffers);

enum { SGD_NN_EVAL = 0, SGD_NN_TRAIN = 1 };

/* One forward (and backward) pass over a batch of n images (float32 NCHW,
 * labels in [0, classes)) at weights x. Loss = mean softmax cross-entropy.
 *   mode SGD_NN_TRAIN: BN uses batch statistics; if buffers != NULL the
 *       running statistics in it are updated (PyTorch momentum 0.1,
 *       unbiased running variance).
 *   mode SGD_NN_EVAL: BN uses the running statistics in buffers (required
 *       when the net has BN).
 *   grad != NULL: the gradient of the mean loss is written there (p floats).
 *   correct != NULL: number of arg-max hits.
 * Returns SGD_OK, or SGD_EINVAL (bad argument / label). */
int sgd_net_run(sgd_net *net, const float *x, float *buffers, int mode, const float *input,
                const int32_t *labels, size_t n, double *loss, float *grad, size_t *correct);

/* Logits of the last sgd_net_run (n x classes, row-major); valid until the
 * next run. */
const float *sgd_net_logits(const sgd_net *net);

/* ---- the flat function for the probes -------------------------------- */
/* f(x) = mean over batches b = first..first+k-1 of the loader's epoch
 * `epoch` of the batch loss, and grad f(x) (double, p entries, may be NULL),
 * BN in `mode` (SGD_NN_TRAIN by default in the tools; running buffers are
 * read in EVAL mode and never modified). k = 0 means all batches. Each
 * batch's mean loss has equal weight. *acc (may be NULL) gets the accuracy.
 * A non-finite loss or gradient is SGD_EDIVERGED, naming the batch and the
 * largest |x| (and overflow when the logits are not finite). */
int sgd_net_loss_grad(sgd_net *net, const float *x, const float *buffers, int mode,
                      sgd_data_loader *L, uint64_t epoch, size_t first, size_t k,
                      double *loss, double *grad, double *acc);

/* ---- training ---------------------------------------------------------- */
/* One SGD step, PyTorch semantics: d = g + wd*x; m = mu*m + d; x -= lr*m
 * (mu = 0: x -= lr*d; m may then be NULL). Elementwise float32. */
void sgd_nn_sgd_step(float *x, const float *g, float *m, size_t p, double lr, double mu, double wd);

#define SGD_LR_MAX_POINTS 32
typedef struct sgd_lr_schedule {
    enum { SGD_LR_CONST = 0, SGD_LR_STEP = 1, SGD_LR_EXP = 2, SGD_LR_LIST = 3 } kind;
    double base;        /* LR at epoch 0 (CONST, STEP, EXP) */
    double factor;      /* EXP: LR = base * factor^epoch */
    int npoints;        /* STEP/LIST: LR = value of the last point with epoch <= e */
    int epoch[SGD_LR_MAX_POINTS];
    double lr[SGD_LR_MAX_POINTS];
} sgd_lr_schedule;

/* Parse "const", "step" (base, base/10 at 50%, base/100 at 75% of the epochs:
 * 0.1 / 0.01 at 150 / 0.001 at 225 of 300), "exp[:F]" (F = 0.99 default),
 * or "list:E:LR,E:LR,..." (first epoch must be 0). */
int sgd_lr_schedule_parse(const char *s, double base, int epochs, sgd_lr_schedule *out);
double sgd_lr_at(const sgd_lr_schedule *s, int epoch);

typedef struct sgd_train_config {
    const char *spec;            /* model spec */
    const char *data;            /* data spec (data.h); for the manifest */
    const sgd_dataset *train;    /* training images (borrowed) */
    const sgd_dataset *val;      /* validation/test images, may be NULL */
    sgd_data_loader_opts aug;    /* crop/flip/normalize for training batches;
                                  * batch, seed, shuffle are set from below */
    uint64_t seed;               /* init, shuffle, augmentation */
    int epochs;
    size_t batch;                /* 128 */
    double momentum;             /* 0.9; 0 = off */
    double weight_decay;         /* 1e-4; 0 = off */
    sgd_lr_schedule lr;
    int threads;                 /* for the manifest; the caller sets OpenMP */
    int save_every_x;            /* 1: keep x at every epoch start (x/x_EEEE.npy) */
    const float *x0;             /* optional initial weights ... */
    size_t x0_count;             /* ... and their number, which must be the network's p */
    const char *x0_name;         /* where x0 came from, for messages (NULL: "initial weights") */
    const float *buf0;           /* optional initial BN buffers */
    const float *m0;             /* optional initial momentum (p values; needs momentum > 0):
                                  * a run that continues another's SGD state (branch) */
    int quiet;                   /* 1: no progress line */
    /* optional: called after every step with (batches done, batches of the
     * run), counting from epoch 0, in place of the progress line */
    void (*progress)(void *ctx, double done, double total);
    void *progress_ctx;
    /* optional: polled at every epoch start once its checkpoint is written;
     * nonzero stops the run there (SGD_EINVAL "interrupted"), resumable */
    int (*stop)(void *ctx);
    void *stop_ctx;
    int argc; char **argv;       /* for the manifest */
    /* 1: under MPI (dist.h) every rank of the job calls sgd_train_run and
     * the batches are split over them (data-parallel; the same bits as
     * one process; rank 0 alone writes dir). 0: this process trains alone
     * (the callers inside split experiments). */
    int split;
} sgd_train_config;

void sgd_train_defaults(sgd_train_config *c);

/* Train into run directory `dir`. A new run is written into dir.partial and
 * renamed to dir when it ends; one that fails before its first checkpoint
 * leaves nothing, one that fails later is renamed to dir with its last
 * checkpoint, and a killed one stays in dir.partial. With resume = 1 the
 * checkpoint in dir.partial, else in dir, is continued bit-identically (in
 * place); no checkpoint, or one whose files do not match the sizes and
 * CRC32s in its state.json, is an error. Writes manifest.json, layout.json,
 * train.csv (one row per epoch), checkpoint/{x,momentum,buffers}_EEEEEE.npy
 * + checkpoint/state.json at every epoch start, x/x_EEEE.npy
 * (save_every_x), final x.npy, buffers.npy, summary.json. All memory is
 * allocated before anything is written. A NaN/Inf loss or gradient stops
 * with SGD_EDIVERGED naming the epoch and step; the last good checkpoint
 * stays. */
int sgd_train_run(const sgd_train_config *c, const char *dir, int resume);

/* ---- the data of a training run, as `train` loads it -------------------- */
typedef struct sgd_train_data_spec {
    const char *data;         /* data set spec (data.h) */
    size_t val;               /* V > 0: hold out V training images as validation (else the test split) */
    size_t subset;            /* train on the first K images (0: all) */
    size_t val_subset;        /* validate on the first K images (0: all) */
    int crop, flip;           /* -1: 4 px and on for 3x32x32 inputs, else off */
    int normalize;            /* 1: per-channel mean/std of the training split; 0: none */
} sgd_train_data_spec;

typedef struct sgd_train_data {
    sgd_dataset train, val;
    int have_val;             /* 0 only for an npy spec without a test split (and no V) */
    sgd_data_loader_opts aug; /* crop, flip, normalisation: sgd_train_config.aug */
} sgd_train_data;

/* Loads the splits (one read of the training files when V > 0) and resolves
 * crop, flip and normalisation. On failure *d is empty. */
int sgd_train_data_load(const sgd_train_data_spec *s, sgd_train_data *d);
/* Points c->train, c->val, c->aug and c->data at d (borrowed: d outlives the run). */
void sgd_train_config_data(sgd_train_config *c, const sgd_train_data *d, const char *data_spec);
void sgd_train_data_free(sgd_train_data *d);

/* ---- f(x) and grad f(x) at given weights (`sgdscape grad`) ---------------- */
typedef struct sgd_grad_config {
    const char *model;        /* network spec (required) */
    const char *weights;      /* x: float32 .npy of p values (required) */
    const char *buffers;      /* BN running statistics .npy (NULL: none; needed with eval) */
    const char *data;         /* data set spec ("fashion-mnist"); the training split */
    size_t batches;           /* K batches from `first` (1; 0 = all from first) */
    size_t first;             /* first batch (0) */
    size_t batch;             /* batch size (128) */
    size_t subset;            /* the first K training images (0: all) */
    uint64_t epoch;           /* whose shuffle (0) */
    uint64_t seed;            /* of the shuffle (1) */
    int classes;              /* 0: the labels' */
    int eval;                 /* 1: BN running statistics; 0: batch statistics */
    int normalize;            /* 1: the split's per-channel mean/std */
    int threads;              /* for the manifest */
    int argc; char **argv;    /* for the manifest */
} sgd_grad_config;

typedef struct sgd_grad_result {
    size_t p, batches;        /* parameters; batches averaged */
    double loss, accuracy, grad_norm;
    double *grad;             /* p values */
} sgd_grad_result;

void sgd_grad_defaults(sgd_grad_config *c);
/* Reads the weights, buffers and data, checks them against the network,
 * and computes f and grad f (sgd_net_loss_grad). */
int sgd_grad_run(const sgd_grad_config *c, sgd_grad_result *r);
/* grad.npy (float64), summary.json, manifest.json into dir. */
int sgd_grad_write(const char *dir, const sgd_grad_config *c, const sgd_grad_result *r);
void sgd_grad_result_free(sgd_grad_result *r);

#ifdef __cplusplus
}
#endif
#endif
