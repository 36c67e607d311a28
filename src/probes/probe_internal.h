/* What sgd_probe_run works from: the trials' files, the epochs, the network
 * and the probe data, resolved from run manifests and flags (probe_input.c). */
#ifndef SGD_PROBE_INTERNAL_H
#define SGD_PROBE_INTERNAL_H

#include "sgdscape/data.h"
#include "sgdscape/nn.h"
#include "sgdscape/probes.h"

typedef struct probe_trial {
    char xdir[4200];          /* where x_EEEE.npy lie */
    char target[4200];        /* x_T */
    double *lr_csv;           /* lr of epoch e from train.csv (NaN: absent) */
    size_t lr_n;
    sgd_lr_schedule sched;    /* fallback for lr_t */
    int have_sched;
} probe_trial;

typedef struct probe_plan {
    size_t trials;
    probe_trial *t;
    int *epoch;
    size_t nepochs;
    char model[256], data[1024];
    int classes;
    size_t subset;            /* images of the training split kept (0: all) */
    sgd_data_loader_opts lo;  /* batch, seed, normalisation of the probe set */
    size_t batches;           /* K as given (0: whole split) */
    sgd_dataset tr;
    sgd_net *net;
    size_t p;
} probe_plan;

/* Resolve c into P; with check_files, every x_t and x_T is read and checked. */
int probe_plan_open(const sgd_probe_config *c, probe_plan *P, int check_files);
void probe_plan_free(probe_plan *P);
void probe_x_path(const probe_plan *P, size_t trial, int epoch, char *out, size_t n);
/* Read a weight vector: float32, p values, finite; errors name the file. */
int probe_load_x(const probe_plan *P, const char *path, float *x);
/* The same for any network (spectrum): p = sgd_net_nparams(net). */
int probe_read_x(sgd_net *net, const char *model, int classes, const char *path, float *x);
double probe_lr_at(const probe_plan *P, size_t trial, int epoch);
/* DIR/NAME.gp (900x560, x label 'epoch t': plot may set another first) and
 * its .png and .svg: a figure of probe_write.c's style (spectrum). */
int probe_figure(const char *dir, const char *name, const char *title, const char *ylabel, const char *plot);
/* The top Hessian eigenvalue of the probe's f at x (sharpness.c): Lanczos
 * of at most `steps` steps from a Rademacher start of `seed`, stopped at a
 * relative residual of 1e-6, products in float`bits` (64 or 32); *resid =
 * |H y - lambda y| of its Ritz pair. */
int probe_sharpness(probe_plan *P, const float *x, size_t steps, int bits, uint64_t seed, double *lambda,
                    double *resid);
/* A text that changes whenever anything that shapes the rows changes. */
char *probe_fingerprint(const sgd_probe_config *c, const probe_plan *P);

#endif
