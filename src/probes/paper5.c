/* All of Section 5 in one experiment: the presets and the stages (paper5.h).
 * Every stage calls the library's own experiment (train, probe, branch,
 * spectrum) into its directory under the work directory and leaves a `.done`
 * marker when its files are complete; the report reads the stages' files,
 * so a finished stage is never rerun. */
#include "probes/paper5_internal.h"
#include "sgdscape/branch.h"
#include "sgdscape/dist.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"
#include "sgdscape/probes.h"
#include "sgdscape/spectrum.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The paper's Section 5: ResNet-34 (width 16) and DenseNet-BC-100 (k 12),
 * 5 trials of 300 epochs, the step schedule and x0.99 per epoch; the ~10K
 * nets for 5.3 (10 shared epochs, 50 branches x 140) and 5.4 (300 + 150). */
static const sgd_paper5_preset PRESETS[] = {
    {"paper", {"resnet34:w=16", "densenet:depth=100,k=12"}, {"step", "exp:0.99"}, 5, 300, 0.1, 128, 0, 0,
     10, 100, 10, 1, {"resnet:n=1,w=6", SGD_PAPER5_DENSENET_10K}, 10, 50, 140, 300, 150, "every:20", 10},
    /* The same pipeline on Fashion-MNIST and the small nets, sized for
     * about 30 minutes on 2 cores (docs/nn.md has the measured times). */
    {"quick", {"resnet:n=1,w=6", SGD_PAPER5_DENSENET_10K}, {"step", NULL}, 3, 12, 0.1, 128, 8000, 2000,
     2, 10, 4, 1, {"resnet:n=1,w=6", SGD_PAPER5_DENSENET_10K}, 2, 6, 8, 12, 6, "every:3", 2},
    /* Every stage on a few hundred images: checks the pipeline, not the paper. */
    {"smoke", {"resnet:n=1,w=4", NULL}, {"step", NULL}, 2, 6, 0.1, 32, 128, 64,
     1, 3, 2, 1, {"resnet:n=1,w=4", NULL}, 1, 3, 2, 3, 2, "every:1", 1},
};

const sgd_paper5_preset *sgd_paper5_preset_get(const char *name)
{
    for (size_t i = 0; name && i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (!strcmp(PRESETS[i].name, name)) return &PRESETS[i];
    sgd_error(SGD_EINVAL, "--preset %s: want smoke, quick or paper", name ? name : "(none)");
    return NULL;
}

void sgd_paper5_defaults(sgd_paper5_config *c)
{
    memset(c, 0, sizeof *c);
    c->preset = "quick";
    c->data = "fashion-mnist";
    c->seed = 1;
}

void sgd_paper5_result_free(sgd_paper5_result *r)
{
    free(r->claim);
    memset(r, 0, sizeof *r);
}

int paper5_path(char *out, size_t n, const char *dir, const char *name)
{
    int k = snprintf(out, n, "%s/%s", dir, name);
    return k < 0 || (size_t)k >= n ? sgd_error(SGD_EINVAL, "paper5: path too long: %s/%s", dir, name) : SGD_OK;
}

int paper5_exists(const char *dir, const char *name)
{
    char path[4600];
    struct stat st;
    return !paper5_path(path, sizeof path, dir, name) && stat(path, &st) == 0;
}

/* ("s53", "resnet:n=1,w=6", NULL) -> "s53_resnet_n1_w6": a stage's directory
 * name, the one place the stages and the report take it from. */
void paper5_stage_name(const char *stage, const char *spec, const char *sched, char *out, size_t n)
{
    size_t k = (size_t)snprintf(out, n, "%s_", stage);
    for (const char *s = spec; *s && k + 1 < n; s++)
        if (*s == ':' || *s == ',') out[k++] = '_';
        else if (*s != '=') out[k++] = *s;
    for (const char *s = sched; s && *s && k + 2 < n; s++) {
        if (s == sched) out[k++] = '_';
        out[k++] = *s == ':' ? '_' : *s;
    }
    out[k] = '\0';
}

typedef struct stage_ctx {
    const sgd_paper5_config *c;
    sgd_paper5_progress_fn progress;
    void *ctx;
    const char *name;
} stage_ctx;

static void on_progress(void *ctx, double done, double total)
{
    stage_ctx *S = ctx;
    if (S->progress) S->progress(S->ctx, S->name, done, total);
}

static int mark_done(const char *dir)
{
    char path[4600];
    int rc = paper5_path(path, sizeof path, dir, ".done");
    return rc ? rc : sgd_write_file(path, "done\n", 5);
}

/* Under MPI every rank goes through the stages in step: rank 0 decides
 * whether a stage is done, and each stage ends in an agreement, so that a
 * failure on one rank (rank 0 writing, say) ends all of them. */
static int stage_done(const char *dir)
{
    int d = sgd_dist_rank() == 0 && paper5_exists(dir, ".done");
    sgd_dist_bcast(&d, sizeof d);
    return d;
}

/* A stage's directory, made by rank 0. */
static int stage_dir(const char *dir) { return sgd_dist_agree(sgd_dist_rank() == 0 ? sgd_mkdirs(dir) : SGD_OK); }

/* The end of a split experiment: ranks other than 0 handed their part on. */
static int mine(int rc) { return rc == SGD_DIST_ELSEWHERE ? SGD_OK : rc; }

/* Rank 0 writes a stage's results (write(dir, ...) done by the caller when
 * rc is 0 here) and marks it done; every rank learns the outcome. */
static int stage_end(int rc, const char *dir)
{
    if (!rc && sgd_dist_rank() == 0) rc = mark_done(dir);
    return sgd_dist_agree(rc);
}

/* One `train` run: skipped when finished, continued when killed. */
static int train_trial(const sgd_paper5_config *c, const sgd_paper5_preset *P, const sgd_train_data *D,
                       const char *model, const char *sched, uint64_t seed, const char *dir, stage_ctx *S)
{
    if (paper5_exists(dir, "summary.json")) return SGD_OK;
    char partial[4700];
    snprintf(partial, sizeof partial, "%.4600s.partial", dir);
    int resume = paper5_exists(partial, "checkpoint/state.json");
    sgd_train_config t;
    sgd_train_defaults(&t);
    int rc = sgd_lr_schedule_parse(sched, P->lr, P->epochs, &t.lr);
    if (rc) return rc;
    sgd_train_config_data(&t, D, c->data);
    t.spec = model;
    t.seed = seed;
    t.epochs = P->epochs;
    t.batch = P->batch;
    t.threads = c->threads;
    t.quiet = 1;
    t.progress = on_progress;
    t.progress_ctx = S;
    t.stop = c->stop;
    t.stop_ctx = c->stop_ctx;
    t.argc = c->argc;
    t.argv = c->argv;
    return sgd_train_run(&t, dir, resume);
}

/* 5.1 and 5.2: the trials of one (model, schedule), then the probe over them. */
static int stage51(const sgd_paper5_config *c, const sgd_paper5_preset *P, const sgd_train_data *D, const char *work,
                   const char *model, const char *sched, stage_ctx *S)
{
    char name[200], dir[4400], path[4600], rows[4600];
    paper5_stage_name("s51", model, sched, name, sizeof name);
    snprintf(dir, sizeof dir, "%s/%s", work, name);
    if (stage_done(dir)) return 1;
    int rc = stage_dir(dir);
    if (rc) return rc;
    char **runs = calloc((size_t)P->trials, sizeof *runs);
    if (!runs) return sgd_error(SGD_ENOMEM, "out of memory");
    for (int k = 0; k < P->trials && !rc; k++) {
        snprintf(path, sizeof path, "%s/trial%d", dir, k);
        if (!(runs[k] = strdup(path))) rc = sgd_error(SGD_ENOMEM, "out of memory");
    }
    /* trial k: its own initialisation and order (seed + k), as the paper's 5
     * trials; under MPI each rank trains a slice of them */
    size_t lo, hi;
    sgd_dist_slice((size_t)P->trials, &lo, &hi);
    for (size_t k = lo; k < hi && !rc; k++)
        rc = train_trial(c, P, D, model, sched, c->seed + (uint64_t)k, runs[k], S);
    rc = sgd_dist_agree(rc);
    sgd_probe_config q;
    sgd_probe_defaults(&q);
    char epochs[64];
    snprintf(epochs, sizeof epochs, "0:%d:%d", P->epochs - 1, P->probe_every);
    q.runs = (const char *const *)runs;
    q.nruns = (size_t)P->trials;
    q.batches = P->probe_batches;
    q.points = P->points;
    q.sg_batches = P->sg_batches;
    q.epochs = epochs;
    q.seed = c->seed;
    q.threads = c->threads;
    q.stop = c->stop;
    q.stop_ctx = c->stop_ctx;
    q.argc = c->argc;
    q.argv = c->argv;
    snprintf(rows, sizeof rows, "%s/probe_rows", dir);
    q.rows_dir = rows;
    sgd_probe_result r;
    memset(&r, 0, sizeof r);
    sgd_rundir rd;
    snprintf(path, sizeof path, "%s/probe", dir);
    if (!rc) rc = stage_dir(rows);
    if (!rc) rc = mine(sgd_probe_run(&q, &r, on_progress, S));
    if (!rc && sgd_dist_rank() == 0 && !(rc = sgd_rundir_open(&rd, path))) {
        rc = sgd_probe_write(rd.path, &q, &r);
        if (!rc) rc = sgd_rundir_commit(&rd);
        else sgd_rundir_abort(&rd);
    }
    sgd_probe_result_free(&r);
    for (int k = 0; k < P->trials; k++) free(runs[k]);
    free(runs);
    return stage_end(rc, dir);
}

/* 5.3 for one small net: the branch experiment, written into its own work directory. */
static int stage53(const sgd_paper5_config *c, const sgd_paper5_preset *P, const char *work, const char *model,
                   stage_ctx *S)
{
    char name[200], dir[4400];
    paper5_stage_name("s53", model, NULL, name, sizeof name);
    snprintf(dir, sizeof dir, "%s/%s", work, name);
    if (stage_done(dir)) return 1;
    sgd_branch_config b;
    sgd_branch_defaults(&b);
    b.model = model;
    b.data = c->data;
    b.subset = P->subset;
    b.batch = P->batch;
    b.shared_epochs = P->shared_epochs;
    b.branches = P->branches;
    b.epochs = P->branch_epochs;
    b.lr = P->lr;
    b.batches = P->measure_batches;
    b.seed = c->seed;
    b.threads = c->threads;
    b.work = dir;
    b.stop = c->stop;
    b.stop_ctx = c->stop_ctx;
    b.argc = c->argc;
    b.argv = c->argv;
    int rc = stage_dir(dir);
    sgd_branch_result r;
    memset(&r, 0, sizeof r);
    if (!rc) rc = mine(sgd_branch_run(&b, &r, on_progress, S));
    if (!rc && sgd_dist_rank() == 0) rc = sgd_branch_write(dir, &b, &r);
    sgd_branch_result_free(&r);
    return stage_end(rc, dir);
}

/* 5.4 for one small net: the spectrum experiment. */
static int stage54(const sgd_paper5_config *c, const sgd_paper5_preset *P, const char *work, const char *model,
                   stage_ctx *S)
{
    char name[200], dir[4400];
    paper5_stage_name("s54", model, NULL, name, sizeof name);
    snprintf(dir, sizeof dir, "%s/%s", work, name);
    if (stage_done(dir)) return 1;
    sgd_spectrum_config s;
    sgd_spectrum_defaults(&s);
    s.model = model;
    s.data = c->data;
    s.epochs = P->spectrum_epochs;
    s.lr = P->lr;
    s.batch = P->batch;
    s.subset = P->subset;
    s.val_subset = P->val_subset;
    s.starts = P->starts;
    s.epochs_fine = P->fine_epochs;
    s.probe_batches = P->measure_batches;
    s.seed = c->seed;
    s.threads = c->threads;
    s.quiet = 1;
    s.work = dir;
    s.argc = c->argc;
    s.argv = c->argv;
    int rc = stage_dir(dir);
    sgd_spectrum_result r;
    memset(&r, 0, sizeof r);
    if (!rc) rc = mine(sgd_spectrum_run(&s, &r, on_progress, S));
    if (!rc && sgd_dist_rank() == 0) rc = sgd_spectrum_write(dir, &s, &r);
    sgd_spectrum_result_free(&r);
    return stage_end(rc, dir);
}

static int count(int rc, sgd_paper5_result *r)
{
    if (rc == 1) r->stages_skipped++;
    else if (rc == 0) r->stages++;
    return rc == 1 ? 0 : rc;
}

int sgd_paper5_run(const sgd_paper5_config *c, sgd_paper5_result *r, sgd_paper5_progress_fn progress, void *ctx)
{
    memset(r, 0, sizeof *r);
    double t0 = sgd_now();
    const sgd_paper5_preset *P = sgd_paper5_preset_get(c->preset);
    if (!P) return SGD_EINVAL;
    r->preset = P;
    for (int m = 0; m < SGD_PAPER5_MAX_MODELS; m++) {
        const char *specs[2] = {P->models[m], P->small[m]};
        for (int k = 0; k < 2; k++) {
            if (!specs[k]) continue;
            sgd_net *net = sgd_net_create(specs[k], 3, 32, 32, 10);
            if (!net) return sgd_errmsg()[0] ? SGD_EINVAL : sgd_error(SGD_EINVAL, "model %s", specs[k]);
            sgd_net_free(net);
        }
    }
    sgd_train_data_spec ds = {c->data, 0, P->subset, P->val_subset, -1, -1, 1};
    sgd_train_data D;
    int rc = sgd_train_data_load(&ds, &D);
    if (rc) return rc;
    /* rank 0 opens the work directory; the others learn its path */
    const char *work = c->work;
    if (c->ready && (rc = c->ready(c->ready_ctx, &work))) goto out;
    if (sgd_dist_rank() == 0) {
        if (!work || !*work || strlen(work) >= 4000)
            rc = sgd_error(SGD_EINVAL, "paper5: no work directory, or its path is too long");
        else {
            snprintf(r->work, sizeof r->work, "%s", work);
            rc = sgd_mkdirs(work);
        }
    }
    if ((rc = sgd_dist_agree(rc)) || (rc = sgd_dist_bcast(r->work, sizeof r->work))) goto out;
    work = r->work;
    stage_ctx S = {c, progress, ctx, ""};
    char name[256];
    for (int m = 0; m < SGD_PAPER5_MAX_MODELS && !rc; m++)
        for (int s = 0; s < SGD_PAPER5_MAX_SCHEDULES && !rc && P->models[m]; s++) {
            if (!P->schedules[s]) continue;
            snprintf(name, sizeof name, "5.1 %s %s", P->models[m], P->schedules[s]);
            S.name = name;
            rc = count(stage51(c, P, &D, work, P->models[m], P->schedules[s], &S), r);
        }
    for (int m = 0; m < SGD_PAPER5_MAX_MODELS && !rc; m++) {
        if (!P->small[m]) continue;
        snprintf(name, sizeof name, "5.3 %s", P->small[m]);
        S.name = name;
        rc = count(stage53(c, P, work, P->small[m], &S), r);
        snprintf(name, sizeof name, "5.4 %s", P->small[m]);
        S.name = name;
        if (!rc) rc = count(stage54(c, P, work, P->small[m], &S), r);
    }
    if (!rc) rc = sgd_dist_rank() == 0 ? paper5_claims(work, P, r) : sgd_dist_hand_off();
out:
    sgd_train_data_free(&D);
    r->seconds = sgd_now() - t0;
    return rc;
}
