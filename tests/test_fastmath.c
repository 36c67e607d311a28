/* The vectorisable kernels against the libraries they replace. */
#include "check.h"
#include "core/fastmath.h"
#include "sgdscape/rng.h"
#include "core/rng_internal.h"

#include <Random123/philox.h>

int main(void)
{
    /* sin/cos within 2 ulp-scale of libm over the ranges the landscapes use. */
    double worst = 0;
    for (int k = 0; k < 2000000; k++) {
        double u[2];
        sgd_rng_uniform2(3, SGD_RNG_USER, 0, (uint64_t)k, 0, u);
        double scale = k % 3 == 0 ? 1.0 : (k % 3 == 1 ? 100.0 : 5e4);
        double x = (2 * u[0] - 1) * scale, s, c;
        sgd_sincos(x, &s, &c);
        double es = fabs(s - sin(x)), ec = fabs(c - cos(x));
        if (es > worst) worst = es;
        if (ec > worst) worst = ec;
    }
    printf("max |sgd_sincos - libm| = %.3g\n", worst);
    CHECK(worst < 4e-16);
    double s, c;
    sgd_sincos(0.0, &s, &c);
    CHECK(s == 0.0 && c == 1.0);
    sgd_sincos(M_PI / 2, &s, &c);
    CHECK_CLOSE(s, 1.0, 1e-16, 0);
    CHECK_CLOSE(c, 6.123233995736766e-17, 1e-30, 1e-6);
    /* cos(2 pi x): the exact one-period reduction, one polynomial */
    double worst2 = 0;
    for (int k = 0; k < 2000000; k++) {
        double u[2];
        sgd_rng_uniform2(4, SGD_RNG_USER, 0, (uint64_t)k, 0, u);
        double scale = k % 3 == 0 ? 1.0 : (k % 3 == 1 ? 10.0 : 1e4);
        double x = (2 * u[0] - 1) * scale;
        double e = fabs(sgd_cos2pi(x) - cos(2 * M_PI * (x - nearbyint(x))));
        if (e > worst2) worst2 = e;
    }
    printf("max |sgd_cos2pi - libm| = %.3g\n", worst2);
    CHECK(worst2 < 4e-16);
    CHECK(sgd_cos2pi(0.0) == 1.0);
    CHECK(sgd_cos2pi(3.0) == 1.0);
    CHECK(fabs(sgd_cos2pi(0.5) + 1.0) < 1e-16);
    CHECK(fabs(sgd_cos2pi(0.25)) < 1e-16 && fabs(sgd_cos2pi(-7.75)) < 1e-16);
    /* Philox: bit-identical to Random123. */
    int same = 1;
    for (uint32_t k = 0; k < 100000; k++) {
        uint32_t ctr[4] = {k, k * 7u, 0xdeadbeefu ^ k, k >> 3}, key[2] = {k * 13u + 1, ~k};
        uint32_t out[4];
        sgd_philox4x32(ctr, key, out);
        philox4x32_ctr_t c4 = {{ctr[0], ctr[1], ctr[2], ctr[3]}};
        philox4x32_key_t k4 = {{key[0], key[1]}};
        philox4x32_ctr_t ref = philox4x32(c4, k4);
        for (int i = 0; i < 4; i++) same &= out[i] == ref.v[i];
    }
    CHECK(same);
    /* The structure-of-arrays form (vector body and scalar tail: 1003 lanes)
     * against Random123, for a few keys. */
    enum { NL = 1003 };
    static uint32_t a0[NL], a1[NL], a2[NL], a3[NL];
    int same_soa = 1;
    for (uint32_t k = 0; k < 4; k++) {
        uint32_t key0 = 0x9e3779b9u * (k + 1), key1 = ~k * 31u;
        for (uint32_t i = 0; i < NL; i++) {
            a0[i] = i * 2654435761u;
            a1[i] = i ^ k;
            a2[i] = 0xfffffff0u + i;
            a3[i] = (k << 16) | (i >> 5);
        }
        sgd_philox4x32_soa(NL, a0, a1, a2, a3, key0, key1);
        for (uint32_t i = 0; i < NL; i++) {
            philox4x32_ctr_t c4 = {{i * 2654435761u, i ^ k, 0xfffffff0u + i, (k << 16) | (i >> 5)}};
            philox4x32_key_t k4 = {{key0, key1}};
            philox4x32_ctr_t ref = philox4x32(c4, k4);
            same_soa &= a0[i] == ref.v[0] && a1[i] == ref.v[1] && a2[i] == ref.v[2] && a3[i] == ref.v[3];
        }
    }
    CHECK(same_soa);
    /* Runs of counters with one word counting up (the counters built in
     * registers; tails of every length 1..7 computed whole, stored in part). */
    int same_run = 1;
    for (uint32_t n = 1; n <= 40; n += (n < 20 ? 1 : 19))
        for (int j = 0; j < 2; j++) {
            const uint32_t ctr[4] = {7u * n, 0xfffffff0u + n, 0xabcdu, (uint32_t)j << 16}, key0 = n * 3u, key1 = ~n;
            uint32_t *const o[4] = {a0, a1, a2, a3};
            for (uint32_t i = 0; i < n + 8; i++) a0[i] = a1[i] = a2[i] = a3[i] = 0x5a5a5a5au;
            sgd_philox4x32_run(n, ctr, j, key0, key1, o);
            for (uint32_t i = 0; i < n + 8; i++) {
                if (i >= n) { /* past the run: untouched */
                    same_run &= a0[i] == 0x5a5a5a5au && a3[i] == 0x5a5a5a5au;
                    continue;
                }
                philox4x32_ctr_t c4 = {{ctr[0], ctr[1], ctr[2], ctr[3]}};
                c4.v[j] += i;
                philox4x32_key_t k4 = {{key0, key1}};
                philox4x32_ctr_t ref = philox4x32(c4, k4);
                same_run &= a0[i] == ref.v[0] && a1[i] == ref.v[1] && a2[i] == ref.v[2] && a3[i] == ref.v[3];
            }
        }
    CHECK(same_run);
    /* r sgd_sym32(w) from r 2^-31 (one fused rounding): the same bits */
    const double radii[5] = {1.0, 0.7, 1.5, 3.3e-5, 1.7e10};
    int same_sym = 1;
    for (uint32_t k = 0; k < 200000; k++) {
        uint32_t wd = k < 4 ? (uint32_t[]){0u, 0x7fffffffu, 0x80000000u, 0xffffffffu}[k] : k * 2654435761u ^ (k >> 7);
        for (int i = 0; i < 5; i++) same_sym &= sgd_sym32_scaled(wd, radii[i] * 0x1.0p-31) == radii[i] * sgd_sym32(wd);
    }
    CHECK(same_sym);
    /* Known-answer vector from the Random123 distribution (kat_vectors):
     * philox4x32 10 rounds, ctr = key = 0. */
    uint32_t z[4] = {0, 0, 0, 0}, zk[2] = {0, 0}, o[4];
    sgd_philox4x32(z, zk, o);
    CHECK(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu && o[3] == 0x9b00dbd8u);
    return check_done();
}
