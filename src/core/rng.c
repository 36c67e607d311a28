/* Philox4x32-10 from Random123, wrapped so that every draw is addressed by
 * (seed, domain, stream, step, index). */
#include "sgdscape/rng.h"
#include "core/rng_internal.h"

#include <math.h>
#include <Random123/philox.h>

#include "core/fastmath.h"

void sgd_rng_words(uint64_t seed, uint32_t domain, uint64_t stream,
                   uint64_t step, uint32_t index, uint32_t out[4])
{
    philox4x32_key_t k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    /* 40 bits of step and stream, 16 bits of domain. */
    philox4x32_ctr_t c;
    sgd_rng_counter(domain, stream, step, index, c.v);
    philox4x32_ctr_t r = philox4x32(c, k);
    out[0] = r.v[0];
    out[1] = r.v[1];
    out[2] = r.v[2];
    out[3] = r.v[3];
}

void sgd_rng_uniform2(uint64_t seed, uint32_t domain, uint64_t stream,
                      uint64_t step, uint32_t index, double out[2])
{
    uint32_t w[4];
    sgd_rng_words(seed, domain, stream, step, index, w);
    out[0] = sgd_u01(w[0], w[1]);
    out[1] = sgd_u01(w[2], w[3]);
}

void sgd_rng_normal2(uint64_t seed, uint32_t domain, uint64_t stream,
                     uint64_t step, uint32_t index, double out[2])
{
    double u[2];
    sgd_rng_uniform2(seed, domain, stream, step, index, u);
    /* 1-u is in (0,1], so the log is finite. */
    double rad = sqrt(-2.0 * log(1.0 - u[0]));
    double th = 6.283185307179586476925286766559 * u[1];
    out[0] = rad * cos(th);
    out[1] = rad * sin(th);
}

typedef void (*pair_fn)(uint64_t, uint32_t, uint64_t, uint64_t, uint32_t, double[2]);

/* Numbers 2k and 2k+1 of a stream come from the pair at index k. */
static void fill_pairs(pair_fn pair, uint64_t seed, uint32_t domain, uint64_t stream, uint64_t step, double *v,
                       uint64_t n)
{
    double two[2];
    for (uint64_t i = 0; i < n; i += 2) {
        pair(seed, domain, stream, step, (uint32_t)(i / 2), two);
        v[i] = two[0];
        if (i + 1 < n) v[i + 1] = two[1];
    }
}

void sgd_rng_uniform_fill(uint64_t seed, uint32_t domain, uint64_t stream, uint64_t step, double *u, uint64_t n)
{
    fill_pairs(sgd_rng_uniform2, seed, domain, stream, step, u, n);
}

void sgd_rng_normal_fill(uint64_t seed, uint32_t domain, uint64_t stream, uint64_t step, double *z, uint64_t n)
{
    fill_pairs(sgd_rng_normal2, seed, domain, stream, step, z, n);
}

void sgd_rng_symmetric_fill(uint64_t seed, uint32_t domain, uint64_t stream, uint64_t step, double *v, uint64_t n)
{
    const uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    uint64_t h = (n + 3) / 4;
    for (uint64_t q = 0; q < h; q++) {
        uint32_t c[4], o[4];
        sgd_rng_counter(domain, stream, step, (uint32_t)q, c);
        sgd_philox4x32_s(c[0], c[1], c[2], c[3], k0, k1, &o[0], &o[1], &o[2], &o[3]);
        for (uint64_t t = 0; t < 4 && t * h + q < n; t++) v[t * h + q] = sgd_sym32(o[t]);
    }
}

uint64_t sgd_rng_below(uint64_t seed, uint32_t domain, uint64_t stream,
                       uint64_t step, uint32_t index, uint64_t n)
{
    /* Lemire's nearly-divisionless method on a 64-bit word (two Philox
     * words); a rejection draws from a fresh sub-counter, so it stays
     * deterministic. */
    uint32_t w[4];
    for (uint32_t attempt = 0;; attempt++) {
        sgd_rng_words(seed, domain, stream, step, index + attempt * 0x10000000u, w);
        uint64_t x = ((uint64_t)w[0] << 32) | w[1];
        if (n <= 1) return 0;
        unsigned __int128 m = (unsigned __int128)x * n;
        uint64_t l = (uint64_t)m;
        if (l >= n || l >= (uint64_t)(-n) % n) return (uint64_t)(m >> 64);
    }
}
