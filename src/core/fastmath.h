/* Branch-free kernels that compilers vectorise across trials: sin/cos and
 * Philox4x32-10. Private to the library.
 *
 * Why our own: libm's sincos is a scalar call and was half the run time of a
 * Figure-3 trial step (perf, bench/fig3_bench.sh); Random123's philox4x32 is
 * written for one counter at a time. These versions run 4 trials (sin/cos, in
 * double) or 8 counters (Philox, 32-bit lanes) per AVX2 instruction, twice as
 * many with AVX-512 when the compiler targets it. sgd_sincos agrees with libm to about 1 ulp (tests/test_fastmath.c)
 * and sgd_philox4x32 is bit-identical to Random123's (same test). */
#ifndef SGD_FASTMATH_H
#define SGD_FASTMATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

/* sin(x), cos(x) for |x| < 2^30: Cody-Waite reduction by pi/2 in three
 * parts (fdlibm's constants), then fdlibm's minimax kernels on [-pi/4, pi/4].
 * Written as a macro so that compiled formulas (landscape/formula_emit.c)
 * carry the same source as text: SGD_SINCOS_SOURCE(SGD_AS_CODE) defines it,
 * SGD_SINCOS_SOURCE(SGD_AS_TEXT) is its text. */
#define SGD_AS_CODE(...) __VA_ARGS__
#define SGD_AS_TEXT(...) #__VA_ARGS__
#define SGD_SINCOS_SOURCE(X)                                                                                    \
    X(static inline void sgd_sincos(double x, double *s, double *c)                                             \
    {                                                                                                           \
        const double two_over_pi = 6.36619772367581382433e-01;                                                  \
        const double pio2_1 = 1.57079632673412561417e+00;  /* first 33 bits of pi/2 */                          \
        const double pio2_2 = 6.07710050630396597660e-11;  /* next 33 bits */                                   \
        const double pio2_2t = 2.02226624879595063154e-21; /* pi/2 - pio2_1 - pio2_2 */                         \
        const double round_magic = 6755399441055744.0;    /* 1.5 * 2^52: rounds to nearest */                   \
        double shifted = x * two_over_pi + round_magic;                                                         \
        double qd = shifted - round_magic;                                                                      \
        double r = ((x - qd * pio2_1) - qd * pio2_2) - qd * pio2_2t;                                            \
        /* The quadrant's low bits are the low mantissa bits of `shifted`                                       \
         * (a bit cast, which vectorises where a double->int64 conversion                                       \
         * would not on AVX2). */                                                                               \
        uint64_t qbits;                                                                                         \
        memcpy(&qbits, &shifted, sizeof qbits);                                                                 \
        double z = r * r;                                                                                       \
        double ps = -1.66666666666666324348e-01 +                                                               \
                    z * (8.33333333332248946124e-03 +                                                           \
                         z * (-1.98412698298579493134e-04 +                                                     \
                              z * (2.75573137070700676789e-06 +                                                 \
                                   z * (-2.50507602534068634195e-08 + z * 1.58969099521155010221e-10))));       \
        double sn = r + r * z * ps;                                                                             \
        double pc = 4.16666666666666019037e-02 +                                                                \
                    z * (-1.38888888888741095749e-03 +                                                          \
                         z * (2.48015872894767294178e-05 +                                                      \
                              z * (-2.75573143513906633035e-07 +                                                \
                                   z * (2.08757232129817482790e-09 + z * -1.13596475577881948265e-11))));       \
        double hz = 0.5 * z, w = 1.0 - hz;                                                                      \
        double cs = w + (((1.0 - w) - hz) + z * z * pc);                                                        \
        /* quadrant q mod 4: (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s) */                                 \
        uint64_t k = qbits & 3;                                                                                 \
        double s1 = (k & 1) ? cs : sn, c1 = (k & 1) ? sn : cs;                                                  \
        *s = (k & 2) ? -s1 : s1;                                                                                \
        *c = ((k + 1) & 2) ? -c1 : c1;                                                                          \
    })
SGD_SINCOS_SOURCE(SGD_AS_CODE)

/* cos(2 pi x), for |x| < 2^50, cheaper than sgd_sincos when only the cosine
 * of a multiple of 2 pi is wanted (Rastrigin's value): the reduction to one
 * period is exact (f = x - round(x)), and cos(2 pi f) = sin(2 pi (1/4 - |f|))
 * with the argument in [-pi/2, pi/2], where the Taylor series of sin to r^21
 * is within 1.3e-18 - one polynomial, no quadrant selection. Agrees with
 * libm's cos(2 pi x) to a few 1e-16 (tests/test_fastmath.c). */
static inline double sgd_cos2pi(double x)
{
    const double round_magic = 6755399441055744.0; /* 1.5 * 2^52 */
    const double two_pi = 6.28318530717958647692528676655900577;
    double f = x - ((x + round_magic) - round_magic);
    double a = f < 0 ? -f : f;
    double r = two_pi * (0.25 - a);
    double z = r * r;
    double p = 1.9572941063391263e-20;
    p = p * z + -8.22063524662433e-18;
    p = p * z + 2.8114572543455206e-15;
    p = p * z + -7.647163731819816e-13;
    p = p * z + 1.6059043836821613e-10;
    p = p * z + -2.505210838544172e-08;
    p = p * z + 2.7557319223985893e-06;
    p = p * z + -0.0001984126984126984;
    p = p * z + 0.008333333333333333;
    p = p * z + -0.16666666666666666;
    return r + r * z * p;
}

/* Philox4x32-10, identical to Random123's philox4x32(ctr, key). The
 * 32-bit words travel in 64-bit variables so that a loop over trials
 * vectorises without packing and unpacking lanes (vpmuludq multiplies the low
 * halves of 64-bit lanes). */
static inline void sgd_philox4x32_s(uint32_t c0_, uint32_t c1_, uint32_t c2_, uint32_t c3_, uint32_t k0_,
                                    uint32_t k1_, uint32_t *o0, uint32_t *o1, uint32_t *o2, uint32_t *o3)
{
    const uint64_t mask = 0xffffffffu;
    uint64_t c0 = c0_, c1 = c1_, c2 = c2_, c3 = c3_, k0 = k0_, k1 = k1_;
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = 0xD2511F53u * c0, p1 = 0xCD9E8D57u * c2;
        c0 = (p1 >> 32) ^ c1 ^ k0;
        c1 = p1 & mask;
        c2 = (p0 >> 32) ^ c3 ^ k1;
        c3 = p0 & mask;
        k0 = (k0 + 0x9E3779B9u) & mask;
        k1 = (k1 + 0xBB67AE85u) & mask;
    }
    *o0 = (uint32_t)c0;
    *o1 = (uint32_t)c1;
    *o2 = (uint32_t)c2;
    *o3 = (uint32_t)c3;
}

static inline void sgd_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    sgd_philox4x32_s(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1], &out[0], &out[1], &out[2], &out[3]);
}

/* Ten rounds on eight (AVX2) or sixteen (AVX-512) blocks, word j of block i
 * in lane i of x[j]. The rounds run on the even and the odd lanes apart,
 * each word in the low half of a 64-bit lane: vpmuludq reads only low
 * halves, so a product serves as the next round's low word as it is and its
 * high word is one shift away; the garbage in the high halves never reaches
 * a low half. 16 operations per round against 20 with the lanes blended
 * back every round (~10% faster here). One body, written once for both
 * widths: V is the vector type, P the intrinsics' prefix, S the suffix of
 * the bitwise ones, SET64 the 64-bit broadcast, BLEND(e, o) the final
 * merge. */
#define SGD_PHILOX_ROUNDS(V, P, S, SET64, BLEND)                                                             \
    do {                                                                                               \
        const V m0 = SET64(0xD2511F53u), m1 = SET64(0xCD9E8D57u);                                      \
        V e[4], o[4]; /* even lanes as they are, odd lanes shifted down */                             \
        for (int j = 0; j < 4; j++) {                                                                  \
            e[j] = x[j];                                                                               \
            o[j] = P##_srli_epi64(x[j], 32);                                                           \
        }                                                                                              \
        uint32_t a = k0, b = k1;                                                                       \
        for (int round = 0; round < 10; round++) {                                                     \
            const V ka = P##_set1_epi32((int)a), kb = P##_set1_epi32((int)b);                          \
            V pe0 = P##_mul_epu32(e[0], m0), pe1 = P##_mul_epu32(e[2], m1);                            \
            V po0 = P##_mul_epu32(o[0], m0), po1 = P##_mul_epu32(o[2], m1);                            \
            e[0] = P##_xor_##S(P##_srli_epi64(pe1, 32), P##_xor_##S(e[1], ka));                        \
            e[2] = P##_xor_##S(P##_srli_epi64(pe0, 32), P##_xor_##S(e[3], kb));                        \
            o[0] = P##_xor_##S(P##_srli_epi64(po1, 32), P##_xor_##S(o[1], ka));                        \
            o[2] = P##_xor_##S(P##_srli_epi64(po0, 32), P##_xor_##S(o[3], kb));                        \
            e[1] = pe1;                                                                                \
            e[3] = pe0;                                                                                \
            o[1] = po1;                                                                                \
            o[3] = po0;                                                                                \
            a += 0x9E3779B9u;                                                                          \
            b += 0xBB67AE85u;                                                                          \
        }                                                                                              \
        for (int j = 0; j < 4; j++) x[j] = BLEND(e[j], P##_slli_epi64(o[j], 32));                     \
    } while (0)

#ifdef __AVX2__
#define SGD_PHILOX_BLEND8(e, o) _mm256_blend_epi32(e, o, 0xAA)
static inline void sgd_philox4x32_x8(__m256i x[4], uint32_t k0, uint32_t k1)
{
    SGD_PHILOX_ROUNDS(__m256i, _mm256, si256, _mm256_set1_epi64x, SGD_PHILOX_BLEND8);
}
#endif

#ifdef __AVX512F__
/* The AVX-512 kernel variant: half the instructions per block of x8. */
#define SGD_PHILOX_BLEND16(e, o) _mm512_mask_blend_epi32(0xAAAA, e, o)
static inline void sgd_philox4x32_x16(__m512i x[4], uint32_t k0, uint32_t k1)
{
    SGD_PHILOX_ROUNDS(__m512i, _mm512, si512, _mm512_set1_epi64, SGD_PHILOX_BLEND16);
}
#endif

/* Philox4x32-10 over n counters stored as four word arrays (structure of
 * arrays), in place: word j of block i is cj[i]. The same bits as
 * sgd_philox4x32_s. Why a second form: vectorising sgd_philox4x32_s, the
 * compiler keeps four blocks per AVX2 register and packs and unpacks them
 * every round; sgd_philox4x32_x8 takes eight blocks through each pair of
 * instructions (2.4x the compiler's throughput when it blended the lanes
 * every round, ~10% more since). */
static inline void sgd_philox4x32_soa(size_t n, uint32_t *restrict c0, uint32_t *restrict c1,
                                      uint32_t *restrict c2, uint32_t *restrict c3, uint32_t k0,
                                      uint32_t k1)
{
    size_t i = 0;
#ifdef __AVX2__
    uint32_t *const c[4] = {c0, c1, c2, c3};
#ifdef __AVX512F__
    for (; i + 16 <= n; i += 16) {
        __m512i x[4];
        for (int j = 0; j < 4; j++) x[j] = _mm512_loadu_si512((const void *)(c[j] + i));
        sgd_philox4x32_x16(x, k0, k1);
        for (int j = 0; j < 4; j++) _mm512_storeu_si512((void *)(c[j] + i), x[j]);
    }
#endif
    for (; i + 8 <= n; i += 8) {
        __m256i x[4];
        for (int j = 0; j < 4; j++) x[j] = _mm256_loadu_si256((const __m256i *)(const void *)(c[j] + i));
        sgd_philox4x32_x8(x, k0, k1);
        for (int j = 0; j < 4; j++) _mm256_storeu_si256((__m256i *)(void *)(c[j] + i), x[j]);
    }
#endif
    for (; i < n; i++) sgd_philox4x32_s(c0[i], c1[i], c2[i], c3[i], k0, k1, &c0[i], &c1[i], &c2[i], &c3[i]);
}

/* Philox4x32-10 of the n counters ctr + i e_j, i < n (word j counts up;
 * the caller sees that it does not wrap), word t of block i into o[t][i].
 * The counters never pass through memory (sixteen per instruction with
 * AVX-512, eight with AVX2), and the last partial group of
 * eight is computed whole and stored in part: about 10% faster than filling
 * counter arrays for sgd_philox4x32_soa. Always inlined: with j a constant
 * the state stays in registers; called out of line, x[j] sent it through
 * memory (25% slower). */
static inline __attribute__((always_inline)) void sgd_philox4x32_run(size_t n, const uint32_t ctr[4], int j,
                                                                     uint32_t k0, uint32_t k1, uint32_t *const o[4])
{
    size_t i = 0;
#ifdef __AVX2__
#ifdef __AVX512F__
    /* whole groups of sixteen first; the rest, and the partial group, by eight */
    {
        const __m512i iota16 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        __m512i b16[4];
        for (int t = 0; t < 4; t++) b16[t] = _mm512_set1_epi32((int)ctr[t]);
        for (; i + 16 <= n; i += 16) {
            __m512i x[4] = {b16[0], b16[1], b16[2], b16[3]};
            x[j] = _mm512_add_epi32(b16[j], _mm512_add_epi32(iota16, _mm512_set1_epi32((int)(uint32_t)i)));
            sgd_philox4x32_x16(x, k0, k1);
            for (int t = 0; t < 4; t++) _mm512_storeu_si512((void *)(o[t] + i), x[t]);
        }
    }
#endif
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i base[4];
    for (int t = 0; t < 4; t++) base[t] = _mm256_set1_epi32((int)ctr[t]);
    for (; i < n; i += 8) {
        __m256i x[4] = {base[0], base[1], base[2], base[3]};
        x[j] = _mm256_add_epi32(base[j], _mm256_add_epi32(iota, _mm256_set1_epi32((int)(uint32_t)i)));
        sgd_philox4x32_x8(x, k0, k1);
        if (i + 8 <= n)
            for (int t = 0; t < 4; t++) _mm256_storeu_si256((__m256i *)(void *)(o[t] + i), x[t]);
        else {
            uint32_t tmp[8];
            for (int t = 0; t < 4; t++) {
                _mm256_storeu_si256((__m256i *)(void *)tmp, x[t]);
                memcpy(o[t] + i, tmp, (n - i) * sizeof(uint32_t));
            }
        }
    }
#else
    for (; i < n; i++) {
        uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
        c[j] += (uint32_t)i;
        sgd_philox4x32_s(c[0], c[1], c[2], c[3], k0, k1, &o[0][i], &o[1][i], &o[2][i], &o[3][i]);
    }
#endif
}

/* acc[0] + ... + acc[15], folded pairwise in a fixed order: the end of a
 * sum kept in 16 interleaved partial sums (independent chains for the adder;
 * the bits depend only on the number of terms, not on vector width). */
static inline double sgd_sum16_fold(double acc[16])
{
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/* out = sum_{k_ < n} TERM, TERM an expression in k_ (the macro's own names
 * end in _): term k_ added to partial sum k_ % 16 (independent chains for
 * the adder), the partial sums folded by sgd_sum16_fold. Every "16 partial
 * sums" total in the project is this one, so their bits depend on n alone. */
#define SGD_SUM16(out, n, TERM)                        \
    do {                                               \
        double acc_[16] = {0};                         \
        size_t k0_ = 0;                                \
        for (; k0_ + 16 <= (n); k0_ += 16)             \
            for (size_t j_ = 0; j_ < 16; j_++) {       \
                const size_t k_ = k0_ + j_;            \
                acc_[j_] += TERM;                      \
            }                                          \
        for (size_t j_ = 0; k0_ + j_ < (n); j_++) {    \
            const size_t k_ = k0_ + j_;                \
            acc_[j_] += TERM;                          \
        }                                              \
        (out) = sgd_sum16_fold(acc_);                  \
    } while (0)

/* The counter layout of sgd_rng_words (rng.h); word 3 (domain and the high
 * bytes of step and stream) on its own for loops that fill many counters. */
static inline uint32_t sgd_rng_counter_w3(uint32_t domain, uint64_t stream, uint64_t step)
{
    return (domain << 16) | (uint32_t)((step >> 32) & 0xff) << 8 | (uint32_t)((stream >> 32) & 0xff);
}

static inline void sgd_rng_counter(uint32_t domain, uint64_t stream, uint64_t step, uint32_t index, uint32_t c[4])
{
    c[0] = index;
    c[1] = (uint32_t)step;
    c[2] = (uint32_t)stream;
    c[3] = sgd_rng_counter_w3(domain, stream, step);
}

#endif
