/* A broken plugin for the tests: it lacks the required sgd_plugin_fg. */
const char *sgd_plugin_name(void) { return "broken"; }
