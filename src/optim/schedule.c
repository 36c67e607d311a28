/* Schedules: a list of stages, each with its own eta, noise radius r, decay
 * and starting rule. Constant, multi-stage (Corollary 2), exponential decay
 * and restarts are all special cases. */
#include "sgdscape/optim.h"
#include "sgdscape/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Step counts stay exact as doubles, and their sum fits a size_t. */
#define SGD_MAX_STEPS 9007199254740992.0

static void stage_init(sgd_stage *st, size_t steps, double eta, double r)
{
    memset(st, 0, sizeof *st);
    st->steps = steps;
    st->eta = eta;
    st->r = r;
    st->decay = 1.0;
    st->rdecay = 1.0;
    st->start = SGD_START_CONTINUE;
}

static int parse_num(const char *what, const char *s, char **end, double *v)
{
    *v = strtod(s, end);
    if (*end == s || !isfinite(*v))
        return sgd_error(SGD_EINVAL, "--schedule: %s: '%.20s' is not a number", what, s);
    return SGD_OK;
}

int sgd_schedule_parse(const char *s, double base_eta, double base_r, size_t base_steps, sgd_schedule *out)
{
    memset(out, 0, sizeof *out);
    if (!s || !*s || !strcmp(s, "const") || !strcmp(s, "constant")) {
        out->nstages = 1;
        stage_init(&out->stage[0], base_steps, base_eta, base_r);
        return sgd_schedule_validate(out);
    }
    if (!strncmp(s, "exp:", 4)) {
        char *end;
        double q;
        if (parse_num("exp decay factor", s + 4, &end, &q)) return SGD_EINVAL;
        if (*end) return sgd_error(SGD_EINVAL, "--schedule: trailing text after exp:%g", q);
        if (!(q > 0 && q <= 1)) return sgd_error(SGD_EINVAL, "--schedule exp: factor must be in (0, 1] (got %g)", q);
        out->nstages = 1;
        stage_init(&out->stage[0], base_steps, base_eta, base_r);
        out->stage[0].decay = q;
        return sgd_schedule_validate(out);
    }
    if (strncmp(s, "stages:", 7))
        return sgd_error(SGD_EINVAL, "--schedule: unknown schedule '%s' (const, exp:Q, stages:...)", s);
    /* STEPS@LEVEL[/ETA][~LO:HI] , ... ; the level is eta*r. */
    const char *p = s + 7;
    while (*p) {
        if (out->nstages >= SGD_MAX_STAGES)
            return sgd_error(SGD_EINVAL, "--schedule: at most %d stages", SGD_MAX_STAGES);
        char *end;
        double steps, level, eta = base_eta;
        if (parse_num("stage steps", p, &end, &steps)) return SGD_EINVAL;
        if (*end != '@')
            return sgd_error(SGD_EINVAL, "--schedule: stage %zu: expected STEPS@LEVEL", out->nstages + 1);
        if (parse_num("stage level", end + 1, &end, &level)) return SGD_EINVAL;
        if (*end == '/' && parse_num("stage eta", end + 1, &end, &eta)) return SGD_EINVAL;
        if (!(steps >= 1) || steps != floor(steps))
            return sgd_error(SGD_EINVAL, "--schedule: stage %zu: steps must be a positive integer", out->nstages + 1);
        if (steps > SGD_MAX_STEPS) /* before the conversion to size_t, which would be undefined */
            return sgd_error(SGD_EINVAL, "--schedule: stage %zu: %.4g steps is too many (at most 2^53)",
                             out->nstages + 1, steps);
        if (!(eta > 0))
            return sgd_error(SGD_EINVAL, "--schedule: stage %zu: eta must be > 0", out->nstages + 1);
        if (!(level >= 0))
            return sgd_error(SGD_EINVAL, "--schedule: stage %zu: level must be >= 0", out->nstages + 1);
        sgd_stage *st = &out->stage[out->nstages++];
        stage_init(st, (size_t)steps, eta, level / eta);
        if (*end == '~') {
            double lo, hi;
            if (parse_num("restart lo", end + 1, &end, &lo)) return SGD_EINVAL;
            if (*end != ':') return sgd_error(SGD_EINVAL, "--schedule: restart region must be ~LO:HI");
            if (parse_num("restart hi", end + 1, &end, &hi)) return SGD_EINVAL;
            if (!(hi > lo)) return sgd_error(SGD_EINVAL, "--schedule: restart region needs LO < HI");
            st->start = SGD_START_FRESH;
            st->start_lo = lo;
            st->start_hi = hi;
        }
        if (*end == ',') end++;
        else if (*end)
            return sgd_error(SGD_EINVAL, "--schedule: unexpected '%c' in stage %zu", *end, out->nstages);
        p = end;
    }
    if (out->nstages == 0) return sgd_error(SGD_EINVAL, "--schedule: no stages given");
    return sgd_schedule_validate(out);
}

int sgd_schedule_validate(const sgd_schedule *s)
{
    if (s->nstages == 0 || s->nstages > SGD_MAX_STAGES)
        return sgd_error(SGD_EINVAL, "schedule: need 1..%d stages", SGD_MAX_STAGES);
    double total = 0;
    for (size_t k = 0; k < s->nstages; k++) {
        const sgd_stage *st = &s->stage[k];
        if (!(st->eta > 0) || !isfinite(st->eta))
            return sgd_error(SGD_EINVAL, "--eta: must be a finite number > 0 (stage %zu has %g)", k + 1, st->eta);
        if (!(st->r >= 0) || !isfinite(st->r))
            return sgd_error(SGD_EINVAL, "--r: noise radius must be finite and >= 0 (stage %zu has %g)", k + 1, st->r);
        if (!(st->decay > 0 && st->decay <= 1) || !(st->rdecay > 0 && st->rdecay <= 1))
            return sgd_error(SGD_EINVAL, "schedule: decay factors must be in (0, 1] (stage %zu)", k + 1);
        if (st->steps == 0) return sgd_error(SGD_EINVAL, "--steps: must be >= 1 (stage %zu)", k + 1);
        total += (double)st->steps;
    }
    if (total > SGD_MAX_STEPS) return sgd_error(SGD_EINVAL, "schedule: %.4g steps in all is too many (at most 2^53)", total);
    return SGD_OK;
}

size_t sgd_schedule_total_steps(const sgd_schedule *s)
{
    size_t t = 0;
    for (size_t k = 0; k < s->nstages; k++) t += s->stage[k].steps;
    return t;
}
