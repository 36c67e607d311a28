/* The JSON reader (sgd_json_load, src/io/json.c) as `bounds --from DIR`
 * uses it on DIR/summary.json (eta, r, L, c_hat/c_lower into Theorem 1) and
 * `train --resume` on checkpoint/state.json (epoch, model, parameters,
 * crc32.*, bytes.*): dotted lookups, numbers, strings, printing back. */
#include "fuzz_common.h"
#include "sgdscape/io.h"
#include "sgdscape/theory.h"
#include "sgdscape/error.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("summary.json", data, size);
    sgd_json *j = sgd_json_load(path);
    if (!j) {
        sgd_error_clear();
        return 0;
    }
    /* bounds --from */
    double eta = NAN, r = NAN, L = NAN, c = NAN, v;
    if (!sgd_json_get_num(j, "eta", &v)) eta = v;
    if (!sgd_json_get_num(j, "r", &v)) r = v;
    if (!sgd_json_get_num(j, "L", &v)) L = v;
    if (!sgd_json_get_num(j, size & 1 ? "c_hat" : "c_lower", &v)) c = v;
    if (!isnan(eta) && !isnan(c) && !isnan(L) && !isnan(r)) {
        sgd_thm1_input in = {eta, c, L, r, 1.0, 100.0};
        sgd_thm1 t;
        if (sgd_bounds_theorem1(&in, &t) == SGD_OK) {
            char buf[2048];
            sgd_bounds_explain(&in, &t, buf, sizeof buf);
        }
    }
    /* train --resume */
    char s[256];
    static const char *const nums[] = {"epoch", "parameters", "seed_low32", "seed_high32", "crc32.x",
                                       "crc32.momentum", "bytes.buffers", "estimate.c", "a.b.c.d", ".", "..", ""};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) (void)sgd_json_get_num(j, nums[i], &v);
    (void)sgd_json_get_str(j, "model", s, sizeof s);
    (void)sgd_json_get_str(j, "a.b", s, 4);
    char *text = sgd_json_print(j);
    free(text);
    sgd_json_free(j);
    sgd_error_clear();
    return 0;
}
