/* Schedule strings: `run --schedule` (sgd_schedule_parse, src/optim/schedule.c)
 * and `train --schedule` (sgd_lr_schedule_parse, src/nn/train.c). Byte 0
 * picks the parser and the base values. */
#include "fuzz_common.h"
#include "sgdscape/optim.h"
#include "sgdscape/nn.h"
#include "sgdscape/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *s = fuzz_str(data + 1, size - 1);
    if (data[0] & 1) {
        sgd_lr_schedule L;
        int epochs = (data[0] >> 1) * 7;
        if (sgd_lr_schedule_parse(s, 0.1, epochs, &L) == SGD_OK)
            for (int e = 0; e <= epochs + 2; e += 1 + epochs / 16) (void)sgd_lr_at(&L, e);
    } else {
        sgd_schedule S;
        static const double etas[4] = {0.01, 1e-300, 1.0, 1e300};
        if (sgd_schedule_parse(s, etas[(data[0] >> 1) & 3], 0.5, (size_t)(data[0] >> 3) * 100, &S) == SGD_OK) {
            (void)sgd_schedule_validate(&S);
            (void)sgd_schedule_total_steps(&S);
        }
    }
    sgd_error_clear();
    free(s);
    return 0;
}
