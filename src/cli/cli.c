#include "cli.h"
#include "sgdscape/dist.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void vsay(const char *cmd, const char *fmt, va_list ap)
{
    if (sgd_dist_rank() != 0) { /* held: rank 0 prints one line for the job (docs/mpi.md) */
        char line[1024];
        vsnprintf(line, sizeof line, fmt, ap);
        sgd_dist_hold(line);
        return;
    }
    fprintf(stderr, "sgdscape %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(cmd, fmt, ap);
    va_end(ap);
    return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(cmd, fmt, ap);
    va_end(ap);
    return 2;
}

int cli_lib_fail(const char *cmd)
{
    return cli_fail(cmd, "%s", sgd_errmsg()[0] ? sgd_errmsg() : "failed");
}

int cli_lib_usage(const char *cmd) { return cli_lib_fail(cmd) * 2; }

int cli_double(const char *cmd, const char *opt, const char *val, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end != val && !*end && errno == ERANGE) { /* glibc: also for subnormal results, which lose precision */
        if (fabs(v) <= DBL_MIN) cli_fail(cmd, "%s: '%s' is too small: it underflows double precision", opt, val);
        else cli_fail(cmd, "%s: '%s' is too large: it overflows double precision", opt, val);
        return 1;
    }
    if (end == val || *end || !isfinite(v)) {
        cli_fail(cmd, "%s: '%s' is not a finite number", opt, val);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_positive(const char *cmd, const char *opt, const char *val, double *out)
{
    if (cli_double(cmd, opt, val, out)) return 1;
    if (!(*out > 0)) {
        cli_fail(cmd, "%s: must be > 0 (got %s)", opt, val);
        return 1;
    }
    return 0;
}

int cli_u64(const char *cmd, const char *opt, const char *val, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*val == '-') {
        cli_fail(cmd, "%s: '%s' is not a non-negative integer", opt, val);
        return 1;
    }
    unsigned long long v = strtoull(val, &end, 10);
    if (end == val || *end || errno == ERANGE) {
        cli_fail(cmd, "%s: '%s' is not a non-negative integer", opt, val);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_size(const char *cmd, const char *opt, const char *val, size_t *out)
{
    uint64_t v;
    if (cli_u64(cmd, opt, val, &v)) return 1;
    *out = (size_t)v;
    return 0;
}

int cli_int(const char *cmd, const char *opt, const char *val, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (end == val || *end || errno == ERANGE || v < -2147483647L || v > 2147483647L) {
        cli_fail(cmd, "%s: '%s' is not an integer", opt, val);
        return 1;
    }
    *out = (int)v;
    return 0;
}

int cli_precision(const char *cmd, const char *opt, const char *val, int *out)
{
    if (!strcmp(val, "64")) *out = 64;
    else if (!strcmp(val, "32")) *out = 32;
    else return cli_usage(cmd, "%s: '%s': give 64 or 32", opt, val);
    return 0;
}

int cli_count(const char *cmd, const char *opt, const char *val, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end); /* 1e8 as well as 100000000 */
    if (end == val || *end || *val == '-' || !(v >= 0) || v != floor(v)) {
        cli_fail(cmd, "%s: '%s' is not a non-negative integer", opt, val);
        return 1;
    }
    if (v > CLI_MAX_COUNT) {
        cli_fail(cmd, "%s: '%s' is too large (at most 2^53 = %.0f)", opt, val, CLI_MAX_COUNT);
        return 1;
    }
    *out = (size_t)v;
    return 0;
}

int cli_doubles(const char *cmd, const char *opt, const char *val, double *out, int max)
{
    int n = 0;
    if (!*val) {
        cli_fail(cmd, "%s: empty list", opt);
        return -1;
    }
    const char *p = val;
    char buf[64];
    while (*p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == 0 || len >= sizeof buf || n >= max) {
            cli_fail(cmd, "%s: '%s' is not a list of at most %d numbers", opt, val, max);
            return -1;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        if (cli_double(cmd, opt, buf, &out[n])) return -1;
        n++;
        p += len + (c ? 1 : 0);
    }
    return n;
}

int cli_threads_arg(const char *cmd, const char *val, int *threads)
{
    if (cli_int(cmd, "--threads", val, threads)) return 2;
    if (*threads < 0) return cli_usage(cmd, "--threads: must be >= 0");
    if (*threads > CLI_MAX_THREADS)
        return cli_usage(cmd, "--threads: at most %d (got %s; 0 means all cores)", CLI_MAX_THREADS, val);
    return 0;
}

int cli_threads(int requested)
{
    int n = requested > 0 ? requested : omp_get_num_procs();
    omp_set_num_threads(n);
    return n;
}

void cli_help(const char *text) { fputs(text, stdout); }

int cli_parse_box(const char *cmd, const char *opt, const char *val, double *lo, double *hi)
{
    const char *c = strchr(val, ':');
    if (!c || c == val) return cli_fail(cmd, "%s: want LO:HI, got '%s'", opt, val);
    char a[64];
    size_t n = (size_t)(c - val);
    if (n >= sizeof a) return cli_fail(cmd, "%s: want LO:HI, got '%s'", opt, val);
    memcpy(a, val, n);
    a[n] = '\0';
    if (cli_double(cmd, opt, a, lo) || cli_double(cmd, opt, c + 1, hi)) return 1;
    if (!(*hi > *lo)) return cli_fail(cmd, "%s: need LO < HI, got '%s'", opt, val);
    return 0;
}

void cli_progress_cb(void *ctx, double done, double total) { sgd_progress_update(ctx, done, total); }

static int force_given; /* --force: set by cli_common_opt, read by cli_work */

/* Gradient coordinates per second on this machine: f's batched gradient, one
 * thread, timed for about 50 ms, times the thread count. */
static double measured_rate(const sgd_landscape *f, int threads)
{
    size_t d = f->d, m = d >= 4096 ? 1 : 4096 / d;
    double *x = malloc(m * d * sizeof(double)), *g = malloc(m * d * sizeof(double));
    if (!x || !g) {
        free(x);
        free(g);
        return NAN;
    }
    double lo = isfinite(f->lo) ? f->lo : -1, hi = isfinite(f->hi) ? f->hi : 1;
    for (size_t i = 0; i < m * d; i++) x[i] = lo + (hi - lo) * (double)((i * 37) % 101) / 101.0;
    double t0 = sgd_now(), t = 0, evals = 0;
    do {
        f->grad_batch(f, m, x, g);
        evals += (double)(m * d);
        t = sgd_now() - t0;
    } while (t < 0.05);
    free(x);
    free(g);
    return evals / t * (threads > 0 ? threads : 1);
}

static void human_time(double s, char *buf, size_t n)
{
    if (!isfinite(s)) snprintf(buf, n, "an unknown time");
    else if (s < 120) snprintf(buf, n, "%.2g seconds", s);
    else if (s < 7200) snprintf(buf, n, "%.2g minutes", s / 60);
    else if (s < 2 * 86400) snprintf(buf, n, "%.2g hours", s / 3600);
    else if (s < 730 * 86400) snprintf(buf, n, "%.2g days", s / 86400);
    else snprintf(buf, n, "%.2g years", s / (365.25 * 86400));
}

int cli_work(const char *cmd, double work, const char *what, const sgd_landscape *f, int threads)
{
    if (work <= CLI_WORK_LIMIT) return 0;
    double rate = measured_rate(f, threads);
    char when[64];
    human_time(work / rate, when, sizeof when);
    if (force_given) {
        cli_fail(cmd, "this is ~%.2g gradient evaluations x dims (%s), about %s at the measured %.2g/s; running it (--force)",
                 work, what, when, rate);
        return 0;
    }
    return cli_usage(cmd,
                    "this is ~%.2g gradient evaluations x dims (%s), about %s at the measured %.2g/s: above the "
                    "limit of %g, add --force to run it",
                    work, what, when, rate, CLI_WORK_LIMIT);
}

/* Monte Carlo is the method whose cost has no bound but the sample count:
 * size it (with --tol, from a pilot at the first point) before it starts. */
int cli_mc_work(const char *C, const sgd_landscape *f, const sgd_noise *W, double eta, const double *y, double np,
                const sgd_smooth_params *sp, int want_grad, int threads)
{
    int mc = sp->method == SGD_SMOOTH_MC || (sp->method == SGD_SMOOTH_AUTO && f->d > 2 && !f->smooth);
    if (!mc || W->kind == SGD_NOISE_NONE || W->scale == 0) return 0;
    double need;
    if (sgd_smooth_mc_samples(f, W, eta, y, sp, want_grad, &need)) {
        sgd_error_clear(); /* the run itself reports it */
        return 0;
    }
    char what[200];
    double n = fmin(need, (double)sp->max_samples);
    if (sp->nsamples) snprintf(what, sizeof what, "%.3g points x %.3g samples x d = %zu", np, n, f->d);
    else
        snprintf(what, sizeof what, "%.3g points x %.3g samples x d = %zu; --tol %g asks for %.3g samples a point%s", np,
                 n, f->d, sp->tol, need, need > n ? ", capped" : "");
    return cli_work(C, np * n * (double)f->d, what, f, threads);
}

/* ---- interrupts ---------------------------------------------------------
 * The handler uses only async-signal-safe calls: rmdir (the directory is
 * empty while the command computes), write and _exit. Once files are in it
 * rmdir fails, and the signal waits for cli_rundir_commit. */
static volatile sig_atomic_t got_signal;
static const char *sig_cmd = "";
static char sig_dir[4200]; /* DIR.partial, "" when none */

static void say(const char *s) { (void)!write(STDERR_FILENO, s, strlen(s)); }

static void interrupted_line(int sig, int removed)
{
    say("sgdscape ");
    say(sig_cmd);
    say(sig == SIGINT ? ": interrupted (SIGINT)" : ": interrupted (SIGTERM)");
    if (removed) {
        say("; removed ");
        say(sig_dir);
    }
    say("\n");
}

static void on_signal(int sig)
{
    int saved = errno;
    got_signal = sig;
    if (sig_dir[0] && rmdir(sig_dir) != 0 && errno == ENOTEMPTY) {
        errno = saved;
        return; /* files are being written: cli_rundir_commit cleans up */
    }
    interrupted_line(sig, sig_dir[0] != 0);
    _exit(128 + sig);
}

/* Rank 0 alone creates and writes the run directory; on the other ranks rd
 * stays empty (path "") and commit and abort do nothing. */
int cli_rundir_open(const char *cmd, sgd_rundir *rd, const char *dir)
{
    if (sgd_dist_rank() != 0) {
        memset(rd, 0, sizeof *rd);
        return 0;
    }
    if (sgd_rundir_open(rd, dir)) return cli_lib_fail(cmd);
    sig_cmd = cmd;
    snprintf(sig_dir, sizeof sig_dir, "%s", rd->path);
    cli_on_signals(on_signal);
    return 0;
}

void cli_on_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_rundir_commit(const char *cmd, sgd_rundir *rd)
{
    if (!rd->path[0]) return 0;
    int sig = got_signal;
    if (sig) {
        sgd_rundir_abort(rd);
        interrupted_line(sig, 1);
        sig_dir[0] = '\0';
        return 128 + sig;
    }
    int rc = sgd_rundir_commit(rd);
    sig_dir[0] = '\0';
    return rc ? cli_lib_fail(cmd) : 0;
}

int cli_interrupted(void) { return got_signal != 0; }

/* Resumable commands (probe, branch, spectrum, paper5): the first SIGINT or
 * SIGTERM asks the library to stop at its next checkpoint, keeping
 * DIR.partial; a second one exits at once (the checkpoints stay). */
static volatile sig_atomic_t stop_sig;
static void on_stop(int sig)
{
    if (stop_sig) _exit(128 + sig);
    stop_sig = sig;
}
void cli_stop_signals(void) { cli_on_signals(on_stop); }
int cli_stop_requested(void *ctx) { return (void)ctx, stop_sig != 0; }
int cli_stop_signal(void) { return stop_sig; }
const char *cli_stop_name(void) { return stop_sig == SIGINT ? "SIGINT" : "SIGTERM"; }

void cli_rundir_abort(sgd_rundir *rd)
{
    if (rd->path[0]) sgd_rundir_abort(rd);
    sig_dir[0] = '\0';
}

int cli_point(const char *cmd, const char *opt, const char *val, size_t d, double *out)
{
    int max = (int)(d + 1 > 1000000 ? 1000000 : d + 1);
    double *tmp = malloc((size_t)max * sizeof(double));
    if (!tmp) return cli_fail(cmd, "%s: out of memory", opt);
    int n = cli_doubles(cmd, opt, val, tmp, max);
    int rc = 0;
    if (n == 1)
        for (size_t i = 0; i < d; i++) out[i] = tmp[0];
    else if (n == (int)d)
        memcpy(out, tmp, d * sizeof(double));
    else if (n >= 0)
        rc = cli_usage(cmd, "%s: give 1 or %zu numbers (got %d)", opt, d, n);
    else
        rc = 2;
    free(tmp);
    return rc;
}

int cli_common_opt(const char *cmd, int ch, const char *help, char **argv, const char **out, uint64_t *seed,
                   int *threads)
{
    switch (ch) {
    case 'o': *out = optarg; return -1;
    case 'z': return cli_u64(cmd, "--seed", optarg, seed) ? 2 : -1;
    case 't': return cli_threads_arg(cmd, optarg, threads) ? 2 : -1;
    case CLI_OPT_FORCE: force_given = 1; return -1;
    case 'h': cli_help(help); return 0;
    default: return cli_bad_opt(cmd, ch, argv);
    }
}

int cli_bad_opt(const char *cmd, int ch, char **argv)
{
    if (ch == ':') return cli_usage(cmd, "option %s needs a value (see --help)", argv[optind - 1]);
    return cli_usage(cmd, "unknown option '%s' (see --help)", argv[optind - 1]);
}

int cli_no_operands(const char *cmd, int argc, char **argv)
{
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s' (see --help)", argv[optind]);
    return 0;
}

void cli_problem_init(cli_problem *P, const char *fspec, double eta)
{
    *P = (cli_problem){.fspec = fspec, .d = 1, .noise_name = "ball", .eta = eta, .r = NAN, .level = NAN};
}

/* --r / --level: > 0 where the command needs real noise (verify), else >= 0. */
static int noise_size(const char *cmd, const char *opt, const char *val, int positive, double *v)
{
    if (positive) return cli_positive(cmd, opt, val, v);
    if (cli_double(cmd, opt, val, v)) return 1;
    return *v < 0 ? cli_fail(cmd, "%s: must be >= 0", opt) : 0;
}

int cli_problem_opt(const char *cmd, int ch, cli_problem *P, const char *help, char **argv, const char **out,
                    uint64_t *seed, int *threads)
{
    int bad = 0;
    switch (ch) {
    case 'f': P->fspec = optarg; break;
    case 'd': bad = cli_size(cmd, "--d", optarg, &P->d); break;
    case 'X': P->xstar_s = optarg; break;
    case 'n': P->noise_name = optarg; break;
    case 'e': bad = cli_positive(cmd, "--eta", optarg, &P->eta); P->have_eta = 1; break;
    case 'r': bad = noise_size(cmd, "--r", optarg, P->positive, &P->r); break;
    case 'l': bad = noise_size(cmd, "--level", optarg, P->positive, &P->level); break;
    case CLI_OPT_NO_JIT: P->no_jit = 1; break;
    default: return cli_common_opt(cmd, ch, help, argv, out, seed, threads);
    }
    return bad ? 2 : -1;
}

int cli_problem_conflict(const char *cmd, const cli_problem *P)
{
    if (!isnan(P->r) && !isnan(P->level)) return cli_fail(cmd, "give --r or --level, not both");
    return 0;
}

int cli_problem_noise(const char *cmd, const cli_problem *P, double def_r, sgd_noise_kind *kind, double *r)
{
    if (sgd_noise_parse(P->noise_name, kind)) return cli_lib_fail(cmd);
    if (cli_problem_conflict(cmd, P)) return 1;
    *r = !isnan(P->level) ? P->level / P->eta : !isnan(P->r) ? P->r : def_r;
    return 0;
}

sgd_landscape *cli_landscape(const char *cmd, const char *fspec, size_t d, int no_jit)
{
    sgd_landscape *f = sgd_landscape_create(fspec, d);
    if (!f || no_jit || strcmp(f->name, "formula") != 0) return f;
    char note[512];
    if (sgd_landscape_formula_jit(f, note, sizeof note) != SGD_OK)
        fprintf(stderr, "%s: note: the formula runs interpreted: %s\n", cmd, note);
    return f;
}

int cli_problem_xstar(const char *cmd, size_t d, const char *xstar_s, const sgd_landscape *f, double *xs)
{
    if (xstar_s) return cli_point(cmd, "--x-star", xstar_s, d, xs);
    if (!f->x_star) return cli_usage(cmd, "landscape '%s' has no known x*: give --x-star", f->name);
    memcpy(xs, f->x_star, d * sizeof(double));
    return 0;
}

int cli_estimator_opt(const char *cmd, int ch, cli_estimator *E, sgd_smooth_params *sp, cli_problem *P,
                      const char *help, char **argv, const char **out, uint64_t *seed, int *threads)
{
    int bad = 0;
    switch (ch) {
    case 'm': E->method_s = optarg; break;
    case 'N':
        bad = cli_count(cmd, "--samples", optarg, &sp->nsamples) ||
              (sp->nsamples < 2 && cli_fail(cmd, "--samples: need >= 2"));
        E->have_samples = 1;
        break;
    case 'T':
        bad = cli_positive(cmd, "--tol", optarg, &sp->tol);
        E->have_tol = 1;
        break;
    case 'I': E->interval_s = optarg; break;
    case 'R': bad = cli_positive(cmd, "--range", optarg, &sp->range); break;
    case 'G': bad = cli_positive(cmd, "--grad-range", optarg, &sp->grad_range); break;
    default: return cli_problem_opt(cmd, ch, P, help, argv, out, seed, threads);
    }
    return bad ? 2 : -1;
}

int cli_estimator_finish(const char *cmd, const cli_estimator *E, sgd_smooth_params *sp)
{
    if (E->have_tol && E->have_samples) return cli_fail(cmd, "give --samples or --tol, not both");
    if (E->have_tol) sp->nsamples = 0;
    if (sgd_smooth_method_parse(E->method_s, &sp->method) || sgd_smooth_interval_parse(E->interval_s, &sp->interval))
        return cli_lib_fail(cmd);
    return 0;
}
