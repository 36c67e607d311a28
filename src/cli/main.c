/* sgdscape: a thin shell over libsgdscape. */
#include "cli.h"
#include "sgdscape/version.h"

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

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
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
    for (size_t i = 0; i < sizeof sgd_commands / sizeof sgd_commands[0]; i++)
        if (!strcmp(argv[1], sgd_commands[i].name)) return sgd_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sgdscape: unknown command '%s' (try sgdscape --help)\n", argv[1]);
    return 2;
}
