/* The trial runner: the update rule, determinism across threads and slices,
 * schedules, divergence and stopping. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/optim.h"
#include "sgdscape/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void run(sgd_trials_config *c, sgd_trials_result *r)
{
    int rc = sgd_trials_run(c, r, NULL, NULL);
    CHECK(rc == SGD_OK);
    if (rc) fprintf(stderr, "  %s\n", sgd_errmsg());
}

int main(void)
{
    /* RNG: range, determinism, independence of streams. */
    {
        double u[2], v[2], w[2];
        sgd_rng_uniform2(5, SGD_RNG_NOISE, 3, 10, 0, u);
        sgd_rng_uniform2(5, SGD_RNG_NOISE, 3, 10, 0, v);
        sgd_rng_uniform2(5, SGD_RNG_NOISE, 4, 10, 0, w);
        CHECK(u[0] == v[0] && u[1] == v[1]);
        CHECK(u[0] != w[0]);
        double mean = 0, m2 = 0;
        int n = 200000, inrange = 1;
        for (int k = 0; k < n; k++) {
            sgd_rng_uniform2(9, SGD_RNG_USER, 0, (uint64_t)k, 0, u);
            inrange &= u[0] >= 0 && u[0] < 1;
            mean += u[0];
            m2 += u[0] * u[0];
        }
        CHECK(inrange);
        CHECK_CLOSE(mean / n, 0.5, 5 * sqrt(1.0 / 12 / n), 0);
        CHECK_CLOSE(m2 / n, 1.0 / 3, 5 * 0.3 / sqrt(n), 0);
        int ok = 1;
        for (int k = 0; k < 1000; k++) ok &= sgd_rng_below(1, SGD_RNG_USER, 0, 0, (uint32_t)k, 7) < 7;
        CHECK(ok);
    }
    /* Noise models: support and second moments. */
    {
        const size_t d = 3;
        sgd_noise_kind kinds[3] = {SGD_NOISE_BALL, SGD_NOISE_CUBE, SGD_NOISE_GAUSS};
        for (int q = 0; q < 3; q++) {
            sgd_noise W = {.kind = kinds[q], .scale = 2.0};
            double om[3], m2 = 0, mean0 = 0, maxn = 0;
            int n = 100000;
            for (int k = 0; k < n; k++) {
                sgd_noise_sample(&W, d, 3, 0, (uint64_t)k, NULL, om);
                double s = om[0] * om[0] + om[1] * om[1] + om[2] * om[2];
                m2 += s;
                mean0 += om[0];
                if (sqrt(s) > maxn) maxn = sqrt(s);
            }
            double e2 = sgd_noise_second_moment(&W, d);
            CHECK_CLOSE(m2 / n, e2, 0, 0.02);
            CHECK_CLOSE(mean0 / n, 0.0, 0.03, 0);
            CHECK(maxn <= sgd_noise_max_norm(&W, d));
        }
        CHECK_CLOSE(sgd_noise_second_moment(&(sgd_noise){.kind = SGD_NOISE_BALL, .scale = 2}, 3), 4.0 * 3 / 5, 1e-15, 0);
    }
    /* GD on a quadratic: x_T = (1 - eta a)^T x_0. */
    {
        sgd_landscape *f = sgd_landscape_create("quadratic:a=2", 2);
        sgd_trials_config c;
        sgd_trials_defaults(&c, f);
        c.noise.kind = SGD_NOISE_NONE;
        c.ntrials = 5;
        CHECK(sgd_schedule_parse("const", 0.05, 0, 30, &c.sched) == SGD_OK);
        sgd_trials_result r;
        run(&c, &r);
        for (size_t t = 0; t < 5; t++)
            for (int i = 0; i < 2; i++) {
                CHECK_CLOSE(r.x_final[t * 2 + i], pow(0.9, 30) * r.x_start[t * 2 + i], 1e-13, 1e-12);
                /* y_T = x_T - eta grad f(x_T) */
                CHECK_CLOSE(r.y_final[t * 2 + i], r.x_final[t * 2 + i] * 0.9, 1e-15, 1e-14);
            }
        sgd_trials_result_free(&r);
        sgd_landscape_free(f);
    }
    /* SGD with momentum against a hand-written loop with the same noise. */
    {
        sgd_landscape *f = sgd_landscape_create("rastrigin", 2);
        sgd_trials_config c;
        sgd_trials_defaults(&c, f);
        c.noise.kind = SGD_NOISE_CUBE;
        c.ntrials = 3;
        c.momentum = 0.9;
        c.seed = 11;
        CHECK(sgd_schedule_parse("const", 0.002, 50, 200, &c.sched) == SGD_OK);
        sgd_trials_result r;
        run(&c, &r);
        for (size_t t = 0; t < 3; t++) {
            double x[2] = {r.x_start[2 * t], r.x_start[2 * t + 1]}, v[2] = {0, 0}, g[2], om[2];
            sgd_noise W = {.kind = SGD_NOISE_CUBE, .scale = 50};
            for (uint64_t s = 0; s < 200; s++) {
                f->fg(f, x, g);
                sgd_noise_sample(&W, 2, 11, t, s, x, om);
                for (int i = 0; i < 2; i++) {
                    v[i] = 0.9 * v[i] + g[i] + om[i];
                    x[i] -= 0.002 * v[i];
                }
            }
            CHECK(x[0] == r.x_final[2 * t] && x[1] == r.x_final[2 * t + 1]);
        }
        sgd_trials_result_free(&r);
        sgd_landscape_free(f);
        /* In 1-D (Figure 3's noise, four steps per Philox block, the spare
         * rows scaled before the per-trial momentum step), 203 steps: the
         * last block is used in part. */
        f = sgd_landscape_create("spiky", 1);
        sgd_trials_defaults(&c, f);
        c.ntrials = 21;
        c.momentum = 0.5;
        c.seed = 13;
        CHECK(sgd_schedule_parse("const", 0.005, 20, 203, &c.sched) == SGD_OK);
        run(&c, &r);
        int same = 1;
        for (size_t t = 0; t < c.ntrials; t++) {
            double x = r.x_start[t], v = 0, g, om;
            sgd_noise W = {.kind = SGD_NOISE_BALL, .scale = 20};
            for (uint64_t s = 0; s < 203; s++) {
                f->fg(f, &x, &g);
                CHECK(sgd_noise_sample(&W, 1, 13, t, s, &x, &om) == SGD_OK);
                v = 0.5 * v + g + om;
                x -= 0.005 * v;
            }
            same &= x == r.x_final[t];
        }
        CHECK(same);
        sgd_trials_result_free(&r);
        sgd_landscape_free(f);
    }
    /* The block paths against a plain loop of the public step, bit for bit:
     * Figure 3's 1-D ball noise (one loop across the trials, noise drawn
     * four steps per Philox block), also with trials stopping mid-block (the masked loop),
     * and cube noise in d = 3; several seeds, odd and even step counts. */
    {
        static const struct {
            const char *f;
            size_t d;
            sgd_noise_kind kind;
            double r, stop;
        } cases[] = {{"spiky", 1, SGD_NOISE_BALL, 13, 0},
                     {"spiky", 1, SGD_NOISE_BALL, 4, 0.05},
                     {"rastrigin", 3, SGD_NOISE_CUBE, 20, 0},
                     {"rastrigin", 10, SGD_NOISE_CUBE, 20, 0}, /* 3 Philox blocks, the last partly used */
                     {"quadratic", 3, SGD_NOISE_CUBE, 2, 0.5}}; /* trials stop: the per-trial step in d > 1 */
        static const uint64_t seeds[] = {1, 7, 123457};
        static const size_t nsteps[] = {1, 2, 3, 64, 1001};
        const double eta = 0.01;
        for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
            const size_t d = cases[q].d;
            sgd_landscape *f = sgd_landscape_create(cases[q].f, d);
            sgd_noise W = {.kind = cases[q].kind, .scale = cases[q].r};
            for (size_t a = 0; a < sizeof seeds / sizeof seeds[0]; a++)
                for (size_t b = 0; b < sizeof nsteps / sizeof nsteps[0]; b++) {
                    sgd_trials_config c;
                    sgd_trials_defaults(&c, f);
                    c.noise = W;
                    c.ntrials = 37;
                    c.seed = seeds[a];
                    c.threads = 3;
                    c.stop_radius = cases[q].stop;
                    CHECK(sgd_schedule_parse("const", eta, W.scale, nsteps[b], &c.sched) == SGD_OK);
                    sgd_trials_result r;
                    run(&c, &r);
                    int same = 1;
                    for (size_t t = 0; t < c.ntrials; t++) {
                        double x[10], y[10], xn[10], g[10], om[10];
                        memcpy(x, r.x_start + t * d, d * sizeof(double));
                        size_t taken = nsteps[b];
                        for (size_t s = 0; s < nsteps[b]; s++) {
                            CHECK(sgd_noise_sample(&W, d, c.seed, t, s, x, om) == SGD_OK);
                            sgd_step(f, eta, om, x, y, xn, g);
                            memcpy(x, xn, d * sizeof(double));
                            double dist2 = 0;
                            for (size_t i = 0; i < d; i++) dist2 += x[i] * x[i]; /* x* = 0 */
                            if (c.stop_radius > 0 && dist2 <= c.stop_radius * c.stop_radius) {
                                taken = s + 1;
                                break;
                            }
                        }
                        same &= !memcmp(x, r.x_final + t * d, d * sizeof(double)) && r.steps[t] == taken;
                    }
                    CHECK(same);
                    if (!same)
                        fprintf(stderr, "  %s d=%zu seed %llu, %zu steps: trials and sgd_step differ\n",
                                cases[q].f, d, (unsigned long long)seeds[a], nsteps[b]);
                    sgd_trials_result_free(&r);
                }
            sgd_landscape_free(f);
        }
    }
    /* 1-D noise comes four steps per Philox block: a stage without noise over
     * a block's first step (T = 8), stage starts off the block boundary
     * (T = 5, 11, 14) and a different r per stage must still give each step
     * the noise sgd_noise_sample gives, scaled by that step's r. */
    {
        sgd_landscape *f = sgd_landscape_create("spiky", 1);
        const double eta = 0.01;
        sgd_trials_config c;
        sgd_trials_defaults(&c, f);
        c.ntrials = 37;
        c.seed = 5;
        c.threads = 2;
        CHECK(sgd_schedule_parse("stages:5@0.13,6@0,3@0.04,9@0.07", eta, 13, 23, &c.sched) == SGD_OK);
        CHECK(c.sched.nstages == 4 && c.sched.stage[1].r == 0 && c.sched.stage[2].steps == 3);
        sgd_trials_result r;
        run(&c, &r);
        int same = 1;
        for (size_t t = 0; t < c.ntrials; t++) {
            double x = r.x_start[t], y, xn, g, om;
            size_t s = 0;
            for (size_t k = 0; k < 4; k++)
                for (size_t i = 0; i < c.sched.stage[k].steps; i++, s++) {
                    sgd_noise W = {.kind = SGD_NOISE_BALL, .scale = c.sched.stage[k].r}; /* level / eta */
                    om = 0.0;
                    if (W.scale > 0) CHECK(sgd_noise_sample(&W, 1, c.seed, t, s, &x, &om) == SGD_OK);
                    sgd_step(f, eta, &om, &x, &y, &xn, &g);
                    x = xn;
                }
            same &= !memcmp(&x, &r.x_final[t], sizeof x);
        }
        CHECK(same);
        sgd_trials_result_free(&r);
        sgd_landscape_free(f);
    }
    /* Determinism: threads 1 vs 2, and two slices with trial_offset. */
    {
        sgd_landscape *f = sgd_landscape_create("spiky", 1);
        sgd_trials_config c;
        sgd_trials_defaults(&c, f);
        c.ntrials = 150;
        c.seed = 42;
        c.record_every = 100;
        CHECK(sgd_schedule_parse("stages:500@0.13~-6:6,500@0.04", 0.01, 0, 1000, &c.sched) == SGD_OK);
        sgd_trials_result a, b, s1, s2;
        c.threads = 1;
        run(&c, &a);
        c.threads = 2;
        run(&c, &b);
        CHECK(memcmp(a.x_final, b.x_final, 150 * sizeof(double)) == 0);
        CHECK(memcmp(a.traj_y, b.traj_y, a.ntrials * a.nrec * sizeof(double)) == 0);
        c.ntrials = 70;
        run(&c, &s1);
        c.ntrials = 80;
        c.trial_offset = 70;
        run(&c, &s2);
        CHECK(memcmp(a.x_final, s1.x_final, 70 * sizeof(double)) == 0);
        CHECK(memcmp(a.x_final + 70, s2.x_final, 80 * sizeof(double)) == 0);
        /* Trajectory rows: row 0 is x_0, the last row is x_T. */
        CHECK(a.nrec == 11);
        CHECK(a.traj_x[0] == a.x_start[0]);
        CHECK(a.traj_x[10] == a.x_final[0]);
        /* The last stage's end points are the final iterates. */
        CHECK(a.nstages == 2 && memcmp(a.stage_x + 150, a.x_final, 150 * sizeof(double)) == 0);
        sgd_trials_result_free(&a);
        sgd_trials_result_free(&b);
        sgd_trials_result_free(&s1);
        sgd_trials_result_free(&s2);
        sgd_landscape_free(f);
    }
    /* Divergence is reported per trial, never a crash; stopping at x*. */
    {
        sgd_landscape *f = sgd_landscape_create("quadratic", 1);
        sgd_trials_config c;
        sgd_trials_defaults(&c, f);
        c.noise.kind = SGD_NOISE_NONE;
        c.ntrials = 4;
        CHECK(sgd_schedule_parse("const", 3.0, 0, 3000, &c.sched) == SGD_OK);
        sgd_trials_result r;
        run(&c, &r);
        sgd_trials_stats st;
        double rad = 1.5;
        sgd_trials_stats_compute(&r, f->x_star, &rad, 1, 1e-3, &st);
        CHECK(st.diverged == 4);
        CHECK(r.status[0] == SGD_TRIAL_DIVERGED && r.steps[0] < 3000);
        sgd_trials_result_free(&r);
        CHECK(sgd_schedule_parse("const", 0.1, 0, 3000, &c.sched) == SGD_OK);
        c.stop_radius = 0.01;
        run(&c, &r);
        for (int t = 0; t < 4; t++) {
            CHECK(r.status[t] == SGD_TRIAL_HIT);
            /* |x_t| = 0.9^t |x_0| first drops to 0.01 at t = ceil(log(0.01/|x0|)/log 0.9). */
            double t_hit = ceil(log(0.01 / fabs(r.x_start[t])) / log(0.9));
            CHECK_CLOSE((double)r.steps[t], t_hit, 1, 0);
        }
        /* the run directory `sgdscape run` writes, through the library */
        char dir[] = "/tmp/sgd_test_trials_XXXXXX", path[64];
        CHECK(mkdtemp(dir) != NULL);
        double within[2] = {1.5, 0.01};
        char *argv[] = {"run", NULL};
        sgd_trials_run_info info = {"quadratic", "const", 0.1, 0, within, 2, 0.25, 1, argv};
        sgd_trials_stats ws;
        CHECK(sgd_trials_write_run(dir, &c, &r, &info, &ws) == SGD_OK);
        CHECK(ws.n == 4 && ws.hit == 4 && ws.fraction_within[1] == 1.0);
        snprintf(path, sizeof path, "%s/manifest.json", dir);
        sgd_json *m = sgd_json_load(path);
        double v = 0;
        char name[32] = "";
        CHECK(m && sgd_json_get_num(m, "trials", &v) == 0 && v == 4);
        CHECK(m && sgd_json_get_num(m, "stop_radius", &v) == 0 && v == 0.01);
        CHECK(m && sgd_json_get_str(m, "landscape", name, sizeof name) == 0 && !strcmp(name, "quadratic"));
        sgd_json_free(m);
        snprintf(path, sizeof path, "%s/summary.json", dir);
        m = sgd_json_load(path);
        CHECK(m && sgd_json_get_num(m, "hit_stop_radius", &v) == 0 && v == 4);
        CHECK(m && sgd_json_get_num(m, "trial_steps_per_second", &v) == 0 && v == 4 * 3000 / 0.25);
        sgd_json_free(m);
        const char *files[] = {"trials.csv", "histogram.csv", "manifest.json", "summary.json"};
        for (int k = 0; k < 4; k++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[k]);
            char *txt = NULL;
            size_t n = 0;
            CHECK(sgd_read_file(path, &txt, &n) == SGD_OK && n > 0);
            if (k == 0) CHECK(txt && !strncmp(txt, "trial,status,steps,x_start_1,", 29));
            free(txt);
        }
        const char *all[] = {"trials.csv", "histogram.csv", "histogram.gp", "histogram.png", "histogram.svg",
                             "histogram.dat", "manifest.json", "summary.json"};
        for (int k = 0; k < 8; k++) {
            snprintf(path, sizeof path, "%s/%s", dir, all[k]);
            remove(path);
        }
        CHECK(rmdir(dir) == 0); /* nothing else was written */
        sgd_trials_result_free(&r);
        sgd_landscape_free(f);
    }
    /* Schedules. */
    {
        sgd_schedule s;
        CHECK(sgd_schedule_parse("stages:100@0.15~-1.5:1.5,200@0.05/0.005", 0.01, 0, 10, &s) == SGD_OK);
        CHECK(s.nstages == 2);
        CHECK(s.stage[0].steps == 100 && s.stage[0].start == SGD_START_FRESH && s.stage[0].start_lo == -1.5);
        CHECK_CLOSE(s.stage[0].r, 15.0, 1e-12, 0);
        CHECK_CLOSE(s.stage[1].r, 10.0, 1e-12, 0);
        CHECK(s.stage[1].eta == 0.005 && s.stage[1].start == SGD_START_CONTINUE);
        CHECK(sgd_schedule_total_steps(&s) == 300);
        CHECK(sgd_schedule_parse("exp:0.99", 0.1, 1, 10, &s) == SGD_OK && s.stage[0].decay == 0.99);
        CHECK(sgd_schedule_parse("exp:1.5", 0.1, 1, 10, &s) == SGD_EINVAL);
        CHECK(sgd_schedule_parse("stages:100@", 0.1, 1, 10, &s) == SGD_EINVAL);
        CHECK(sgd_schedule_parse("stages:100@0.1~2:1", 0.1, 1, 10, &s) == SGD_EINVAL);
        CHECK(sgd_schedule_parse("const", 0.0, 1, 10, &s) == SGD_EINVAL);
        CHECK(strstr(sgd_errmsg(), "--eta") != NULL);
        CHECK(sgd_schedule_parse("const", NAN, 1, 10, &s) == SGD_EINVAL);
        CHECK(sgd_schedule_parse("wobble", 0.1, 1, 10, &s) == SGD_EINVAL);
    }
    /* Exponential decay: GD with eta_t = eta q^t on a quadratic. */
    {
        sgd_landscape *f = sgd_landscape_create("quadratic", 1);
        sgd_trials_config c;
        sgd_trials_defaults(&c, f);
        c.noise.kind = SGD_NOISE_NONE;
        c.ntrials = 1;
        double x0 = 2.0;
        c.x0 = &x0;
        CHECK(sgd_schedule_parse("exp:0.9", 0.5, 0, 20, &c.sched) == SGD_OK);
        sgd_trials_result r;
        run(&c, &r);
        double x = 2.0, eta = 0.5;
        for (int t = 0; t < 20; t++, eta *= 0.9) x *= 1 - eta;
        CHECK_CLOSE(r.x_final[0], x, 1e-15, 1e-12);
        sgd_trials_result_free(&r);
        sgd_landscape_free(f);
    }
    /* Sharp vs flat: from starts in the sharp basin, GD stays there while SGD's
     * noise (level 0.1, wider than the sharp basin, narrower than the flat one)
     * moves most trials to the flat minimum: the paper's flat-minima claim. */
    {
        sgd_landscape *f = sgd_landscape_create("sharp-flat", 1);
        sgd_trials_config c;
        sgd_trials_defaults(&c, f);
        c.ntrials = 200;
        c.start_lo = -1.3;
        c.start_hi = -0.7;
        size_t sharp[2] = {0, 0}, flat[2] = {0, 0};
        for (int k = 0; k < 2; k++) {
            c.noise.kind = k ? SGD_NOISE_BALL : SGD_NOISE_NONE;
            CHECK(sgd_schedule_parse("const", 0.005, k ? 0.1 / 0.005 : 0, 40000, &c.sched) == SGD_OK);
            sgd_trials_result r;
            run(&c, &r);
            for (size_t t = 0; t < r.ntrials; t++) {
                sharp[k] += r.x_final[t] < -0.5;
                flat[k] += r.x_final[t] > 0.5;
            }
            sgd_trials_result_free(&r);
        }
        printf("sharp-flat: GD sharp %zu flat %zu; SGD level 0.1 sharp %zu flat %zu (of 200)\n", sharp[0], flat[0],
               sharp[1], flat[1]);
        CHECK(sharp[0] >= 170);
        CHECK(flat[1] >= 100 && flat[1] > sharp[1]);
        sgd_landscape_free(f);
    }
    return check_done();
}
