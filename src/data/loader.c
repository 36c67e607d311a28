/* Batch production: shuffle, random crop + flip, normalization, into a
 * float32 NCHW buffer. Every image is a pure function of (seed, epoch, its
 * index), so the OpenMP split cannot change a single bit. */
#include "data_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sgd_data_augment_draw(uint64_t seed, uint64_t epoch, size_t k, int pad, int *dy, int *dx, int *flip)
{
    uint64_t m = (uint64_t)(2 * (pad > 0 ? pad : 0) + 1);
    *dy = pad > 0 ? (int)sgd_rng_below(seed, SGD_RNG_AUGMENT, k, epoch, 0, m) : 0;
    *dx = pad > 0 ? (int)sgd_rng_below(seed, SGD_RNG_AUGMENT, k, epoch, 1, m) : 0;
    *flip = (int)sgd_rng_below(seed, SGD_RNG_AUGMENT, k, epoch, 2, 2);
}

int sgd_data_loader_opts_normalize_from(sgd_data_loader_opts *o, const sgd_dataset *d)
{
    if (d->c > SGD_DATA_MAX_CHANNELS)
        return sgd_error(SGD_EINVAL, "%s: %d channels (at most %d supported)", d->name, d->c, SGD_DATA_MAX_CHANNELS);
    int rc = sgd_data_channel_stats(d, o->mean, o->std);
    if (rc) return rc;
    for (int c = 0; c < d->c; c++)
        if (!(o->std[c] > 0)) o->std[c] = 1.0;  /* a constant channel: only centre it */
    o->normalize = 1;
    return SGD_OK;
}

int sgd_data_loader_init(sgd_data_loader *L, const sgd_dataset *d, const sgd_data_loader_opts *o)
{
    memset(L, 0, sizeof *L);
    if (o->batch == 0) return sgd_error(SGD_EINVAL, "%s: batch size must be positive", d->name);
    if (d->n == 0) return sgd_error(SGD_EINVAL, "%s: empty data set", d->name);
    if (d->c < 1 || d->c > SGD_DATA_MAX_CHANNELS)
        return sgd_error(SGD_EINVAL, "%s: %d channels (1 to %d supported)", d->name, d->c, SGD_DATA_MAX_CHANNELS);
    if (o->crop_pad < 0 || o->crop_pad >= d->h || o->crop_pad >= d->w)
        return sgd_error(SGD_EINVAL, "%s: crop padding %d invalid for %dx%d images", d->name, o->crop_pad, d->h, d->w);
    if (o->normalize)
        for (int c = 0; c < d->c; c++)
            if (!(o->std[c] > 0) || !isfinite(o->std[c]) || !isfinite(o->mean[c]))
                return sgd_error(SGD_EINVAL, "%s: channel %d: normalization needs finite mean and std > 0", d->name, c);
    L->d = d;
    L->o = *o;
    if (o->shuffle) {
        L->perm = malloc(d->n * sizeof *L->perm);
        if (!L->perm) return sgd_error(SGD_ENOMEM, "%s: out of memory for the shuffle", d->name);
    }
    if (d->storage == SGD_DATA_U8) {
        /* 256 values per channel: a table makes conversion one load, and is
         * computed once in double so every path rounds the same way. */
        L->lut = malloc((size_t)d->c * 256 * sizeof *L->lut);
        if (!L->lut) {
            free(L->perm);
            L->perm = NULL;
            return sgd_error(SGD_ENOMEM, "%s: out of memory", d->name);
        }
        for (int c = 0; c < d->c; c++)
            for (int p = 0; p < 256; p++) {
                double v = p / 255.0;
                if (o->normalize) v = (v - o->mean[c]) / o->std[c];
                L->lut[c * 256 + p] = (float)v;
            }
    }
    return SGD_OK;
}

size_t sgd_data_loader_batches(const sgd_data_loader *L)
{
    size_t n = L->d->n, B = L->o.batch;
    return L->o.drop_last ? n / B : (n + B - 1) / B;
}

void sgd_data_loader_free(sgd_data_loader *L)
{
    free(L->perm);
    free(L->lut);
    memset(L, 0, sizeof *L);
}

/* One image k into dst (c*h*w floats). */
static void render(const sgd_data_loader *L, uint64_t epoch, size_t k, float *dst)
{
    const sgd_dataset *d = L->d;
    const int C = d->c, H = d->h, W = d->w, P = L->o.crop_pad;
    int dy = 0, dx = 0, flip = 0;
    if (P > 0 || L->o.flip) {
        sgd_data_augment_draw(L->o.seed, epoch, k, P, &dy, &dx, &flip);
        if (!L->o.flip) flip = 0;
    }
    const size_t hw = (size_t)H * W;
    for (int c = 0; c < C; c++) {
        float *out = dst + (size_t)c * hw;
        float padv;
        const uint8_t *su = NULL;
        const float *sf = NULL;
        const float *lut = NULL;
        double mean = 0, std = 1;
        if (L->o.normalize) {
            mean = L->o.mean[c];
            std = L->o.std[c];
        }
        if (d->storage == SGD_DATA_U8) {
            su = d->u8 + (k * C + c) * hw;
            lut = L->lut + c * 256;
            padv = lut[0];
        } else {
            sf = d->f32 + (k * C + c) * hw;
            padv = (float)((0.0 - mean) / std);
        }
        /* Output column x reads source column x + off, or W-1-x + off when
         * flipped; [lo, hi) is where that lies inside the image. Splitting
         * the row keeps the inner loops free of bounds tests. */
        const int off = dx - P;
        const int lo = flip ? (off > 0 ? off : 0) : (off < 0 ? -off : 0);
        const int hi = flip ? (off < 0 ? W + off : W) : (off > 0 ? W - off : W);
        for (int y = 0; y < H; y++) {
            int sy = y + dy - P;
            float *row = out + (size_t)y * W;
            if (sy < 0 || sy >= H || lo >= hi) {
                for (int x = 0; x < W; x++) row[x] = padv;
                continue;
            }
            for (int x = 0; x < lo; x++) row[x] = padv;
            for (int x = hi; x < W; x++) row[x] = padv;
            if (su) {
                const uint8_t *r = su + (size_t)sy * W;
                if (flip)
                    for (int x = lo; x < hi; x++) row[x] = lut[r[W - 1 - x + off]];
                else
                    for (int x = lo; x < hi; x++) row[x] = lut[r[x + off]];
            } else {
                const float *r = sf + (size_t)sy * W;
                for (int x = lo; x < hi; x++) {
                    float v = r[flip ? W - 1 - x + off : x + off];
                    row[x] = L->o.normalize ? (float)(((double)v - mean) / std) : v;
                }
            }
        }
    }
}

int sgd_data_loader_batch(sgd_data_loader *L, uint64_t epoch, size_t b, float *x, int32_t *y, size_t *count)
{
    const sgd_dataset *d = L->d;
    if (!d) return sgd_error(SGD_EINVAL, "data loader not initialised");
    size_t nb = sgd_data_loader_batches(L), B = L->o.batch;
    if (b >= nb)
        return sgd_error(SGD_EINVAL, "%s: batch %zu out of range (%zu batches per epoch)", d->name, b, nb);
    size_t start = b * B, cnt = d->n - start < B ? d->n - start : B;
    if (L->o.shuffle && (!L->perm_valid || L->perm_epoch != epoch)) {
        sgd_data_shuffle(L->o.seed, epoch, d->n, L->perm);
        L->perm_epoch = epoch;
        L->perm_valid = 1;
    }
    const size_t chw = (size_t)d->c * d->h * d->w;
    const long long m = (long long)cnt;
    /* Threads only pay off beyond a few thousand pixels. */
#pragma omp parallel for schedule(static) if (cnt * chw >= 16384)
    for (long long i = 0; i < m; i++) {
        size_t k = L->o.shuffle ? L->perm[start + (size_t)i] : start + (size_t)i;
        render(L, epoch, k, x + (size_t)i * chw);
        y[i] = d->labels[k];
    }
    if (count) *count = cnt;
    return SGD_OK;
}
