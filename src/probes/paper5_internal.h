/* Shared by paper5.c (presets, stages) and paper5_report.c (claims, report). */
#ifndef SGD_PAPER5_INTERNAL_H
#define SGD_PAPER5_INTERNAL_H

#include "sgdscape/paper5.h"

#include <stddef.h>

/* The ~10K DenseNet-BC of 5.3 and 5.4 (docs/nn.md gives its exact count). */
#define SGD_PAPER5_DENSENET_10K "densenet:depth=22,k=4,reduction=0.75"

/* out = dir/name, or an error when it does not fit */
int paper5_path(char *out, size_t n, const char *dir, const char *name);
int paper5_exists(const char *dir, const char *name);
/* A stage's directory name ("s53_resnet_n1_w6") from its stage, model spec
 * and (may be NULL) schedule. */
void paper5_stage_name(const char *stage, const char *spec, const char *sched, char *out, size_t n);
/* Reads every stage's summary.json under work into r->claim. */
int paper5_claims(const char *work, const sgd_paper5_preset *P, sgd_paper5_result *r);

#endif
