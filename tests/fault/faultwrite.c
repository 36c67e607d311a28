/* LD_PRELOAD write-fault interposer for the fault-injection tests
 * (tests/cli_faults.sh, docs/testing.md).
 *
 * Counts the output operations of the process it is loaded into and fails
 * the N-th one, as a full disk or a failing device would:
 *   write(2)             on fds >= 3 (stdout/stderr stay usable for the error
 *                        message), including every buffer flush of a stdio
 *                        stream opened for writing (see below)
 *   rename(2)            every call
 *   fsync(2), fdatasync  every call
 *   close(2)             fds that were written to (close can report a
 *                        delayed write error, e.g. on NFS or a full quota)
 * glibc's stdio calls its internal __write, which LD_PRELOAD cannot reach, so
 * fopen/fopen64 with a writing mode returns a fopencookie stream whose
 * buffer flushes go through the write() above and whose fclose goes through
 * close(): fwrite/fprintf/fflush/fclose then fail exactly as they would on a
 * full disk (error flag set, fclose returns EOF).
 *
 * Environment:
 *   SGD_FAULT_N=K        fail the K-th counted operation (1-based); unset or 0:
 *                        count only
 *   SGD_FAULT_ERRNO=E    ENOSPC (default), EIO, EDQUOT, or a number
 *   SGD_FAULT_OPS=LIST   which operations count: any of write,rename,fsync,close
 *                        (default all four)
 *   SGD_FAULT_STICKY=1   fail every counted operation from the K-th on (a disk
 *                        that stays full) instead of that one only
 *   SGD_FAULT_LOG=PATH   at exit, append "count C" and, if a fault fired,
 *                        "fault K OP PATH" to PATH
 * The constructor removes LD_PRELOAD from the environment so that programs
 * the process runs (gnuplot) are not counted. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAXFD 4096

static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_rename)(const char *, const char *);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);
static FILE *(*real_fopen)(const char *, const char *);
static FILE *(*real_fopen64)(const char *, const char *);
static int (*real_fileno)(FILE *);

static long fault_n;            /* 0: count only */
static int fault_errno = ENOSPC;
static int sticky;
static unsigned ops = 15;        /* bit 0 write, 1 rename, 2 fsync, 3 close */
static long counter;
static long fired_at;
static char fired_desc[512];
static const char *log_path;
static pid_t owner;              /* a forked child is never counted */
static unsigned char written[MAXFD];
static char *fd_path[MAXFD];     /* path of streams we opened, for the log */

enum { OP_WRITE = 1, OP_RENAME = 2, OP_FSYNC = 4, OP_CLOSE = 8 };

static void *sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char msg[] = "faultwrite: dlsym failed\n";
        ssize_t r = write(2, msg, sizeof msg - 1);
        (void)r;
        _exit(99);
    }
    return p;
}

static void init_syms(void)
{
    if (real_write) return;
    real_rename = sym("rename");
    real_fsync = sym("fsync");
    real_fdatasync = sym("fdatasync");
    real_close = sym("close");
    real_fopen = sym("fopen");
    real_fopen64 = sym("fopen64");
    real_fileno = sym("fileno");
    real_write = sym("write");
}

static void write_log(void)
{
    if (!log_path || getpid() != owner) return;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    char buf[700];
    int n = snprintf(buf, sizeof buf, "count %ld\n", counter);
    if (fired_at) n += snprintf(buf + n, sizeof buf - (size_t)n, "fault %ld %s\n", fired_at, fired_desc);
    ssize_t r = real_write(fd, buf, (size_t)n);
    (void)r;
    real_close(fd);
}

__attribute__((constructor)) static void faultwrite_init(void)
{
    init_syms();
    owner = getpid();
    const char *s = getenv("SGD_FAULT_N");
    fault_n = s ? atol(s) : 0;
    s = getenv("SGD_FAULT_ERRNO");
    if (s && *s) {
        if (!strcmp(s, "ENOSPC")) fault_errno = ENOSPC;
        else if (!strcmp(s, "EIO")) fault_errno = EIO;
        else if (!strcmp(s, "EDQUOT")) fault_errno = EDQUOT;
        else if (atoi(s) > 0) fault_errno = atoi(s);
    }
    s = getenv("SGD_FAULT_OPS");
    if (s && *s) {
        ops = 0;
        if (strstr(s, "write")) ops |= OP_WRITE;
        if (strstr(s, "rename")) ops |= OP_RENAME;
        if (strstr(s, "fsync")) ops |= OP_FSYNC;
        if (strstr(s, "close")) ops |= OP_CLOSE;
    }
    s = getenv("SGD_FAULT_STICKY");
    sticky = s && *s == '1';
    log_path = getenv("SGD_FAULT_LOG");
    if (log_path) log_path = strdup(log_path);
    unsetenv("LD_PRELOAD");
    atexit(write_log);
}

/* Counts one operation; returns 1 if it must fail (errno is then set). */
static int should_fail(unsigned op, const char *what, const char *path)
{
    if (!(ops & op) || getpid() != owner) return 0;
    long k = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    if (!fault_n || k < fault_n || (!sticky && k != fault_n)) return 0;
    if (!fired_at) {
        fired_at = k;
        snprintf(fired_desc, sizeof fired_desc, "%s %s", what, path ? path : "?");
    }
    errno = fault_errno;
    return 1;
}

static const char *path_of(int fd) { return fd >= 0 && fd < MAXFD ? fd_path[fd] : NULL; }

ssize_t write(int fd, const void *buf, size_t n)
{
    init_syms();
    if (fd >= 3) {
        if (should_fail(OP_WRITE, "write", path_of(fd))) return -1;
        if (fd < MAXFD) written[fd] = 1;
    }
    return real_write(fd, buf, n);
}

int rename(const char *from, const char *to)
{
    init_syms();
    if (should_fail(OP_RENAME, "rename", to)) return -1;
    return real_rename(from, to);
}

int fsync(int fd)
{
    init_syms();
    if (should_fail(OP_FSYNC, "fsync", path_of(fd))) return -1;
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    init_syms();
    if (should_fail(OP_FSYNC, "fdatasync", path_of(fd))) return -1;
    return real_fdatasync(fd);
}

int close(int fd)
{
    init_syms();
    int counted = fd >= 3 && fd < MAXFD && written[fd];
    char *p = fd >= 0 && fd < MAXFD ? fd_path[fd] : NULL;
    if (fd >= 0 && fd < MAXFD) {
        written[fd] = 0;
        fd_path[fd] = NULL;
    }
    /* the descriptor is released even when close reports an error, as in Linux */
    int fail = counted && should_fail(OP_CLOSE, "close", p);
    int e = errno;
    int rc = real_close(fd);
    free(p);
    if (fail) {
        errno = e;
        return -1;
    }
    return rc;
}

/* ---- stdio streams for writing, flushed through write() ------------------ */
typedef struct { int fd; } cookie_t;

static ssize_t ck_read(void *c, char *buf, size_t n) { return read(((cookie_t *)c)->fd, buf, n); }

static ssize_t ck_write(void *c, const char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(((cookie_t *)c)->fd, buf + done, n - done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)r;
    }
    return (ssize_t)n;
}

static int ck_seek(void *c, off64_t *pos, int whence)
{
    off64_t r = lseek64(((cookie_t *)c)->fd, *pos, whence);
    if (r < 0) return -1;
    *pos = r;
    return 0;
}

/* Streams fileno() must still answer for fsync(fileno(fp)). */
static struct { FILE *fp; int fd; } streams[256];

static int ck_close(void *c)
{
    int fd = ((cookie_t *)c)->fd;
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
        if (streams[i].fp && streams[i].fd == fd) streams[i].fp = NULL;
    int rc = close(fd);
    free(c);
    return rc;
}

static FILE *open_stream(FILE *(*orig)(const char *, const char *), const char *path, const char *mode)
{
    if (!strpbrk(mode, "wa+") || getpid() != owner) return orig(path, mode);
    int flags = strchr(mode, '+') ? O_RDWR : O_WRONLY;
    if (mode[0] == 'w') flags |= O_CREAT | O_TRUNC;
    else if (mode[0] == 'a') flags |= O_CREAT | O_APPEND;
    if (strchr(mode, 'x')) flags |= O_EXCL;
    if (strchr(mode, 'e')) flags |= O_CLOEXEC;
    int fd = open(path, flags, 0666);
    if (fd < 0) return NULL;
    cookie_t *c = malloc(sizeof *c);
    if (!c) {
        real_close(fd);
        errno = ENOMEM;
        return NULL;
    }
    c->fd = fd;
    cookie_io_functions_t io = {ck_read, ck_write, ck_seek, ck_close};
    char m[8];
    snprintf(m, sizeof m, "%.*s", (int)strcspn(mode, "xe"), mode);
    FILE *fp = fopencookie(c, m, io);
    if (!fp) {
        real_close(fd);
        free(c);
        return NULL;
    }
    if (fd < MAXFD) {
        free(fd_path[fd]);
        fd_path[fd] = strdup(path);
    }
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
        if (!streams[i].fp || streams[i].fd == fd) {
            streams[i].fp = fp;
            streams[i].fd = fd;
            break;
        }
    return fp;
}

FILE *fopen(const char *path, const char *mode)
{
    init_syms();
    return open_stream(real_fopen, path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    init_syms();
    return open_stream(real_fopen64, path, mode);
}

int fileno(FILE *fp)
{
    init_syms();
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++)
        if (streams[i].fp == fp) return streams[i].fd;
    return real_fileno(fp);
}
