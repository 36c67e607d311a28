/* .npy format 1.0/2.0 reader and 1.0 writer (little-endian hosts). */
#include "sgdscape/io.h"
#include "sgdscape/error.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *descr(sgd_npy_dtype t)
{
    switch (t) {
    case SGD_NPY_F64: return "<f8";
    case SGD_NPY_F32: return "<f4";
    case SGD_NPY_U8: return "|u1";
    case SGD_NPY_I64: return "<i8";
    case SGD_NPY_I32: return "<i4";
    }
    return "?";
}

size_t sgd_npy_itemsize(sgd_npy_dtype t)
{
    switch (t) {
    case SGD_NPY_F64: case SGD_NPY_I64: return 8;
    case SGD_NPY_F32: case SGD_NPY_I32: return 4;
    case SGD_NPY_U8: return 1;
    }
    return 0;
}

int sgd_npy_write(const char *path, sgd_npy_dtype t, const void *data, int ndim, const size_t *shape)
{
    char hdr[512], shp[256] = "";
    size_t count = 1, off = 0;
    /* at most 8 dimensions of <= 20 digits: the header always fits hdr */
    if (ndim < 0 || ndim > 8) return sgd_error(SGD_EINVAL, "%s: %d dimensions (at most 8)", path, ndim);
    for (int i = 0; i < ndim; i++) {
        off += (size_t)snprintf(shp + off, sizeof shp - off, "%zu%s", shape[i],
                                (ndim == 1 || i < ndim - 1) ? "," : "");
        if (i < ndim - 1) off += (size_t)snprintf(shp + off, sizeof shp - off, " ");
        count *= shape[i];
    }
    int n = snprintf(hdr + 10, sizeof hdr - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     descr(t), shp);
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    memset(hdr + 10 + n, ' ', pad);
    hdr[10 + n + pad] = '\n';
    size_t hlen = (size_t)n + pad + 1;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    size_t bytes = count * sgd_npy_itemsize(t);
    errno = 0;
    if (fwrite(hdr, 1, 10 + hlen, af.fp) != 10 + hlen ||
        (bytes && fwrite(data, 1, bytes, af.fp) != bytes)) {
        int e = errno ? errno : EIO;
        sgd_afile_abort(&af);
        return sgd_error(SGD_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return sgd_afile_commit(&af);
}

static int bad(const char *path, const char *why)
{
    return sgd_error(SGD_EFORMAT, "%s: not a valid .npy file: %s", path, why);
}

int sgd_npy_read(const char *path, sgd_npy *out)
{
    memset(out, 0, sizeof *out);
    char *buf;
    size_t n;
    int rc = sgd_read_file(path, &buf, &n);
    if (rc) return rc;
    if (n < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) { free(buf); return bad(path, "bad magic"); }
    int major = (unsigned char)buf[6];
    size_t hlen, hoff;
    if (major == 1) { hlen = (unsigned char)buf[8] | ((size_t)(unsigned char)buf[9] << 8); hoff = 10; }
    else if (major == 2 || major == 3) {
        if (n < 12) { free(buf); return bad(path, "truncated header"); }
        hlen = (unsigned char)buf[8] | ((size_t)(unsigned char)buf[9] << 8) |
               ((size_t)(unsigned char)buf[10] << 16) | ((size_t)(unsigned char)buf[11] << 24);
        hoff = 12;
    } else { free(buf); return bad(path, "unknown version"); }
    if (hoff + hlen > n) { free(buf); return bad(path, "truncated header"); }
    char *h = malloc(hlen + 1);
    if (!h) {
        free(buf);
        return sgd_error(SGD_ENOMEM, "%s: out of memory", path);
    }
    memcpy(h, buf + hoff, hlen);
    h[hlen] = '\0';
    const char *d = strstr(h, "'descr'");
    const char *fo = strstr(h, "'fortran_order'");
    const char *sh = strstr(h, "'shape'");
    if (!d || !fo || !sh) { free(h); free(buf); return bad(path, "header lacks descr/fortran_order/shape"); }
    d = strchr(d + 7, '\'');
    if (!d) { free(h); free(buf); return bad(path, "bad descr"); }
    d++;
    static const struct { const char *s; sgd_npy_dtype t; } types[] = {
        {"<f8'", SGD_NPY_F64}, {"<f4'", SGD_NPY_F32}, {"|u1'", SGD_NPY_U8}, {"<u1'", SGD_NPY_U8},
        {"<i8'", SGD_NPY_I64}, {"<i4'", SGD_NPY_I32}};
    int found = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strncmp(d, types[i].s, strlen(types[i].s)) == 0) { out->dtype = types[i].t; found = 1; }
    if (!found) { free(h); free(buf); return bad(path, "unsupported dtype (want f8, f4, u1, i8 or i4)"); }
    out->fortran_order = strstr(fo, "True") && strstr(fo, "True") < sh ? 1 : 0;
    const char *p = strchr(sh, '(');
    if (!p) { free(h); free(buf); return bad(path, "bad shape"); }
    p++;
    out->ndim = 0;
    size_t count = 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || out->ndim >= 8) { free(h); free(buf); return bad(path, "bad shape"); }
        if (v && count > SIZE_MAX / v) { free(h); free(buf); return bad(path, "shape overflows"); }
        out->shape[out->ndim++] = (size_t)v;
        count *= (size_t)v;
        p = end;
    }
    free(h);
    size_t isz = sgd_npy_itemsize(out->dtype);
    if (count > SIZE_MAX / isz) { free(buf); return bad(path, "shape overflows"); }
    size_t bytes = count * isz;
    if (n - hoff - hlen < bytes) { free(buf); return bad(path, "truncated data"); }
    if (n - hoff - hlen > bytes) { free(buf); return bad(path, "trailing bytes after data"); }
    out->count = count;
    /* the payload moves to the front of the file's buffer: no second copy
     * (peak memory was twice the file) */
    memmove(buf, buf + hoff + hlen, bytes);
    out->data = buf;
    return SGD_OK;
}

void sgd_npy_free(sgd_npy *a)
{
    free(a->data);
    a->data = NULL;
}
