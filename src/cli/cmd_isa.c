/* sgdscape isa: the kernel variant this CPU runs (include/sgdscape/isa.h). */
#include "cli.h"
#include "sgdscape/isa.h"

#include <string.h>

const char sgd_cmd_isa_summary[] = "print the kernel variant (baseline, avx2, avx512) chosen for this CPU";

static const char help[] =
    "usage: sgdscape isa\n\n"
    "Prints the kernel variant the hot kernels run (the trial step and its Philox noise, the\n"
    "Figure-3 landscape's batched kernels, the direct convolutions), then every variant with\n"
    "whether this CPU runs it. The widest supported variant is chosen at start-up;\n"
    "SGD_ISA=baseline|avx2|avx512 in the environment forces one (an error if this CPU lacks\n"
    "it). Every variant gives the same bits; only the speed differs.\n";

int sgd_cmd_isa(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_help(help);
            return 0;
        }
        return cli_usage("isa", "unexpected argument '%s' (see --help)", argv[i]);
    }
    if (sgd_isa_init()) return cli_lib_fail("isa");
    printf("%s\n", sgd_isa_label(sgd_isa_current()));
    for (int v = 0; v < SGD_ISA_COUNT; v++)
        printf("  %-8s %s\n", sgd_isa_label((sgd_isa)v), sgd_isa_supported((sgd_isa)v) ? "supported" : "not supported");
    return 0;
}
