/* Shared helpers for the command-line shell. Each subcommand lives in
 * src/cli/cmd_NAME.c and defines
 *     const char sgd_cmd_NAME_summary[];          one line for `sgdscape --help`
 *     int sgd_cmd_NAME(int argc, char **argv);    argv[0] is "NAME"
 * CMake finds the files and builds the command table; nothing to register. */
#ifndef SGD_CLI_H
#define SGD_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sgdscape/landscape.h"
#include "sgdscape/noise.h"
#include "sgdscape/smooth.h"

struct sgd_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* Print "sgdscape NAME: message" to stderr; returns exit code 2 (usage) or 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Report the library's last error for command cmd; returns 1. */
int cli_lib_fail(const char *cmd);

/* Strict number parsing: the whole string must be a finite number.
 * On failure prints "sgdscape CMD: --OPT: 'VAL' is not a number" and
 * returns nonzero. */
int cli_double(const char *cmd, const char *opt, const char *val, double *out);
int cli_positive(const char *cmd, const char *opt, const char *val, double *out); /* > 0 */
int cli_size(const char *cmd, const char *opt, const char *val, size_t *out);     /* >= 0 int */
int cli_u64(const char *cmd, const char *opt, const char *val, uint64_t *out);
int cli_int(const char *cmd, const char *opt, const char *val, int *out);
/* Comma-separated list of doubles; returns count or -1. */
int cli_doubles(const char *cmd, const char *opt, const char *val, double *out, int max);

/* The value of --threads: an integer >= 0 (0: all cores). 0, or 2 after the message. */
int cli_threads_arg(const char *cmd, const char *val, int *threads);
/* --threads N: 0 means all cores. Applies it to OpenMP and returns the count. */
int cli_threads(int requested);

/* A point in R^d: one number (all coordinates) or d comma-separated ones.
 * Returns 0, or nonzero after printing a message naming opt. */
int cli_point(const char *cmd, const char *opt, const char *val, size_t d, double *out);

/* LO:HI box option (fails with a message naming opt). */
int cli_parse_box(const char *cmd, const char *opt, const char *val, double *lo, double *hi);

/* Progress callback for library loops: ctx is an sgd_progress. */
void cli_progress_cb(void *ctx, double done, double total);

/* The tail of a subcommand's option switch, shared by the landscape-lab
 * commands: --out (short code 'o') into *out, --seed ('z') into *seed,
 * --threads ('t') into *threads, --help ('h') and unknown options. Returns
 * -1 when parsing goes on, otherwise the exit code (0 after --help, 2 for a
 * bad value, 1 for an unknown option; the message is printed). */
int cli_common_opt(const char *cmd, int ch, const char *help, char **argv, const char **out, uint64_t *seed,
                   int *threads);
/* Option-table entries for the options cli_common_opt owns. */
#define CLI_COMMON_OPTIONS {"out", 1, 0, 'o'}, {"seed", 1, 0, 'z'}, {"threads", 1, 0, 't'}, {"help", 0, 0, 'h'}
/* The landscape and noise options that run, check, smooth and verify share
 * (one parser, so their messages and checks cannot drift apart). Each
 * command sets its own defaults with cli_problem_init, lists
 * CLI_PROBLEM_OPTIONS (and CLI_XSTAR_OPTION if it takes --x-star) in its
 * option table and calls cli_problem_opt (cli_estimator_opt if it also takes
 * the estimator options) from the default branch of its switch in place of
 * cli_common_opt. */
typedef struct cli_problem {
    const char *fspec;      /* --f */
    size_t d;               /* --d (0 is let through: each command says what it means) */
    const char *xstar_s;    /* --x-star, NULL if not given */
    const char *noise_name; /* --noise */
    double eta;             /* --eta (> 0) */
    double r, level;        /* --r, --level: NAN until given */
    int have_eta;           /* --eta was given */
    int positive;           /* --r and --level must be > 0, not just >= 0 */
} cli_problem;

/* Option-table entries; --x-star apart, as smooth has no target. */
#define CLI_PROBLEM_OPTIONS \
    {"f", 1, 0, 'f'}, {"d", 1, 0, 'd'}, {"noise", 1, 0, 'n'}, {"eta", 1, 0, 'e'}, {"r", 1, 0, 'r'}, {"level", 1, 0, 'l'}
#define CLI_XSTAR_OPTION {"x-star", 1, 0, 'X'}

/* Defaults: landscape fspec, d = 1, noise ball, step eta, no --r / --level,
 * which may be 0 (set P->positive after this to forbid that). */
void cli_problem_init(cli_problem *P, const char *fspec, double eta);
/* cli_common_opt for these commands: the options above into *P (short codes
 * f d X n e r l, which a command's own options must not use), anything else
 * to cli_common_opt. Same return values. */
int cli_problem_opt(const char *cmd, int ch, cli_problem *P, const char *help, char **argv, const char **out,
                    uint64_t *seed, int *threads);
/* "give --r or --level, not both": 1 after the message, else 0. */
int cli_problem_conflict(const char *cmd, const cli_problem *P);
/* The noise kind from --noise into *kind, and the noise radius into *r:
 * --level / eta, else --r, else def_r (both given: refused). 0, or 1 after
 * the message. */
int cli_problem_noise(const char *cmd, const cli_problem *P, double def_r, sgd_noise_kind *kind, double *r);
/* x* into xs[d]: xstar_s (the value of --x-star, or NULL), else the
 * landscape's own; 0, or the exit code after the message (a landscape without
 * a known x* needs --x-star). */
int cli_problem_xstar(const char *cmd, size_t d, const char *xstar_s, const sgd_landscape *f, double *xs);

/* The estimator options smooth and check share: --method --samples --tol
 * --interval --range --grad-range (short codes m N T I R G). */
typedef struct cli_estimator {
    const char *method_s, *interval_s; /* names, parsed by cli_estimator_finish */
    int have_tol;                      /* --tol given: it sets the sample count */
} cli_estimator;
/* Initialiser: method auto, interval clt, no --tol. */
#define CLI_ESTIMATOR_DEFAULTS {"auto", "clt", 0}
#define CLI_ESTIMATOR_OPTIONS                                                                            \
    {"method", 1, 0, 'm'}, {"samples", 1, 0, 'N'}, {"tol", 1, 0, 'T'}, {"interval", 1, 0, 'I'},         \
        {"range", 1, 0, 'R'}, {"grad-range", 1, 0, 'G'}
/* cli_problem_opt for smooth and check: these options into *E and *sp,
 * anything else to cli_problem_opt. Same return values. */
int cli_estimator_opt(const char *cmd, int ch, cli_estimator *E, sgd_smooth_params *sp, cli_problem *P,
                      const char *help, char **argv, const char **out, uint64_t *seed, int *threads);
/* After parsing: --tol replaces the sample count; method and interval names
 * into sp. 0, or 1 after the library's message. */
int cli_estimator_finish(const char *cmd, const cli_estimator *E, sgd_smooth_params *sp);

/* 0 when getopt consumed every argument, else prints the first stray one
 * and returns 1. */
int cli_no_operands(const char *cmd, int argc, char **argv);

/* Print help text (a const char[] in each command file) to stdout. */
void cli_help(const char *text);

#endif
