#include "sgdscape/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_msg[1024];

int sgd_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *sgd_errmsg(void) { return last_msg; }

void sgd_error_clear(void) { last_msg[0] = '\0'; }

const char *sgd_strerror(int code)
{
    switch (code) {
    case SGD_OK: return "ok";
    case SGD_EINVAL: return "invalid argument";
    case SGD_EIO: return "i/o error";
    case SGD_EPARSE: return "parse error";
    case SGD_ENOMEM: return "out of memory";
    case SGD_EPLUGIN: return "plugin error";
    case SGD_EDIVERGED: return "diverged";
    case SGD_EFORMAT: return "malformed file";
    case SGD_EUNSUPPORTED: return "unsupported";
    default: return "unknown error";
    }
}
