/* .npy files (sgd_npy_read, src/io/npy.c) and .npy image/label pairs
 * (sgd_data_load_npy, src/data/npydata.c). A file that reads is written back
 * and must read back to the same values; as images X, it is paired with a
 * matching label file. */
#include "fuzz_common.h"
#include "sgdscape/io.h"
#include "sgdscape/data.h"
#include "sgdscape/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_file("in.npy", data, size);
    char in[512];
    snprintf(in, sizeof in, "%s", p);
    sgd_npy a;
    if (sgd_npy_read(in, &a) != SGD_OK) {
        sgd_error_clear();
        return 0;
    }
    if (a.count <= 4096 && !a.fortran_order) {
        char out[512];
        snprintf(out, sizeof out, "%s", fuzz_path("out.npy"));
        if (sgd_npy_write(out, a.dtype, a.data, a.ndim, a.shape) != SGD_OK) abort();
        sgd_npy b;
        if (sgd_npy_read(out, &b) != SGD_OK || b.dtype != a.dtype || b.ndim != a.ndim || b.count != a.count ||
            memcmp(a.shape, b.shape, sizeof a.shape) ||
            (a.count && memcmp(a.data, b.data, a.count * sgd_npy_itemsize(a.dtype))))
            abort();  /* what we write must read back unchanged */
        sgd_npy_free(&b);
    }
    if (a.ndim >= 3 && a.shape[0] >= 1 && a.shape[0] <= 64) {
        /* labels 0, 1, 0, ... as int64 for the images in the input */
        int64_t lab[64];
        for (size_t i = 0; i < a.shape[0]; i++) lab[i] = (int64_t)(i & 1);
        char y[512];
        snprintf(y, sizeof y, "%s", fuzz_path("y.npy"));
        size_t n = a.shape[0];
        if (sgd_npy_write(y, SGD_NPY_I64, lab, 1, &n) != SGD_OK) abort();
        sgd_dataset d;
        int layout = (int)(size % 3); /* AUTO, NHWC, NCHW */
        if (sgd_data_load_npy(in, y, layout, (int)(size % 5), &d) == SGD_OK) {
            double mean[SGD_DATA_MAX_CHANNELS], std[SGD_DATA_MAX_CHANNELS];
            if (d.c <= SGD_DATA_MAX_CHANNELS) (void)sgd_data_channel_stats(&d, mean, std);
            sgd_data_free(&d);
        }
    }
    sgd_npy_free(&a);
    sgd_error_clear();
    return 0;
}
