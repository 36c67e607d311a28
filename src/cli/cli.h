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

#include "sgdscape/io.h"
#include "sgdscape/landscape.h"
#include "sgdscape/noise.h"
#include "sgdscape/smooth.h"

struct sgd_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* Print "sgdscape NAME: message" to stderr and return the exit code: 1 (the
 * run failed) from cli_fail, 2 (a usage error: a bad, missing or
 * contradictory option) from cli_usage. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The library's last error for command cmd: returns 1, or 2 from
 * cli_lib_usage (the library rejected an option's value). */
int cli_lib_fail(const char *cmd);
int cli_lib_usage(const char *cmd);

/* Strict number parsing: the whole string must be a finite number.
 * On failure prints "sgdscape CMD: --OPT: 'VAL' is not a finite number" (or
 * "is too small: it underflows" / "is too large" for values beyond double
 * precision) and returns nonzero. */
int cli_double(const char *cmd, const char *opt, const char *val, double *out);
int cli_positive(const char *cmd, const char *opt, const char *val, double *out); /* > 0 */
int cli_size(const char *cmd, const char *opt, const char *val, size_t *out);     /* >= 0 int */
int cli_u64(const char *cmd, const char *opt, const char *val, uint64_t *out);
int cli_int(const char *cmd, const char *opt, const char *val, int *out);
/* A count of steps, trials, samples or points: an integer in [0, CLI_MAX_COUNT],
 * written plainly or as 1e8. Every count of the lab commands goes through it. */
#define CLI_MAX_COUNT 9007199254740992.0 /* 2^53: every count is exact as a double */
int cli_count(const char *cmd, const char *opt, const char *val, size_t *out);
/* The precision of Hessian-vector products: "64" or "32". */
int cli_precision(const char *cmd, const char *opt, const char *val, int *out);
/* Comma-separated list of doubles; returns count (>= 1) or -1 ("--OPT: empty list"). */
int cli_doubles(const char *cmd, const char *opt, const char *val, double *out, int max);

/* The value of --threads: an integer in [0, CLI_MAX_THREADS] (0: all cores).
 * 0, or 2 after the message. (libgomp crashes with tens of thousands.) */
#define CLI_MAX_THREADS 1024
int cli_threads_arg(const char *cmd, const char *val, int *threads);
/* --threads N: 0 means all cores. Applies it to OpenMP and returns the count. */
int cli_threads(int requested);

/* A point in R^d: one number (all coordinates) or d comma-separated ones.
 * Returns 0, or the exit code after a message naming opt: 2 for a bad value
 * (a usage error), 1 when out of memory. */
int cli_point(const char *cmd, const char *opt, const char *val, size_t d, double *out);

/* LO:HI box option (fails with a message naming opt). */
int cli_parse_box(const char *cmd, const char *opt, const char *val, double *lo, double *hi);

/* Progress callback for library loops: ctx is an sgd_progress. */
void cli_progress_cb(void *ctx, double done, double total);

/* Work limit: a command whose work (gradient or function evaluations times
 * dimensions) exceeds CLI_WORK_LIMIT prints the amount, `what` (how it is made
 * up) and a time estimate at a rate measured on f, and is refused unless
 * --force. Returns 0 (go on), or 2 after the one-line refusal. */
#define CLI_WORK_LIMIT 1e10
int cli_work(const char *cmd, double work, const char *what, const sgd_landscape *f, int threads);
/* cli_work for smoothing npoints points (y: the first) when the method is
 * Monte Carlo: points x samples x d, the samples from --tol by a pilot. */
int cli_mc_work(const char *cmd, const sgd_landscape *f, const sgd_noise *W, double eta, const double *y, double npoints,
                const sgd_smooth_params *sp, int want_grad, int threads);

/* Run directories that SIGINT / SIGTERM do not leave behind. cli_rundir_open
 * opens DIR.partial and arms a handler: while the directory is empty (the
 * computation) a signal removes it, prints one line and exits 130 / 143;
 * while files are being written the signal is held until cli_rundir_commit,
 * which then removes the directory and returns 130 / 143 after the line.
 * Both return 0, or 1 after the library's message. */
int cli_rundir_open(const char *cmd, sgd_rundir *rd, const char *dir);
/* SIGINT and SIGTERM to handler (SA_RESTART): cli_rundir_open's removes an empty
 * DIR.partial; a resumable command installs its own, which keeps it. */
void cli_on_signals(void (*handler)(int));
int cli_rundir_commit(const char *cmd, sgd_rundir *rd);
void cli_rundir_abort(sgd_rundir *rd);
/* A signal is waiting (files were being written): loops that write as they
 * go stop early and let cli_rundir_commit report it. */
int cli_interrupted(void);
/* For resumable commands: after cli_stop_signals(), the first SIGINT/SIGTERM
 * makes cli_stop_requested (a library `stop` callback) return nonzero, and
 * cli_stop_signal() the signal (0: none); a second signal exits at once. */
void cli_stop_signals(void);
int cli_stop_requested(void *ctx);
int cli_stop_signal(void);
const char *cli_stop_name(void); /* "SIGINT" or "SIGTERM" */

/* The tail of a subcommand's option switch, shared by the landscape-lab
 * commands: --out (short code 'o') into *out, --seed ('z') into *seed,
 * --threads ('t') into *threads, --force (for cli_work), --help ('h'), a
 * missing value (getopt's ':', so the option string must start with ':':
 * CLI_OPTSTRING) and unknown options. Returns -1 when parsing goes on,
 * otherwise the exit code (0 after --help, 2 for a bad or missing value or an
 * unknown option: usage errors; the message is printed). out and seed may
 * be NULL where the option table leaves those options out. */
int cli_common_opt(const char *cmd, int ch, const char *help, char **argv, const char **out, uint64_t *seed,
                   int *threads);
/* Option-table entries for the options cli_common_opt owns: one by one for
 * commands that take only some (the network commands), or all of them.
 * Commands' own long-only codes start at CLI_OPT_OWN. */
#define CLI_OPT_FORCE 0x100
#define CLI_OPT_NO_JIT 0x101 /* --no-jit (CLI_PROBLEM_OPTIONS, fig3) */
#define CLI_OPT_OWN 0x200
#define CLI_OUT_OPTION {"out", 1, 0, 'o'}
#define CLI_SEED_OPTION {"seed", 1, 0, 'z'}
#define CLI_THREADS_OPTION {"threads", 1, 0, 't'}
#define CLI_HELP_OPTION {"help", 0, 0, 'h'}
#define CLI_COMMON_OPTIONS \
    CLI_OUT_OPTION, CLI_SEED_OPTION, CLI_THREADS_OPTION, {"force", 0, 0, CLI_OPT_FORCE}, CLI_HELP_OPTION
#define CLI_OPTSTRING ":h"
/* getopt_long's ':' (an option without its value, with CLI_OPTSTRING's
 * leading ':') or '?' (unknown): the one-line message and exit code. */
int cli_bad_opt(const char *cmd, int ch, char **argv);
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
    int no_jit;             /* --no-jit: a formula stays interpreted */
} cli_problem;

/* Option-table entries; --x-star apart, as smooth has no target. */
#define CLI_PROBLEM_OPTIONS \
    {"f", 1, 0, 'f'}, {"d", 1, 0, 'd'}, {"noise", 1, 0, 'n'}, {"eta", 1, 0, 'e'}, {"r", 1, 0, 'r'}, {"level", 1, 0, 'l'}, \
        {"no-jit", 0, 0, CLI_OPT_NO_JIT}
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
/* The landscape of --f: sgd_landscape_create, and a formula compiled
 * (sgd_landscape_formula_jit) unless no_jit; when it cannot be, one line on
 * stderr says why and the formula runs interpreted (the same bits). NULL
 * after sgd_error (report it with cli_lib_fail). */
sgd_landscape *cli_landscape(const char *cmd, const char *fspec, size_t d, int no_jit);
/* x* into xs[d]: xstar_s (the value of --x-star, or NULL), else the
 * landscape's own; 0, or the exit code after the message (a landscape without
 * a known x* needs --x-star). */
int cli_problem_xstar(const char *cmd, size_t d, const char *xstar_s, const sgd_landscape *f, double *xs);

/* The estimator options smooth and check share: --method --samples --tol
 * --interval --range --grad-range (short codes m N T I R G). */
typedef struct cli_estimator {
    const char *method_s, *interval_s; /* names, parsed by cli_estimator_finish */
    int have_tol;                      /* --tol given: it sets the sample count */
    int have_samples;                  /* --samples given (with --tol: refused) */
} cli_estimator;
/* Initialiser: method auto, interval clt, no --tol. */
#define CLI_ESTIMATOR_DEFAULTS {"auto", "clt", 0, 0}
#define CLI_ESTIMATOR_OPTIONS                                                                            \
    {"method", 1, 0, 'm'}, {"samples", 1, 0, 'N'}, {"tol", 1, 0, 'T'}, {"interval", 1, 0, 'I'},         \
        {"range", 1, 0, 'R'}, {"grad-range", 1, 0, 'G'}
/* cli_problem_opt for smooth and check: these options into *E and *sp,
 * anything else to cli_problem_opt. Same return values. */
int cli_estimator_opt(const char *cmd, int ch, cli_estimator *E, sgd_smooth_params *sp, cli_problem *P,
                      const char *help, char **argv, const char **out, uint64_t *seed, int *threads);
/* After parsing: --tol replaces the sample count (both given: refused);
 * method and interval names into sp. 0, or 1 after the message. */
int cli_estimator_finish(const char *cmd, const cli_estimator *E, sgd_smooth_params *sp);

/* 0 when getopt consumed every argument, else prints the first stray one
 * and returns 2 (a usage error). */
int cli_no_operands(const char *cmd, int argc, char **argv);

/* Print help text (a const char[] in each command file) to stdout. */
void cli_help(const char *text);

#endif
