/* sgdscape: a thin shell over libsgdscape. */
#include "cli.h"
#include "sgdscape/dist.h"
#include "sgdscape/version.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "commands.inc"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: sgdscape COMMAND [options]      (sgdscape COMMAND --help for details)\n\n"
            "SGD escape instruments for 'An Alternative View: When Does SGD Escape Local Minima?'\n"
            "(Kleinberg, Li, Yuan, ICML 2018).\n\ncommands:\n");
    for (size_t i = 0; i < sizeof sgd_commands / sizeof sgd_commands[0]; i++)
        fprintf(fp, "  %-10s %s\n", sgd_commands[i].name, sgd_commands[i].summary);
    fprintf(fp, "\nsgdscape %s\n", SGDSCAPE_VERSION_STRING);
}

/* The commands that split their work across MPI ranks (docs/mpi.md); the
 * others run on rank 0 alone while the other ranks wait. */
static int distributed(const char *name)
{
    static const char *const split[] = {"run",   "fig3",     "verify", "smooth", "check",  "probe",
                                        "branch", "spectrum", "paper5", "interp", "surface", "train"};
    for (size_t i = 0; i < sizeof split / sizeof split[0]; i++)
        if (!strcmp(name, split[i])) return 1;
    return 0;
}

static int dispatch(int argc, char **argv)
{
    const int root = sgd_dist_rank() == 0;
    if (argc < 2) {
        if (root) usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("sgdscape %s\n", SGDSCAPE_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof sgd_commands / sizeof sgd_commands[0]; i++) {
        if (strcmp(argv[1], sgd_commands[i].name)) continue;
        if (sgd_dist_size() > 1 && !distributed(argv[1])) {
            if (!root) return 0;
            fprintf(stderr, "sgdscape %s: not distributed yet: rank 0 runs it alone, %d ranks wait (docs/mpi.md)\n",
                    argv[1], sgd_dist_size() - 1);
        }
        return sgd_commands[i].run(argc - 1, argv + 1);
    }
    if (root) fprintf(stderr, "sgdscape: unknown command '%s' (try sgdscape --help)\n", argv[1]);
    return 2;
}

int main(int argc, char **argv)
{
    if (sgd_dist_init(&argc, &argv)) {
        if (sgd_dist_rank() == 0) fprintf(stderr, "sgdscape: %s\n", sgd_errmsg());
        return 1;
    }
    /* rank 0 alone talks: the others' one-line messages are held (cli.c) and
     * reach rank 0 through the agreement on failure */
    if (sgd_dist_rank() != 0) (void)!freopen("/dev/null", "w", stdout);
    int rc = dispatch(argc, argv);
    /* The command is over and its run directory committed or removed. Once a
     * failing rank exits, mpirun sends SIGTERM to the others: a rank still
     * agreeing or finalizing must neither print "interrupted" nor die before
     * rank 0 has printed the failing rank's message. */
    if (sgd_dist_size() > 1) cli_on_signals(SIG_IGN);
    return sgd_dist_finish(rc, "sgdscape");
}
