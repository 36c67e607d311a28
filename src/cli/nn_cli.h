/* Helpers shared by the network commands (train, grad, model). */
#ifndef SGD_NN_CLI_H
#define SGD_NN_CLI_H

/* An option that sets one thing, spelt `name` this time (--model or --spec,
 * --momentum or --no-momentum, ...): *seen records the first spelling. A
 * second use is a usage error, since the last one would silently win:
 * returns 1 after "sgdscape CMD: --A and --B both given: ...", else 0. */
int nn_cli_once(const char *cmd, const char **seen, const char *name);

/* --classes K: an integer from 2 (a classifier needs two) to
 * SGD_DATA_MAX_CLASSES. 0, or 1 after the message. */
int nn_cli_classes(const char *cmd, const char *val, int *classes);

#endif
