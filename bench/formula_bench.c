/* First-call compile time and cached-load time of a compiled formula
 * (sgd_landscape_formula_jit), and the CPU time per point of its gradient,
 * batches of 64 points on one thread (what the trial runner asks for),
 * interpreted, compiled and, given CATALOG, for that catalog entry; for
 * bench/formula_bench.sh: one JSON line.
 *   build/bench_formula FORMULA D REPEATS [CATALOG]   (XDG_CACHE_HOME: a fresh directory) */
#include "sgdscape/landscape.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds (user + system) of the finished child processes: the compiler. */
static double child_cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_CHILDREN, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One call: the seconds sgd_landscape_formula_jit took, or -1. */
static double one(const char *expr, size_t d)
{
    sgd_landscape *f = sgd_landscape_formula(expr, d);
    if (!f) return -1;
    char note[512];
    double t0 = now();
    int rc = sgd_landscape_formula_jit(f, note, sizeof note);
    double t = now() - t0;
    if (rc) fprintf(stderr, "bench_formula: %s\n", note);
    sgd_landscape_free(f);
    return rc ? -1 : t;
}

/* CPU nanoseconds per point of f's batched gradient: 64 points spread over
 * [-3, 3]^d, batches repeated for at least 0.1 s, the median of reps. */
static double grad_ns(const sgd_landscape *f, size_t d, int reps)
{
    enum { NP = 64 };
    double *x = malloc(NP * d * sizeof *x), *g = malloc(NP * d * sizeof *g), t[100];
    if (!x || !g) {
        free(x);
        free(g);
        return -1;
    }
    for (size_t i = 0; i < NP * d; i++) x[i] = -3.0 + 6.0 * (double)((i * 7919) % 1000) / 999.0;
    for (int r = 0; r < reps; r++) {
        size_t calls = 0;
        double t0 = thread_cpu(), el;
        do {
            for (int k = 0; k < 100; k++) f->grad_batch(f, NP, x, g);
            calls += 100;
        } while ((el = thread_cpu() - t0) < 0.1);
        t[r] = el / (double)(calls * NP) * 1e9;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    free(x);
    free(g);
    return t[(reps - 1) / 2];
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: bench_formula FORMULA D REPEATS [CATALOG]\n");
        return 2;
    }
    size_t d = (size_t)atoi(argv[2]);
    int reps = atoi(argv[3]);
    if (reps < 1 || reps > 100 || d < 1) return 2;
    double first[100], cached[100], cpu[100];
    char dir[4096];
    const char *base = getenv("XDG_CACHE_HOME");
    for (int r = 0; r < reps; r++) {
        /* a fresh cache per repeat: every first call compiles */
        snprintf(dir, sizeof dir, "%s/rep%d", base ? base : "/tmp", r);
        setenv("XDG_CACHE_HOME", dir, 1);
        double c0 = child_cpu();
        first[r] = one(argv[1], d);
        cpu[r] = child_cpu() - c0;
        cached[r] = one(argv[1], d);
        if (first[r] < 0 || cached[r] < 0) return 1;
    }
    qsort(first, (size_t)reps, sizeof *first, cmp);
    qsort(cached, (size_t)reps, sizeof *cached, cmp);
    qsort(cpu, (size_t)reps, sizeof *cpu, cmp);
    sgd_landscape *fi = sgd_landscape_formula(argv[1], d), *fc = sgd_landscape_formula(argv[1], d);
    sgd_landscape *cat = argc == 5 ? sgd_landscape_create(argv[4], d) : NULL;
    if (!fi || !fc || (argc == 5 && !cat) || sgd_landscape_formula_jit(fc, NULL, 0)) return 1;
    double gi = grad_ns(fi, d, reps), gc = grad_ns(fc, d, reps), gk = cat ? grad_ns(cat, d, reps) : -1;
    sgd_landscape_free(fi);
    sgd_landscape_free(fc);
    sgd_landscape_free(cat);
    printf("{\"compile_s\": %.6f, \"compile_cpu_s\": %.6f, \"cached_s\": %.6f, \"repeats\": %d, "
           "\"grad_interp_ns\": %.3f, \"grad_jit_ns\": %.3f, \"grad_catalog_ns\": %.3f}\n",
           first[(reps - 1) / 2], cpu[(reps - 1) / 2], cached[(reps - 1) / 2], reps, gi, gc, gk);
    return 0;
}
