/* IDX files (MNIST, Fashion-MNIST): a 4-byte magic 00 00 TYPE NDIM, NDIM
 * big-endian uint32 dimensions, then the elements in row-major order. */
#include "data_internal.h"
#include "sgdscape/error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Read the magic and dimensions; want_ndim is what the caller accepts. */
static int idx_header(dat_file *f, int want_ndim, const char *what, uint32_t *dims)
{
    uint8_t m[4];
    int rc = dat_read(f, m, 4, "IDX magic");
    if (rc) return rc;
    if (m[0] != 0 || m[1] != 0)
        return sgd_error(SGD_EFORMAT, "%s: bad IDX magic 0x%02x%02x%02x%02x (not an IDX %s file)", f->path, m[0],
                         m[1], m[2], m[3], what);
    if (m[2] != 0x08)
        return sgd_error(SGD_EFORMAT, "%s: IDX element type 0x%02x unsupported (need 0x08, unsigned byte)",
                         f->path, m[2]);
    if (m[3] != want_ndim)
        return sgd_error(SGD_EFORMAT, "%s: IDX %s need %d dimensions, header says %d", f->path, what, want_ndim,
                         m[3]);
    uint8_t b[12];
    rc = dat_read(f, b, (size_t)want_ndim * 4, "IDX dimensions");
    if (rc) return rc;
    for (int i = 0; i < want_ndim; i++) dims[i] = be32(b + 4 * i);
    return SGD_OK;
}

int sgd_data_load_idx(const char *images_path, const char *labels_path, sgd_dataset *out)
{
    memset(out, 0, sizeof *out);
    dat_file fi, fl;
    uint32_t di[3] = {0, 0, 0}, dl[1] = {0};
    uint8_t *px = NULL, *lab = NULL;
    int rc = dat_open(&fi, images_path);
    if (rc) return rc;
    rc = idx_header(&fi, 3, "images", di);
    if (rc) goto fail_i;
    if (di[0] == 0) { rc = sgd_error(SGD_EFORMAT, "%s: IDX image count is 0", images_path); goto fail_i; }
    if (di[1] == 0 || di[2] == 0 || di[1] > INT_MAX || di[2] > INT_MAX) {
        rc = sgd_error(SGD_EFORMAT, "%s: IDX image size %ux%u invalid", images_path, di[1], di[2]);
        goto fail_i;
    }
    size_t total = di[0];
    if (!dat_mul(&total, di[1]) || !dat_mul(&total, di[2]) || (size_t)di[1] * di[2] > INT_MAX) {
        rc = sgd_error(SGD_EFORMAT, "%s: IDX dimensions %ux%ux%u overflow", images_path, di[0], di[1], di[2]);
        goto fail_i;
    }
    rc = dat_read_alloc(&fi, total, "IDX pixel data", &px);
    if (rc) goto fail_i;
    rc = dat_expect_eof(&fi);
    if (rc) goto fail_i;
    dat_close(&fi);

    rc = dat_open(&fl, labels_path);
    if (rc) goto fail;
    rc = idx_header(&fl, 1, "labels", dl);
    if (rc) goto fail_l;
    if (dl[0] != di[0]) {
        rc = sgd_error(SGD_EFORMAT, "%s: IDX label count %u differs from image count %u in %s", labels_path,
                       dl[0], di[0], images_path);
        goto fail_l;
    }
    rc = dat_read_alloc(&fl, dl[0], "IDX labels", &lab);
    if (rc) goto fail_l;
    rc = dat_expect_eof(&fl);
    if (rc) goto fail_l;
    dat_close(&fl);

    /* Adopt the pixel buffer: IDX rows are already (N,H,W) = NCHW with C=1. */
    out->n = di[0];
    out->c = 1;
    out->h = (int)di[1];
    out->w = (int)di[2];
    out->storage = SGD_DATA_U8;
    out->u8 = px;
    out->labels = malloc(out->n * sizeof(int32_t));
    if (!out->labels) {
        free(lab);
        sgd_data_free(out);
        return sgd_error(SGD_ENOMEM, "%s: out of memory for labels", labels_path);
    }
    int maxl = 0;
    for (size_t i = 0; i < out->n; i++) {
        out->labels[i] = lab[i];
        if (lab[i] > maxl) maxl = lab[i];
    }
    free(lab);
    out->classes = maxl + 1;
    snprintf(out->name, sizeof out->name, "idx:%s", images_path);
    return SGD_OK;

fail_l:
    dat_close(&fl);
    goto fail;
fail_i:
    dat_close(&fi);
fail:
    free(px);
    free(lab);
    memset(out, 0, sizeof *out);
    return rc;
}
