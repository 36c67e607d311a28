/* Byte-level reading shared by the IDX and CIFAR readers. */
#include "data_internal.h"
#include "sgdscape/error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* gzread takes an unsigned int length: read in chunks well below that. */
#define DAT_CHUNK ((size_t)1 << 26)
/* A compressed stream's size is unknown until it ends: its buffer starts
 * here and doubles, so a small or lying file costs little (the fuzzers feed
 * thousands a second; 64 MiB up front made each cost milliseconds). */
#define DAT_GZ_START ((size_t)1 << 20)

int dat_mul(size_t *acc, size_t v)
{
    if (v && *acc > SIZE_MAX / v) return 0;
    *acc *= v;
    return 1;
}

int dat_open(dat_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    struct stat st;
    if (stat(path, &st) != 0) return sgd_error(SGD_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return sgd_error(SGD_EIO, "%s: not a regular file", path);
    f->fsize = (unsigned long long)st.st_size;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return sgd_error(SGD_EIO, "%s: cannot open: %s", path, errno ? strerror(errno) : "zlib failure");
    return SGD_OK;
}

void dat_close(dat_file *f)
{
    if (f->gz) gzclose(f->gz);
    f->gz = NULL;
}

/* Read up to n bytes; *got = bytes read. Corrupt gzip data is an error. */
static int raw_read(dat_file *f, uint8_t *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < DAT_CHUNK ? n - *got : DAT_CHUNK;
        int r = gzread(f->gz, buf + *got, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f->gz, &zerr);
            return sgd_error(zerr == Z_ERRNO ? SGD_EIO : SGD_EFORMAT, "%s: corrupt gzip data: %s", f->path,
                             zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        *got += (size_t)r;
        f->pos += (unsigned long long)r;
        if ((size_t)r < want) break;
    }
    /* A short read is the end of the data. zlib reports a gzip stream cut
     * before its end (or its CRC/size trailer) only as Z_BUF_ERROR here, not
     * as a failed gzread, so a truncated .gz would otherwise pass. */
    if (*got < n && !gzdirect(f->gz)) {
        int zerr;
        const char *msg = gzerror(f->gz, &zerr);
        if (zerr == Z_BUF_ERROR)
            return sgd_error(SGD_EFORMAT,
                             "%s: truncated gzip file: the compressed stream or its CRC/size trailer is cut short",
                             f->path);
        if (zerr != Z_OK && zerr != Z_STREAM_END)
            return sgd_error(SGD_EFORMAT, "%s: corrupt gzip data: %s", f->path, msg);
    }
    return SGD_OK;
}

int dat_read(dat_file *f, void *buf, size_t n, const char *field)
{
    size_t got;
    int rc = raw_read(f, buf, n, &got);
    if (rc) return rc;
    if (got < n)
        return sgd_error(SGD_EFORMAT, "%s: truncated %s: expected %zu bytes, file ends after %zu", f->path,
                         field, n, got);
    return SGD_OK;
}

int dat_read_alloc(dat_file *f, size_t n, const char *field, uint8_t **out)
{
    *out = NULL;
    size_t cap;
    if (gzdirect(f->gz)) {
        /* Plain file: the remaining size is known, so check before malloc. */
        unsigned long long left = f->fsize > f->pos ? f->fsize - f->pos : 0;
        if ((unsigned long long)n > left)
            return sgd_error(SGD_EFORMAT, "%s: truncated %s: header promises %zu bytes, file has %llu", f->path,
                             field, n, left);
        cap = n;
    } else {
        cap = n < DAT_GZ_START ? n : DAT_GZ_START;
    }
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return sgd_error(SGD_ENOMEM, "%s: out of memory for %s (%zu bytes)", f->path, field, cap);
    size_t have = 0;
    while (have < n) {
        if (have == cap) {
            size_t ncap = cap > n / 2 ? n : 2 * cap;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return sgd_error(SGD_ENOMEM, "%s: out of memory for %s (%zu bytes)", f->path, field, ncap);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got;
        int rc = raw_read(f, buf + have, cap - have, &got);
        if (rc) { free(buf); return rc; }
        have += got;
        if (have < cap) break;  /* short read: end of stream */
    }
    if (have < n) {
        free(buf);
        return sgd_error(SGD_EFORMAT, "%s: truncated %s: expected %zu bytes, file ends after %zu", f->path, field,
                         n, have);
    }
    *out = buf;
    return SGD_OK;
}

int dat_read_rest(dat_file *f, size_t maxn, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = maxn < DAT_GZ_START ? maxn : DAT_GZ_START;
    if (gzdirect(f->gz)) {
        unsigned long long left = f->fsize > f->pos ? f->fsize - f->pos : 0;
        if (left > (unsigned long long)maxn)
            return sgd_error(SGD_EFORMAT, "%s: file too large (%llu bytes)", f->path, left);
        cap = (size_t)left + 1;  /* +1 so EOF is seen without a realloc */
    }
    uint8_t *buf = malloc(cap);
    if (!buf) return sgd_error(SGD_ENOMEM, "%s: out of memory (%zu bytes)", f->path, cap);
    size_t have = 0;
    for (;;) {
        if (have == cap) {
            if (cap >= maxn) {
                free(buf);
                return sgd_error(SGD_EFORMAT, "%s: file too large (over %zu bytes decompressed)", f->path, maxn);
            }
            size_t ncap = cap > maxn / 2 ? maxn : 2 * cap;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) { free(buf); return sgd_error(SGD_ENOMEM, "%s: out of memory (%zu bytes)", f->path, ncap); }
            buf = nb;
            cap = ncap;
        }
        size_t got;
        int rc = raw_read(f, buf + have, cap - have, &got);
        if (rc) { free(buf); return rc; }
        have += got;
        if (have < cap) break;  /* short read: end of stream */
    }
    *out = buf;
    *n = have;
    return SGD_OK;
}

int dat_expect_eof(dat_file *f)
{
    uint8_t extra[64];
    size_t got;
    int rc = raw_read(f, extra, sizeof extra, &got);
    if (rc) return rc;
    if (got)
        return sgd_error(SGD_EFORMAT, "%s: unexpected data after byte %llu (size does not match header)",
                         f->path, f->pos - got);
    return SGD_OK;
}

int dat_alloc(sgd_dataset *d, size_t n, int c, int h, int w, int storage, const char *name)
{
    memset(d, 0, sizeof *d);
    size_t per = 1, tot;
    if (c < 1 || h < 1 || w < 1 || !dat_mul(&per, (size_t)c) || !dat_mul(&per, (size_t)h) ||
        !dat_mul(&per, (size_t)w) || per > INT_MAX)
        return sgd_error(SGD_EINVAL, "%s: bad image geometry %dx%dx%d", name, c, h, w);
    tot = per;
    size_t esz = storage == SGD_DATA_F32 ? sizeof(float) : 1;
    if (!dat_mul(&tot, n) || !dat_mul(&tot, esz) || n > SIZE_MAX / sizeof(int32_t))
        return sgd_error(SGD_EINVAL, "%s: %zu images of %zu values overflow memory", name, n, per);
    void *px = malloc(tot ? tot : 1);
    int32_t *lab = malloc(n ? n * sizeof(int32_t) : 1);
    if (!px || !lab) {
        free(px);
        free(lab);
        return sgd_error(SGD_ENOMEM, "%s: out of memory for %zu images", name, n);
    }
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->storage = storage;
    if (storage == SGD_DATA_F32) d->f32 = px;
    else d->u8 = px;
    d->labels = lab;
    snprintf(d->name, sizeof d->name, "%s", name);
    return SGD_OK;
}
