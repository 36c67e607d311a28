/* sgdscape list: the landscape catalog and noise models. */
#include "cli.h"
#include "sgdscape/landscape.h"

#include <string.h>

const char sgd_cmd_list_summary[] = "list the built-in landscapes and noise models";

static const char help[] =
    "usage: sgdscape list\n\n"
    "Prints every catalog landscape with its formula, x*, natural domain and smoothness\n"
    "constant L, then the noise models. Landscapes are chosen with --f NAME[:key=value,...],\n"
    "--f 'FORMULA' (see docs/formula.md) or --f plugin:PATH.so (see include/sgdscape/plugin.h).\n";

int sgd_cmd_list(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_help(help);
            return 0;
        }
        return cli_usage("list", "unexpected argument '%s' (see --help)", argv[i]);
    }
    printf("landscapes:\n");
    sgd_landscape_list(stdout);
    printf("\nnoise models (--noise):\n"
           "  none     gradient descent, omega = 0\n"
           "  ball     uniform in the ball of radius r (the interval [-r, r] in 1-D); alias uniform\n"
           "  cube     uniform in [-r, r]^d\n"
           "  gauss    N(0, r^2 I)\n"
           "The noise level is eta*r, the half-width of the kernel that smooths f.\n");
    return 0;
}
