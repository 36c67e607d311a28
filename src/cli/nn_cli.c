/* Helpers shared by the network commands (train, grad, model). */
#include "nn_cli.h"
#include "cli.h"
#include "sgdscape/data.h"

#include <string.h>

int nn_cli_once(const char *cmd, const char **seen, const char *name)
{
    if (!*seen) {
        *seen = name;
        return 0;
    }
    if (!strcmp(*seen, name))
        return cli_fail(cmd, "--%s given twice: give it once", name);
    return cli_fail(cmd, "--%s and --%s both given: they set the same thing, give one", *seen, name);
}

int nn_cli_classes(const char *cmd, const char *val, int *classes)
{
    if (cli_int(cmd, "--classes", val, classes)) return 1;
    if (*classes < 2) return cli_fail(cmd, "--classes %d: need at least 2 classes", *classes);
    if (*classes > SGD_DATA_MAX_CLASSES)
        return cli_fail(cmd, "--classes %d: at most %d classes", *classes, SGD_DATA_MAX_CLASSES);
    return 0;
}
