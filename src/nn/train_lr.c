/* Learning-rate schedules of train (nn.h): const, step, exp[:F], list:E:LR,... */
#include "sgdscape/error.h"
#include "sgdscape/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sgd_lr_schedule_parse(const char *s, double base, int epochs, sgd_lr_schedule *out)
{
    memset(out, 0, sizeof *out);
    out->base = base;
    if (!(base > 0) || !isfinite(base)) return sgd_error(SGD_EINVAL, "--lr: must be > 0");
    if (!s || !strcmp(s, "const") || !strcmp(s, "constant")) {
        out->kind = SGD_LR_CONST;
        return SGD_OK;
    }
    if (!strcmp(s, "step")) {
        out->kind = SGD_LR_STEP;
        out->npoints = 3;
        out->epoch[0] = 0;
        out->lr[0] = base;
        out->epoch[1] = epochs / 2;
        out->lr[1] = base / 10;
        out->epoch[2] = (3 * epochs) / 4;
        out->lr[2] = base / 100;
        return SGD_OK;
    }
    if (!strncmp(s, "exp", 3) && (s[3] == 0 || s[3] == ':')) {
        out->kind = SGD_LR_EXP;
        out->factor = 0.99;
        if (s[3] == ':') {
            char *end;
            out->factor = strtod(s + 4, &end);
            if (*end || end == s + 4 || !(out->factor > 0) || !isfinite(out->factor))
                return sgd_error(SGD_EPARSE, "schedule '%s': want exp:FACTOR with FACTOR > 0", s);
        }
        return SGD_OK;
    }
    if (!strncmp(s, "list:", 5)) {
        out->kind = SGD_LR_LIST;
        const char *p = s + 5;
        while (*p) {
            char *end;
            long e = strtol(p, &end, 10);
            if (end == p || *end != ':' || e < 0 || e > 1000000000L || out->npoints == SGD_LR_MAX_POINTS)
                return sgd_error(SGD_EPARSE, "schedule '%s': want list:EPOCH:LR,EPOCH:LR,...", s);
            p = end + 1;
            double lr = strtod(p, &end);
            if (end == p || (*end && *end != ',') || !(lr >= 0) || !isfinite(lr))
                return sgd_error(SGD_EPARSE, "schedule '%s': bad learning rate", s);
            if (out->npoints && e <= out->epoch[out->npoints - 1])
                return sgd_error(SGD_EPARSE, "schedule '%s': epochs must increase", s);
            out->epoch[out->npoints] = (int)e;
            out->lr[out->npoints++] = lr;
            p = *end ? end + 1 : end;
        }
        if (!out->npoints || out->epoch[0] != 0)
            return sgd_error(SGD_EPARSE, "schedule '%s': the first point must be epoch 0", s);
        out->base = out->lr[0];
        return SGD_OK;
    }
    return sgd_error(SGD_EPARSE, "unknown schedule '%s' (const, step, exp[:F], list:E:LR,...)", s);
}

double sgd_lr_at(const sgd_lr_schedule *s, int epoch)
{
    switch (s->kind) {
    case SGD_LR_EXP: return s->base * pow(s->factor, epoch);
    case SGD_LR_STEP:
    case SGD_LR_LIST: {
        double lr = s->lr[0];
        for (int i = 0; i < s->npoints; i++)
            if (s->epoch[i] <= epoch) lr = s->lr[i];
        return lr;
    }
    default: return s->base;
    }
}
