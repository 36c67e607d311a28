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
/* 0 when getopt consumed every argument, else prints the first stray one
 * and returns 1. */
int cli_no_operands(const char *cmd, int argc, char **argv);

/* Print help text (a const char[] in each command file) to stdout. */
void cli_help(const char *text);

#endif
