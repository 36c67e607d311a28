/* What interp, surface and hessian share (geom_cli.h): the source options,
 * the resumable run directory, the operands of hessian. */
#include "geom_cli.h"
#include "nn_cli.h"
#include "sgdscape/dist.h"
#include "sgdscape/nn.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int geom_cli_source_opt(const char *cmd, int ch, sgd_geom_source *s, int *quiet)
{
    switch (ch) {
    case GEOM_O_RUN: s->run = optarg; return 0;
    case GEOM_O_MODEL: s->model = optarg; return 0;
    case GEOM_O_DATA: s->data = optarg; return 0;
    case GEOM_O_CLASSES: return nn_cli_classes(cmd, optarg, &s->classes) ? 2 : 0;
    case GEOM_O_SUBSET: return cli_count(cmd, "--subset", optarg, &s->subset) ? 2 : 0;
    case GEOM_O_BUFFERS: s->buffers = optarg; return 0;
    case GEOM_O_BATCH:
        if (cli_count(cmd, "--batch", optarg, &s->batch)) return 2;
        return s->batch < 1 ? cli_usage(cmd, "--batch: must be >= 1") : 0;
    case GEOM_O_BATCHES: return cli_count(cmd, "--batches", optarg, &s->batches) ? 2 : 0;
    case GEOM_O_BN:
        if (!strcmp(optarg, "train")) s->bn = SGD_NN_TRAIN;
        else if (!strcmp(optarg, "eval")) s->bn = SGD_NN_EVAL;
        else return cli_usage(cmd, "--bn '%s': want train or eval", optarg);
        return 0;
    case GEOM_O_BNRE: s->bn_recompute = 1; return 0;
    case GEOM_O_BNB:
        if (cli_count(cmd, "--bn-batches", optarg, &s->bn_batches)) return 2;
        return s->bn_batches < 1 ? cli_usage(cmd, "--bn-batches: must be >= 1") : 0;
    case GEOM_O_QUIET: *quiet = 1; return 0;
    default: return -1;
    }
}


/* Nothing is written until every point is done: a signal before then ends
 * the command at once (a handler, not the default action, because a shell
 * starts background jobs with SIGINT ignored). */
static const char *sig_cmd = "";
static void on_signal(int sig)
{
    char line[160];
    int n = snprintf(line, sizeof line, "sgdscape %s: interrupted (%s); nothing written\n", sig_cmd,
                     sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (sgd_dist_rank() == 0 && n > 0) (void)!write(2, line, (size_t)n);
    _exit(128 + sig);
}

static void interruptible(const char *cmd)
{
    sig_cmd = cmd;
    cli_on_signals(on_signal);
}

void geom_cli_progress(sgd_progress *pg, const char *cmd, int quiet)
{
    interruptible(cmd);
    sgd_progress_start(pg, cmd);
    if (quiet || sgd_dist_rank() != 0) pg->enabled = 0;
}

int geom_cli_open(const char *cmd, sgd_rundir *rd, const char *out, int resume, const char *sub, char *keep,
                  size_t n)
{
    keep[0] = '\0';
    memset(rd, 0, sizeof *rd);
    if (sgd_dist_rank() == 0) {
        char marker[256];
        snprintf(marker, sizeof marker, "%s/config.txt", sub);
        if (resume ? sgd_rundir_reopen(rd, out, marker, cmd) && cli_lib_fail(cmd) : cli_rundir_open(cmd, rd, out))
            return 1;
        if (sgd_rundir_file(rd, sub, keep, n)) {
            cli_rundir_abort(rd);
            return cli_lib_fail(cmd);
        }
    }
    cli_stop_signals();
    return 0;
}

int geom_cli_ran(const char *cmd, sgd_rundir *rd, int resume, int run_rc, int usage)
{
    if (run_rc == SGD_OK) return -1;
    if (run_rc == SGD_DIST_ELSEWHERE) return 0;
    if (cli_stop_signal()) {
        if (rd->path[0])
            fprintf(stderr, "sgdscape %s: interrupted (%s); finished parts kept in %s: continue with --resume\n", cmd,
                    cli_stop_name(), rd->path);
        return 128 + cli_stop_signal();
    }
    int rc = usage && run_rc == SGD_EINVAL ? cli_lib_usage(cmd) : cli_lib_fail(cmd);
    if (!resume) cli_rundir_abort(rd); /* a resumed one keeps what it had */
    return rc;
}

int geom_cli_weights(const char *cmd, const char *point, const char **model, const char **weights, const char **run)
{
    struct stat st;
    if (!point) return 0;
    if (stat(point, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (*model) return cli_usage(cmd, "--model: a run directory names its own model");
        *run = point;
    } else {
        if (!*model) return cli_usage(cmd, "%s: weights need --model SPEC", point);
        *weights = point;
    }
    return 0;
}

int geom_cli_landscape(const char *cmd, const char *spec, const char *at, size_t d, sgd_landscape **f, double **x)
{
    if (!d) /* as many coordinates as --at has numbers */
        for (const char *s = (d = 1, at); *s; s++) d += *s == ',';
    *x = NULL;
    if (!(*f = sgd_landscape_create(spec, d))) return cli_lib_usage(cmd);
    int rc = (*x = malloc(d * sizeof **x)) ? cli_point(cmd, "--at", at, d, *x) : cli_fail(cmd, "out of memory");
    if (rc) { /* nothing half made */
        free(*x);
        sgd_landscape_free(*f);
        *x = NULL;
        *f = NULL;
    }
    return rc;
}

int geom_cli_commit(const char *cmd, sgd_rundir *rd, int write_rc)
{
    int rc = write_rc ? cli_lib_fail(cmd) : cli_rundir_commit(cmd, rd);
    if (rc) cli_rundir_abort(rd);
    return rc;
}
