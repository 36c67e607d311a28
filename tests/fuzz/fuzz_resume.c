/* `train --resume` as it reads checkpoint/state.json (and train.csv): the
 * input, up to its first NUL byte, becomes state.json of a finished 1-epoch
 * run of a tiny MLP on 8 images; what follows the NUL becomes train.csv.
 * sgd_train_run (src/nn/train.c) then resumes it to 2 epochs. Slow per input
 * (a real resume writes a run directory); fuzz_json covers the JSON reader at
 * speed. */
#include "fuzz_common.h"
#include "sgdscape/nn.h"
#include "sgdscape/data.h"
#include "sgdscape/io.h"
#include "sgdscape/error.h"

#include <sys/stat.h>

static sgd_dataset D;
static sgd_train_config C;
static char *ckpt[3];
static size_t ckpt_n[3];
static const char *const kinds[3] = {"x", "momentum", "buffers"};
static char run_dir[512];

static void setup(void)
{
    static uint8_t px[8 * 4];
    static int32_t lab[8];
    for (int i = 0; i < 8 * 4; i++) px[i] = (uint8_t)(i * 29);
    for (int i = 0; i < 8; i++) lab[i] = i & 1;
    D = (sgd_dataset){.n = 8, .c = 1, .h = 2, .w = 2, .classes = 2, .storage = SGD_DATA_U8, .u8 = px,
                      .labels = lab, .name = "fuzz"};
    sgd_train_defaults(&C);
    C.spec = "mlp:w=2,d=1";
    C.data = "fuzz";
    C.train = &D;
    C.batch = 4;
    C.epochs = 1;
    C.quiet = 1;
    C.threads = 1;
    snprintf(run_dir, sizeof run_dir, "%s", fuzz_path("run"));
    /* the checkpoint every input resumes from: a finished 1-epoch run */
    if (sgd_train_run(&C, run_dir, 0) != SGD_OK) {
        fprintf(stderr, "fuzz_resume: template run failed: %s\n", sgd_errmsg());
        abort();
    }
    for (int k = 0; k < 3; k++) {
        char p[700];
        snprintf(p, sizeof p, "%s/checkpoint/%s_000001.npy", run_dir, kinds[k]);
        if (sgd_read_file(p, &ckpt[k], &ckpt_n[k]) != SGD_OK) abort();
    }
    C.epochs = 2;
}

static void put(const char *rel, const void *data, size_t n)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", run_dir, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) abort();
    if (n && write(fd, data, n) != (ssize_t)n) abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!run_dir[0]) setup();
    char p[700];
    snprintf(p, sizeof p, "%s/checkpoint", run_dir);
    mkdir(run_dir, 0700);
    mkdir(p, 0700);
    for (int k = 0; k < 3; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "checkpoint/%s_000001.npy", kinds[k]);
        put(rel, ckpt[k], ckpt_n[k]);
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t js = nul ? (size_t)(nul - data) : size;
    put("checkpoint/state.json", data, js);
    if (nul) put("train.csv", nul + 1, size - js - 1);
    else {
        snprintf(p, sizeof p, "%s/train.csv", run_dir);
        unlink(p);
    }
    (void)sgd_train_run(&C, run_dir, 1);
    sgd_error_clear();
    return 0;
}
