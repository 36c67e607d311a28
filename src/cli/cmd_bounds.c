/* sgdscape bounds: Theorem 1, Corollary 2 and Theorem 3 calculators. */
#include "cli.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/landscape.h"
#include "sgdscape/theory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SGD_BOUNDS_MAX_STAGES_CLI 32

const char sgd_cmd_bounds_summary[] = "Theorem 1 / Corollary 2 / Theorem 3 numbers with the paper's constants";

static const char help[] =
    "usage: sgdscape bounds [options]\n\n"
    "Theorem 1 (default): checks eta < min{1/(2L), c/L^2, 1/(2c)} and prints\n"
    "  lambda = 2 eta c - eta^2 L^2,  b = eta^2 r^2 (1 + eta L)^2,\n"
    "  T1 = ceil(log(lambda ||y0-x*||^2 / b) / lambda),  ||y_T1 - x*||^2 <= 20 b/lambda (prob >= 1/2),\n"
    "  mu = max{8, 42 sqrt(log(9 T2/4))},  delta = mu sqrt(b/lambda): ||y_t - x*|| <= delta for\n"
    "  T1 <= t <= T1 + T2.\n"
    "  --eta E --c C --L L --r R   the theorem's constants (r = max ||omega||)\n"
    "  --y0-dist2 V                ||y0 - x*||^2 (default 1); or --y0-dist V for ||y0 - x*||\n"
    "  --T2 N                      horizon of the 'stays close' statement (default 1000)\n"
    "  --from DIR                  read eta, r, c, L from a `sgdscape check` run directory\n"
    "                              (c = its one-sided lower bound c_lower; --use-c-hat for the point estimate);\n"
    "                              flags given as well override it\n"
    "Corollary 2 (shrinking learning rate):\n"
    "  --stages E:C:R,E:C:R,...    one (eta, c, r) per stage, shared --L, --T2; stage k+1 starts from\n"
    "                              stage k's radius ||y - x*||^2 <= 20 b_k/lambda_k and runs\n"
    "                              T = ceil(log(lambda' (20 b/lambda) / b') / lambda') steps; needs c' > c,\n"
    "                              eta' < eta; probability >= 2^-K (the paper's 1/4 for K = 2)\n"
    "Theorem 3 (too large a step moves gradient descent away):\n"
    "  --thm3                      at --x V[,V...] of --f SPEC (--d N, --x-star V[,...]):\n"
    "                              eta_threshold = 2 c' ||x - x*||^2 / ||grad f(x)||^2, c' = --c-prime, or\n"
    "                              by default the pointwise <-grad f(x), x*-x>/||x*-x||^2 (the tightest c'\n"
    "                              the hypothesis allows at x: it makes the threshold exact, 'iff')\n"
    "  --eta-gd E                  also take the GD step at E and report the distances\n"
    "common:\n"
    "  --out DIR                   also write DIR/bounds.json\n"
    "  --seed N, --threads N       accepted for uniformity (nothing here is random; --threads at most 1024)\n"
    "  --help                      this text\n\n"
    "Impossible input (c <= 0, L <= 0, r < 0, NaN, eta outside the window) is explained and exits 1.\n";

/* manifest.json and bounds.json into DIR (--out), if given; j is freed. */
static int write_out(const char *C, const char *out, sgd_json *j, int argc, char **argv)
{
    sgd_rundir rd;
    int rc = 0;
    if (out && sgd_rundir_open(&rd, out)) rc = cli_lib_fail(C);
    else if (out && (sgd_bounds_write(rd.path, j, argc, argv) || sgd_rundir_commit(&rd))) {
        sgd_rundir_abort(&rd);
        rc = cli_lib_fail(C);
    } else if (out) printf("wrote %s/\n", rd.final);
    sgd_json_free(j);
    return rc;
}

/* --stages E:C:R,E:C:R,...: one (eta, c, r) per stage into st. 0, or nonzero after the message. */
static int parse_stages(const char *C, const char *val, sgd_cor2_stage *st, size_t max, size_t *K)
{
    size_t k = 0;
    for (const char *p = val; *p; k++) {
        if (k >= max) return cli_usage(C, "--stages: at most %zu stages", max);
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        char buf[256];
        if (len == 0 || len >= sizeof buf) return cli_usage(C, "--stages: malformed '%s'", val);
        memcpy(buf, p, len);
        buf[len] = '\0';
        char *s1 = strchr(buf, ':'), *s2 = s1 ? strchr(s1 + 1, ':') : NULL;
        if (!s1 || !s2) return cli_usage(C, "--stages: '%s' is not ETA:C:R", buf);
        *s1 = *s2 = '\0';
        memset(&st[k], 0, sizeof st[k]);
        if (cli_double(C, "--stages eta", buf, &st[k].eta) || cli_double(C, "--stages c", s1 + 1, &st[k].c) ||
            cli_double(C, "--stages r", s2 + 1, &st[k].r))
            return 2;
        p += len + (c ? 1 : 0);
    }
    if (k == 0) return cli_usage(C, "--stages: no stage given");
    *K = k;
    return 0;
}

int sgd_cmd_bounds(int argc, char **argv)
{
    const char *C = "bounds";
    const char *from = NULL, *out = NULL, *stages = NULL, *fspec = "quadratic", *xs = NULL, *xstar_s = NULL;
    double eta = NAN, c = NAN, L = NAN, r = NAN, y0d2 = 1.0, T2 = 1000, cprime = NAN, eta_gd = NAN;
    int use_chat = 0, thm3 = 0, threads = 1, have_eta = 0, have_c = 0, have_L = 0, have_r = 0, have_y0 = 0;
    size_t d = 1;
    uint64_t seed = 1;
    static const struct option opts[] = {
        {"eta", 1, 0, 'e'},      {"c", 1, 0, 'c'},          {"L", 1, 0, 'L'},       {"r", 1, 0, 'r'},
        {"y0-dist2", 1, 0, 'y'}, {"y0-dist", 1, 0, 'Y'},    {"T2", 1, 0, 'T'},      {"from", 1, 0, 'F'},
        {"use-c-hat", 0, 0, 'H'}, {"stages", 1, 0, 'S'},    {"thm3", 0, 0, '3'},    {"f", 1, 0, 'f'},
        {"d", 1, 0, 'd'},        {"x", 1, 0, 'x'},          {"x-star", 1, 0, 'X'},  {"c-prime", 1, 0, 'p'},
        {"eta-gd", 1, 0, 'g'},   CLI_COMMON_OPTIONS,        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, CLI_OPTSTRING, opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        /* numbers are parsed leniently here (NaN/negative allowed) so the theory can explain them */
        case 'e': bad = cli_double(C, "--eta", optarg, &eta); have_eta = 1; break;
        case 'c': bad = cli_double(C, "--c", optarg, &c); have_c = 1; break;
        case 'L': bad = cli_double(C, "--L", optarg, &L); have_L = 1; break;
        case 'r': bad = cli_double(C, "--r", optarg, &r); have_r = 1; break;
        case 'y': bad = cli_double(C, "--y0-dist2", optarg, &y0d2); have_y0 |= 1; break;
        case 'Y': bad = cli_double(C, "--y0-dist", optarg, &y0d2); y0d2 = y0d2 * y0d2; have_y0 |= 2; break;
        case 'T': bad = cli_double(C, "--T2", optarg, &T2); break;
        case 'F': from = optarg; break;
        case 'H': use_chat = 1; break;
        case 'S': stages = optarg; break;
        case '3': thm3 = 1; break;
        case 'f': fspec = optarg; break;
        case 'd': bad = cli_size(C, "--d", optarg, &d); break;
        case 'x': xs = optarg; break;
        case 'X': xstar_s = optarg; break;
        case 'p': bad = cli_double(C, "--c-prime", optarg, &cprime); break;
        case 'g': bad = cli_positive(C, "--eta-gd", optarg, &eta_gd); break;
        default: {
            int e = cli_common_opt(C, ch, help, argv, &out, &seed, &threads);
            if (e >= 0) return e;
        }
        }
        if (bad) return 2;
    }
    if (cli_no_operands(C, argc, argv)) return 2;
    if (have_y0 == 3) return cli_usage(C, "give --y0-dist or --y0-dist2, not both");
    if (thm3 && (stages || from)) return cli_usage(C, "--thm3 is a statement of its own: drop --%s", stages ? "stages" : "from");
    if (stages && from) return cli_usage(C, "--stages takes its constants from the flags: drop --from");
    (void)seed;
    cli_threads(threads);

    if (thm3) {
        if (!xs) return cli_usage(C, "--thm3 needs --x (the point x_t)");
        if (d == 0) return cli_usage(C, "--d must be >= 1");
        sgd_landscape *f = sgd_landscape_create(fspec, d);
        if (!f) return cli_lib_fail(C);
        double *x = malloc(3 * d * sizeof(double)), *xst = x + d, *g = x + 2 * d;
        sgd_thm3 t;
        int rc = x ? cli_point(C, "--x", xs, d, x) : cli_fail(C, "out of memory");
        if (!rc) rc = cli_problem_xstar(C, d, xstar_s, f, xst);
        if (!rc) f->fg(f, x, g);
        if (!rc && sgd_bounds_theorem3(d, x, g, xst, cprime, eta_gd, &t)) rc = cli_lib_fail(C);
        if (!rc) sgd_bounds_theorem3_print(stdout, &t, f->name, cprime);
        if (!rc) rc = write_out(C, out, sgd_bounds_theorem3_json(&t, fspec), argc, argv);
        free(x);
        sgd_landscape_free(f);
        return rc;
    }

    if (stages) {
        sgd_cor2_stage st[SGD_BOUNDS_MAX_STAGES_CLI];
        size_t K = 0;
        if (parse_stages(C, stages, st, SGD_BOUNDS_MAX_STAGES_CLI, &K)) return 2;
        double prob;
        if (sgd_bounds_corollary2(K, st, L, y0d2, T2, &prob)) return cli_lib_fail(C);
        sgd_bounds_corollary2_print(stdout, K, st, L, y0d2, T2, prob);
        return write_out(C, out, sgd_bounds_corollary2_json(K, st, L, y0d2, T2, prob), argc, argv);
    }

    if (from) {
        sgd_onepoint_summary s = {NAN, NAN, NAN, NAN, NAN, NAN};
        if (sgd_onepoint_summary_load(from, &s)) return cli_lib_fail(C);
        eta = have_eta ? eta : s.eta;
        r = have_r ? r : s.r;
        L = have_L ? L : s.L;
        c = have_c ? c : use_chat ? s.c_hat : s.c_lower;
        if (isnan(eta) || isnan(c) || isnan(L) || isnan(r))
            return cli_fail(C,
                            "%s/summary.json lacks a finite eta, r, L or %s (written by a single `sgdscape "
                            "check`? Gaussian noise has r = inf, which Theorem 1 excludes)",
                            from, use_chat ? "c_hat" : "c_lower");
        printf("from %s: eta = %.6g, r = %.6g, L = %.6g, c = %.6g (%s)\n", from, eta, r, L, c,
               use_chat ? "point estimate c_hat" : "one-sided lower bound c_lower");
    } else if (!have_eta || !have_c || !have_L || !have_r) {
        return cli_usage(C, "Theorem 1 needs --eta, --c, --L and --r (or --from DIR); see --help");
    }
    sgd_thm1_input in = {eta, c, L, r, y0d2, T2};
    sgd_thm1 t;
    if (sgd_bounds_theorem1(&in, &t)) return cli_lib_fail(C);
    sgd_bounds_theorem1_print(stdout, &in, &t);
    return write_out(C, out, sgd_bounds_theorem1_json(&in, &t), argc, argv);
}
