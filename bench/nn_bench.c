/* Neural-network training throughput of the sgdscape engine (issue 4,
 * Performance), one model per process so the peak memory is per model.
 *
 *   bench_nn model SPEC [THREADS [BATCH [SECONDS [MAXITERS]]]]
 *       Builds SPEC for 3x32x32 input and 10 classes, random N(0,1) inputs and
 *       random labels, then times full SGD steps (forward + backward +
 *       momentum 0.9 / weight decay 1e-4 update) with THREADS OpenMP threads
 *       (2), batch BATCH (128). One warm-up step; its time sets the number of
 *       timed steps so that they take about SECONDS (8), between 3 and
 *       MAXITERS (40). Prints one JSON line with every step time, the median,
 *       img/s and the process's VmHWM.
 *   bench_nn sgemm [N [THREADS [REPEATS]]]
 *       OpenBLAS sgemm N x N x N (2048) with THREADS BLAS threads (2): the
 *       FP32 ceiling. Called as sgemm_ so that it is OpenBLAS's whatever the
 *       link order. Median GFLOP/s of REPEATS (3) as one JSON line.
 *   bench_nn gemm M N K TRANSA TRANSB [REPEATS]
 *       One single-threaded sgemm shape (row-major, as the engine calls it;
 *       TRANSA/TRANSB are N or T), repeated until 0.2 s passed, median of
 *       REPEATS (5) rounds: how well BLAS does on the engine's small shapes.
 *   bench_nn params SPEC
 *       Parameter and buffer counts only. */
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 200

/* The Fortran interface, which only OpenBLAS exports: cblas_sgemm could
 * resolve to GSL's reference libgslcblas, which the library also links. */
void sgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);

/* Row-major C (M x N) = op(A) op(B): column-major C^T = op(B)^T op(A)^T. */
static void gemm_rm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc)
{
    const float one = 1.0f;
    sgemm_(tb ? "T" : "N", ta ? "T" : "N", &N, &M, &K, &one, B, &ldb, A, &lda, &beta, C, &ldc);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* kB from a "Key:   N kB" line of /proc/self/status, or -1. */
static long proc_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* xorshift64* and Box-Muller: the inputs only need to be non-degenerate. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(uint64_t *s) { return ((rng_next(s) >> 11) + 0.5) * 0x1.0p-53; }

static void fill_normal(float *v, size_t n, uint64_t *s)
{
    const double two_pi = 6.283185307179586;
    for (size_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(rng_unit(s))), t = two_pi * rng_unit(s);
        v[i] = (float)(r * cos(t));
        if (i + 1 < n) v[i + 1] = (float)(r * sin(t));
    }
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void print_blas_info(void)
{
    printf("\"blas_core\": ");
    print_json_string(openblas_get_corename());
    printf(", \"blas_config\": ");
    print_json_string(openblas_get_config());
}

static int bench_model(const char *spec, int threads, size_t batch, double seconds, int maxiters)
{
    const int C = 3, H = 32, W = 32, classes = 10;
    long rss0 = proc_status_kb("VmRSS");
    omp_set_num_threads(threads);
    double tb = sgd_now();
    sgd_net *net = sgd_net_create(spec, C, H, W, classes);
    if (!net) {
        fprintf(stderr, "bench_nn: %s: %s\n", spec, sgd_errmsg());
        return 1;
    }
    size_t p = sgd_net_nparams(net), nb = sgd_net_nbuffers(net), in = (size_t)C * H * W * batch;
    float *x = malloc(sizeof(float) * p), *g = malloc(sizeof(float) * p);
    float *m = calloc(p, sizeof(float)), *buf = malloc(sizeof(float) * (nb ? nb : 1));
    float *input = malloc(sizeof(float) * in);
    int32_t *labels = malloc(sizeof(int32_t) * batch);
    if (!x || !g || !m || !buf || !input || !labels) {
        fprintf(stderr, "bench_nn: out of memory\n");
        return 1;
    }
    sgd_net_init(net, 1, x, buf);
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    fill_normal(input, in, &s);
    for (size_t i = 0; i < batch; i++) labels[i] = (int32_t)(rng_next(&s) % (uint64_t)classes);
    double build_s = sgd_now() - tb;

    double t[MAX_STEPS], loss = 0, loss0 = 0;
    size_t correct = 0;
    int nt = 0, total = 0;
    /* Warm-up (allocates the activations for this batch), then the timed
     * steps; the warm-up time decides how many. */
    double t0 = sgd_now();
    int rc = sgd_net_run(net, x, buf, SGD_NN_TRAIN, input, labels, batch, &loss0, g, &correct);
    if (rc) {
        fprintf(stderr, "bench_nn: %s: %s\n", spec, sgd_errmsg());
        return 1;
    }
    sgd_nn_sgd_step(x, g, m, p, 0.01, 0.9, 1e-4);
    double warm = sgd_now() - t0;
    int iters = warm > 0 ? (int)ceil(seconds / warm) : maxiters;
    if (iters < 3) iters = 3;
    if (iters > maxiters) iters = maxiters;
    if (iters > MAX_STEPS) iters = MAX_STEPS;
    for (; nt < iters; nt++) {
        t0 = sgd_now();
        rc = sgd_net_run(net, x, buf, SGD_NN_TRAIN, input, labels, batch, &loss, g, &correct);
        if (rc) {
            fprintf(stderr, "bench_nn: %s: %s\n", spec, sgd_errmsg());
            return 1;
        }
        sgd_nn_sgd_step(x, g, m, p, 0.01, 0.9, 1e-4);
        t[nt] = sgd_now() - t0;
    }
    total = nt + 1;
    double sorted[MAX_STEPS];
    memcpy(sorted, t, sizeof(double) * (size_t)nt);
    double med = median(sorted, nt);
    long hwm = proc_status_kb("VmHWM");

    printf("{\"impl\": \"sgdscape\", \"spec\": ");
    print_json_string(spec);
    printf(", \"params\": %zu, \"buffers\": %zu, \"threads\": %d, \"batch\": %zu, "
           "\"warmup_s\": %.6g, \"steps\": %d, \"step_s\": [",
           p, nb, threads, batch, warm, total);
    for (int i = 0; i < nt; i++) printf("%s%.6g", i ? ", " : "", t[i]);
    printf("], \"median_s\": %.6g, \"img_per_s\": %.6g, \"min_s\": %.6g, \"build_s\": %.6g, "
           "\"loss_first\": %.6g, \"loss_last\": %.6g, \"vm_hwm_kb\": %ld, \"vm_rss_start_kb\": %ld, ",
           med, (double)batch / med, sorted[0], build_s, loss0, loss, hwm, rss0);
    print_blas_info();
    printf(", \"blas_threads_in_engine\": %d}\n", openblas_get_num_threads());
    free(x);
    free(g);
    free(m);
    free(buf);
    free(input);
    free(labels);
    sgd_net_free(net);
    return 0;
}

static int bench_sgemm(int n, int threads, int reps)
{
    openblas_set_num_threads(threads);
    size_t nn = (size_t)n * n;
    float *a = malloc(sizeof(float) * nn), *b = malloc(sizeof(float) * nn),
          *c = malloc(sizeof(float) * nn);
    if (!a || !b || !c) {
        fprintf(stderr, "bench_nn: out of memory\n");
        return 1;
    }
    uint64_t s = 12345;
    fill_normal(a, nn, &s);
    fill_normal(b, nn, &s);
    memset(c, 0, sizeof(float) * nn);
    gemm_rm(0, 0, n, n, n, a, n, b, n, 0.0f, c, n);
    double t[100] = {0}, gf[100] = {0};
    for (int k = 0; k < reps; k++) {
        double t0 = sgd_now();
        gemm_rm(0, 0, n, n, n, a, n, b, n, 0.0f, c, n);
        t[k] = sgd_now() - t0;
        gf[k] = 2.0 * n * (double)n * n / t[k] / 1e9;
    }
    double med = median(t, reps), best = 0;
    for (int k = 0; k < reps; k++)
        if (gf[k] > best) best = gf[k];
    printf("{\"impl\": \"openblas\", \"n\": %d, \"threads\": %d, \"repeats\": %d, \"median_s\": %.6g, "
           "\"gflops\": %.6g, \"gflops_best\": %.6g, \"check\": %.6g, ",
           n, openblas_get_num_threads(), reps, med, 2.0 * n * (double)n * n / med / 1e9, best,
           (double)c[nn / 2]);
    print_blas_info();
    printf("}\n");
    free(a);
    free(b);
    free(c);
    return 0;
}

static int bench_gemm(int M, int N, int K, int ta, int tb, int reps)
{
    openblas_set_num_threads(1);
    size_t sa = (size_t)M * K, sb = (size_t)K * N, sc = (size_t)M * N;
    float *a = malloc(sizeof(float) * sa), *b = malloc(sizeof(float) * sb),
          *c = calloc(sc, sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "bench_nn: out of memory\n");
        return 1;
    }
    uint64_t s = 777;
    fill_normal(a, sa, &s);
    fill_normal(b, sb, &s);
    int lda = ta ? M : K, ldb = tb ? K : N;
    double gf[100] = {0};
    for (int k = 0; k < reps; k++) {
        long calls = 0;
        double t0 = sgd_now(), el;
        do {
            gemm_rm(ta, tb, M, N, K, a, lda, b, ldb, 0.0f, c, N);
            calls++;
        } while ((el = sgd_now() - t0) < 0.2);
        gf[k] = 2.0 * M * (double)N * K * calls / el / 1e9;
    }
    printf("{\"impl\": \"openblas\", \"M\": %d, \"N\": %d, \"K\": %d, \"transa\": \"%c\", "
           "\"transb\": \"%c\", \"threads\": 1, \"gflops\": %.6g}\n",
           M, N, K, ta ? 'T' : 'N', tb ? 'T' : 'N', median(gf, reps));
    free(a);
    free(b);
    free(c);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_nn model SPEC [THREADS [BATCH [SECONDS [MAXITERS]]]]\n"
                    "       bench_nn sgemm [N [THREADS [REPEATS]]]\n"
                    "       bench_nn gemm M N K TRANSA TRANSB [REPEATS]\n"
                    "       bench_nn params SPEC\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    if (!strcmp(argv[1], "model") && argc >= 3 && argc <= 7) {
        int threads = argc > 3 ? atoi(argv[3]) : 2;
        long batch = argc > 4 ? atol(argv[4]) : 128;
        double seconds = argc > 5 ? atof(argv[5]) : 8.0;
        int maxiters = argc > 6 ? atoi(argv[6]) : 40;
        if (threads < 1 || batch < 1 || !(seconds > 0) || maxiters < 3) {
            usage();
            return 2;
        }
        return bench_model(argv[2], threads, (size_t)batch, seconds, maxiters);
    }
    if (!strcmp(argv[1], "sgemm") && argc <= 5) {
        int n = argc > 2 ? atoi(argv[2]) : 2048, threads = argc > 3 ? atoi(argv[3]) : 2,
            reps = argc > 4 ? atoi(argv[4]) : 3;
        if (n < 1 || threads < 1 || reps < 1 || reps > 100) {
            usage();
            return 2;
        }
        return bench_sgemm(n, threads, reps);
    }
    if (!strcmp(argv[1], "gemm") && (argc == 7 || argc == 8)) {
        int M = atoi(argv[2]), N = atoi(argv[3]), K = atoi(argv[4]);
        int reps = argc > 7 ? atoi(argv[7]) : 5;
        if (M < 1 || N < 1 || K < 1 || reps < 1 || reps > 100 || !argv[5][0] ||
            !strchr("NT", argv[5][0]) || !argv[6][0] || !strchr("NT", argv[6][0])) {
            usage();
            return 2;
        }
        return bench_gemm(M, N, K, argv[5][0] == 'T', argv[6][0] == 'T', reps);
    }
    if (!strcmp(argv[1], "params") && argc == 3) {
        sgd_net *net = sgd_net_create(argv[2], 3, 32, 32, 10);
        if (!net) {
            fprintf(stderr, "bench_nn: %s: %s\n", argv[2], sgd_errmsg());
            return 1;
        }
        printf("{\"spec\": ");
        print_json_string(argv[2]);
        printf(", \"params\": %zu, \"buffers\": %zu}\n", sgd_net_nparams(net), sgd_net_nbuffers(net));
        sgd_net_free(net);
        return 0;
    }
    usage();
    return 2;
}
