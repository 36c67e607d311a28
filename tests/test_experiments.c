/* The experiments behind `check` and `smooth`, called as a library user
 * would: the Assumption-1 scan and its files, and g at many points. */
#include "check.h"
#include "sgdscape/error.h"
#include "sgdscape/io.h"
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
        }
        sgd_onepoint_result_free(&res);
    }
    CHECK(sr.row[0].nfail > 0 && sr.row[1].nfail == 0);
    CHECK(sr.holds_from == 0.15);
    CHECK(sgd_onepoint_scan_write(dir, &sc, &sr) == SGD_OK);
    CHECK(exists(dir, "scan.csv") && exists(dir, "scan.dat") && exists(dir, "scan.gp"));
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

    char cmd[4500];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_done();
}
