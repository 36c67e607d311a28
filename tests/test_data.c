/* Data module: every reader against files written here, the malformed
 * variants, shuffling, augmentation, normalization and thread invariance. */
#include "check.h"
#include "sgdscape/data.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/rng.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmp[256];

static const char *tp(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n, int gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (n) gzwrite(g, p, (unsigned)n);
        gzclose(g);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

static size_t put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

/* IDX images (n,h,w) with pixel(i,y,x) = pix(i,y,x); labels i % 3. */
static uint8_t pix(size_t i, int y, int x) { return (uint8_t)(i * 31 + (size_t)y * 7 + (size_t)x * 3 + 5); }

static size_t make_idx_images(uint8_t *buf, uint32_t n, uint32_t h, uint32_t w)
{
    size_t o = 0;
    buf[o++] = 0, buf[o++] = 0, buf[o++] = 8, buf[o++] = 3;
    o += put_be32(buf + o, n);
    o += put_be32(buf + o, h);
    o += put_be32(buf + o, w);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) buf[o++] = pix(i, (int)y, (int)x);
    return o;
}

static size_t make_idx_labels(uint8_t *buf, uint32_t n)
{
    size_t o = 0;
    buf[o++] = 0, buf[o++] = 0, buf[o++] = 8, buf[o++] = 1;
    o += put_be32(buf + o, n);
    for (uint32_t i = 0; i < n; i++) buf[o++] = (uint8_t)(i % 3);
    return o;
}

/* Expect failure code `code` with a message naming `path` and containing `what`. */
static void expect_err(int rc, int code, const char *path, const char *what, int line)
{
    const char *m = sgd_errmsg();
    int ok = rc == code && strstr(m, path) && strstr(m, what) && !strchr(m, '\n');
    if (ok) chk_pass++;
    else {
        chk_fail++;
        fprintf(stderr, "test_data.c:%d: expected code %d naming '%s' and '%s'; got %d: %s\n", line, code, path,
                what, rc, m);
    }
}
#define EXPECT_ERR(rc, code, path, what) expect_err((rc), (code), (path), (what), __LINE__)

static void test_idx(void)
{
    const uint32_t n = 5, h = 4, w = 3;
    uint8_t img[16 + 5 * 12], lab[8 + 5];
    size_t ni = make_idx_images(img, n, h, w), nl = make_idx_labels(lab, n);
    for (int gz = 0; gz < 2; gz++) {
        /* Names without .gz on purpose: compression is found by magic. */
        write_bytes(tp("img.idx"), img, ni, gz);
        write_bytes(tp("lab.idx"), lab, nl, !gz);
        sgd_dataset d;
        int rc = sgd_data_load_idx(tp("img.idx"), tp("lab.idx"), &d);
        CHECK(rc == SGD_OK);
        if (rc) { fprintf(stderr, "%s\n", sgd_errmsg()); continue; }
        CHECK(d.n == n && d.c == 1 && d.h == (int)h && d.w == (int)w && d.storage == SGD_DATA_U8);
        CHECK(d.classes == 3);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            bad += d.labels[i] != (int32_t)(i % 3);
            for (int y = 0; y < (int)h; y++)
                for (int x = 0; x < (int)w; x++) bad += d.u8[(i * h + (size_t)y) * w + (size_t)x] != pix(i, y, x);
        }
        CHECK(bad == 0);
        sgd_data_free(&d);
    }

    /* The spec loader: mnist:DIR, train and test, gz and plain names. */
    mkdir(tp("mnist"), 0700);
    write_bytes(tp("mnist/train-images-idx3-ubyte.gz"), img, ni, 1);
    write_bytes(tp("mnist/train-labels-idx1-ubyte.gz"), lab, nl, 1);
    uint8_t img2[16 + 2 * 12], lab2[8 + 2];
    write_bytes(tp("mnist/t10k-images-idx3-ubyte"), img2, make_idx_images(img2, 2, h, w), 0);
    write_bytes(tp("mnist/t10k-labels-idx1-ubyte"), lab2, make_idx_labels(lab2, 2), 0);
    char spec[600];
    snprintf(spec, sizeof spec, "mnist:%s", tp("mnist"));
    sgd_dataset tr, te;
    CHECK(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &tr) == SGD_OK);
    CHECK(sgd_data_load(spec, SGD_DATA_TEST, NULL, &te) == SGD_OK);
    CHECK(tr.n == 5 && te.n == 2 && tr.classes == 10 && te.classes == 10);
    CHECK(!strcmp(tr.name, "mnist/train") && !strcmp(te.name, "mnist/test"));
    CHECK(tr.u8 && tr.u8[12 * 4 + 5] == pix(4, 1, 2));
    sgd_data_free(&tr);
    sgd_data_free(&te);

    /* --- malformed files --- */
    sgd_dataset d;
    uint8_t b[sizeof img];
    const char *pi = tp("bad.idx"), *pl = tp("lab.idx");
    write_bytes(pl, lab, nl, 0);
    memcpy(b, img, ni);
    b[0] = 0x1f + 1;  /* wrong magic */
    write_bytes(pi, b, ni, 0);
    EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "magic");
    CHECK(d.u8 == NULL && d.labels == NULL && d.n == 0);
    memcpy(b, img, ni);
    b[2] = 0x0D;  /* float elements */
    write_bytes(pi, b, ni, 0);
    EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "element type");
    memcpy(b, img, ni);
    b[3] = 2;  /* wrong number of dimensions */
    write_bytes(pi, b, ni, 0);
    EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "dimensions");
    for (int gz = 0; gz < 2; gz++) {
        write_bytes(pi, img, ni - 7, gz);  /* pixels cut short */
        EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "truncated IDX pixel data");
        write_bytes(pi, img, 10, gz);  /* header cut short */
        EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "truncated IDX dimensions");
        write_bytes(pi, img, 0, gz);
        EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "truncated IDX magic");
        /* An absurd header on a small file must not allocate terabytes. */
        memcpy(b, img, ni);
        put_be32(b + 4, 0x7fffffffu);
        put_be32(b + 8, 30000);
        put_be32(b + 12, 30000);
        write_bytes(pi, b, ni, gz);
        EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "truncated IDX pixel data");
        put_be32(b + 4, 0xffffffffu);
        put_be32(b + 8, 0x7fffffffu);
        put_be32(b + 12, 0x7fffffffu);
        write_bytes(pi, b, ni, gz);
        EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "overflow");
        /* Extra bytes after the data: the header's sizes are wrong. */
        uint8_t big[sizeof img + 3];
        memcpy(big, img, ni);
        memset(big + ni, 0, 3);
        write_bytes(pi, big, ni + 3, gz);
        EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "unexpected data");
    }
    /* A gzip file cut inside the compressed stream. */
    write_bytes(pi, img, ni, 1);
    {
        char *gzd;
        size_t gzn;
        CHECK(sgd_read_file(pi, &gzd, &gzn) == SGD_OK);
        write_bytes(pi, gzd, gzn / 2, 0);
        free(gzd);
        int rc = sgd_data_load_idx(pi, pl, &d);
        CHECK(rc == SGD_EFORMAT && strstr(sgd_errmsg(), pi));
    }
    /* A gzip file whole but for its CRC/size trailer (every cut of it):
     * zlib only reports it at the end of the stream. */
    write_bytes(pi, img, ni, 1);
    {
        char *gzd;
        size_t gzn;
        CHECK(sgd_read_file(pi, &gzd, &gzn) == SGD_OK);
        for (size_t cut = 1; cut <= 8; cut++) {
            write_bytes(pi, gzd, gzn - cut, 0);
            EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pi, "truncated gzip");
        }
        free(gzd);
    }
    /* Label count differs from image count. */
    write_bytes(pi, img, ni, 0);
    uint8_t l4[8 + 4];
    write_bytes(pl, l4, make_idx_labels(l4, 4), 0);
    EXPECT_ERR(sgd_data_load_idx(pi, pl, &d), SGD_EFORMAT, pl, "label count");
    /* Labels file that is really an images file. */
    EXPECT_ERR(sgd_data_load_idx(pi, pi, &d), SGD_EFORMAT, pi, "dimensions");
    /* Missing files. */
    EXPECT_ERR(sgd_data_load_idx(tp("nope.idx"), pl, &d), SGD_EIO, tp("nope.idx"), "cannot open");
    snprintf(spec, sizeof spec, "mnist:%s", tp("nodir"));
    EXPECT_ERR(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d), SGD_EIO, tp("nodir"), "no such directory");
    mkdir(tp("empty"), 0700);
    snprintf(spec, sizeof spec, "mnist:%s", tp("empty"));
    EXPECT_ERR(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d), SGD_EIO, tp("empty"), "train-images-idx3-ubyte");
    EXPECT_ERR(sgd_data_load("imagenet:/x", SGD_DATA_TRAIN, NULL, &d), SGD_EPARSE, "imagenet", "unknown data set");
}

/* CIFAR pixel pattern for record i, channel c, offset p. */
static uint8_t cpix(size_t i, int c, int p) { return (uint8_t)(i * 13 + (size_t)c * 101 + (size_t)p * 7); }

static size_t make_cifar(uint8_t *buf, size_t n, size_t first, int c100)
{
    size_t o = 0;
    for (size_t i = first; i < first + n; i++) {
        if (c100) {
            buf[o++] = (uint8_t)(i % 20);
            buf[o++] = (uint8_t)((i * 7) % 100);
        } else {
            buf[o++] = (uint8_t)(i % 10);
        }
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++) buf[o++] = cpix(i, c, p);
    }
    return o;
}

static int cifar_ok(const sgd_dataset *d, size_t n, int c100)
{
    if (d->n != n || d->c != 3 || d->h != 32 || d->w != 32 || d->classes != (c100 ? 100 : 10)) return 0;
    for (size_t i = 0; i < n; i++) {
        if (d->labels[i] != (int32_t)(c100 ? (i * 7) % 100 : i % 10)) return 0;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++)
                if (d->u8[(i * 3 + (size_t)c) * 1024 + (size_t)p] != cpix(i, c, p)) return 0;
    }
    return 1;
}

static void test_cifar(void)
{
    static uint8_t buf[20 * 3074];
    mkdir(tp("c10"), 0700);
    /* Batches of 3,2,1,2,4 records: 12 training images in order. */
    const size_t sizes[5] = {3, 2, 1, 2, 4};
    size_t first = 0;
    for (int k = 0; k < 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "c10/data_batch_%d.bin", k + 1);
        write_bytes(tp(name), buf, make_cifar(buf, sizes[k], first, 0), 0);
        first += sizes[k];
    }
    write_bytes(tp("c10/test_batch.bin"), buf, make_cifar(buf, 3, 0, 0), 0);
    char spec[600];
    snprintf(spec, sizeof spec, "cifar10:%s", tp("c10"));
    sgd_dataset d;
    CHECK(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d) == SGD_OK);
    CHECK(cifar_ok(&d, 12, 0));
    sgd_data_free(&d);
    CHECK(sgd_data_load(spec, SGD_DATA_TEST, NULL, &d) == SGD_OK);
    CHECK(cifar_ok(&d, 3, 0));
    sgd_data_free(&d);

    /* CIFAR-100 in the subdirectory the archive unpacks to. */
    mkdir(tp("c100"), 0700);
    mkdir(tp("c100/cifar-100-binary"), 0700);
    write_bytes(tp("c100/cifar-100-binary/train.bin"), buf, make_cifar(buf, 7, 0, 1), 0);
    write_bytes(tp("c100/cifar-100-binary/test.bin"), buf, make_cifar(buf, 2, 0, 1), 0);
    snprintf(spec, sizeof spec, "cifar100:%s", tp("c100"));
    CHECK(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d) == SGD_OK);
    CHECK(cifar_ok(&d, 7, 1));
    sgd_data_free(&d);
    CHECK(sgd_data_load(spec, SGD_DATA_TEST, NULL, &d) == SGD_OK);
    CHECK(cifar_ok(&d, 2, 1));
    sgd_data_free(&d);

    /* Malformed: a partial record, a label out of range, a missing batch. */
    const char *p = tp("c10/data_batch_2.bin");
    size_t len = make_cifar(buf, 2, 3, 0);
    write_bytes(p, buf, len - 100, 0);
    snprintf(spec, sizeof spec, "cifar10:%s", tp("c10"));
    EXPECT_ERR(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d), SGD_EFORMAT, p, "multiple");
    buf[3073] = 10;  /* second record's label */
    write_bytes(p, buf, len, 0);
    EXPECT_ERR(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d), SGD_EFORMAT, p, "record 1: label 10");
    const char *q = tp("c100/cifar-100-binary/train.bin");
    len = make_cifar(buf, 3, 0, 1);
    buf[3074 * 2 + 1] = 100;  /* third record's fine label */
    write_bytes(q, buf, len, 0);
    snprintf(spec, sizeof spec, "cifar100:%s", tp("c100"));
    EXPECT_ERR(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d), SGD_EFORMAT, q, "record 2: label 100");
    /* A CIFAR-10 file read as CIFAR-100: 3073-byte records do not divide. */
    const char *r10 = tp("c10/test_batch.bin");
    const char *one = r10;
    EXPECT_ERR(sgd_data_load_cifar(&one, 1, 1, &d), SGD_EFORMAT, r10, "3074-byte CIFAR-100 record");
    write_bytes(p, buf, make_cifar(buf, 2, 3, 0), 0);
    unlink(tp("c10/data_batch_4.bin"));
    snprintf(spec, sizeof spec, "cifar10:%s", tp("c10"));
    EXPECT_ERR(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d), SGD_EIO, tp("c10/data_batch_4.bin"), "cannot open");
    EXPECT_ERR(sgd_data_load("cifar10", SGD_DATA_TRAIN, NULL, &d), SGD_EPARSE, "cifar10", "directory");
}

static void test_npy(void)
{
    /* X (N=4, H=5, W=2, C=3) with value v(i,c,y,x); written NHWC and NCHW. */
    enum { N = 4, C = 3, H = 5, W = 2 };
    uint8_t xh[N * H * W * C], xc[N * C * H * W];
    float fh[N * H * W * C];
    int64_t y64[N] = {2, 0, 1, 2};
    int32_t y32[N] = {2, 0, 1, 2};
    uint8_t y8[N] = {2, 0, 1, 2};
#define V(i, c, y, x) ((uint8_t)((i) * 50 + (c) * 20 + (y) * 5 + (x)))
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    xh[((i * H + y) * W + x) * C + c] = V(i, c, y, x);
                    fh[((i * H + y) * W + x) * C + c] = (float)V(i, c, y, x) * 0.25f - 3.0f;
                    xc[((i * C + c) * H + y) * W + x] = V(i, c, y, x);
                }
    size_t shh[4] = {N, H, W, C}, shc[4] = {N, C, H, W}, sy[1] = {N};
    CHECK(sgd_npy_write(tp("xh.npy"), SGD_NPY_U8, xh, 4, shh) == SGD_OK);
    CHECK(sgd_npy_write(tp("xc.npy"), SGD_NPY_U8, xc, 4, shc) == SGD_OK);
    CHECK(sgd_npy_write(tp("fh.npy"), SGD_NPY_F32, fh, 4, shh) == SGD_OK);
    CHECK(sgd_npy_write(tp("y64.npy"), SGD_NPY_I64, y64, 1, sy) == SGD_OK);
    CHECK(sgd_npy_write(tp("y32.npy"), SGD_NPY_I32, y32, 1, sy) == SGD_OK);
    CHECK(sgd_npy_write(tp("y8.npy"), SGD_NPY_U8, y8, 1, sy) == SGD_OK);
    const char *xs[3] = {"xh.npy", "xc.npy", "fh.npy"}, *ys[3] = {"y64.npy", "y32.npy", "y8.npy"};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            sgd_dataset d;
            char spec[1200];
            snprintf(spec, sizeof spec, "npy:%s,%s", tp(xs[a]), tp(ys[b]));
            int rc = sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d);
            CHECK(rc == SGD_OK);
            if (rc) { fprintf(stderr, "%s\n", sgd_errmsg()); continue; }
            CHECK(d.n == N && d.c == C && d.h == H && d.w == W && d.classes == 3);
            CHECK(d.storage == (a == 2 ? SGD_DATA_F32 : SGD_DATA_U8));
            int bad = 0;
            for (int i = 0; i < N; i++) {
                bad += d.labels[i] != y32[i];
                for (int c = 0; c < C; c++)
                    for (int y = 0; y < H; y++)
                        for (int x = 0; x < W; x++) {
                            size_t k = (size_t)((i * C + c) * H + y) * W + (size_t)x;
                            if (a == 2) bad += d.f32[k] != (float)V(i, c, y, x) * 0.25f - 3.0f;
                            else bad += d.u8[k] != V(i, c, y, x);
                        }
            }
            CHECK(bad == 0);
            sgd_data_free(&d);
        }
    /* An ambiguous shape (N,3,5,3): the guess says NCHW, the option overrides. */
    size_t amb[4] = {2, 3, 5, 3};
    uint8_t xa[2 * 3 * 5 * 3];
    for (size_t k = 0; k < sizeof xa; k++) xa[k] = (uint8_t)k;
    size_t s2[1] = {2};
    int64_t ya[2] = {0, 1};
    CHECK(sgd_npy_write(tp("xa.npy"), SGD_NPY_U8, xa, 4, amb) == SGD_OK);
    CHECK(sgd_npy_write(tp("ya.npy"), SGD_NPY_I64, ya, 1, s2) == SGD_OK);
    sgd_dataset d;
    CHECK(sgd_data_load_npy(tp("xa.npy"), tp("ya.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d) == SGD_OK);
    CHECK(d.c == 3 && d.h == 5 && d.w == 3 && d.u8[7] == 7);
    sgd_data_free(&d);
    CHECK(sgd_data_load_npy(tp("xa.npy"), tp("ya.npy"), SGD_DATA_NHWC, 0, &d) == SGD_OK);
    /* NHWC (2,3,5,3): H=3, W=5, C=3; stored (c,y,x) <- file ((y*5+x)*3+c). */
    CHECK(d.c == 3 && d.h == 3 && d.w == 5);
    CHECK(d.u8[1 * 15 + 2 * 5 + 4] == (uint8_t)((2 * 5 + 4) * 3 + 1));
    CHECK(d.u8[45 + 0] == 45);
    sgd_data_free(&d);
    /* 3-D X is single channel; explicit classes. */
    size_t s3[3] = {2, 5, 9};
    CHECK(sgd_npy_write(tp("x3.npy"), SGD_NPY_U8, xa, 3, s3) == SGD_OK);
    CHECK(sgd_data_load_npy(tp("x3.npy"), tp("ya.npy"), SGD_DATA_LAYOUT_AUTO, 7, &d) == SGD_OK);
    CHECK(d.c == 1 && d.h == 5 && d.w == 9 && d.classes == 7 && d.u8[89] == 89);
    sgd_data_free(&d);

    /* Malformed pairs. */
    EXPECT_ERR(sgd_data_load_npy(tp("xh.npy"), tp("y8.npy"), SGD_DATA_LAYOUT_AUTO, 2, &d), SGD_EFORMAT,
               tp("y8.npy"), "label 2 at index 0 not below classes = 2");
    EXPECT_ERR(sgd_data_load_npy(tp("xh.npy"), tp("ya.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d), SGD_EFORMAT,
               tp("ya.npy"), "label count 2 differs from image count 4");
    EXPECT_ERR(sgd_data_load_npy(tp("y64.npy"), tp("y64.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d), SGD_EFORMAT,
               tp("y64.npy"), "images dtype int64");
    EXPECT_ERR(sgd_data_load_npy(tp("xh.npy"), tp("fh.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d), SGD_EFORMAT,
               tp("fh.npy"), "labels dtype float32");
    EXPECT_ERR(sgd_data_load_npy(tp("y8.npy"), tp("y8.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d), SGD_EFORMAT,
               tp("y8.npy"), "dimensions");
    int64_t yneg[4] = {0, 1, -1, 0};
    CHECK(sgd_npy_write(tp("yneg.npy"), SGD_NPY_I64, yneg, 1, sy) == SGD_OK);
    EXPECT_ERR(sgd_data_load_npy(tp("xh.npy"), tp("yneg.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d), SGD_EFORMAT,
               tp("yneg.npy"), "label -1 at index 2");
    float fnan[N * H * W * C];
    memcpy(fnan, fh, sizeof fh);
    fnan[17] = NAN;
    CHECK(sgd_npy_write(tp("fnan.npy"), SGD_NPY_F32, fnan, 4, shh) == SGD_OK);
    EXPECT_ERR(sgd_data_load_npy(tp("fnan.npy"), tp("y8.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d), SGD_EFORMAT,
               tp("fnan.npy"), "not a finite");
    /* A truncated .npy: the io reader's message names the file. */
    char *raw;
    size_t rn;
    CHECK(sgd_read_file(tp("xh.npy"), &raw, &rn) == SGD_OK);
    write_bytes(tp("xcut.npy"), raw, rn - 5, 0);
    free(raw);
    EXPECT_ERR(sgd_data_load_npy(tp("xcut.npy"), tp("y8.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d), SGD_EFORMAT,
               tp("xcut.npy"), "truncated");
    EXPECT_ERR(sgd_data_load_npy(tp("xh.npy"), tp("missing.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d), SGD_EIO,
               tp("missing.npy"), "");
    char spec[1200];
    snprintf(spec, sizeof spec, "npy:%s,%s", tp("xh.npy"), tp("y8.npy"));
    EXPECT_ERR(sgd_data_load(spec, SGD_DATA_TEST, NULL, &d), SGD_EINVAL, "npy:", "no test files");
    snprintf(spec, sizeof spec, "npy:%s", tp("xh.npy"));
    EXPECT_ERR(sgd_data_load(spec, SGD_DATA_TRAIN, NULL, &d), SGD_EPARSE, "npy:", "X.npy,y.npy");
}

/* A synthetic u8 data set: pixel values from the counter rng, so channels
 * have different means (offset 40*c) and spreads. */
static void synth(sgd_dataset *d, size_t n, int c, int h, int w, int f32)
{
    memset(d, 0, sizeof *d);
    size_t per = (size_t)c * h * w;
    d->n = n, d->c = c, d->h = h, d->w = w, d->classes = 10;
    d->storage = f32 ? SGD_DATA_F32 : SGD_DATA_U8;
    if (f32) d->f32 = malloc(n * per * sizeof(float));
    else d->u8 = malloc(n * per);
    d->labels = malloc(n * sizeof(int32_t));
    snprintf(d->name, sizeof d->name, "synthetic");
    for (size_t i = 0; i < n; i++) {
        d->labels[i] = (int32_t)(i % 10);
        for (size_t k = 0; k < per; k++) {
            int ch = (int)(k / ((size_t)h * w));
            uint64_t r = sgd_rng_below(99, SGD_RNG_USER, i, 0, (uint32_t)k, (uint64_t)(100 + 50 * ch));
            if (f32) d->f32[i * per + k] = (float)r * 0.01f - 2.0f * (float)ch;
            else d->u8[i * per + k] = (uint8_t)(r + 40u * (unsigned)ch > 255 ? 255 : r + 40u * (unsigned)ch);
        }
    }
}

static void test_split(void)
{
    sgd_dataset d, tr, va;
    synth(&d, 50, 1, 2, 2, 0);
    CHECK(sgd_data_split(&d, 10, 0, 0, &tr, &va) == SGD_OK);
    CHECK(tr.n == 40 && va.n == 10);
    CHECK(!memcmp(tr.u8, d.u8, 40 * 4) && !memcmp(va.u8, d.u8 + 160, 40));
    CHECK(va.labels[0] == d.labels[40]);
    sgd_data_free(&tr);
    sgd_data_free(&va);
    /* Random split: a partition, sorted, reproducible, seed-dependent. The
     * first pixel of each image is set to its index to identify it. */
    for (size_t i = 0; i < 50; i++) d.u8[i * 4] = (uint8_t)i;
    CHECK(sgd_data_split(&d, 15, 1, 7, &tr, &va) == SGD_OK);
    int seen[50] = {0}, sorted = 1, moved = 0;
    for (size_t i = 0; i < tr.n; i++) seen[tr.u8[i * 4]]++, sorted &= i == 0 || tr.u8[i * 4] > tr.u8[(i - 1) * 4];
    for (size_t i = 0; i < va.n; i++) seen[va.u8[i * 4]]++, sorted &= i == 0 || va.u8[i * 4] > va.u8[(i - 1) * 4];
    for (size_t i = 0; i < va.n; i++) moved += va.u8[i * 4] < 35;
    int part = 1;
    for (int i = 0; i < 50; i++) part &= seen[i] == 1;
    CHECK(tr.n == 35 && va.n == 15 && part && sorted && moved > 0);
    sgd_dataset va2, va3;
    CHECK(sgd_data_split(&d, 15, 1, 7, NULL, &va2) == SGD_OK);
    CHECK(sgd_data_split(&d, 15, 1, 8, NULL, &va3) == SGD_OK);
    CHECK(!memcmp(va.u8, va2.u8, 60) && memcmp(va.u8, va3.u8, 60) != 0);
    sgd_data_free(&tr);
    sgd_data_free(&va);
    sgd_data_free(&va2);
    sgd_data_free(&va3);
    CHECK(sgd_data_split(&d, 50, 0, 0, &tr, &va) == SGD_EINVAL);
    sgd_data_truncate(&d, 7);
    CHECK(d.n == 7);
    sgd_data_free(&d);

    /* Through the spec: val + subset with the npy pair from test_npy. */
    sgd_data_opts o;
    memset(&o, 0, sizeof o);
    o.val = 1;
    char spec[1200];
    snprintf(spec, sizeof spec, "npy:%s,%s", tp("xc.npy"), tp("y8.npy"));
    CHECK(sgd_data_load(spec, SGD_DATA_TRAIN, &o, &tr) == SGD_OK && tr.n == 3 && !strcmp(tr.name, "npy/train"));
    CHECK(sgd_data_load(spec, SGD_DATA_VAL, &o, &va) == SGD_OK && va.n == 1 && va.labels[0] == 2);
    CHECK(va.u8 && va.u8[0] == 150);  /* image 3, channel 0, pixel (0,0) */
    sgd_data_free(&tr);
    sgd_data_free(&va);
    o.val = 0;
    o.subset = 2;
    CHECK(sgd_data_load(spec, SGD_DATA_TRAIN, &o, &tr) == SGD_OK && tr.n == 2);
    sgd_data_free(&tr);
    EXPECT_ERR(sgd_data_load(spec, SGD_DATA_VAL, &o, &va), SGD_EINVAL, "npy:", "validation");
}

static void test_shuffle(void)
{
    enum { N = 1000 };
    static size_t p0[N], p0b[N], p1[N], q0[N];
    sgd_data_shuffle(42, 0, N, p0);
    sgd_data_shuffle(42, 0, N, p0b);
    sgd_data_shuffle(42, 1, N, p1);
    sgd_data_shuffle(43, 0, N, q0);
    int seen[N] = {0}, perm = 1, fixed = 0;
    for (int i = 0; i < N; i++) {
        if (p0[i] >= N) perm = 0;
        else seen[p0[i]]++;
        fixed += p0[i] == (size_t)i;
    }
    for (int i = 0; i < N; i++) perm &= seen[i] == 1;
    CHECK(perm);
    CHECK(fixed < 10);  /* about 1 fixed point expected for a random permutation */
    CHECK(!memcmp(p0, p0b, sizeof p0));
    CHECK(memcmp(p0, p1, sizeof p0) != 0 && memcmp(p0, q0, sizeof p0) != 0);
    /* First step of the documented Fisher-Yates: perm[N-1] = j from index N-1. */
    size_t j = (size_t)sgd_rng_below(42, SGD_RNG_SHUFFLE, 0, 0, N - 1, N);
    CHECK(p0[N - 1] == j);
}

/* Crop + flip against an explicit pad / crop / mirror of each image. */
static void test_augment(void)
{
    enum { N = 40, C = 2, H = 5, W = 6, P = 2 };
    sgd_dataset d;
    synth(&d, N, C, H, W, 0);
    sgd_data_loader_opts o;
    memset(&o, 0, sizeof o);
    o.batch = 16;
    o.crop_pad = P;
    o.flip = 1;
    o.seed = 2024;
    sgd_data_loader L;
    CHECK(sgd_data_loader_init(&L, &d, &o) == SGD_OK);
    CHECK(sgd_data_loader_batches(&L) == 3);
    static float x[16 * C * H * W];
    int32_t y[16];
    int bad = 0, flips = 0, shifts = 0, total = 0;
    for (uint64_t e = 0; e < 3; e++)
        for (size_t b = 0; b < 3; b++) {
            size_t cnt;
            CHECK(sgd_data_loader_batch(&L, e, b, x, y, &cnt) == SGD_OK);
            CHECK(cnt == (b < 2 ? 16u : 8u));
            for (size_t i = 0; i < cnt; i++) {
                size_t k = b * 16 + i;  /* no shuffle: data-set order */
                int dy = (int)sgd_rng_below(2024, SGD_RNG_AUGMENT, k, e, 0, 2 * P + 1);
                int dx = (int)sgd_rng_below(2024, SGD_RNG_AUGMENT, k, e, 1, 2 * P + 1);
                int fl = (int)sgd_rng_below(2024, SGD_RNG_AUGMENT, k, e, 2, 2);
                flips += fl;
                shifts += dy != P || dx != P;
                total++;
                bad += y[i] != d.labels[k];
                for (int c = 0; c < C; c++) {
                    uint8_t pad[H + 2 * P][W + 2 * P], crop[H][W];
                    memset(pad, 0, sizeof pad);
                    for (int yy = 0; yy < H; yy++)
                        for (int xx = 0; xx < W; xx++) pad[yy + P][xx + P] = d.u8[((k * C + c) * H + yy) * W + xx];
                    for (int yy = 0; yy < H; yy++)
                        for (int xx = 0; xx < W; xx++) crop[yy][xx] = pad[yy + dy][xx + dx];
                    for (int yy = 0; yy < H; yy++)
                        for (int xx = 0; xx < W; xx++) {
                            uint8_t v = fl ? crop[yy][W - 1 - xx] : crop[yy][xx];
                            bad += x[((i * C + c) * H + yy) * W + xx] != (float)(v / 255.0);
                        }
                }
            }
        }
    CHECK(bad == 0);
    CHECK(flips > total / 4 && flips < 3 * total / 4 && shifts > total / 2);
    /* flip off, crop off: identity. */
    o.crop_pad = 0;
    o.flip = 0;
    sgd_data_loader_free(&L);
    CHECK(sgd_data_loader_init(&L, &d, &o) == SGD_OK);
    size_t cnt;
    CHECK(sgd_data_loader_batch(&L, 5, 1, x, y, &cnt) == SGD_OK);
    bad = 0;
    for (size_t k = 0; k < 16 * C * H * W; k++) bad += x[k] != (float)(d.u8[16 * C * H * W + k] / 255.0);
    CHECK(bad == 0);
    CHECK(sgd_data_loader_batch(&L, 0, 3, x, y, &cnt) == SGD_EINVAL);
    o.drop_last = 1;
    sgd_data_loader_free(&L);
    CHECK(sgd_data_loader_init(&L, &d, &o) == SGD_OK && sgd_data_loader_batches(&L) == 2);
    CHECK(sgd_data_loader_batch(&L, 0, 2, x, y, &cnt) == SGD_EINVAL);
    sgd_data_loader_free(&L);
    o.crop_pad = H;
    CHECK(sgd_data_loader_init(&L, &d, &o) == SGD_EINVAL);
    o.crop_pad = 0;
    o.batch = 0;
    CHECK(sgd_data_loader_init(&L, &d, &o) == SGD_EINVAL);
    /* The public draw matches the documented counters. */
    int dy, dx, fl;
    sgd_data_augment_draw(5, 6, 7, 4, &dy, &dx, &fl);
    CHECK(dy == (int)sgd_rng_below(5, SGD_RNG_AUGMENT, 7, 6, 0, 9) &&
          dx == (int)sgd_rng_below(5, SGD_RNG_AUGMENT, 7, 6, 1, 9) &&
          fl == (int)sgd_rng_below(5, SGD_RNG_AUGMENT, 7, 6, 2, 2));
    sgd_data_free(&d);
}

/* Normalized output has per-channel mean 0 and std 1 (no augmentation). */
static void test_normalize(void)
{
    for (int f32 = 0; f32 < 2; f32++) {
        sgd_dataset d;
        synth(&d, 203, 3, 4, 4, f32);
        sgd_data_loader_opts o;
        memset(&o, 0, sizeof o);
        o.batch = 64;
        o.shuffle = 1;
        o.seed = 1;
        CHECK(sgd_data_loader_opts_normalize_from(&o, &d) == SGD_OK);
        CHECK(o.normalize == 1 && fabs(o.mean[1] - o.mean[0]) > 0.05);
        sgd_data_loader L;
        CHECK(sgd_data_loader_init(&L, &d, &o) == SGD_OK);
        static float x[64 * 48];
        int32_t y[64];
        double s[3] = {0}, ss[3] = {0}, cnt = 0;
        long long labsum = 0;
        for (size_t b = 0; b < sgd_data_loader_batches(&L); b++) {
            size_t m;
            CHECK(sgd_data_loader_batch(&L, 0, b, x, y, &m) == SGD_OK);
            for (size_t i = 0; i < m; i++) {
                labsum += y[i];
                for (int c = 0; c < 3; c++)
                    for (int k = 0; k < 16; k++) {
                        double v = x[(i * 3 + (size_t)c) * 16 + (size_t)k];
                        s[c] += v;
                        ss[c] += v * v;
                    }
            }
            cnt += (double)m * 16;
        }
        long long want = 0;
        for (size_t i = 0; i < d.n; i++) want += d.labels[i];
        CHECK(labsum == want);  /* a shuffled epoch still visits every image once */
        for (int c = 0; c < 3; c++) {
            CHECK_CLOSE(s[c] / cnt, 0.0, 1e-5, 0);
            CHECK_CLOSE(sqrt(ss[c] / cnt - (s[c] / cnt) * (s[c] / cnt)), 1.0, 1e-5, 0);
        }
        sgd_data_loader_free(&L);
        sgd_data_free(&d);
    }
}

/* Same batches with 1 and 2 threads, bit for bit. */
static void test_threads(void)
{
    sgd_dataset d;
    synth(&d, 300, 3, 32, 32, 0);
    sgd_data_loader_opts o;
    memset(&o, 0, sizeof o);
    o.batch = 128;
    o.shuffle = 1;
    o.crop_pad = 4;
    o.flip = 1;
    o.seed = 77;
    CHECK(sgd_data_loader_opts_normalize_from(&o, &d) == SGD_OK);
    size_t per = 128 * 3 * 32 * 32;
    float *a = malloc(3 * per * sizeof(float)), *b = malloc(3 * per * sizeof(float));
    int32_t ya[3 * 128], yb[3 * 128];
    memset(a, 0, 3 * per * sizeof(float));
    memset(b, 0, 3 * per * sizeof(float));
    int threads[2] = {1, 2};
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(threads[t]);
        sgd_data_loader L;
        CHECK(sgd_data_loader_init(&L, &d, &o) == SGD_OK);
        for (size_t bi = 0; bi < 3; bi++) {
            size_t m;
            CHECK(sgd_data_loader_batch(&L, 3, bi, (t ? b : a) + bi * per, (t ? yb : ya) + bi * 128, &m) == SGD_OK);
        }
        sgd_data_loader_free(&L);
    }
    omp_set_num_threads(2);
    CHECK(!memcmp(a, b, 3 * per * sizeof(float)));
    CHECK(!memcmp(ya, yb, (2 * 128 + 44) * sizeof(int32_t)));
    /* A different epoch gives different batches. */
    sgd_data_loader L;
    CHECK(sgd_data_loader_init(&L, &d, &o) == SGD_OK);
    size_t m;
    CHECK(sgd_data_loader_batch(&L, 4, 0, b, yb, &m) == SGD_OK);
    CHECK(memcmp(a, b, per * sizeof(float)) != 0);
    sgd_data_loader_free(&L);
    free(a);
    free(b);
    sgd_data_free(&d);
}

/* Every truncation and every single-byte corruption of small files: a clean
 * error (or, for harmless bytes, success), never a crash (run under ASan). */
static void test_corrupt(void)
{
    uint8_t img[16 + 3 * 20], lab[8 + 3], b[sizeof img];
    size_t ni = make_idx_images(img, 3, 4, 5), nl = make_idx_labels(lab, 3);
    const char *pi = tp("cor.idx"), *pl = tp("corl.idx");
    write_bytes(pl, lab, nl, 0);
    sgd_dataset d;
    int bad = 0;
    for (int gz = 0; gz < 2; gz++)
        for (size_t len = 0; len < ni; len++) {
            write_bytes(pi, img, len, gz);
            int rc = sgd_data_load_idx(pi, pl, &d);
            bad += rc != SGD_EFORMAT || !strstr(sgd_errmsg(), pi);
        }
    CHECK(bad == 0);
    bad = 0;
    int accepted = 0;
    for (size_t k = 0; k < 16; k++)
        for (int v = 0; v < 256; v += 17) {
            memcpy(b, img, ni);
            b[k] = (uint8_t)v;
            write_bytes(pi, b, ni, 0);
            int rc = sgd_data_load_idx(pi, pl, &d);
            if (rc == SGD_OK) accepted++, sgd_data_free(&d);
            else bad += rc != SGD_EFORMAT || !(strstr(sgd_errmsg(), pi) || strstr(sgd_errmsg(), pl));
        }
    CHECK(bad == 0);
    CHECK(accepted >= 1 && accepted < 16 * 16);
    /* Truncated .npy pairs at every length. */
    char *raw;
    size_t rn;
    CHECK(sgd_read_file(tp("xh.npy"), &raw, &rn) == SGD_OK);
    bad = 0;
    for (size_t len = 0; len < rn; len++) {
        write_bytes(tp("xt.npy"), raw, len, 0);
        int rc = sgd_data_load_npy(tp("xt.npy"), tp("y8.npy"), SGD_DATA_LAYOUT_AUTO, 0, &d);
        bad += rc != SGD_EFORMAT || !strstr(sgd_errmsg(), tp("xt.npy"));
    }
    free(raw);
    CHECK(bad == 0);
    /* CIFAR files one byte either side of whole records. */
    static uint8_t cb[3 * 3073];
    make_cifar(cb, 3, 0, 0);
    const char *pc = tp("cor.bin");
    const size_t lens[] = {0, 1, 3072, 3074, 6145, 6147, 9218};
    bad = 0;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        write_bytes(pc, cb, lens[i], 0);
        int rc = sgd_data_load_cifar(&pc, 1, 0, &d);
        bad += rc != SGD_EFORMAT || !strstr(sgd_errmsg(), pc);
    }
    CHECK(bad == 0);
}

static void test_fashion_mnist(void)
{
    struct stat st;
    if (stat(SGD_DATA_FASHION_MNIST_DIR, &st) != 0) {
        printf("note: %s absent; skipping the Fashion-MNIST check\n", SGD_DATA_FASHION_MNIST_DIR);
        return;
    }
    sgd_dataset tr, te;
    double t0 = sgd_now();
    int rc = sgd_data_load("fashion-mnist", SGD_DATA_TRAIN, NULL, &tr);
    double t1 = sgd_now();
    CHECK(rc == SGD_OK);
    if (rc) { fprintf(stderr, "%s\n", sgd_errmsg()); return; }
    CHECK(sgd_data_load("fashion-mnist", SGD_DATA_TEST, NULL, &te) == SGD_OK);
    CHECK(tr.n == 60000 && te.n == 10000 && tr.c == 1 && tr.h == 28 && tr.w == 28 && te.h == 28 && te.w == 28);
    CHECK(tr.classes == 10 && te.classes == 10);
    int bad = 0;
    size_t counts[10] = {0};
    for (size_t i = 0; i < tr.n; i++) {
        bad += tr.labels[i] < 0 || tr.labels[i] >= 10;
        if (!bad) counts[tr.labels[i]]++;
    }
    for (size_t i = 0; i < te.n; i++) bad += te.labels[i] < 0 || te.labels[i] >= 10;
    CHECK(bad == 0);
    CHECK(counts[0] == 6000 && counts[9] == 6000);  /* Fashion-MNIST is balanced */
    double mean, std;
    CHECK(sgd_data_channel_stats(&tr, &mean, &std) == SGD_OK);
    CHECK_CLOSE(mean, 0.2860, 1e-3, 0);  /* the widely quoted 0.2860 / 0.3530 */
    CHECK_CLOSE(std, 0.3530, 1e-3, 0);
    printf("fashion-mnist: train loaded in %.3f s; mean %.4f std %.4f\n", t1 - t0, mean, std);
    sgd_data_free(&tr);
    sgd_data_free(&te);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/sgd_test_data_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_idx();
    test_cifar();
    test_npy();
    test_corrupt();
    test_split();
    test_shuffle();
    test_augment();
    test_normalize();
    test_threads();
    test_fashion_mnist();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmp);
    return check_done();
}
