/* The Assumption-1 check's parts for the experiments built on it
 * (onepoint_scan.c, verify.c) under MPI (docs/mpi.md). */
#ifndef SGD_THEORY_INTERNAL_H
#define SGD_THEORY_INTERNAL_H

#include "sgdscape/theory.h"

/* sgd_onepoint_check with the whole result on every rank (each computes its
 * slice of the points, all receive the rest): for callers that go on
 * computing with it everywhere. No hand-off. */
int sgd_onepoint_check_all(const sgd_onepoint_config *c, sgd_onepoint_result *res);

#endif
