/* What sgd_spectrum_run works from (spectrum.c) and how it measures one
 * local minimum (spectrum_eval.c). */
#ifndef SGD_SPECTRUM_INTERNAL_H
#define SGD_SPECTRUM_INTERNAL_H

#include "sgdscape/data.h"
#include "sgdscape/nn.h"
#include "sgdscape/spectrum.h"

typedef struct spectrum_plan {
    const sgd_spectrum_config *c;
    sgd_spectrum_result *R;   /* the resolved settings live in R */
    sgd_train_data D;         /* the splits; D.aug: the base run's crop, flip, normalisation */
    sgd_net *net;             /* for checks and the evaluation at x_min */
    int *start;
    size_t nstarts;
    char work[4000];          /* base/ and fine/ go here */
} spectrum_plan;

/* x (p float32 values, finite) from path into x (may be NULL: check only). */
int spectrum_load_x(const spectrum_plan *P, const char *path, float *x);
/* The progress of the run being trained: epochs before it, its epochs. */
typedef struct spectrum_tick {
    sgd_spectrum_progress_fn fn;
    void *ctx;
    double before, epochs, total;
} spectrum_tick;
/* The start point x_s: the base's x/x_SSSS.npy, or x.npy for s = E. */
void spectrum_start_path(const spectrum_plan *P, int s, char *out, size_t n);
/* Row k from the finished fine-tune in dir: evaluation, train.csv,
 * distances (x0 = x_0, xs = x_s) and the one-point probe into R->inner. */
int spectrum_measure(spectrum_plan *P, size_t k, const char *dir, const float *x0, const float *xs);
/* The paper's claims from the rows (spectrum_eval.c). */
int spectrum_claims(spectrum_plan *P);

#endif
