/* CIFAR-10 / CIFAR-100 binary version: fixed-size records of label byte(s)
 * followed by 3x32x32 pixels, channel-major (already CHW). */
#include "data_internal.h"
#include "sgdscape/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CIFAR_PIX 3072
/* A CIFAR file larger than this is not a CIFAR file (real ones are 30 MB-150 MB). */
#define CIFAR_MAX_BYTES ((size_t)1 << 34)

int sgd_data_load_cifar(const char *const *paths, int npaths, int cifar100, sgd_dataset *out)
{
    memset(out, 0, sizeof *out);
    if (npaths < 1) return sgd_error(SGD_EINVAL, "cifar: no files given");
    const size_t rec = (cifar100 ? 2 : 1) + CIFAR_PIX;
    const int classes = cifar100 ? 100 : 10;
    const char *kind = cifar100 ? "CIFAR-100" : "CIFAR-10";
    uint8_t **bufs = calloc((size_t)npaths, sizeof *bufs);
    size_t *counts = calloc((size_t)npaths, sizeof *counts);
    int rc = SGD_OK;
    if (!bufs || !counts) { rc = sgd_error(SGD_ENOMEM, "cifar: out of memory"); goto done; }
    size_t total = 0;
    for (int k = 0; k < npaths && !rc; k++) {
        dat_file f;
        size_t len;
        rc = dat_open(&f, paths[k]);
        if (rc) break;
        rc = dat_read_rest(&f, CIFAR_MAX_BYTES, &bufs[k], &len);
        dat_close(&f);
        if (rc) break;
        if (len == 0 || len % rec) {
            rc = sgd_error(SGD_EFORMAT, "%s: size %zu bytes is not a positive multiple of the %zu-byte %s record%s",
                           paths[k], len, rec, kind, len % rec ? " (truncated or wrong format)" : "");
            break;
        }
        counts[k] = len / rec;
        for (size_t i = 0; i < counts[k]; i++) {
            const uint8_t *r = bufs[k] + i * rec;
            if (cifar100 && r[0] >= 20) {
                rc = sgd_error(SGD_EFORMAT, "%s: record %zu: coarse label %d out of range [0,20)", paths[k], i, r[0]);
                break;
            }
            int lab = r[rec - CIFAR_PIX - 1];
            if (lab >= classes) {
                rc = sgd_error(SGD_EFORMAT, "%s: record %zu: label %d out of range [0,%d)", paths[k], i, lab,
                               classes);
                break;
            }
        }
        total += counts[k];
    }
    if (rc) goto done;
    rc = dat_alloc(out, total, 3, 32, 32, SGD_DATA_U8, kind);
    if (rc) goto done;
    out->classes = classes;
    size_t j = 0;
    for (int k = 0; k < npaths; k++)
        for (size_t i = 0; i < counts[k]; i++, j++) {
            const uint8_t *r = bufs[k] + i * rec;
            out->labels[j] = r[rec - CIFAR_PIX - 1];  /* the fine label for CIFAR-100 */
            memcpy(out->u8 + j * CIFAR_PIX, r + rec - CIFAR_PIX, CIFAR_PIX);
        }
done:
    if (bufs)
        for (int k = 0; k < npaths; k++) free(bufs[k]);
    free(bufs);
    free(counts);
    if (rc) sgd_data_free(out);
    return rc;
}
