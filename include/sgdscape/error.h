/* sgdscape error reporting, GSL style: functions return a status code and
 * record a one-line message (thread-local) that the caller may print. The
 * library itself never prints. */
#ifndef SGDSCAPE_ERROR_H
#define SGDSCAPE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    SGD_OK = 0,
    SGD_EINVAL = 1,    /* impossible or malformed parameter */
    SGD_EIO = 2,       /* file could not be read or written */
    SGD_EPARSE = 3,    /* formula or spec syntax error */
    SGD_ENOMEM = 4,    /* allocation failed */
    SGD_EPLUGIN = 5,   /* plugin could not be loaded / lacks a symbol */
    SGD_EDIVERGED = 6, /* NaN or Inf iterate / loss */
    SGD_EFORMAT = 7,   /* malformed or truncated data file */
    SGD_EUNSUPPORTED = 8 /* no such method for this input (e.g. no closed form) */
};

/* Record a message and return code (so callers write `return sgd_error(...)`). */
int sgd_error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The last message recorded on this thread ("" if none). */
const char *sgd_errmsg(void);
/* Forget the last message. */
void sgd_error_clear(void);
/* Short name of a status code. */
const char *sgd_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
