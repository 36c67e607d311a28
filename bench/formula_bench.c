/* First-call compile time and cached-load time of a compiled formula
 * (sgd_landscape_formula_jit), for bench/formula_bench.sh: one JSON line.
 *   build/bench_formula FORMULA D REPEATS    (XDG_CACHE_HOME: a fresh directory) */
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

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_formula FORMULA D REPEATS\n");
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
    printf("{\"compile_s\": %.6f, \"compile_cpu_s\": %.6f, \"cached_s\": %.6f, \"repeats\": %d}\n",
           first[(reps - 1) / 2], cpu[(reps - 1) / 2], cached[(reps - 1) / 2], reps);
    return 0;
}
