/* Image data sets for the network experiments: loaders (IDX, CIFAR binary,
 * .npy pairs), train/validation splits, per-channel normalization, random
 * crop + flip augmentation and deterministic batch production.
 *
 * Storage: images are kept per image in C,H,W order (NCHW for the whole set)
 * whatever the file layout was, either as uint8 (0..255) or float32.
 * A uint8 pixel p is presented to the network as p/255 (the torchvision
 * ToTensor convention), so means/stds of uint8 data are on the [0,1] scale.
 *
 * Determinism: shuffling and augmentation are pure functions of
 * (seed, epoch, image index) through the Philox streams in rng.h, so a batch
 * is bit-identical for any number of threads and any batch size split.
 *   shuffle of epoch e:  Fisher-Yates, for i = n-1 .. 1:
 *       j = sgd_rng_below(seed, SGD_RNG_SHUFFLE, 0, e, i, i+1); swap(i, j)
 *   augmentation of image k (its index in the data set) at epoch e, pad P:
 *       dy   = sgd_rng_below(seed, SGD_RNG_AUGMENT, k, e, 0, 2P+1)
 *       dx   = sgd_rng_below(seed, SGD_RNG_AUGMENT, k, e, 1, 2P+1)
 *       flip = sgd_rng_below(seed, SGD_RNG_AUGMENT, k, e, 2, 2)
 *     output pixel (y, x) = padded input (y + dy, x' + dx) where the padded
 *     image has P zero pixels on every side and x' = W-1-x if flip else x.
 *     (The crop is taken first, then flipped, as torchvision's
 *     RandomCrop -> RandomHorizontalFlip; padding is zero in raw pixel units,
 *     so after normalization a padded pixel reads -mean/std.)
 *   random validation split: the permutation of stream 1, step 0 of
 *     SGD_RNG_SHUFFLE (same Fisher-Yates); its last V entries, sorted, are
 *     the validation images.
 *
 * Errors follow error.h: SGD_EIO (missing/unreadable file), SGD_EFORMAT
 * (malformed or truncated file; the message names the file and field),
 * SGD_EINVAL (bad options), SGD_EPARSE (bad spec), SGD_ENOMEM. */
#ifndef SGDSCAPE_DATA_H
#define SGDSCAPE_DATA_H

/* every function here returns or sets an SGD_* code; sgd_errmsg() says why */
#include "sgdscape/error.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SGD_DATA_MAX_CHANNELS 16
#define SGD_DATA_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
/* Most classes a data set may have (the network engine's limit too): a label
 * file whose largest label implies more is refused rather than allocated for. */
#define SGD_DATA_MAX_CLASSES 1000000

enum { SGD_DATA_U8 = 0, SGD_DATA_F32 = 1 };              /* sgd_dataset.storage */
enum { SGD_DATA_TRAIN = 0, SGD_DATA_TEST = 1, SGD_DATA_VAL = 2 }; /* split */
enum { SGD_DATA_LAYOUT_AUTO = 0, SGD_DATA_NHWC = 1, SGD_DATA_NCHW = 2 };

typedef struct sgd_dataset {
    size_t n;          /* number of images */
    int c, h, w;       /* channels, height, width */
    int classes;       /* labels lie in [0, classes) */
    int storage;       /* SGD_DATA_U8 or SGD_DATA_F32 */
    uint8_t *u8;       /* n*c*h*w pixels (storage U8), else NULL */
    float *f32;        /* n*c*h*w values (storage F32), else NULL */
    int32_t *labels;   /* n labels */
    char name[128];    /* e.g. "fashion-mnist/train" (for messages, manifests) */
} sgd_dataset;

/* Options of sgd_data_load. Zero-initialise for the defaults. */
typedef struct sgd_data_opts {
    int layout;        /* npy X layout: SGD_DATA_LAYOUT_AUTO (guess), NHWC, NCHW */
    int classes;       /* npy: number of classes; 0 = max label + 1.
                        * A label >= classes is an SGD_EFORMAT error. */
    size_t val;        /* V: images of train held out for validation (0: none) */
    int val_random;    /* 0: the last V images of train; 1: random from val_seed */
    uint64_t val_seed;
    size_t subset;     /* keep only the first K images of the chosen split (0: all) */
    int min_classes;   /* npy: refuse labels that give fewer classes (a classifier
                        * needs 2); 0: no check */
} sgd_data_opts;

/* Load split (SGD_DATA_TRAIN / TEST / VAL) of a data set named by spec:
 *   fashion-mnist[:DIR]   IDX files (default DIR SGD_DATA_FASHION_MNIST_DIR)
 *   mnist:DIR             IDX files train-images-idx3-ubyte[.gz] ...
 *   cifar10:DIR           data_batch_1..5.bin, test_batch.bin
 *                         (in DIR or DIR/cifar-10-batches-bin)
 *   cifar100:DIR          train.bin, test.bin (in DIR or DIR/cifar-100-binary)
 *   npy:X.npy,y.npy[,Xtest.npy,ytest.npy]
 * With opt->val = V > 0, TRAIN is the training set less the V validation
 * images and VAL the V images. opt may be NULL. On failure *out is empty. */
int sgd_data_load(const char *spec, int split, const sgd_data_opts *opt, sgd_dataset *out);
/* Does the spec name a test split? IDX and CIFAR sets always do, npy only
 * with four files. A spec with one whose files are missing or damaged must
 * fail to load, not pass for a set without a test split. */
int sgd_data_has_test(const char *spec);
/* TRAIN and VAL at once (opt->val > 0), from one read of the files: tr
 * keeps opt->subset images (0: all), va val_subset (0: all). */
int sgd_data_load_train_val(const char *spec, const sgd_data_opts *opt, size_t val_subset, sgd_dataset *tr,
                            sgd_dataset *va);

/* Format readers (a file is gzip-compressed or not: detected by its magic). */
int sgd_data_load_idx(const char *images_path, const char *labels_path, sgd_dataset *out);
/* CIFAR binary records: 1 label byte (cifar100 = 0) or coarse+fine label
 * bytes (cifar100 = 1, the fine label is used) then 3072 bytes 3x32x32. */
int sgd_data_load_cifar(const char *const *paths, int npaths, int cifar100, sgd_dataset *out);
/* X: uint8 or float32 of shape (N,H,W,C) / (N,C,H,W) (or (N,H,W): C=1);
 * y: int64, int32 or uint8 of shape (N). classes as in sgd_data_opts (at
 * most SGD_DATA_MAX_CLASSES, given or inferred). */
int sgd_data_load_npy(const char *x_path, const char *y_path, int layout, int classes,
                      sgd_dataset *out);

void sgd_data_free(sgd_dataset *d);

/* out = images idx[0..m) of src (copies; indices must be < src->n). */
int sgd_data_take(const sgd_dataset *src, const size_t *idx, size_t m, sgd_dataset *out);
/* Split src into train (n - v images) and val (v images): the last v, or a
 * random split from seed (see top). Either output may be NULL. */
int sgd_data_split(const sgd_dataset *src, size_t v, int random, uint64_t seed,
                   sgd_dataset *train, sgd_dataset *val);
/* Keep only the first k images (k >= n: no-op). */
void sgd_data_truncate(sgd_dataset *d, size_t k);

/* Per-channel mean and (population) standard deviation of the values as
 * presented to the network (uint8 scaled by 1/255). mean, std: c entries. */
int sgd_data_channel_stats(const sgd_dataset *d, double *mean, double *std);

/* The permutation of epoch `epoch` (see top): perm[0..n). */
void sgd_data_shuffle(uint64_t seed, uint64_t epoch, size_t n, size_t *perm);
/* The augmentation draw of image k at epoch (see top). */
void sgd_data_augment_draw(uint64_t seed, uint64_t epoch, size_t k, int pad,
                           int *dy, int *dx, int *flip);

/* ---- batch production -------------------------------------------------- */
typedef struct sgd_data_loader_opts {
    size_t batch;      /* B (> 0) */
    int drop_last;     /* 1: drop the last partial batch */
    int shuffle;       /* 1: a fresh permutation per epoch; 0: data-set order */
    int crop_pad;      /* P: random crop with P-px zero padding (0: off; CIFAR: 4) */
    int flip;          /* 1: random horizontal flip */
    int normalize;     /* 1: (v - mean[c]) / std[c] */
    double mean[SGD_DATA_MAX_CHANNELS], std[SGD_DATA_MAX_CHANNELS];
    uint64_t seed;
} sgd_data_loader_opts;

typedef struct sgd_data_loader {
    const sgd_dataset *d;   /* borrowed: must outlive the loader */
    sgd_data_loader_opts o;
    size_t *perm;           /* permutation of perm_epoch */
    uint64_t perm_epoch;
    int perm_valid;
    float *lut;             /* uint8 -> float per channel (c*256) */
} sgd_data_loader;

/* Validates options (std > 0, c <= SGD_DATA_MAX_CHANNELS, pad < h and w). */
int sgd_data_loader_init(sgd_data_loader *L, const sgd_dataset *d, const sgd_data_loader_opts *o);
/* Number of batches per epoch. */
size_t sgd_data_loader_batches(const sgd_data_loader *L);
/* Fill x (float32 NCHW, B*c*h*w) and y (B labels) with batch b of epoch
 * `epoch`; *count = images in the batch (B, or fewer for the last partial
 * batch; the rest of x/y is left untouched). OpenMP-parallel inside,
 * bit-identical for any thread count. Not re-entrant on one loader (it
 * caches the epoch's permutation); use one loader per thread otherwise. */
int sgd_data_loader_batch(sgd_data_loader *L, uint64_t epoch, size_t b, float *x, int32_t *y,
                          size_t *count);
void sgd_data_loader_free(sgd_data_loader *L);

/* Convenience: fill a loader's mean/std from d's channel statistics
 * (call with the training split) and set normalize = 1. */
int sgd_data_loader_opts_normalize_from(sgd_data_loader_opts *o, const sgd_dataset *d);

#ifdef __cplusplus
}
#endif
#endif
