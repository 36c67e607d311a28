/* Noise models W(x). Each draw is a pure function of (seed, domain, stream,
 * step), so trials are reproducible on any number of threads. */
#include "sgdscape/noise.h"
#include "sgdscape/error.h"
#include "sgdscape/rng.h"

#include <math.h>
#include <string.h>

/* Counter index reserved for the ball's radius draw (coordinates use 0..). */
#define BALL_RADIUS_INDEX 0xfffffff0u

int sgd_noise_parse(const char *name, sgd_noise_kind *kind)
{
    static const struct { const char *s; sgd_noise_kind k; } names[] = {
        {"none", SGD_NOISE_NONE}, {"gd", SGD_NOISE_NONE},
        {"ball", SGD_NOISE_BALL}, {"uniform", SGD_NOISE_BALL}, {"interval", SGD_NOISE_BALL},
        {"cube", SGD_NOISE_CUBE},
        {"gauss", SGD_NOISE_GAUSS}, {"gaussian", SGD_NOISE_GAUSS}, {"normal", SGD_NOISE_GAUSS}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].s)) {
            *kind = names[i].k;
            return SGD_OK;
        }
    return sgd_error(SGD_EINVAL, "--noise: unknown noise model '%s' (none, ball, cube, gauss)", name);
}

const char *sgd_noise_name(sgd_noise_kind kind)
{
    switch (kind) {
    case SGD_NOISE_NONE: return "none";
    case SGD_NOISE_BALL: return "ball";
    case SGD_NOISE_CUBE: return "cube";
    case SGD_NOISE_GAUSS: return "gauss";
    case SGD_NOISE_DATA: return "data";
    }
    return "?";
}

void sgd_noise_sample_domain(const sgd_noise *W, size_t d, uint64_t seed, uint32_t domain,
                             uint64_t stream, uint64_t step, double *omega)
{
    double r = W->scale;
    if (d == 1 && (W->kind == SGD_NOISE_CUBE || W->kind == SGD_NOISE_BALL)) {
        /* the interval [-r, r], ball and cube alike: one Philox block serves
         * four steps, a 32-bit word each, as cube noise draws a coordinate */
        uint32_t w[4];
        sgd_rng_words(seed, domain, stream, step >> 2, 0, w);
        omega[0] = r * sgd_sym32(w[step & 3]);
        return;
    }
    switch (W->kind) {
    case SGD_NOISE_NONE:
    case SGD_NOISE_DATA:
        memset(omega, 0, d * sizeof *omega);
        return;
    case SGD_NOISE_CUBE:
        sgd_rng_symmetric_fill(seed, domain, stream, step, omega, d);
        for (size_t i = 0; i < d; i++) omega[i] *= r;
        return;
    case SGD_NOISE_BALL: {
        /* Uniform direction times radius r*U^(1/d). */
        sgd_rng_normal_fill(seed, domain, stream, step, omega, d);
        double nrm = 0;
        for (size_t i = 0; i < d; i++) nrm += omega[i] * omega[i];
        nrm = sqrt(nrm);
        double u[2];
        sgd_rng_uniform2(seed, domain, stream, step, BALL_RADIUS_INDEX, u);
        double rad = r * pow(u[0], 1.0 / (double)d);
        double s = nrm > 0 ? rad / nrm : 0.0;
        for (size_t i = 0; i < d; i++) omega[i] *= s;
        return;
    }
    case SGD_NOISE_GAUSS:
        sgd_rng_normal_fill(seed, domain, stream, step, omega, d);
        for (size_t i = 0; i < d; i++) omega[i] *= r;
        return;
    }
}

int sgd_noise_sample(const sgd_noise *W, size_t d, uint64_t seed, uint64_t trial,
                     uint64_t step, const double *x, double *omega)
{
    if (W->kind == SGD_NOISE_DATA) {
        if (!W->data) return sgd_error(SGD_EINVAL, "data noise without a sampling hook");
        return W->data(W->data_ctx, x, d, seed, trial, step, omega);
    }
    sgd_noise_sample_domain(W, d, seed, SGD_RNG_NOISE, trial, step, omega);
    return SGD_OK;
}

double sgd_noise_max_norm(const sgd_noise *W, size_t d)
{
    switch (W->kind) {
    case SGD_NOISE_NONE: return 0.0;
    case SGD_NOISE_BALL: return W->scale;
    case SGD_NOISE_CUBE: return W->scale * sqrt((double)d);
    case SGD_NOISE_GAUSS: return INFINITY;
    case SGD_NOISE_DATA: return NAN;
    }
    return NAN;
}

double sgd_noise_second_moment(const sgd_noise *W, size_t d)
{
    double r2 = W->scale * W->scale, dd = (double)d;
    switch (W->kind) {
    case SGD_NOISE_NONE: return 0.0;
    case SGD_NOISE_BALL: return r2 * dd / (dd + 2.0);
    case SGD_NOISE_CUBE: return dd * r2 / 3.0;
    case SGD_NOISE_GAUSS: return dd * r2;
    case SGD_NOISE_DATA: return NAN;
    }
    return NAN;
}
