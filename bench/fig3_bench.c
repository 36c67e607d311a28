/* The Figure-3 experiment's throughput: N trials x T steps of SGD on the
 * spiky landscape with uniform noise (level 0.13, eta 0.01), as sgdscape runs
 * it. Prints one JSON line per configuration with the median of R repeats,
 * and the cost of one batched gradient evaluation (the floor).
 *   bench_fig3 N T THREADS REPEATS */
#include "sgdscape/optim.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_fig3 TRIALS STEPS THREADS REPEATS\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10), steps = strtoull(argv[2], NULL, 10);
    int threads = atoi(argv[3]), reps = atoi(argv[4]);
    if (n == 0 || steps == 0 || threads < 1 || reps < 1 || reps > 100) {
        fprintf(stderr, "bench_fig3: bad arguments\n");
        return 2;
    }
    sgd_landscape *f = sgd_landscape_create("spiky", 1);
    sgd_trials_config c;
    sgd_trials_defaults(&c, f);
    c.ntrials = n;
    c.threads = threads;
    c.start_lo = -6;
    c.start_hi = 6;
    sgd_schedule_parse("const", 0.01, 0.13 / 0.01, steps, &c.sched);
    double t[100];
    for (int k = 0; k < reps; k++) {
        sgd_trials_result r;
        double t0 = sgd_now();
        if (sgd_trials_run(&c, &r, NULL, NULL)) return 1;
        t[k] = sgd_now() - t0;
        sgd_trials_result_free(&r);
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp);
    double med = t[reps / 2];
    /* Floor: one batched gradient of 64 points, single thread. */
    double x[64], g[64], tg[100];
    for (int i = 0; i < 64; i++) x[i] = -6 + 12.0 * i / 63;
    for (int k = 0; k < reps; k++) {
        double t0 = sgd_now();
        for (int it = 0; it < 20000; it++) {
            f->grad_batch(f, 64, x, g);
            x[it & 63] += 1e-12 * g[(it + 1) & 63]; /* keep the calls live */
        }
        tg[k] = (sgd_now() - t0) / (20000.0 * 64);
    }
    qsort(tg, (size_t)reps, sizeof tg[0], cmp);
    double ts = (double)n * (double)steps;
    printf("{\"impl\": \"sgdscape\", \"trials\": %zu, \"steps\": %zu, \"threads\": %d, \"median_s\": %.6g, "
           "\"trial_steps_per_s\": %.6g, \"ns_per_trial_step_per_thread\": %.4g, \"ns_per_gradient\": %.4g}\n",
           n, steps, threads, med, ts / med, med * threads / ts * 1e9, tg[reps / 2] * 1e9);
    sgd_landscape_free(f);
    return 0;
}
