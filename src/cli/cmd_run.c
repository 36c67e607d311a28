/* sgdscape run: any landscape x noise x schedule x trials. */
#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/landscape.h"
#include "sgdscape/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char sgd_cmd_run_summary[] = "run N SGD/GD trials: landscape x noise x schedule";

static const char help[] =
    "usage: sgdscape run [options]\n\n"
    "Runs N independent trials of x_{t+1} = x_t - eta (grad f(x_t) + omega_t) from uniform random\n"
    "starts and writes a run directory: manifest.json (every parameter), summary.json, trials.csv\n"
    "(start, final x_T and y_T = x_T - eta grad f(x_T) per trial), histogram.{csv,gp,png,svg} and,\n"
    "with --record-every, traj_x.npy / traj_y.npy of shape (trials, rows, d); a multi-stage schedule adds\n"
    "stage_x.npy, each stage's end points, of shape (stages, trials, d).\n\n"
    "landscape:\n"
    "  --f SPEC            catalog name[:k=v,...] | formula | plugin:PATH.so   (default spiky)\n"
    "  --d N               dimension (default 1)\n"
    "  --no-jit            a formula runs interpreted, not compiled (same bits)\n"
    "  --x-star V[,V..]    target x*: one value for every coordinate, or d values\n"
    "noise and step size (give the level, or eta and r):\n"
    "  --noise KIND        none | ball | cube | gauss   (default ball)\n"
    "  --eta ETA           step size (default 0.01)\n"
    "  --level S           noise level eta*r: the smoothing kernel's width; sets r = S/eta\n"
    "  --r R               noise radius r (default 0)\n"
    "  --momentum M        heavy-ball momentum in [0, 1) (default 0)\n"
    "schedule:\n"
    "  --steps N           steps (default 20000)\n"
    "  --schedule S        const | exp:Q | stages:STEPS@LEVEL[/ETA][~LO:HI],...\n"
    "                      e.g. stages:5000@0.04~-1.5:1.5,5000@0.02,5000@0.01\n"
    "trials:\n"
    "  --trials N          number of trials (default 100)\n"
    "  --start LO:HI       starting box [LO, HI]^d (default: the landscape's domain)\n"
    "  --stop-radius R     stop a trial once ||x_t - x*|| <= R\n"
    "  --record-every K    keep x_t and y_t every K steps (.npy)\n"
    "  --within R1,R2      radii for the summary's fraction_within_* (default 1.5,0.1)\n"
    "common:\n"
    "  --out DIR           run directory (default runs/run)\n"
    "  --seed N            seed (default 1); one seed gives bit-identical results\n"
    "  --threads N         threads (default: all cores, at most 1024); results do not depend on it\n"
    "  --force             run work above 1e10 gradient evaluations x dims (trials x steps x d)\n"
    "  --help              this text\n";

int sgd_cmd_run(int argc, char **argv)
{
    const char *C = "run";
    const char *sched = "const", *out = "runs/run";
    size_t steps = 20000, trials = 100, record_every = 0;
    double momentum = 0, stop_radius = 0, lo = NAN, hi = NAN;
    double within[4] = {1.5, 0.1};
    int nwithin = 2, threads = 0;
    uint64_t seed = 1;
    cli_problem P;
    cli_problem_init(&P, "spiky", 0.01);
    static const struct option opts[] = {
        CLI_PROBLEM_OPTIONS,     CLI_XSTAR_OPTION,         {"momentum", 1, 0, 'm'},
        {"steps", 1, 0, 's'},    {"schedule", 1, 0, 'S'},  {"trials", 1, 0, 'N'},   {"start", 1, 0, 'b'},
        {"stop-radius", 1, 0, 'R'}, {"record-every", 1, 0, 'k'}, {"within", 1, 0, 'w'}, CLI_COMMON_OPTIONS,
        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'm': bad = cli_double(C, "--momentum", optarg, &momentum); break;
        case 's': bad = cli_count(C, "--steps", optarg, &steps); break;
        case 'S': sched = optarg; break;
        case 'N': bad = cli_count(C, "--trials", optarg, &trials); break;
        case 'b': bad = cli_parse_box(C, "--start", optarg, &lo, &hi); break;
        case 'R': bad = cli_positive(C, "--stop-radius", optarg, &stop_radius); break;
        case 'k': bad = cli_count(C, "--record-every", optarg, &record_every); break;
        case 'w': bad = (nwithin = cli_doubles(C, "--within", optarg, within, 4)) < 0; break;
        default: {
            int e = cli_problem_opt(C, ch, &P, help, argv, &out, &seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    /* r = 0 (gradient descent) unless --r or --level */
    sgd_noise_kind kind;
    double r;
    if (cli_problem_noise(C, &P, 0, &kind, &r)) return 1;
    const size_t d = P.d;
    const double eta = P.eta;
    threads = cli_threads(threads);

    sgd_landscape *f = cli_landscape(C, P.fspec, d, P.no_jit);
    if (!f) return cli_lib_fail(C);
    if (P.xstar_s) { /* replaces the landscape's own x*; a bad one is a usage error (2) */
        double *xs = malloc(d * sizeof(double));
        if (!xs || cli_problem_xstar(C, d, P.xstar_s, f, xs)) {
            free(xs);
            sgd_landscape_free(f);
            return 2;
        }
        free(f->x_star);
        f->x_star = xs;
    }
    sgd_trials_config cfg;
    sgd_trials_defaults(&cfg, f);
    cfg.noise.kind = kind;
    cfg.ntrials = trials;
    cfg.seed = seed;
    cfg.threads = threads;
    if (!isnan(lo)) {
        cfg.start_lo = lo;
        cfg.start_hi = hi;
    }
    cfg.momentum = momentum;
    cfg.stop_radius = stop_radius;
    cfg.record_every = record_every;
    int rc = sgd_schedule_parse(sched, eta, r, steps, &cfg.sched);
    if (rc) {
        sgd_landscape_free(f);
        return cli_lib_fail(C);
    }
    char what[160];
    const double nsteps = (double)sgd_schedule_total_steps(&cfg.sched);
    snprintf(what, sizeof what, "%zu trials x %.0f steps x d = %zu", trials, nsteps, d);
    if ((rc = cli_work(C, (double)trials * nsteps * (double)d, what, f, threads))) {
        sgd_landscape_free(f);
        return rc;
    }
    sgd_rundir rd;
    if (cli_rundir_open(C, &rd, out)) {
        sgd_landscape_free(f);
        return 1;
    }
    sgd_progress pg;
    sgd_progress_start(&pg, "run");
    sgd_trials_result res;
    double t0 = sgd_now();
    rc = sgd_trials_run(&cfg, &res, cli_progress_cb, &pg);
    double secs = sgd_now() - t0;
    sgd_progress_end(&pg);
    if (rc) {
        cli_rundir_abort(&rd);
        sgd_landscape_free(f);
        return cli_lib_fail(C);
    }
    sgd_trials_run_info info = {P.fspec, sched, eta, r, within, (size_t)nwithin, secs, argc, argv};
    sgd_trials_stats st;
    rc = sgd_trials_write_run(rd.path, &cfg, &res, &info, &st);
    if (rc) rc = cli_lib_fail(C);
    else rc = cli_rundir_commit(C, &rd);
    if (rc) {
        cli_rundir_abort(&rd);
        sgd_trials_result_free(&res);
        sgd_landscape_free(f);
        return rc;
    }
    printf("%zu trials x %zu steps of %s (d=%zu), noise %s ", trials, sgd_schedule_total_steps(&cfg.sched), f->name,
           d, sgd_noise_name(kind));
    if (cfg.sched.nstages == 1) printf("level %g: ", eta * r);
    else /* each stage has its own level */
        for (size_t k = 0; k < cfg.sched.nstages; k++)
            printf("%s%g%s", k ? "," : "stage levels ", cfg.sched.stage[k].eta * cfg.sched.stage[k].r,
                   k + 1 < cfg.sched.nstages ? "" : ": ");
    printf("mean ||x_T - x*|| = %.4g, within %g: %.2f, distinct end points %zu, diverged %zu\n", st.mean_dist,
           within[0], st.fraction_within[0], st.distinct_endpoints, st.diverged);
    printf("wrote %s/\n", rd.final);
    sgd_trials_result_free(&res);
    sgd_landscape_free(f);
    return 0;
}
