/* Model spec strings (sgd_net_create, src/nn/models.c): build, describe, list
 * the tensors and, for small networks, run one forward and backward pass.
 * Bytes 0-3 pick the input shape and class count (kept small). */
#include "fuzz_common.h"
#include "sgdscape/nn.h"
#include "sgdscape/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    int c = 1 + data[0] % 3, h = 1 + data[1] % 12, w = 1 + data[2] % 12, classes = 2 + data[3] % 9;
    char *spec = fuzz_str(data + 4, size - 4);
    sgd_net *net = sgd_net_create(spec, c, h, w, classes);
    free(spec);
    if (!net) {
        sgd_error_clear();
        return 0;
    }
    char *text = sgd_net_describe(net);
    free(text);
    size_t nt = sgd_net_ntensors(net);
    for (size_t i = 0; i < nt; i++) {
        sgd_net_tensor t;
        (void)sgd_net_tensor_info(net, i, &t);
    }
    size_t p = sgd_net_nparams(net), nb = sgd_net_nbuffers(net);
    /* a pass over 2 images for networks small enough to keep the fuzzer fast */
    if (p <= 200000) {
        float *x = malloc(sizeof(float) * (p + 1)), *g = malloc(sizeof(float) * (p + 1));
        float *buf = malloc(sizeof(float) * (nb + 1));
        size_t per = (size_t)c * h * w;
        float *in = malloc(sizeof(float) * 2 * per);
        int32_t lab[2] = {0, classes - 1};
        if (x && g && buf && in) {
            sgd_net_init(net, 1, x, buf);
            for (size_t i = 0; i < 2 * per; i++) in[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
            double loss;
            size_t correct;
            if (sgd_net_run(net, x, buf, SGD_NN_TRAIN, in, lab, 2, &loss, g, &correct) == SGD_OK)
                (void)sgd_net_run(net, x, buf, SGD_NN_EVAL, in, lab, 2, &loss, NULL, &correct);
        }
        free(x);
        free(g);
        free(buf);
        free(in);
    }
    sgd_error_clear();
    sgd_net_free(net);
    return 0;
}
