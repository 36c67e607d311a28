/* What the two halves of sgd_branch_run share: the resolved training set-up
 * (branch.c trains the prefix and the branches with it) and the measurement
 * of the inner products over the finished branch directories
 * (branch_measure.c). */
#ifndef SGD_BRANCH_INTERNAL_H
#define SGD_BRANCH_INTERNAL_H

#include "sgdscape/branch.h"
#include "sgdscape/data.h"
#include "sgdscape/nn.h"

typedef struct branch_setup {
    sgd_train_data td;           /* the training split (and a test split, unused) */
    sgd_data_loader_opts aug;    /* crop, flip, normalisation of training batches */
    size_t p, nbuf;              /* weights and BN buffers of the network */
    size_t nb;                   /* training batches per epoch */
    size_t probe_batches;        /* K resolved (0: nb) */
    float *x0, *m0, *buf0;       /* the branch point (m0, buf0 may be NULL) */
    char work[4200];
    /* progress in units of one training batch; a probe row costs K */
    sgd_branch_progress_fn progress;
    void *ctx;
    double offset, total;
} branch_setup;

/* WORK/branches/bNNN */
void branch_dir(const branch_setup *S, size_t i, char *out, size_t n);
/* Every (i, t) row (kept in R->rows_dir and reused), the finals' losses and
 * distances, the claims. R->branches, epochs, p are set by the caller. */
int branch_measure(const sgd_branch_config *c, branch_setup *S, sgd_branch_result *R);

#endif
