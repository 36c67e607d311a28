/* The experiments behind `check`, `smooth`, `bounds`, `verify` and `probe`,
 * called as a library user would: the Assumption-1 scan and its files, g at
 * many points, and what the commands print and record (tables to a FILE,
 * manifests, a check's summary read back). */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
#include "sgdscape/probes.h"
#include "sgdscape/smooth.h"
#include "sgdscape/theory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int exists(const char *dir, const char *name)
{
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && st.st_size > 0;
}

/* What CALL wrote to the FILE *o it is given, into the malloc'ed string buf. */
#define PRINTED(buf, CALL)                           \
    do {                                             \
        size_t n_;                                   \
        FILE *o = open_memstream(&(buf), &n_);       \
        CALL;                                        \
        fclose(o);                                   \
    } while (0)

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* The string of key in j, or "" if absent. */
static const char *str_of(const sgd_json *j, const char *key)
{
    static char buf[256];
    if (sgd_json_get_str(j, key, buf, sizeof buf)) buf[0] = '\0';
    return buf;
}

static double num_of(const sgd_json *j, const char *key)
{
    double v;
    return sgd_json_get_num(j, key, &v) ? -12345 : v;
}

int main(void)
{
    char dir[] = "/tmp/sgd_experiments_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    setenv("SGD_QUIET", "1", 1);

    /* ---- Assumption 1 over noise levels on spiky: the small level keeps ripples that fail, the medium holds ---- */
    sgd_landscape *f = sgd_landscape_create("spiky", 1);
    CHECK(f != NULL);
    double levels[3] = {0.02, 0.15, 0.3}, xs = 0;
    sgd_onepoint_scan_config sc = {.kind = SGD_SCAN_LEVEL, .values = levels, .n = 3};
    sgd_onepoint_defaults(&sc.check, f);
    sc.check.eta = 0.01;
    sc.check.x_star = &xs;
    sc.check.D.lo = -4;
    sc.check.D.hi = 4;
    sc.check.D.n = 300;
    sc.check.exclude_x = 0.1; /* failures only next to x* are benign */
    sgd_onepoint_scan_result sr;
    CHECK(sgd_onepoint_scan(&sc, &sr, NULL, NULL) == SGD_OK);
    CHECK(sr.n == 3);
    for (int k = 0; k < 3; k++) {
        CHECK_CLOSE(sr.row[k].eta * sr.row[k].r, levels[k], 1e-15, 0);
        /* each row is the plain check at that level */
        sgd_onepoint_config one = sc.check;
        one.W.scale = levels[k] / one.eta;
        sgd_onepoint_result res;
        CHECK(sgd_onepoint_check(&one, &res) == SGD_OK);
        CHECK(res.c_hat == sr.row[k].c_hat && res.nfail == sr.row[k].nfail);
        CHECK(sr.row[k].L == sgd_onepoint_L(f, &res, NULL));
        if (k == 1) {
            char vt[512];
            sgd_onepoint_verdict(&one, &res, vt, sizeof vt);
            CHECK(strncmp(vt, "holds", 5) == 0);
            CHECK(sgd_onepoint_write(dir, &one, &res) == SGD_OK);
            CHECK(exists(dir, "points.csv") && exists(dir, "map.gp") && exists(dir, "summary.json"));
            /* the table names the landscape, the estimate and the verdict */
            char *txt, want[256];
            PRINTED(txt, sgd_onepoint_print(o, &one, &res));
            snprintf(want, sizeof want, "  c estimate (min ratio) = %.6g, one-sided bound c >= %.6g (confidence 0.95)\n",
                     res.c_hat, res.c_lower);
            CHECK(starts(txt, "Assumption 1 for spiky (d=1), ball noise, eta = 0.01, r = 15 (level 0.15), "));
            CHECK(strstr(txt, want) != NULL && strstr(txt, "  verdict: holds") != NULL);
            CHECK(strstr(txt, "  ratio <= 0 at 0 points (0%)\n") != NULL && count_lines(txt) == 5);
            free(txt);
            /* the summary read back: what bounds --from and verify --from take */
            sgd_onepoint_summary s = {NAN, NAN, NAN, NAN, NAN, NAN};
            CHECK(sgd_onepoint_summary_load(dir, &s) == SGD_OK);
            CHECK(s.eta == 0.01 && s.c_hat == res.c_hat && s.c_lower == res.c_lower && s.r == res.r);
            CHECK(s.L == sgd_onepoint_L(f, &res, NULL) && s.noise_radius == 15);
        }
        sgd_onepoint_result_free(&res);
    }
    CHECK(sr.row[0].nfail > 0 && sr.row[1].nfail == 0);
    CHECK(sr.holds_from == 0.15);
    CHECK(sgd_onepoint_scan_write(dir, &sc, &sr) == SGD_OK);
    CHECK(exists(dir, "scan.csv") && exists(dir, "scan.dat") && exists(dir, "scan.gp"));
    char *txt;
    PRINTED(txt, sgd_onepoint_scan_print(o, &sc, &sr));
    CHECK(count_lines(txt) == 5 && starts(txt, "level        eta        r          c_hat"));
    CHECK(strstr(txt, "\n0.15         0.01       15         ") != NULL);
    CHECK(strstr(txt, "holds (c_lower > 0, no failing point) for level in [0.15, ") != NULL);
    free(txt);
    sgd_json *man = sgd_json_new();
    sgd_onepoint_manifest_json(man, &sc, "spiky:A1=0.15", "quadrature");
    CHECK(strcmp(str_of(man, "command"), "check") == 0 && strcmp(str_of(man, "landscape"), "spiky:A1=0.15") == 0);
    CHECK(strcmp(str_of(man, "method"), "quadrature") == 0 && strcmp(str_of(man, "domain"), "box") == 0);
    CHECK(num_of(man, "eta") == 0.01 && num_of(man, "points") == 300 && num_of(man, "domain_lo") == -4);
    sgd_json_free(man);
    sgd_onepoint_scan_free(&sr);
    /* a failing check stops the scan with its message */
    sc.check.eta = -1;
    CHECK(sgd_onepoint_scan(&sc, &sr, NULL, NULL) == SGD_EINVAL && sr.row == NULL);

    /* ---- g at many points: each point is sgd_smooth_eval with stream j; exact vs quadrature covers ---- */
    double *y;
    size_t np;
    CHECK(sgd_smooth_grid(1, -1, 1, 41, &y, &np) == SGD_OK);
    CHECK(np == 41 && y[0] == -1 && y[40] == 1);
    sgd_smooth_points_config pc = {.f = f, .W = {SGD_NOISE_BALL, 10, NULL, NULL}, .eta = 0.01, .y = y, .n = np,
                                   .grid_n = 41, .want_grad = 1, .compare = 1, .threads = 2};
    sgd_smooth_params_default(&pc.sp);
    pc.sp.method = SGD_SMOOTH_QUAD;
    sgd_smooth_points_result pr;
    CHECK(sgd_smooth_points(&pc, &pr, NULL, NULL) == SGD_OK);
    CHECK(pr.n == 41 && pr.gd == 1 && pr.method == SGD_SMOOTH_QUAD);
    CHECK(pr.compared == 82 && pr.max_diff < 1e-6);
    sgd_smooth_workspace *w = sgd_smooth_workspace_alloc(1, pc.sp.limit);
    for (size_t j = 0; j < np; j += 10) {
        sgd_smooth_params pj = pc.sp;
        pj.stream = j;
        double gr, ge;
        sgd_smooth_value v = {.grad = &gr, .grad_err = &ge};
        CHECK(sgd_smooth_eval(f, &pc.W, pc.eta, y + j, &pj, w, &v) == SGD_OK);
        CHECK(v.g == pr.pt[j].g && gr == pr.grad[j] && ge == pr.grad_err[j]);
        CHECK(pr.pt[j].f == f->fg(f, y + j, NULL));
    }
    sgd_smooth_workspace_free(w);
    CHECK(sgd_smooth_points_write(dir, &pc, &pr) == SGD_OK);
    CHECK(exists(dir, "smooth.csv") && exists(dir, "smooth.dat") && exists(dir, "smooth.gp"));
    PRINTED(txt, sgd_smooth_points_print(o, &pc, &pr));
    char want[256];
    snprintf(want, sizeof want, "%zu of 82 components within their error\n", pr.covered);
    CHECK(starts(txt, "smoothed spiky (d=1), ball noise, eta = 0.01, r = 10 (level 0.1), method quad: 41 points"));
    CHECK(count_lines(txt) == 2 && strstr(txt, want) != NULL); /* more than 8 points: none listed */
    free(txt);
    pc.n = 2; /* two points: each listed with g and its error */
    PRINTED(txt, sgd_smooth_points_print(o, &pc, &pr));
    snprintf(want, sizeof want, "  y = %.6g: g = %.10g +- %.3g\n", y[1], pr.pt[1].g, pr.pt[1].g_err);
    CHECK(count_lines(txt) == 4 && strstr(txt, want) != NULL);
    free(txt);
    pc.n = np;
    man = sgd_json_new();
    sgd_smooth_points_manifest_json(man, &pc, "spiky", "quad");
    CHECK(strcmp(str_of(man, "command"), "smooth") == 0 && strcmp(str_of(man, "interval"), "clt") == 0);
    CHECK(num_of(man, "r") == 10 && num_of(man, "noise_level") == 0.01 * 10 && num_of(man, "seed") == 1);
    sgd_json_free(man);
    sgd_smooth_points_free(&pr);
    /* the same Monte Carlo bits with 1 thread or 3 */
    pc.sp.method = SGD_SMOOTH_MC;
    pc.sp.nsamples = 500;
    pc.compare = 0;
    sgd_smooth_points_result a, b;
    pc.threads = 1;
    CHECK(sgd_smooth_points(&pc, &a, NULL, NULL) == SGD_OK);
    pc.threads = 3;
    CHECK(sgd_smooth_points(&pc, &b, NULL, NULL) == SGD_OK);
    int same = a.samples_total == 41 * 500;
    for (size_t j = 0; j < np; j++) same &= a.pt[j].g == b.pt[j].g && a.grad[j] == b.grad[j];
    CHECK(same);
    sgd_smooth_points_free(&a);
    sgd_smooth_points_free(&b);
    free(y);
    sgd_landscape_free(f);

    /* ---- bounds: Theorem 1 (eta 0.01, c 1, L 2, r 1): lambda = 2 eta c - eta^2 L^2 = 0.0196 ---- */
    sgd_thm1_input in = {0.01, 1, 2, 1, 1, 1000};
    sgd_thm1 t1;
    CHECK(sgd_bounds_theorem1(&in, &t1) == SGD_OK);
    PRINTED(txt, sgd_bounds_theorem1_print(o, &in, &t1));
    CHECK(count_lines(txt) == 8 && strstr(txt, "  lambda   2 eta c - eta^2 L^2            = 0.0196\n") != NULL);
    free(txt);
    sgd_json *bj = sgd_bounds_theorem1_json(&in, &t1);
    CHECK(strcmp(str_of(bj, "statement"), "theorem1") == 0 && num_of(bj, "lambda") == t1.lambda);
    CHECK(num_of(bj, "T1") == t1.T1 && num_of(bj, "delta") == t1.delta && num_of(bj, "L") == 2);
    /* the files of --out: manifest.json and bounds.json, read back */
    char *av[] = {"bounds", "--eta", "0.01"};
    CHECK(sgd_bounds_write(dir, bj, 3, av) == SGD_OK);
    sgd_json_free(bj);
    char path[4400];
    snprintf(path, sizeof path, "%s/bounds.json", dir);
    bj = sgd_json_load(path);
    CHECK(bj && num_of(bj, "radius2") == t1.radius2 && num_of(bj, "eta_max") == 0.25);
    sgd_json_free(bj);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    bj = sgd_json_load(path);
    CHECK(bj && strcmp(str_of(bj, "command"), "bounds") == 0);
    sgd_json_free(bj);
    /* Corollary 2, two stages: probability 2^-2, steps add up */
    sgd_cor2_stage st[2] = {{.eta = 0.1, .c = 1, .r = 1}, {.eta = 0.05, .c = 2, .r = 1}};
    double prob;
    CHECK(sgd_bounds_corollary2(2, st, 2, 1, 1000, &prob) == SGD_OK && prob == 0.25);
    PRINTED(txt, sgd_bounds_corollary2_print(o, 2, st, 2, 1, 1000, prob));
    CHECK(starts(txt, "Corollary 2, 2 stages, L = 2, T2 = 1000") &&
          count_lines(txt) == 6u + !st[0].radius_shrinks + !st[1].radius_shrinks);
    free(txt);
    bj = sgd_bounds_corollary2_json(2, st, 2, 1, 1000, prob);
    CHECK(num_of(bj, "probability") == 0.25 && num_of(bj, "total_steps") == st[0].steps + st[1].steps);
    sgd_json_free(bj);
    /* Theorem 3 on x^2/2 at x = (1, 2): c' = 1, threshold 2 c' |x|^2/|x|^2 = 2; eta 3 lands at -2x, |.|^2 = 20 */
    double x3[2] = {1, 2}, x0s[2] = {0, 0};
    sgd_thm3 t3;
    CHECK(sgd_bounds_theorem3(2, x3, x3, x0s, NAN, 3, &t3) == SGD_OK);
    PRINTED(txt, sgd_bounds_theorem3_print(o, &t3, "quadratic", NAN));
    CHECK(strstr(txt, "c' used                             = 1 (pointwise)\n") != NULL);
    CHECK(strstr(txt, "GD step at eta = 3: ||x - x*||^2 5 -> 20  (moved away or stayed)\n") != NULL);
    free(txt);
    bj = sgd_bounds_theorem3_json(&t3, "quadratic");
    CHECK(num_of(bj, "eta_threshold") == 2 && num_of(bj, "eta_gd") == 3 && num_of(bj, "dist2_after") == 20);
    sgd_json_free(bj);

    /* ---- a check's summary: a field the file lacks keeps its value; no file is an error ---- */
    bj = sgd_json_new();
    sgd_json_num(bj, "eta", 0.5);
    sgd_json_num(bj, "r", INFINITY); /* written as null: NaN */
    CHECK(sgd_json_write_free(bj, dir, "summary.json") == SGD_OK);
    sgd_onepoint_summary s = {1, 2, 3, 4, 5, 6};
    CHECK(sgd_onepoint_summary_load(dir, &s) == SGD_OK);
    CHECK(s.eta == 0.5 && isnan(s.r) && s.noise_radius == 3 && s.L == 4 && s.c_hat == 5 && s.c_lower == 6);
    CHECK(sgd_onepoint_summary_load("/nonexistent/sgd", &s) != SGD_OK && strstr(sgd_errmsg(), "summary.json"));

    /* ---- verify on x^2/2 (c = L = 1): the table and the manifest ---- */
    sgd_landscape *q = sgd_landscape_create("quadratic", 1);
    double x0 = 2, qs = 0;
    sgd_verify_config vc;
    sgd_verify_defaults(&vc, q);
    vc.x_star = &qs;
    vc.c = vc.L = 1;
    vc.x0 = vc.thm3_x = &x0;
    vc.trials = 20;
    vc.T2 = 30;
    sgd_verify_result vr;
    CHECK(sgd_verify_prepare(&vc, &vr) == SGD_OK && !vr.checked);
    PRINTED(txt, sgd_verify_print_check(o, &vc, &vr));
    CHECK(txt[0] == '\0'); /* c was given: no check ran */
    free(txt);
    CHECK(sgd_verify_theorem1(&vc, &vr, NULL, NULL) == SGD_OK);
    PRINTED(txt, sgd_verify_print(o, &vc, &vr));
    CHECK(starts(txt, "Theorem 1 on quadratic (d=1), ball noise: eta = 0.1, c = 1 (given), L = 1, r = 1\n"));
    snprintf(want, sizeof want, "    P(||y_T1 - x*||^2 <= 20b/lambda)           = %.4f  [%.4f, %.4f]", vr.p_radius,
             vr.ci_radius[0], vr.ci_radius[1]);
    CHECK(strstr(txt, "  20 trials:\n") != NULL && strstr(txt, want) != NULL);
    CHECK(strstr(txt, "moved away, as predicted") != NULL && count_lines(txt) == 11);
    free(txt);
    man = sgd_json_new();
    sgd_verify_manifest_json(man, &vc, "quadratic");
    CHECK(strcmp(str_of(man, "command"), "verify") == 0 && num_of(man, "trials") == 20 && num_of(man, "T2") == 30);
    CHECK(num_of(man, "noise_radius") == 1 && num_of(man, "seed") == 1);
    sgd_json_free(man);
    sgd_verify_result_free(&vr);
    sgd_landscape_free(q);

    /* ---- probe: the printed summary, and --resume's directory ---- */
    sgd_probe_config pcf;
    sgd_probe_defaults(&pcf);
    sgd_probe_result prr = {.trials = 2, .nepochs = 3, .points = 6, .p = 10, .batch = 128, .batches = 2,
                            .seconds = 1.5, .frac_min_inner_pos_5 = 1, .frac_nb_min_pos = 0.5,
                            .frac_nb_hoeffding_pos = 0.25, .max_step_bound = 0.125};
    PRINTED(txt, sgd_probe_print(o, &pcf, &prr));
    CHECK(starts(txt, "probe: 2 trials x 3 epochs, p = 10, 6 points of radius 0.5, K = 2 batches of 128 (1.50 s)\n"));
    CHECK(strstr(txt, "largest step bound lr_t max|g|:                  0.125 (paper: <= 0.5)\n") && count_lines(txt) == 5);
    free(txt);
    sgd_rundir rd;
    char pout[4400];
    snprintf(pout, sizeof pout, "%s/p", dir);
    CHECK(sgd_probe_reopen(&rd, pout) == SGD_EIO && strstr(sgd_errmsg(), "holds no probe"));
    char mk[9000];
    snprintf(mk, sizeof mk, "mkdir -p '%s.partial/rows' && touch '%s.partial/rows/config.txt'", pout, pout);
    CHECK(system(mk) == 0);
    CHECK(sgd_probe_reopen(&rd, pout) == SGD_OK && strcmp(rd.final, pout) == 0);
    CHECK(strncmp(rd.path, pout, strlen(pout)) == 0 && strcmp(rd.path + strlen(pout), ".partial") == 0);

    char cmd[4500];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_done();
}
