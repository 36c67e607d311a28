/* IDX files, plain and gzip (sgd_data_load_idx, src/data/idx.c, read.c).
 * Byte 0: bit 0 = the input is the label file (else the image file); bit 1 =
 * gzip the input first (a valid stream around fuzzed contents; without it,
 * input that starts with the gzip magic exercises corrupt streams). The other
 * file is a valid one that agrees with the input's count where it can. */
#include "fuzz_common.h"
#include "sgdscape/data.h"
#include "sgdscape/error.h"

#include <zlib.h>

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static const char *write_maybe_gz(const char *name, const uint8_t *data, size_t size, int gz)
{
    if (!gz) return fuzz_file(name, data, size);
    const char *path = fuzz_path(name);
    gzFile g = gzopen(path, "wb1");
    if (!g) abort();
    if (size && gzwrite(g, data, (unsigned)size) != (int)size) abort();
    if (gzclose(g) != Z_OK) abort();
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int labels_fuzzed = data[0] & 1, gz = (data[0] >> 1) & 1;
    data++;
    size--;
    /* the count the fuzzed header claims (bytes 4..7), capped for the partner file */
    uint32_t n = size >= 8 ? (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 | data[7] : 1;
    if (n == 0 || n > 256) n = 1;
    char img[512], lab[512];
    uint8_t other[16 + 256 * 4];
    if (labels_fuzzed) { /* n images of 2x2 */
        put_be32(other, 0x803); put_be32(other + 4, n); put_be32(other + 8, 2); put_be32(other + 12, 2);
        memset(other + 16, 7, (size_t)n * 4);
        snprintf(img, sizeof img, "%s", fuzz_file("images", other, 16 + (size_t)n * 4));
        snprintf(lab, sizeof lab, "%s", write_maybe_gz("labels", data, size, gz));
    } else {
        put_be32(other, 0x801); put_be32(other + 4, n);
        for (uint32_t i = 0; i < n; i++) other[8 + i] = (uint8_t)(i % 10);
        snprintf(lab, sizeof lab, "%s", fuzz_file("labels", other, 8 + (size_t)n));
        snprintf(img, sizeof img, "%s", write_maybe_gz("images", data, size, gz));
    }
    sgd_dataset d;
    if (sgd_data_load_idx(img, lab, &d) == SGD_OK) {
        double mean[1], std[1];
        (void)sgd_data_channel_stats(&d, mean, std);
        sgd_data_free(&d);
    }
    sgd_error_clear();
    return 0;
}
