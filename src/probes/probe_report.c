/* A probe for a reader: the lines `sgdscape probe` prints, and the output
 * directory of a killed probe reopened for --resume (probe_write.c writes
 * the files). */
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/probes.h"

#include <stdio.h>

void sgd_probe_print(FILE *o, const sgd_probe_config *c, const sgd_probe_result *r)
{
    fprintf(o, "probe: %zu trial%s x %zu epochs, p = %zu, %zu points of radius %g, K = %zu batches of %zu (%.2f s%s)\n",
            r->trials, r->trials == 1 ? "" : "s", r->nepochs, r->p, r->points, c->radius, r->batches, r->batch,
            r->seconds, r->resumed_rows ? ", resumed" : "");
    fprintf(o, "  5.1 epochs t >= 5 with min over trials of inner > 0: %.3g (paper: all)\n", r->frac_min_inner_pos_5);
    fprintf(o, "  5.2 epochs with every neighbourhood inner > 0:        %.3g (paper: all)\n", r->frac_nb_min_pos);
    fprintf(o, "      epochs with Hoeffding lower bound > 0:           %.3g\n", r->frac_nb_hoeffding_pos);
    fprintf(o, "  5c  largest step bound lr_t max|g|:                  %.4g (paper: <= 0.5)\n", r->max_step_bound);
}

int sgd_probe_reopen(struct sgd_rundir *rd, const char *out)
{
    return sgd_rundir_reopen(rd, out, "rows/config.txt", "probe");
}
