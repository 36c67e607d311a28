/* What interp, surface and hessian share: where f comes from (a run, or a
 * model and data set), its batches and the BN mode (sgd_geom_source); the
 * run directory that --resume reopens; hessian's operands. */
#ifndef SGD_GEOM_CLI_H
#define SGD_GEOM_CLI_H

#include "cli.h"
#include "sgdscape/geometry.h"

enum { GEOM_O_RUN = CLI_OPT_OWN + 0x80, GEOM_O_MODEL, GEOM_O_DATA, GEOM_O_CLASSES, GEOM_O_SUBSET, GEOM_O_BUFFERS,
       GEOM_O_BATCH, GEOM_O_BATCHES, GEOM_O_BN, GEOM_O_BNRE, GEOM_O_BNB, GEOM_O_QUIET };
#define GEOM_CLI_SOURCE_OPTIONS                                                                                   \
    {"run", 1, 0, GEOM_O_RUN}, {"model", 1, 0, GEOM_O_MODEL}, {"data", 1, 0, GEOM_O_DATA},                        \
        {"classes", 1, 0, GEOM_O_CLASSES}, {"subset", 1, 0, GEOM_O_SUBSET}, {"buffers", 1, 0, GEOM_O_BUFFERS},    \
        {"batch", 1, 0, GEOM_O_BATCH}, {"batches", 1, 0, GEOM_O_BATCHES}, {"bn", 1, 0, GEOM_O_BN},                \
        {"bn-recompute", 0, 0, GEOM_O_BNRE}, {"bn-batches", 1, 0, GEOM_O_BNB}, {"quiet", 0, 0, GEOM_O_QUIET}
/* The help text of those options. */
#define GEOM_CLI_SOURCE_HELP                                                                                      \
    "  --run DIR          a train run (keeps x/): its model, data, split, batch size and\n"                      \
    "                     normalisation; the default points come from it\n"                                      \
    "  --model SPEC, --data SPEC, --classes K, --subset K\n"                                                     \
    "                     without --run: the network and its training data (default\n"                           \
    "                     fashion-mnist, normalised by the training split's mean/std)\n"                         \
    "  --batch B          batch size (default the run's, else 128)\n"                                            \
    "  --batches K        f = mean loss of the first K batches of the training split shuffled\n"                 \
    "                     with --seed (default 10; 0 = the whole split)\n"                                       \
    "  --bn train|eval    BN with batch statistics (default) or with the running statistics\n"                   \
    "                     of --buffers FILE (default RUN/buffers.npy), the same at every point\n"                \
    "  --bn-recompute     re-estimate the running statistics at every point from --bn-batches\n"                 \
    "                     training batches (default 10, equal weight each), then f in eval mode\n"               \
    "  --seed N           the shuffle of the batches (default 1)\n"                                              \
    "  --quiet            no progress line\n"

/* -1: not one of these options; 0: taken into *s (or *quiet); 2: a bad value (message printed). */
int geom_cli_source_opt(const char *cmd, int ch, sgd_geom_source *s, int *quiet);
/* Before the computation: the progress line (rank 0, a terminal, unless
 * quiet); until the run directory is opened, SIGINT/SIGTERM end the command
 * with one line and no files (exit 130/143). */
void geom_cli_progress(sgd_progress *pg, const char *cmd, int quiet);
/* The run directory of a resumable command (interp, surface, hessian), once
 * parsed: with resume DIR.partial reopened (it must hold SUB/config.txt),
 * else a fresh DIR.partial. From here the first SIGINT/SIGTERM stops the
 * run between its parts and keeps DIR.partial (cli_stop_requested); a kill
 * keeps it too. keep: DIR.partial/SUB, where the library keeps the finished
 * parts (rank 0; "" on other ranks). 0, or the exit code after the message. */
int geom_cli_open(const char *cmd, sgd_rundir *rd, const char *out, int resume, const char *sub, char *keep,
                  size_t n);
/* After the run: run_rc SGD_OK gives -1 (go on: write, then geom_cli_commit);
 * else the exit code after the message: interrupted (128 + signal: what is
 * kept stays for --resume), failed (1, or 2 for SGD_EINVAL with usage: a
 * fresh DIR.partial is removed, a resumed one keeps its parts), or another
 * rank's result (0). */
int geom_cli_ran(const char *cmd, sgd_rundir *rd, int resume, int run_rc, int usage);
/* The operand of hessian: a run directory (*run), or weights (*weights) that
 * need *model. 0, or 2 after the message. */
int geom_cli_weights(const char *cmd, const char *point, const char **model, const char **weights, const char **run);
/* The landscape SPEC in dimension d (0: as many as --at has values) and the
 * point --at into *x (malloc'ed). 0, or the exit code after the message. */
int geom_cli_landscape(const char *cmd, const char *spec, const char *at, size_t d, sgd_landscape **f, double **x);
/* write_rc is the writer's status in rd->path; commits, or removes the
 * directory. 0, or the exit code after the message. */
int geom_cli_commit(const char *cmd, sgd_rundir *rd, int write_rc);

#endif
