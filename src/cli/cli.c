#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sgdscape %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int cli_lib_fail(const char *cmd)
{
    return cli_fail(cmd, "%s", sgd_errmsg()[0] ? sgd_errmsg() : "failed");
}

int cli_double(const char *cmd, const char *opt, const char *val, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end || errno == ERANGE || !isfinite(v)) {
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

int cli_doubles(const char *cmd, const char *opt, const char *val, double *out, int max)
{
    int n = 0;
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
    if (*threads < 0) return cli_fail(cmd, "--threads: must be >= 0") + 1;
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
        rc = cli_fail(cmd, "%s: give 1 or %zu numbers (got %d)", opt, d, n);
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
    case 'h': cli_help(help); return 0;
    default: return cli_fail(cmd, "unknown option '%s' (see --help)", argv[optind - 1]);
    }
}

int cli_no_operands(const char *cmd, int argc, char **argv)
{
    if (optind < argc) return cli_fail(cmd, "unexpected argument '%s' (see --help)", argv[optind]);
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

int cli_problem_xstar(const char *cmd, size_t d, const char *xstar_s, const sgd_landscape *f, double *xs)
{
    if (xstar_s) return cli_point(cmd, "--x-star", xstar_s, d, xs);
    if (!f->x_star) return cli_fail(cmd, "landscape '%s' has no known x*: give --x-star", f->name);
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
        bad = cli_size(cmd, "--samples", optarg, &sp->nsamples) ||
              (sp->nsamples < 2 && cli_fail(cmd, "--samples: need >= 2"));
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
    if (E->have_tol) sp->nsamples = 0;
    if (sgd_smooth_method_parse(E->method_s, &sp->method) || sgd_smooth_interval_parse(E->interval_s, &sp->interval))
        return cli_lib_fail(cmd);
    return 0;
}
