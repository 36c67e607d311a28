/* CIFAR-10/100 binary files, plain and gzip (sgd_data_load_cifar,
 * src/data/cifar.c, read.c). Byte 0: bit 0 = CIFAR-100 records, bit 1 = gzip
 * the input first, bit 2 = read it as two files (the input twice). */
#include "fuzz_common.h"
#include "sgdscape/data.h"
#include "sgdscape/error.h"

#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int c100 = data[0] & 1, gz = (data[0] >> 1) & 1, two = (data[0] >> 2) & 1;
    data++;
    size--;
    char path[512];
    if (gz) {
        snprintf(path, sizeof path, "%s", fuzz_path("batch.bin.gz"));
        gzFile g = gzopen(path, "wb1");
        if (!g) abort();
        if (size && gzwrite(g, data, (unsigned)size) != (int)size) abort();
        if (gzclose(g) != Z_OK) abort();
    } else {
        snprintf(path, sizeof path, "%s", fuzz_file("batch.bin", data, size));
    }
    const char *paths[2] = {path, path};
    sgd_dataset d;
    if (sgd_data_load_cifar(paths, two ? 2 : 1, c100, &d) == SGD_OK) {
        /* records = bytes / record size, unless the plain input was itself gzip */
        int self_gz = !gz && size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
        if (!self_gz && d.n != (two ? 2 : 1) * (size / (c100 ? 3074 : 3073))) abort();
        sgd_data_free(&d);
    }
    sgd_error_clear();
    return 0;
}
