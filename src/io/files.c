/* Atomic files and run directories: a crash never leaves a half-written
 * result under the name the user asked for. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sgdscape/io.h"
#include "sgdscape/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* snprintf's return n wrote the whole string into a buffer of size sz */
static int path_fits(int n, size_t sz)
{
    return n >= 0 && (size_t)n < sz;
}

/* SGD_EINVAL, "PRE A SEP B: path too long": the path that did not fit,
 * its middle elided when it would not fit sgd_errmsg's buffer itself. */
static int too_long(const char *pre, const char *a, const char *sep, const char *b)
{
    size_t n = strlen(a);
    if (n > 240)
        return sgd_error(SGD_EINVAL, "%s%.120s...%s%s%.200s: path too long (%zu bytes)", pre, a, a + n - 100, sep, b,
                         n + strlen(sep) + strlen(b));
    return sgd_error(SGD_EINVAL, "%s%s%s%.200s: path too long", pre, a, sep, b);
}

int sgd_afile_open(sgd_afile *af, const char *path)
{
    if (strlen(path) >= sizeof af->path) return too_long("", path, "", "");
    strcpy(af->path, path);
    if (!path_fits(snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid()), sizeof af->tmp))
        return too_long("", path, "", "");
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp)
        return sgd_error(SGD_EIO, "%s: cannot write: %s", path, strerror(errno));
    return SGD_OK;
}

/* Flush, fsync, close, and only then rename: every step can report a full
 * disk or an I/O error (fclose/close may be the first to see a delayed write
 * error), and a file that was not written whole must never take the final
 * name. fsync first so that a crash after the rename cannot leave an empty
 * file under the final name (ext4 and xfs may reorder data and rename). */
int sgd_afile_commit(sgd_afile *af)
{
    int e = 0;
    const char *what = "write failed";
    if (ferror(af->fp)) e = -1;   /* an earlier fwrite/fprintf failed; its errno is gone */
    if (!e && fflush(af->fp) != 0) e = errno ? errno : EIO;
    if (!e && fsync(fileno(af->fp)) != 0 && errno != EINVAL && errno != EROFS) {
        e = errno;   /* EINVAL/EROFS: a file system without fsync (e.g. a pipe); nothing to sync */
        what = "cannot sync";
    }
    errno = 0;
    if (fclose(af->fp) != 0 && !e) e = errno ? errno : EIO;
    af->fp = NULL;
    if (e) {
        unlink(af->tmp);
        if (e < 0) return sgd_error(SGD_EIO, "%s: %s", af->path, what);
        return sgd_error(SGD_EIO, "%s: %s: %s", af->path, what, strerror(e));
    }
    if (rename(af->tmp, af->path) != 0) {
        e = errno;
        unlink(af->tmp);
        return sgd_error(SGD_EIO, "%s: cannot rename: %s", af->path, strerror(e));
    }
    return SGD_OK;
}

void sgd_afile_abort(sgd_afile *af)
{
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    unlink(af->tmp);
}

int sgd_write_file(const char *path, const void *data, size_t n)
{
    sgd_afile af;
    int rc = sgd_afile_open(&af, path);
    if (rc) return rc;
    errno = 0;
    if (n && fwrite(data, 1, n, af.fp) != n) {
        int e = errno ? errno : EIO;
        sgd_afile_abort(&af);
        return sgd_error(SGD_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return sgd_afile_commit(&af);
}

int sgd_read_file(const char *path, char **data, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return sgd_error(SGD_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(fp);
        return sgd_error(SGD_ENOMEM, "%s: out of memory", path);
    }
    for (;;) {
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (len < cap) break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) {
            free(buf);
            fclose(fp);
            return sgd_error(SGD_ENOMEM, "%s: out of memory", path);
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        free(buf);
        return sgd_error(SGD_EIO, "%s: read error", path);
    }
    buf[len] = '\0';
    *data = buf;
    *n = len;
    return SGD_OK;
}

int sgd_mkdirs(const char *dir)
{
    char tmp[4096];
    if (strlen(dir) >= sizeof tmp) return too_long("", dir, "", "");
    strcpy(tmp, dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return sgd_error(SGD_EIO, "%s: cannot create directory: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return sgd_error(SGD_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    return SGD_OK;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void rm_tree(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) != 0) return;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* rd->final = dir without trailing slashes, rd->path = DIR.partial */
static int rundir_names(sgd_rundir *rd, const char *dir)
{
    memset(rd, 0, sizeof *rd);
    if (!dir || !*dir) return sgd_error(SGD_EINVAL, "--out: empty directory name");
    if (strlen(dir) >= sizeof rd->final) return too_long("--out ", dir, "", "");
    strcpy(rd->final, dir);
    size_t n = strlen(rd->final);
    while (n > 1 && rd->final[n - 1] == '/') rd->final[--n] = '\0';
    if (!path_fits(snprintf(rd->path, sizeof rd->path, "%s.partial", rd->final), sizeof rd->path))
        return too_long("--out ", dir, "", "");
    return SGD_OK;
}

int sgd_rundir_open(sgd_rundir *rd, const char *dir)
{
    int rc = rundir_names(rd, dir);
    if (rc) return rc;
    struct stat st;
    if (stat(rd->final, &st) == 0 && !S_ISDIR(st.st_mode))
        return sgd_error(SGD_EIO, "--out %s: exists and is not a directory", dir);
    rm_tree(rd->path);
    /* The parent must exist already or be creatable. */
    char parent[4096];
    strcpy(parent, rd->final);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (sgd_mkdirs(parent) != SGD_OK)
            return sgd_error(SGD_EIO, "--out %s: cannot create parent directory", dir);
    }
    if (mkdir(rd->path, 0777) != 0)
        return sgd_error(SGD_EIO, "--out %s: cannot create: %s", dir, strerror(errno));
    return SGD_OK;
}

/* A process killed while writing leaves "NAME.tmp.PID" behind (the final
 * name is untouched). A resumable directory is reopened in place, so sweep
 * the temporaries of processes that no longer exist; those of a live process
 * (two runs into one directory) stay. */
static int sweep_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    if (flag != FTW_F || ftw->level > 2) return 0;
    const char *t = strstr(p + ftw->base, ".tmp.");
    if (!t) return 0;
    char *end;
    long pid = strtol(t + 5, &end, 10);
    if (*end || end == t + 5 || pid <= 0 || pid == (long)getpid()) return 0;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) unlink(p);
    return 0;
}

int sgd_rundir_open_inplace(sgd_rundir *rd, const char *dir)
{
    memset(rd, 0, sizeof *rd);
    if (!dir || !*dir) return sgd_error(SGD_EINVAL, "--out: empty directory name");
    if (strlen(dir) >= sizeof rd->final) return too_long("--out ", dir, "", "");
    strcpy(rd->final, dir);
    strcpy(rd->path, dir);
    rd->resumable = 1;
    int rc = sgd_mkdirs(dir);
    if (rc) return sgd_error(rc, "--out %s: cannot create directory", dir);
    if (access(dir, W_OK) != 0) return sgd_error(SGD_EIO, "--out %s: not writable", dir);
    nftw(dir, sweep_entry, 16, FTW_PHYS);
    return SGD_OK;
}

int sgd_rundir_reopen(sgd_rundir *rd, const char *dir, const char *marker, const char *what)
{
    char m[4400];
    int rc = rundir_names(rd, dir);
    if (rc) return rc;
    struct stat st;
    if (!path_fits(snprintf(m, sizeof m, "%s/%s", rd->path, marker), sizeof m)) rc = too_long("--out ", dir, "", "");
    else if (stat(m, &st) != 0)
        rc = sgd_error(SGD_EIO, "--resume: %s holds no %s to continue (no %s)", rd->path, what, marker);
    if (rc) {
        rd->path[0] = '\0'; /* nothing of ours to commit or remove */
        return rc;
    }
    nftw(rd->path, sweep_entry, 16, FTW_PHYS);
    return SGD_OK;
}

/* The key of a "key value" line: its first word, at most 63 bytes. */
static void line_key(const char *line, size_t len, char *key)
{
    size_t k = 0;
    while (k < len && k < 63 && line[k] != ' ') k++;
    memcpy(key, line, k);
    key[k] = '\0';
}

int sgd_rundir_claim(const char *dir, const char *text, const char *what)
{
    char path[4400], *old;
    size_t n;
    if (!path_fits(snprintf(path, sizeof path, "%s/config.txt", dir), sizeof path)) return too_long("", dir, "/", "config.txt");
    struct stat st;
    if (stat(path, &st) != 0) return sgd_write_file(path, text, strlen(text));
    int rc = sgd_read_file(path, &old, &n);
    if (rc) return rc;
    if (n == strlen(text) && !memcmp(old, text, n)) {
        free(old);
        return SGD_OK;
    }
    /* the first line that differs, for the message */
    const char *a = old, *b = text;
    for (;;) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        if (la != lb || memcmp(a, b, la) || !a[la] || !b[lb]) {
            char key[64];
            line_key(la ? a : b, la ? la : lb, key);
            size_t ka = strlen(key) < la ? strlen(key) + 1 : la, kb = strlen(key) < lb ? strlen(key) + 1 : lb;
            rc = sgd_error(SGD_EINVAL, "%s: the %s with other inputs or options (%s: '%.*s' there, '%.*s' now); "
                           "rerun without --resume to start afresh", dir, what, key, (int)((la - ka) > 200 ? 200 : la - ka),
                           a + ka, (int)((lb - kb) > 200 ? 200 : lb - kb), b + kb);
            break;
        }
        a += la + 1;
        b += lb + 1;
    }
    free(old);
    return rc;
}

void sgd_rundir_drop(const char *kept, const char *prefix)
{
    DIR *d = opendir(kept);
    if (!d) return;
    struct dirent *de;
    char path[4800];
    size_t np = strlen(prefix);
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, prefix, np) || !strcmp(de->d_name, "config.txt"))
            if (path_fits(snprintf(path, sizeof path, "%s/%s", kept, de->d_name), sizeof path)) unlink(path);
    closedir(d);
    nftw(kept, sweep_entry, 16, FTW_PHYS);
    rmdir(kept);
}

int sgd_keep_save(const char *path, const char magic[8], const double *a, size_t na, const double *b, size_t nb)
{
    size_t len = 8 + (na + nb) * sizeof(double);
    char *buf = malloc(len);
    if (!buf) return sgd_error(SGD_ENOMEM, "out of memory");
    memcpy(buf, magic, 8);
    memcpy(buf + 8, a, na * sizeof *a);
    if (nb) memcpy(buf + 8 + na * sizeof *a, b, nb * sizeof *b);
    int rc = sgd_write_file(path, buf, len);
    free(buf);
    return rc;
}

int sgd_keep_load(const char *path, const char magic[8], double *a, size_t na, double *b, size_t nb)
{
    char *buf;
    size_t len;
    struct stat st;
    if (stat(path, &st) != 0 || sgd_read_file(path, &buf, &len)) {
        sgd_error_clear();
        return 0;
    }
    int ok = len == 8 + (na + nb) * sizeof(double) && !memcmp(buf, magic, 8);
    if (ok) {
        memcpy(a, buf + 8, na * sizeof *a);
        if (nb) memcpy(b, buf + 8 + na * sizeof *a, nb * sizeof *b);
    }
    free(buf);
    return ok;
}

int sgd_rundir_file(const sgd_rundir *rd, const char *name, char *out, size_t outsz)
{
    if (!path_fits(snprintf(out, outsz, "%s/%s", rd->path, name), outsz)) {
        if (outsz) out[0] = '\0';
        return too_long("", rd->path, "/", name);
    }
    return SGD_OK;
}

int sgd_rundir_commit(sgd_rundir *rd)
{
    if (rd->resumable) return SGD_OK;
    nftw(rd->path, sweep_entry, 16, FTW_PHYS);  /* a resumed DIR.partial may hold a killed run's */
    char old[4300];
    if (!path_fits(snprintf(old, sizeof old, "%s.old.%ld", rd->final, (long)getpid()), sizeof old))
        return too_long("--out ", rd->final, "", "");
    struct stat st;
    int had = stat(rd->final, &st) == 0;
    if (had && rename(rd->final, old) != 0)
        return sgd_error(SGD_EIO, "--out %s: cannot replace: %s", rd->final, strerror(errno));
    if (rename(rd->path, rd->final) != 0) {
        int e = errno;
        if (had) rename(old, rd->final);
        return sgd_error(SGD_EIO, "--out %s: cannot rename: %s", rd->final, strerror(e));
    }
    if (had) rm_tree(old);
    return SGD_OK;
}

void sgd_rundir_abort(sgd_rundir *rd)
{
    if (!rd->resumable && rd->path[0]) rm_tree(rd->path);
}

double sgd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sgd_progress_start(sgd_progress *p, const char *label)
{
    memset(p, 0, sizeof *p);
    p->enabled = isatty(STDERR_FILENO) && !getenv("SGD_QUIET");
    snprintf(p->label, sizeof p->label, "%s", label);
    p->t0 = sgd_now();
    p->last = 0;
}

void sgd_progress_update(sgd_progress *p, double done, double total)
{
    if (!p->enabled) return;
    double now = sgd_now();
    if (now - p->last < 0.2 && done < total) return;
    p->last = now;
    double el = now - p->t0;
    double frac = total > 0 ? done / total : 0;
    double eta = frac > 0 ? el * (1 - frac) / frac : 0;
    fprintf(stderr, "\r%s: %5.1f%%  %.0fs elapsed, ~%.0fs left   ", p->label, 100 * frac, el, eta);
    fflush(stderr);
}

void sgd_progress_end(sgd_progress *p)
{
    if (!p->enabled) return;
    fprintf(stderr, "\r%s: done in %.1fs%40s\n", p->label, sgd_now() - p->t0, "");
}

/* Run `gnuplot -e "term_kind='KIND'" NAME.gp` in dir with stdout to OUT.
 * fork/exec rather than system(): paths never pass through a shell. */
static int run_gnuplot(const char *dir, const char *script, const char *kind, const char *out)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(127);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int devnull = open("/dev/null", O_WRONLY);
        if (fd < 0 || devnull < 0) _exit(127);
        dup2(fd, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        char expr[64];
        snprintf(expr, sizeof expr, "term_kind='%s'", kind);
        execlp("gnuplot", "gnuplot", "-e", expr, script, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int sgd_figure_render(const char *dir, const char *name, const char *script, int *rendered)
{
    char path[4300];
    *rendered = 0;
    if (!path_fits(snprintf(path, sizeof path, "%s/%s.gp", dir, name), sizeof path))
        return too_long("", dir, "/", name);
    int rc = sgd_write_file(path, script, strlen(script));
    if (rc) return rc;
    /* Each image goes to a temporary name first, so a failed render leaves
     * no partial picture. A missing gnuplot just means no images. */
    char gp[600], tmp[700], fin[4400], tmpfull[4400];
    if (!path_fits(snprintf(gp, sizeof gp, "%s.gp", name), sizeof gp))
        return too_long("", name, "", ".gp");
    const char *kinds[2] = {"png", "svg"};
    int ok = 1;
    for (int k = 0; k < 2 && ok; k++) {
        if (!path_fits(snprintf(tmp, sizeof tmp, "%s.%s.tmp", name, kinds[k]), sizeof tmp) ||
            !path_fits(snprintf(tmpfull, sizeof tmpfull, "%s/%s", dir, tmp), sizeof tmpfull) ||
            !path_fits(snprintf(fin, sizeof fin, "%s/%s.%s", dir, name, kinds[k]), sizeof fin))
            return too_long("", dir, "/", name);
        if (run_gnuplot(dir, gp, kinds[k], tmp) != 0 || rename(tmpfull, fin) != 0) {
            unlink(tmpfull);
            ok = 0;
        }
    }
    *rendered = ok;
    return SGD_OK;
}
