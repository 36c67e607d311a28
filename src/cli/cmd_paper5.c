/* sgdscape paper5: all of Section 5 (5.1-5.4) in one command, one report. */
#include "cli.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/paper5.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char sgd_cmd_paper5_summary[] = "all of Section 5 (Figs 5, 6; 5.1-5.4) in one command, with report.html";

static const char help[] =
    "usage: sgdscape paper5 [--preset quick|paper|smoke] [--data SPEC] [--out DIR] [options]\n\n"
    "Runs every measurement of the paper's Section 5 and writes one report:\n"
    "  5.1, 5.2, Fig 5   train the large nets (each schedule, several trials), then probe:\n"
    "                    <-grad f(x_t), x_T - x_t>, its neighbourhood, gradient norms\n"
    "  5.3               branch: one prefix, many SGD branches; every inner product towards\n"
    "                    every final, and the finals' distances\n"
    "  5.4, Fig 6        spectrum: fine-tunes at a small step from many epochs of one run\n"
    "DIR/report.html puts each claim of the paper beside our number (held / not held) with the\n"
    "figures embedded; claims.csv and summary.json hold the same numbers. Each stage is its own\n"
    "run directory under DIR (s51_*, s53_*, s54_*), written by train, probe, branch, spectrum.\n\n"
    "Presets:\n"
    "  smoke   resnet:n=1,w=4 on 128 images, every stage tiny (seconds; CI runs it)\n"
    "  quick   ResNet (resnet:n=1,w=6) and DenseNet-BC (depth=22,k=4,reduction=0.75), about 10K\n"
    "          parameters each, on 8000 images: 3 trials x 12 epochs, 6 branches x 8 epochs after\n"
    "          2, a 12-epoch run with 6-epoch fine-tunes from every 3rd epoch (under 30 min)\n"
    "  paper   the paper's: ResNet-34 w16 and DenseNet-BC-100, 5 trials x 300 epochs, step and\n"
    "          exp:0.99 schedules; the ~10K nets with 50 branches x 140 epochs and 300 + 150\n"
    "          (days on one machine: docs/nn.md gives the measured cost)\n\n"
    "  --preset NAME      smoke, quick (default) or paper\n"
    "  --data SPEC        data set (default fashion-mnist; the paper: cifar10:DIR, cifar100:DIR)\n"
    "  --out DIR          report directory (default runs/paper5); built in DIR.partial\n"
    "  --seed N           every stage's seed; trial k of 5.1 trains with N + k (default 1)\n"
    "  --threads N        threads (default all cores; results do not depend on it)\n"
    "  --quiet            no progress line\n\n"
    "Resume: a killed or interrupted run keeps DIR.partial; the same command continues it, and\n"
    "skips every stage that finished (each leaves a .done marker). DIR appears when all are done.\n";


typedef struct paper5_out {
    const char *C;
    char partial[4200], config[200];
} paper5_out;

/* DIR.partial: made, or continued when it holds the same preset, data and seed. */
static int on_ready(void *ctx, const char **work)
{
    paper5_out *o = ctx;
    if (sgd_dist_rank() != 0) { /* rank 0's directory: the library passes its path on */
        *work = NULL;
        cli_stop_signals();
        return SGD_OK;
    }
    char path[4400], *have = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/config.txt", o->partial);
    if (!sgd_read_file(path, &have, &n)) {
        int same = n == strlen(o->config) && !memcmp(have, o->config, n);
        free(have);
        if (!same)
            return sgd_error(SGD_EINVAL, "%s holds a paper5 run of another preset, data or seed (%s); remove it",
                             o->partial, path);
    } else {
        sgd_error_clear();
        int rc = sgd_mkdirs(o->partial);
        if (!rc) rc = sgd_write_file(path, o->config, strlen(o->config));
        if (rc) return rc;
    }
    *work = o->partial;
    cli_stop_signals();
    return SGD_OK;
}

static void on_progress(void *ctx, const char *stage, double done, double total)
{
    sgd_progress *pg = ctx;
    if (strcmp(pg->label, stage)) {
        sgd_progress_end(pg);
        sgd_progress_start(pg, stage);
    }
    sgd_progress_update(pg, done, total);
}

int sgd_cmd_paper5(int argc, char **argv)
{
    enum { O_PRESET = CLI_OPT_OWN, O_DATA, O_QUIET };
    static const struct option opts[] = {{"preset", 1, 0, O_PRESET}, {"data", 1, 0, O_DATA}, {"quiet", 0, 0, O_QUIET},
                                         CLI_OUT_OPTION, CLI_SEED_OPTION, CLI_THREADS_OPTION, CLI_HELP_OPTION,
                                         {0, 0, 0, 0}};
    const char *C = "paper5", *out = "runs/paper5";
    sgd_paper5_config cfg;
    sgd_paper5_defaults(&cfg);
    int threads = 0, ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        switch (ch) {
        case O_PRESET: cfg.preset = optarg; break;
        case O_DATA: cfg.data = optarg; break;
        case O_QUIET: cfg.quiet = 1; break;
        default: {
            int e = cli_common_opt(C, ch, help, argv, &out, &cfg.seed, &threads);
            if (e >= 0) return e;
        }
        }
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (!sgd_paper5_preset_get(cfg.preset)) return cli_lib_usage(C);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') n--;
    char fin[4096], report[4400];
    if (n + 16 >= sizeof fin) return cli_usage(C, "--out: path too long");
    memcpy(fin, out, n);
    fin[n] = '\0';
    snprintf(report, sizeof report, "%s/report.html", fin);
    struct stat st;
    if (stat(fin, &st) == 0) {
        if (stat(report, &st) != 0) return cli_fail(C, "--out %s: exists and holds no paper5 report", fin);
        printf("%s is complete: see %s (remove it to run again)\n", fin, report);
        return 0;
    }
    paper5_out po = {C, {0}, {0}};
    snprintf(po.partial, sizeof po.partial, "%s.partial", fin);
    snprintf(po.config, sizeof po.config, "preset %s\ndata %s\nseed %llu\n", cfg.preset, cfg.data,
             (unsigned long long)cfg.seed);
    cfg.threads = cli_threads(threads);
    cfg.ready = on_ready;
    cfg.ready_ctx = &po;
    cfg.stop = cli_stop_requested;
    cfg.argc = argc;
    cfg.argv = argv;
    sgd_progress pg;
    memset(&pg, 0, sizeof pg);
    sgd_paper5_result res;
    int rc = sgd_paper5_run(&cfg, &res, cfg.quiet ? NULL : on_progress, &pg);
    if (!cfg.quiet && pg.label[0]) sgd_progress_end(&pg);
    if (rc && cli_stop_signal()) {
        if (sgd_dist_rank() == 0)
            fprintf(stderr, "sgdscape paper5: interrupted (%s); %s keeps every finished stage: run the same command "
                        "to continue\n",
                cli_stop_name(), po.partial);
        sgd_paper5_result_free(&res);
        return 128 + cli_stop_signal();
    }
    if (!rc) rc = sgd_paper5_write(po.partial, &cfg, &res);
    if (!rc && rename(po.partial, fin) != 0) rc = sgd_error(SGD_EIO, "cannot rename %s to %s", po.partial, fin);
    if (rc) {
        /* DIR.partial stays: the same command continues it */
        sgd_paper5_result_free(&res);
        return cli_lib_fail(C);
    }
    printf("paper5 --preset %s on %s: %zu stages run, %zu found finished (%.1f s)\n", cfg.preset, cfg.data,
           res.stages, res.stages_skipped, res.seconds);
    for (size_t i = 0; i < res.nclaims; i++) {
        const sgd_paper5_claim *q = &res.claim[i];
        printf("  %-4s %-24.24s %-8s %-20s %.70s\n", q->section, q->setting,
               q->held == 1 ? "held" : q->held == 0 ? "NOT HELD" : "-", q->ours_text, q->claim);
    }
    printf("wrote %s/ (report.html, claims.csv, summary.json, manifest.json; stages s51_*, s53_*, s54_*)\n", fin);
    sgd_paper5_result_free(&res);
    return 0;
}
