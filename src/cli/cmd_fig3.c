/* sgdscape fig3: the paper's Figure 3. */
#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/fig3.h"
#include "sgdscape/io.h"

#include <math.h>
#include <string.h>

const char sgd_cmd_fig3_summary[] = "reproduce Figure 3 (GD vs SGD at three noise levels, multi-stage)";

static const char help[] =
    "usage: sgdscape fig3 [--out DIR] [--seed N] [--threads N] [--trials N] [options]\n\n"
    "Reproduces Figure 3 of the paper as one 3x4 figure (fig3.png, fig3.svg, with fig3.gp and the\n"
    ".dat files beside them) and prints the outcome table; summary.json holds, per panel,\n"
    "noise_level, fraction_within_1_5, fraction_within_0_1, mean_abs_x, distinct_endpoints.\n"
    "  Row 1: f and f convolved with the uniform noise at the three levels (exact).\n"
    "  Row 2: GD, then SGD at the three levels from uniform starts: end points (red) and\n"
    "         cumulative counts (blue).\n"
    "  Row 3: f and its convolutions near 0, then SGD in stages: stage 1 restarts in\n"
    "         [-1.5, 1.5] at the first stage level, stages 2 and 3 continue at smaller levels.\n\n"
    "  --f SPEC            1-D landscape (default spiky; see sgdscape list)\n"
    "  --no-jit            a formula runs interpreted, not compiled (same bits)\n"
    "  --eta ETA           step size of every panel (default 0.01)\n"
    "  --levels A,B,C      row 2 noise levels eta*r (default 0.04,0.13,0.8)\n"
    "  --stage-levels A,B,C row 3 levels (default 0.04,0.02,0.01)\n"
    "  --stage-start LO:HI row 3 restart region (default -1.5:1.5)\n"
    "  --start LO:HI       row 2 starting region (default -6:6)\n"
    "  --steps N           steps per row-2 panel; row 3 gives N/3 to each stage (default 20000)\n"
    "  --trials N          trials per panel (default 100)\n"
    "  --out DIR           run directory (default runs/fig3)\n"
    "  --seed N            seed (default 1)\n"
    "  --threads N         threads (default all cores, at most 1024; results do not depend on it)\n"
    "  --force             run work above 1e10 gradient evaluations (trials x (4 steps + the stages))\n";

/* Three levels: one message whatever is wrong. */
static int three(const char *C, const char *opt, const char *val, double *v)
{
    int n = cli_doubles(C, opt, val, v, 3);
    return n < 0 ? 1 : n != 3 ? cli_fail(C, "%s: want three numbers", opt) : 0;
}

int sgd_cmd_fig3(int argc, char **argv)
{
    const char *C = "fig3", *fspec = "spiky", *out = "runs/fig3";
    sgd_fig3_config cfg;
    sgd_fig3_defaults(&cfg, NULL);
    int threads = 0, no_jit = 0;
    static const struct option opts[] = {
        {"f", 1, 0, 'f'}, {"no-jit", 0, 0, CLI_OPT_NO_JIT}, {"eta", 1, 0, 'e'}, {"levels", 1, 0, 'l'},
        {"stage-levels", 1, 0, 'L'},
        {"stage-start", 1, 0, 'B'}, {"start", 1, 0, 'b'}, {"steps", 1, 0, 's'}, {"trials", 1, 0, 'N'},
        CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'f': fspec = optarg; break;
        case CLI_OPT_NO_JIT: no_jit = 1; break;
        case 'e': bad = cli_positive(C, "--eta", optarg, &cfg.eta); break;
        case 'l': bad = three(C, "--levels", optarg, cfg.level); break;
        case 'L': bad = three(C, "--stage-levels", optarg, cfg.stage_level); break;
        case 'B': bad = cli_parse_box(C, "--stage-start", optarg, &cfg.stage_lo, &cfg.stage_hi); break;
        case 'b': bad = cli_parse_box(C, "--start", optarg, &cfg.start_lo, &cfg.start_hi); break;
        case 's': bad = cli_count(C, "--steps", optarg, &cfg.steps); break;
        case 'N': bad = cli_count(C, "--trials", optarg, &cfg.trials); break;
        default: {
            int e = cli_common_opt(C, ch, help, argv, &out, &cfg.seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    cfg.threads = cli_threads(threads);
    sgd_landscape *f = cli_landscape(C, fspec, 1, no_jit);
    if (!f) return cli_lib_fail(C);
    cfg.f = f;
    /* row 2: four panels of --steps; row 3: three stages of --steps/3 */
    double panel_steps = 4.0 * (double)cfg.steps + 3.0 * (double)(cfg.steps / 3);
    char what[160];
    snprintf(what, sizeof what, "%zu trials x %.0f steps over the panels", cfg.trials, panel_steps);
    int rc = cli_work(C, (double)cfg.trials * panel_steps, what, f, cfg.threads);
    sgd_rundir rd;
    if (rc || cli_rundir_open(C, &rd, out)) {
        sgd_landscape_free(f);
        return rc ? rc : 1;
    }
    sgd_progress pg;
    sgd_progress_start(&pg, "fig3");
    sgd_fig3_result res;
    rc = sgd_fig3_run(&cfg, &res, cli_progress_cb, &pg);
    sgd_progress_end(&pg);
    if (!rc) {
        rc = sgd_fig3_write(rd.path, &cfg, &res);
        sgd_json *man = sgd_json_new();
        sgd_json_manifest_header(man, argc, argv, cfg.threads);
        sgd_json_str(man, "command", "fig3");
        sgd_json_str(man, "landscape", fspec);
        sgd_json_str(man, "landscape_doc", f->doc);
        sgd_json_str(man, "noise", "ball (uniform on [-r, r])");
        sgd_json_num(man, "eta", cfg.eta);
        sgd_json_nums(man, "levels", cfg.level, 3);
        double rs[3];
        for (int k = 0; k < 3; k++) rs[k] = cfg.level[k] / cfg.eta;
        sgd_json_nums(man, "r", rs, 3);
        sgd_json_nums(man, "stage_levels", cfg.stage_level, 3);
        sgd_json_num(man, "stage_start_lo", cfg.stage_lo);
        sgd_json_num(man, "stage_start_hi", cfg.stage_hi);
        sgd_json_num(man, "start_lo", cfg.start_lo);
        sgd_json_num(man, "start_hi", cfg.start_hi);
        sgd_json_int(man, "steps", (long long)cfg.steps);
        sgd_json_int(man, "trials", (long long)cfg.trials);
        sgd_json_int(man, "seed", (long long)cfg.seed);
        char path[4400];
        if (!rc) rc = sgd_rundir_file(&rd, "manifest.json", path, sizeof path);
        if (!rc) rc = sgd_json_write(man, path);
        sgd_json_free(man);
    }
    if (rc) rc = cli_lib_fail(C);
    else rc = cli_rundir_commit(C, &rd);
    if (rc) {
        cli_rundir_abort(&rd);
        sgd_fig3_result_free(&res);
        sgd_landscape_free(f);
        return rc;
    }
    printf("Figure 3 on %s, eta = %g, %zu trials x %zu steps per panel (%.2f s)\n", f->name, cfg.eta, cfg.trials,
           cfg.steps, res.seconds);
    printf("%-4s %-22s %8s %10s %10s %10s %9s %8s\n", "F", "panel", "level", "in[-1.5,", "in[-0.1,", "mean|x|",
           "distinct", "diverged");
    printf("%-4s %-22s %8s %10s %10s %10s %9s %8s\n", "", "", "", "1.5]", "0.1]", "", "ends", "");
    for (int p = 0; p < SGD_FIG3_PANELS; p++) {
        const sgd_fig3_panel *P = &res.panel[p];
        char fr[8];
        snprintf(fr, sizeof fr, "%d,%d", P->row, P->col);
        printf("%-4s %-22s %8g %10.2f %10.2f %10.4f %9zu %8zu\n", fr, P->name, P->noise_level,
               P->stats.fraction_within[0], P->stats.fraction_within[1], P->stats.mean_dist,
               P->stats.distinct_endpoints, P->stats.diverged);
    }
    printf("wrote %s/ (fig3.png, fig3.svg, fig3.gp, summary.json, panels.csv, endpoints.csv)\n", rd.final);
    sgd_fig3_result_free(&res);
    sgd_landscape_free(f);
    return 0;
}
