/* Formula landscapes at compiled speed: the tape written out as C, compiled
 * by the system compiler into a shared object, cached, and loaded with
 * dlopen (docs/formula.md, "COMPILED FORMULAS").
 *
 * The C (formula_emit.c) is formula_grad_lanes (formula_eval.c) with the
 * tape unrolled over a block of JB points, so the interpreter's dispatch is
 * gone and the loops vectorise. Each operation is the interpreter's own
 * expression (FORMULA_OPS, stringified), sin/cos is the library's kernel,
 * its source written in (SGD_SINCOS_SOURCE), the constants are read from an array
 * at run time (a literal could let the compiler rewrite pow(a, 2.0)), and
 * the object is compiled with -ffp-contract=off -fno-fast-math: values and
 * gradients equal the interpreter's to the last bit (tests/test_formula_jit.c).
 *
 * The cache key is a hash of the emitted C and the compiler command, so an
 * edit of the formula's structure, of the library's op table or of the flags
 * compiles afresh, while formulas that differ only in their constants share
 * one object. Objects are written to a temporary name and renamed, so
 * processes and MPI ranks compiling the same formula at once never see half
 * a file. Nothing is printed: a failure is a status and a one-line note, and
 * the landscape keeps its interpreter. */
#include "landscape/formula_internal.h"
#include "sgdscape/error.h"

#include <dlfcn.h>
#include <errno.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { JB = FORMULA_JIT_LANES, JIT_MAX_TAPE = 1024, JIT_STACK_DOUBLES = 8192 };
FORMULA_JIT_CTX(SGD_AS_CODE)

/* Gradients of np <= JB points, x and grad by point ([q][i], as callers
 * keep them); ws holds 4 (n+1) JB doubles of rows, then 2 D JB for the
 * block by coordinate, and afterwards row `root` of it holds f of each
 * point. Returns the lanes (bit q) that formula_fg must redo: prod() with two
 * vanishing factors (as in formula_grad_lanes), or a sin/cos argument
 * beyond the kernel's range (FORMULA_SINCOS_LIM, NaN included), which the
 * interpreter takes from libm. */
typedef unsigned long long (*formula_lanes_fn)(const formula_jit_ctx *ctx, int np, const double *x, double *grad,
                                               double *ws);
/* The same without the gradient: f of the np points in row `root` of ws;
 * the lanes to redo are those with a sin/cos argument beyond the kernel. */
typedef unsigned long long (*formula_values_fn)(const formula_jit_ctx *ctx, int np, const double *x, double *ws);
/* The Hessian at x into H (d x d), 32 directions per sweep; ws holds
 * (4 (n+1) + d) JB doubles. Nonzero: a sin/cos argument beyond the kernel's
 * range, H to be taken from the interpreter. An object of its own, built the
 * first time a Hessian is asked for; none for formulas with prod(). */
typedef int (*formula_hess_fn)(const formula_jit_ctx *ctx, const double *x, double *H, double *ws);

struct formula_jit {
    void *handle;
    formula_lanes_fn lanes;
    formula_values_fn values;
    int hess_state;    /* 0: not built yet, 1: hess loaded, -1: the interpreter's */
    void *hess_handle;
    formula_hess_fn hess;
    formula_jit_ctx ctx;
    double *K;
};

/* ------------------------------------------------------- compile and load */

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

/* The object is compiled for this CPU (-march=native): the CPU's feature
 * list is part of the key, so a cache shared by several machines (a home
 * directory on a cluster) never hands one an object it cannot run. */
static uint64_t cpu_key(void)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp) return h;
    char line[4096];
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, "flags", 5) || !strncmp(line, "model name", 10)) {
            h = fnv1a(h, line, strlen(line));
            if (!strncmp(line, "flags", 5)) break;
        }
    fclose(fp);
    return h;
}

/* The compiler flags that keep the bits: no contraction into FMAs, no
 * value-changing math; errno and traps are never read (as in the library).
 * -fopenmp-simd honours the emitted `omp simd` on the loops over lanes (the
 * lanes are independent): without it GCC versions a long loop for aliasing
 * between the rows of one array, gives up past 10 checks and runs it scalar. */
#define JIT_CFLAGS "-O3 -fopenmp-simd -ffp-contract=off -fno-fast-math -fno-math-errno -fno-trapping-math -march=native -fPIC -shared"

static int cache_dir(char *dir, size_t len, char *note, size_t nlen)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int k;
    if (xdg && xdg[0] == '/') k = snprintf(dir, len, "%s", xdg);
    else if (home && home[0]) k = snprintf(dir, len, "%s/.cache", home);
    else {
        snprintf(note, nlen, "no cache directory (neither XDG_CACHE_HOME nor HOME is set)");
        return -1;
    }
    if (k < 0 || (size_t)k + 16 >= len) {
        snprintf(note, nlen, "cache directory path too long");
        return -1;
    }
    /* mkdir -p: each existing level fails with EEXIST, the last one says */
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0700);
            *p = '/';
        }
    mkdir(dir, 0700);
    strcat(dir, "/sgdscape");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(note, nlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* 'path' for sh -c, quotes escaped. */
static void put_quoted(formula_sbuf *b, const char *path)
{
    formula_put(b, "'");
    for (const char *p = path; *p; p++)
        if (*p == '\'') formula_put(b, "'\\''");
        else formula_put(b, "%c", *p);
    formula_put(b, "'");
}

/* The compiler's first error line (else its first line), for the note. */
static void first_line(const char *path, char *out, size_t len)
{
    out[0] = '\0';
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    char line[1024];
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        int err = strstr(line, "error") != NULL;
        if (err || !out[0]) snprintf(out, len, "%s", line);
        if (err) break;
    }
    fclose(fp);
}

/* Compiles src into final (through a temporary name). */
static int compile(const char *cc, const char *dir, const char *final, const formula_sbuf *src, char *note,
                   size_t nlen)
{
    char cpath[4200], opath[4200], lpath[4200];
    snprintf(cpath, sizeof cpath, "%s/tmp-XXXXXX.c", dir);
    int fd = mkstemps(cpath, 2);
    if (fd < 0) {
        snprintf(note, nlen, "cannot write in %s: %s", dir, strerror(errno));
        return -1;
    }
    FILE *fp = fdopen(fd, "w");
    int ok = fp && fwrite(src->s, 1, src->len, fp) == src->len;
    if (fp) ok &= fclose(fp) == 0;
    else close(fd);
    size_t base = strlen(cpath) - 2;
    snprintf(opath, sizeof opath, "%.*s.so", (int)base, cpath);
    snprintf(lpath, sizeof lpath, "%.*s.log", (int)base, cpath);
    formula_sbuf cmd = {0};
    formula_put(&cmd, "%s " JIT_CFLAGS " -o ", cc);
    put_quoted(&cmd, opath);
    formula_put(&cmd, " ");
    put_quoted(&cmd, cpath);
    formula_put(&cmd, " -lm 2>");
    put_quoted(&cmd, lpath);
    int rc = -1;
    if (!ok) snprintf(note, nlen, "cannot write %s", cpath);
    else if (cmd.oom) snprintf(note, nlen, "out of memory");
    else {
        /* posix_spawn, not fork: no atfork handlers run (an MPI library
         * may warn about fork), nothing of the parent is copied */
        char *argv[] = {"sh", "-c", cmd.s, NULL};
        pid_t pid;
        int st = 0, e = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
        while (e == 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        if (e) snprintf(note, nlen, "cannot start the compiler: %s", strerror(e));
        else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char msg[1024];
            first_line(lpath, msg, sizeof msg);
            if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
                snprintf(note, nlen, "no C compiler ('%s' not found; set CC)", cc);
            else snprintf(note, nlen, "'%s' failed: %.300s", cc, msg[0] ? msg : "no message");
        } else if (rename(opath, final) != 0)
            snprintf(note, nlen, "cannot rename into %s: %s", final, strerror(errno));
        else rc = 0;
    }
    free(cmd.s);
    unlink(cpath);
    unlink(opath);
    unlink(lpath);
    return rc;
}

/* The object at path, if it loads and defines sym. */
static void *open_object(const char *path, const char *sym)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h && !dlsym(h, sym)) {
        dlclose(h);
        h = NULL;
    }
    return h;
}

/* The object for src from the cache, compiled first when it is not there
 * (or does not load): its dlopen handle, or NULL with the note filled. */
static void *jit_object(const formula_sbuf *src, const char *sym, char *note, size_t nlen)
{
    const char *cc = getenv("CC");
    if (!cc || !cc[0]) cc = "cc";
    formula_sbuf key = {0};
    formula_put(&key, "%s\n%s " JIT_CFLAGS "\n", src->s ? src->s : "", cc);
    char dir[4096], final[4200];
    void *h = NULL;
    if (src->oom || key.oom) snprintf(note, nlen, "out of memory");
    else if (cache_dir(dir, sizeof dir, note, nlen) == 0) {
        uint64_t hash = fnv1a(cpu_key(), key.s, key.len);
        snprintf(final, sizeof final, "%s/formula-%016llx.so", dir, (unsigned long long)hash);
        if (!(h = open_object(final, sym)) && compile(cc, dir, final, src, note, nlen) == 0 &&
            !(h = open_object(final, sym)))
            snprintf(note, nlen, "cannot load %s: %s", final, dlerror());
    }
    free(key.s);
    return h;
}

void formula_jit_free(formula_jit *J)
{
    if (!J) return;
    if (J->hess_handle) dlclose(J->hess_handle);
    if (J->handle) dlclose(J->handle);
    free(J->K);
    free(J);
}

/* ------------------------------------------------------------ evaluation */

/* The compiled function's rows, then JB points and gradients by coordinate. */
static size_t ws_doubles(const formula_prog *g) { return (4 * (size_t)(g->n + 1) + 2 * g->d) * JB; }

/* Gradients of np <= JB points (grad NULL: values alone), and f of each
 * into fx (may be NULL). */
static void jit_block(const sgd_landscape *f, int np, const double *x, double *grad, double *fx, double *ws)
{
    const formula_prog *g = f->params;
    size_t d = g->d;
    unsigned long long redo =
        grad ? g->jit->lanes(&g->jit->ctx, np, x, grad, ws) : g->jit->values(&g->jit->ctx, np, x, ws);
    if (fx)
        for (int q = 0; q < np; q++) fx[q] = ws[(size_t)g->root * JB + (size_t)q];
    for (int q = 0; redo && q < np; q++) /* rare: a test per lane was ~8 % of a 1-D run */
        if (redo >> q & 1) {
            double v = formula_fg(f, x + (size_t)q * d, grad ? grad + (size_t)q * d : NULL);
            if (fx) fx[q] = v;
        }
}

/* n points in blocks of JB, the workspace on the stack when it is small. */
static void jit_points(const sgd_landscape *f, size_t n, const double *x, double *grad, double *fx)
{
    const formula_prog *g = f->params;
    size_t d = g->d, nws = ws_doubles(g);
    double *heap = nws > JIT_STACK_DOUBLES ? malloc(nws * sizeof *heap) : NULL;
    if (nws > JIT_STACK_DOUBLES && !heap) { /* the interpreter needs no memory */
        for (size_t p = 0; p < n; p++) {
            double v = formula_fg(f, x + p * d, grad + p * d);
            if (fx) fx[p] = v;
        }
        return;
    }
    double stack[heap ? 1 : nws];
    double *ws = heap ? heap : stack;
    for (size_t p = 0; p < n; p += JB) {
        int np = n - p < JB ? (int)(n - p) : JB;
        jit_block(f, np, x + p * d, grad ? grad + p * d : NULL, fx ? fx + p : NULL, ws);
    }
    free(heap);
}

/* One point: the interpreter, which gives the same bits; a compiled call
 * computes a whole block of JB points (quadrature and single-point callers
 * ran ~30 % slower compiled than interpreted). It stays a function of its
 * own: it marks the landscape as compiled. */
static double jit_fg(const sgd_landscape *f, const double *x, double *grad) { return formula_fg(f, x, grad); }

static void jit_grad_batch(const sgd_landscape *f, size_t n, const double *x, double *grad)
{
    jit_points(f, n, x, grad, NULL);
}

static void jit_value_batch(const sgd_landscape *f, size_t n, const double *x, double *fx)
{
    jit_points(f, n, x, NULL, fx);
}

static void jit_fg_batch(const sgd_landscape *f, size_t n, const double *x, double *fx, double *grad)
{
    jit_points(f, n, x, grad, fx);
}

/* The Hessian: the compiled sweep, or the interpreter's (same bits) where
 * it is not built (prod(), no compiler), declines (a sin/cos argument
 * beyond the kernel), d is below HESS_MIN_D (one block of 32 directions
 * costs more than the interpreter's few sweeps) or memory runs out. The
 * first call builds it; threads asking at once wait for that one build. */
enum { HESS_MIN_D = 4 };

static int jit_hess(const sgd_landscape *f, const double *x, double *H)
{
    const formula_prog *g = f->params;
    formula_jit *J = g->jit;
    if (g->d < HESS_MIN_D) return formula_hess(f, x, H);
    int state;
#pragma omp critical(sgd_formula_hess_build)
    {
        if (J->hess_state == 0) {
            formula_sbuf src = {0};
            char note[512];
            J->hess_state = -1;
            if (formula_emit_hess(g, &src) == 0 && (J->hess_handle = jit_object(&src, "sgd_formula_hess", note, sizeof note))) {
                J->hess = (formula_hess_fn)dlsym(J->hess_handle, "sgd_formula_hess");
                J->hess_state = 1;
            }
            free(src.s);
        }
        state = J->hess_state;
    }
    if (state < 0) return formula_hess(f, x, H);
    double *ws = malloc((4 * ((size_t)g->n + 1) + g->d) * JB * sizeof *ws);
    int slow = !ws || J->hess(&J->ctx, x, H, ws);
    free(ws);
    return slow ? formula_hess(f, x, H) : SGD_OK;
}

/* ------------------------------------------------------------------- API */

static int fail(int code, char *note, size_t nlen, const char *why)
{
    if (note && nlen && note[0] == '\0') snprintf(note, nlen, "%s", why);
    return sgd_error(code, "formula: not compiled (%s); the interpreter runs it", note && nlen ? note : why);
}

int sgd_landscape_formula_jit(sgd_landscape *f, char *note, size_t nlen)
{
    char local[512];
    if (!note || nlen == 0) {
        note = local;
        nlen = sizeof local;
    }
    note[0] = '\0';
    if (!f || f->fg != formula_fg) {
        if (f && f->fg == jit_fg) return SGD_OK;
        return fail(SGD_EINVAL, note, nlen, "not a formula landscape");
    }
    const char *off = getenv("SGD_NO_JIT");
    if (off && off[0] && strcmp(off, "0") != 0) return fail(SGD_EUNSUPPORTED, note, nlen, "SGD_NO_JIT is set");
    formula_prog *g = f->params;
    if (g->n > JIT_MAX_TAPE) return fail(SGD_EUNSUPPORTED, note, nlen, "too long to compile");

    formula_jit *J = calloc(1, sizeof *J);
    formula_sbuf src = {0};
    if (J) J->K = malloc((size_t)(g->n + g->nseg) * sizeof *J->K);
    if (!J || !J->K) {
        formula_jit_free(J);
        return fail(SGD_ENOMEM, note, nlen, "out of memory");
    }
    for (int j = 0; j < g->n; j++) J->K[j] = g->tape[j].k;
    for (int m = 0; m < g->nseg; m++) J->K[g->n + m] = g->seg[m].w;
    J->ctx.K = J->K;

    formula_emit(g, &src);
    J->handle = jit_object(&src, "sgd_formula_lanes", note, nlen);
    free(src.s);
    if (J->handle) {
        J->lanes = (formula_lanes_fn)dlsym(J->handle, "sgd_formula_lanes");
        J->values = (formula_values_fn)dlsym(J->handle, "sgd_formula_values");
    }
    if (!J->lanes || !J->values) {
        if (J->handle && !note[0]) snprintf(note, nlen, "the compiled object lacks sgd_formula_values");
        formula_jit_free(J);
        return fail(SGD_EUNSUPPORTED, note, nlen, "compile failed");
    }
    g->jit = J;
    f->fg = jit_fg;
    f->grad_batch = jit_grad_batch;
    f->value_batch = jit_value_batch;
    f->fg_batch = jit_fg_batch;
    if (formula_hess_compilable(g)) f->hess = jit_hess;
    return SGD_OK;
}
