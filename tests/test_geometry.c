/* interp, surface and pca (geometry.h) against known answers: filter
 * normalisation gives every filter of d the norm of x's and zeroes (or
 * keeps) the 1-D entries; interp at alpha 0 and 1 and the surface at (0, 0)
 * are sgd_net_loss_grad at A, B and X bit for bit; barrier and monotonicity
 * of closed-form curves; PCA of a trajectory built from two orthonormal
 * directions recovers their variances, directions and coordinates; the
 * surface is the same bits with 1 and 2 threads; errors name the file; an
 * interp and a Hessian trace stopped halfway resume to the same bits from
 * the parts they kept, and a resume with other options is refused naming
 * the option. */
#include "check.h"
#include "sgdscape/data.h"
#include "sgdscape/geometry.h"
#include "sgdscape/hessian.h"
#include "sgdscape/io.h"
#include "sgdscape/nn.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static char T[64], DATA[1000], FA[200], FB[200];
static const char *MODEL = "convnet:w=2";
enum { NTR = 96, NTE = 32, BATCH = 16 };

static int write_set(const char *x, const char *y, int n, uint32_t s)
{
    return chk_write_set(x, y, n, s, 40);
}

static sgd_net *make_net(void) { return sgd_net_create(MODEL, 1, 8, 8, 3); }

static int setup(void)
{
    char p[4][200];
    const char *nm[4] = {"X", "y", "Xt", "yt"};
    for (int i = 0; i < 4; i++) snprintf(p[i], sizeof p[i], "%s/%s.npy", T, nm[i]);
    snprintf(DATA, sizeof DATA, "npy:%s,%s,%s,%s", p[0], p[1], p[2], p[3]);
    if (write_set(p[0], p[1], NTR, 12345) || write_set(p[2], p[3], NTE, 777)) return 1;
    sgd_net *net = make_net();
    if (!net) return 1;
    size_t n = sgd_net_nparams(net);
    float *x = malloc(n * sizeof *x);
    snprintf(FA, sizeof FA, "%s/a.npy", T);
    snprintf(FB, sizeof FB, "%s/b.npy", T);
    sgd_net_init(net, 1, x, NULL);
    int rc = sgd_npy_write(FA, SGD_NPY_F32, x, 1, &n);
    sgd_net_init(net, 2, x, NULL);
    rc = rc || sgd_npy_write(FB, SGD_NPY_F32, x, 1, &n);
    free(x);
    sgd_net_free(net);
    return rc;
}

static void test_filter_normalize(void)
{
    sgd_net *net = make_net();
    size_t p = sgd_net_nparams(net);
    float *x = malloc(p * sizeof *x);
    double *d = malloc(p * sizeof *d), *e = malloc(p * sizeof *e);
    sgd_net_init(net, 7, x, NULL);
    CHECK(sgd_geom_random_direction(net, x, 3, 0, 0, d) == SGD_OK);
    CHECK(sgd_geom_random_direction(net, x, 3, 0, 1, e) == SGD_OK);
    size_t filters = 0, flat = 0;
    for (size_t t = 0; t < sgd_net_ntensors(net); t++) {
        sgd_net_tensor I;
        sgd_net_tensor_info(net, t, &I);
        if (I.is_buffer) continue;
        if (I.ndim <= 1) {
            for (size_t i = 0; i < I.count; i++, flat++) {
                CHECK(d[I.offset + i] == 0);
                CHECK(e[I.offset + i] == (double)x[I.offset + i]);
            }
            continue;
        }
        size_t per = I.count / I.shape[0];
        for (size_t f = 0; f < I.shape[0]; f++, filters++) {
            double nx = 0, nd = 0;
            for (size_t i = 0; i < per; i++) {
                double xv = x[I.offset + f * per + i], dv = d[I.offset + f * per + i];
                nx += xv * xv;
                nd += dv * dv;
                CHECK(d[I.offset + f * per + i] == e[I.offset + f * per + i]);
            }
            CHECK_CLOSE(sqrt(nd), sqrt(nx), 1e-9, 1e-9);
        }
    }
    CHECK(filters > 10 && flat > 10);
    /* direction 1 differs from direction 0; the same seed gives the same bits */
    double *d1 = malloc(p * sizeof *d1);
    sgd_geom_random_direction(net, x, 3, 1, 0, d1);
    CHECK(memcmp(d, d1, p * sizeof *d) != 0);
    sgd_geom_random_direction(net, x, 3, 0, 0, e);
    CHECK(memcmp(d, e, p * sizeof *d) == 0);
    free(d1);
    free(x);
    free(d);
    free(e);
    sgd_net_free(net);
}

/* f at a file's weights as sgd_net_loss_grad computes it: the first K
 * training batches of epoch 0 shuffled with seed 1, train-split normalisation. */
static double f_direct(const char *file, size_t K, double *acc)
{
    sgd_dataset tr;
    sgd_data_opts o = {0};
    sgd_data_load(DATA, SGD_DATA_TRAIN, &o, &tr);
    sgd_data_loader_opts lo = {0};
    lo.batch = BATCH;
    lo.shuffle = 1;
    lo.seed = 1;
    sgd_data_loader_opts_normalize_from(&lo, &tr);
    sgd_data_loader L;
    sgd_data_loader_init(&L, &tr, &lo);
    sgd_net *net = make_net();
    sgd_npy a;
    double loss = NAN;
    if (!sgd_npy_read(file, &a)) {
        sgd_net_loss_grad(net, a.data, NULL, SGD_NN_TRAIN, &L, 0, 0, K, &loss, NULL, acc);
        sgd_npy_free(&a);
    }
    sgd_net_free(net);
    sgd_data_loader_free(&L);
    sgd_data_free(&tr);
    return loss;
}

/* A to B on the test set's first K batches, alphas -0.5:1.5:9 */
static void interp_config(sgd_interp_config *c, size_t K)
{
    sgd_interp_defaults(c);
    c->src.model = MODEL;
    c->src.data = DATA;
    c->src.batch = BATCH;
    c->src.batches = K;
    c->a = FA;
    c->b = FB;
    c->alpha_lo = -0.5;
    c->alpha_hi = 1.5;
    c->n = 9;
}

static void test_interp(void)
{
    sgd_interp_config c;
    interp_config(&c, 3);
    sgd_interp_result r;
    CHECK(sgd_interp_run(&c, &r, NULL, NULL) == SGD_OK);
    CHECK(r.n == 9 && r.alpha[2] == 0 && r.alpha[6] == 1 && r.have_val);
    double accA, accB, fA = f_direct(FA, 3, &accA), fB = f_direct(FB, 3, &accB);
    CHECK(r.train_loss[2] == fA && r.train_acc[2] == accA);
    CHECK(r.train_loss[6] == fB && r.train_acc[6] == accB);
    for (size_t i = 0; i < r.n; i++) CHECK(isfinite(r.val_loss[i]) && r.val_acc[i] >= 0 && r.val_acc[i] <= 1);
    /* the summary's barrier is the definition applied to the curve */
    double top = -INFINITY;
    for (size_t i = 2; i <= 6; i++) top = fmax(top, r.train_loss[i]);
    CHECK(r.train.barrier == top - fmax(fA, fB));
    sgd_interp_result_free(&r);
    /* a weights file of another model: the error names it */
    c.src.model = "mlp:w=4,d=1";
    CHECK(sgd_interp_run(&c, &r, NULL, NULL) != SGD_OK && strstr(sgd_errmsg(), "a.npy") != NULL);
}

static void test_path(void)
{
    double a[9], f[9];
    sgd_interp_path P;
    for (int i = 0; i < 9; i++) a[i] = -0.5 + 0.25 * i;
    a[2] = 0, a[6] = 1;
    for (int i = 0; i < 9; i++) f[i] = a[i] * (1 - a[i]); /* a hump of height 1/4 at 1/2 */
    CHECK(sgd_interp_path_of(a, f, 9, &P) == SGD_OK);
    CHECK(P.barrier == 0.25 && P.barrier_alpha == 0.5 && !P.monotone);
    for (int i = 0; i < 9; i++) f[i] = (a[i] - 2) * (a[i] - 2); /* decreasing on [0, 1] */
    CHECK(sgd_interp_path_of(a, f, 9, &P) == SGD_OK);
    CHECK(P.barrier == 0 && P.monotone && !P.increasing);
    for (int i = 0; i < 9; i++) f[i] = 1 - 4 * (a[i] - 0.5) * (a[i] - 0.5); /* ends 0, top 1 */
    CHECK(sgd_interp_path_of(a, f, 9, &P) == SGD_OK && P.barrier == 1 && !P.monotone);
    a[6] = 0.99;
    CHECK(sgd_interp_path_of(a, f, 9, &P) != SGD_OK);
}

static void test_pca(void)
{
    enum { N = 5, P = 40 };
    static const double A[N] = {2, -2, 1, -1, 0}, B[N] = {1, 1, -1, -1, 0}; /* centred, orthogonal */
    float x[N * P], *xT = x + (N - 1) * P;
    for (int k = 0; k < P; k++) xT[k] = (float)(0.25 * (k % 7) - 0.5);
    for (int t = 0; t < N; t++)
        for (int k = 0; k < P; k++) x[t * P + k] = xT[k] + (k == 3 ? (float)A[t] : 0) + (k == 11 ? (float)B[t] : 0);
    sgd_pca_result r;
    CHECK(sgd_pca_of(x, N, xT, P, &r) == SGD_OK);
    CHECK(r.ncomp == 2);
    CHECK_CLOSE(r.variance[0], 10.0 / 4, 1e-12, 1e-9);
    CHECK_CLOSE(r.variance[1], 4.0 / 4, 1e-12, 1e-9);
    CHECK_CLOSE(r.ratio[0], 10.0 / 14, 1e-12, 1e-9);
    CHECK_CLOSE(r.ratio[1], 4.0 / 14, 1e-12, 1e-9);
    CHECK_CLOSE(r.dirs[3], 1, 1e-7, 0); /* sign: the largest entry positive */
    CHECK_CLOSE(r.dirs[P + 11], 1, 1e-7, 0);
    for (int t = 0; t < N; t++) {
        CHECK_CLOSE(r.coords[2 * t], A[t], 1e-6, 0);
        CHECK_CLOSE(r.coords[2 * t + 1], B[t], 1e-6, 0);
    }
    CHECK(r.epoch[0] == 0 && r.epoch[N - 1] == -1);
    sgd_pca_result_free(&r);
    /* a trajectory on one line spans one dimension: refused */
    for (int t = 0; t < N; t++) x[t * P + 11] = xT[11];
    CHECK(sgd_pca_of(x, N, xT, P, &r) != SGD_OK);
}

static void test_surface(void)
{
    sgd_surface_config c;
    sgd_surface_defaults(&c);
    c.src.model = MODEL;
    c.src.data = DATA;
    c.src.batch = BATCH;
    c.src.batches = 2;
    c.x = FA;
    c.alpha_lo = c.beta_lo = -0.5;
    c.alpha_hi = c.beta_hi = 0.5;
    c.nalpha = 3;
    c.nbeta = 5;
    sgd_surface_result r1, r2;
    omp_set_num_threads(1);
    CHECK(sgd_surface_run(&c, &r1, NULL, NULL) == SGD_OK);
    omp_set_num_threads(2);
    CHECK(sgd_surface_run(&c, &r2, NULL, NULL) == SGD_OK);
    double acc, f0 = f_direct(FA, 2, &acc);
    CHECK(r1.alpha[1] == 0 && r1.beta[2] == 0);
    CHECK(r1.loss[1 * 5 + 2] == f0 && r1.acc[1 * 5 + 2] == acc);
    CHECK(r1.center_loss == f0);
    CHECK(memcmp(r1.loss, r2.loss, 15 * sizeof(double)) == 0 && memcmp(r1.acc, r2.acc, 15 * sizeof(double)) == 0);
    CHECK(r1.dir_norm[0] > 0 && fabs(r1.dir_cos) < 0.5);
    sgd_surface_result_free(&r1);
    sgd_surface_result_free(&r2);
    c.dirs = SGD_DIRS_FILES;
    char xf[200];
    snprintf(xf, sizeof xf, "%s/X.npy", T);
    c.dir_files[0] = c.dir_files[1] = xf; /* the images: not p values */
    CHECK(sgd_surface_run(&c, &r1, NULL, NULL) != SGD_OK && strstr(sgd_errmsg(), "X.npy") != NULL);
}

/* a stop callback: nonzero from its (limit + 1)-th call on */
static int stop_after(void *ctx)
{
    int *left = ctx;
    return (*left)-- <= 0;
}

static void test_resume(void)
{
    char keep[200], out[200];
    snprintf(keep, sizeof keep, "%s/keep", T);
    snprintf(out, sizeof out, "%s/interp", T);
    sgd_interp_config c;
    interp_config(&c, 2);
    sgd_interp_result r0, r;
    CHECK(sgd_interp_run(&c, &r0, NULL, NULL) == SGD_OK && r0.resumed == 0);
    int left = 3;
    c.keep = (sgd_geom_keep){keep, stop_after, &left};
    CHECK(sgd_interp_run(&c, &r, NULL, NULL) != SGD_OK && strstr(sgd_errmsg(), "interrupted"));
    c.keep.stop = NULL;
    c.n = 5; /* another grid: refused, naming the option */
    CHECK(sgd_interp_run(&c, &r, NULL, NULL) == SGD_EINVAL && strstr(sgd_errmsg(), "(--alpha: '-0.5:1.5:9' there"));
    c.n = 9;
    CHECK(sgd_interp_run(&c, &r, NULL, NULL) == SGD_OK && r.resumed == 3);
    size_t nb = 9 * sizeof(double);
    CHECK(!memcmp(r.train_loss, r0.train_loss, nb) && !memcmp(r.train_acc, r0.train_acc, nb) &&
          !memcmp(r.val_loss, r0.val_loss, nb) && !memcmp(r.val_acc, r0.val_acc, nb));
    CHECK(sgd_mkdirs(out) == SGD_OK && sgd_interp_write(out, &c, &r) == SGD_OK && access(keep, F_OK) != 0);
    sgd_interp_result_free(&r0);
    sgd_interp_result_free(&r);

    /* a Hessian of varied curvature, diag(6 x_i^2 - 16): 25 Hutchinson samples
     * and 3 SLQ runs of 6 steps, stopped after 10 products */
    sgd_hessian_config h;
    sgd_hessian_defaults(&h);
    sgd_landscape *f = sgd_landscape_create("styblinski-tang", 40);
    double x[40];
    for (int i = 0; i < 40; i++) x[i] = -2 + 0.1 * i;
    h.f = f;
    h.x = x;
    h.top = 0;
    h.trace_samples = 25;
    h.density_runs = 3;
    h.density_steps = 6;
    sgd_hessian_result q0, q;
    CHECK(f && sgd_hessian_run(&h, &q0, NULL, NULL) == SGD_OK);
    left = 10;
    h.keep_dir = keep;
    h.stop = stop_after;
    h.stop_ctx = &left;
    CHECK(sgd_hessian_run(&h, &q, NULL, NULL) != SGD_OK && strstr(sgd_errmsg(), "interrupted"));
    h.stop = NULL;
    CHECK(sgd_hessian_run(&h, &q, NULL, NULL) == SGD_OK && q.resumed == 10 && q.hvps == q0.hvps);
    CHECK(!memcmp(q.trace_sample, q0.trace_sample, 25 * sizeof(double)) && q.trace == q0.trace &&
          !memcmp(q.slq_nodes, q0.slq_nodes, 3 * 6 * sizeof(double)) &&
          !memcmp(q.slq_weights, q0.slq_weights, 3 * 6 * sizeof(double)));
    sgd_hessian_result_free(&q);
    h.seed = 2;
    CHECK(sgd_hessian_run(&h, &q, NULL, NULL) == SGD_EINVAL && strstr(sgd_errmsg(), "(--seed: '1' there, '2' now)"));
    sgd_hessian_result_free(&q0);
    sgd_landscape_free(f);
}

int main(void)
{
    snprintf(T, sizeof T, "/tmp/sgd_geometry_XXXXXX");
    if (!mkdtemp(T) || setup()) return 1;
    test_filter_normalize();
    test_path();
    test_pca();
    test_interp();
    test_surface();
    test_resume();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", T);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", T);
    return check_done();
}
