/* The paper's Figure 3 as one experiment: row 1 shows f and f convolved at
 * three noise levels, row 2 runs GD and SGD at those levels from random
 * starts, row 3 runs SGD in stages with shrinking noise and starting regions. */
#ifndef SGDSCAPE_FIG3_H
#define SGDSCAPE_FIG3_H

#include "sgdscape/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sgd_fig3_config {
    const sgd_landscape *f;   /* 1-D; spiky by default */
    double eta;               /* step size of every panel (0.01) */
    double level[3];          /* row 2 noise levels eta*r (0.04, 0.13, 0.8) */
    double stage_level[3];    /* row 3 stage levels (0.04, 0.02, 0.01) */
    double stage_lo, stage_hi; /* row 3 first stage restarts here ([-1.5, 1.5]) */
    size_t steps;             /* per row-2 panel; row 3 splits it over its stages */
    size_t trials;            /* per panel (100) */
    double start_lo, start_hi; /* row 2 starting box ([-6, 6]) */
    uint64_t seed;
    int threads;
} sgd_fig3_config;

#define SGD_FIG3_PANELS 7   /* GD, 3 SGD levels, 3 stages */

typedef struct sgd_fig3_panel {
    char name[48];
    int row, col;
    double noise_level;
    sgd_trials_stats stats;   /* radii 1.5 and 0.1 around x* = 0 */
    sgd_trials_result res;
} sgd_fig3_panel;

typedef struct sgd_fig3_result {
    sgd_fig3_panel panel[SGD_FIG3_PANELS];
    double seconds;
} sgd_fig3_result;

void sgd_fig3_defaults(sgd_fig3_config *c, const sgd_landscape *f);
/* Under MPI (dist.h) the trials of every panel are split over the ranks;
 * rank 0 gets the result, the others SGD_DIST_ELSEWHERE. */
int sgd_fig3_run(const sgd_fig3_config *c, sgd_fig3_result *r, sgd_trials_progress_fn progress, void *ctx);
/* summary.json, panels.csv, endpoints.csv, the .dat files and fig3.{gp,png,svg}
 * into dir (an open run directory's path). */
int sgd_fig3_write(const char *dir, const sgd_fig3_config *c, const sgd_fig3_result *r);
void sgd_fig3_result_free(sgd_fig3_result *r);

#ifdef __cplusplus
}
#endif
#endif
