/* Kernel variants (include/sgdscape/isa.h): every variant this CPU runs
 * gives the bytes of the baseline variant on a Figure-3-like trial run
 * (the 1-D step, its Philox noise, the spiky landscape's batch gradient),
 * with stopped trials, on Monte Carlo smoothing under cube noise (the
 * separable tile roads and the general draw, small and large d), and on the
 * direct convolutions (forward, backward data and weights, 32x32, batch 16),
 * and on Hessian-vector products in float64 and float32 (a DenseNet with BN
 * in train mode and a ResNet in eval mode, 3x16x16, batch 18).
 * The batch gradient of each variant also equals the scalar phi' exactly.
 * Then the label parsing and, on a CPU without AVX-512, the refusal. */
#include "check.h"
#include "core/isa.h"
#include "landscape/spiky.h"
#include "nn/nn_internal.h"
#include "sgdscape/error.h"
#include "sgdscape/hvp.h"
#include "sgdscape/optim.h"
#include "sgdscape/rng.h"
#include "sgdscape/smooth.h"

#include <omp.h>
#include <string.h>

static int same(const void *a, const void *b, size_t n) { return a && b && !memcmp(a, b, n); }

/* Figure 3's row 2 at one level, shortened: 130 trials (blocks of 64, 64
 * and 2), starts in [-6, 6], uniform noise of level 0.13; stop_radius makes
 * some trials stop (the held-still path of the step). spec and d: the
 * other separable entries' batch gradients, in 1-D and under cube noise. */
static void trials(const char *spec, size_t d, double stop, sgd_trials_result *r)
{
    sgd_landscape *f = sgd_landscape_create(spec, d);
    CHECK(f != NULL);
    sgd_trials_config c;
    sgd_trials_defaults(&c, f);
    c.ntrials = 130;
    c.threads = 2;
    c.seed = 7;
    c.start_lo = -6;
    c.start_hi = 6;
    c.stop_radius = stop;
    if (d > 1) c.noise.kind = SGD_NOISE_CUBE;
    sgd_schedule_parse("const", strcmp(spec, "spiky") ? 0.002 : 0.01, 13, 1501, &c.sched);
    CHECK(sgd_trials_run(&c, r, NULL, NULL) == SGD_OK);
    sgd_landscape_free(f);
}

static int trials_same(const sgd_trials_result *a, const sgd_trials_result *b)
{
    size_t n = a->ntrials, nd = n * a->d;
    return n == b->ntrials && a->d == b->d && same(a->x_final, b->x_final, nd * sizeof(double)) &&
           same(a->y_final, b->y_final, nd * sizeof(double)) && same(a->f_final, b->f_final, n * sizeof(double)) &&
           same(a->status, b->status, n * sizeof(int)) && same(a->steps, b->steps, n * sizeof(size_t));
}

enum { NTRIALS = 7 };
static void trials_all(sgd_trials_result t[NTRIALS])
{
    trials("spiky", 1, 0, &t[0]);
    trials("spiky", 1, 0.001, &t[1]);
    trials("rastrigin", 1, 0, &t[2]);
    trials("double-well", 1, 0, &t[3]);
    trials("styblinski-tang", 3, 0, &t[4]);
    /* the formula interpreter's block sweeps (formula_kern.c): sin/cos,
     * division, a sum() body over 10 coordinates and a prod(); in d = 10
     * the cube noise takes three Philox blocks per trial, the last partly */
    trials("x^2 + (1-cos(6*x))*x^2/(x^2+1) + 0.05*(1-cos(60*x))", 1, 0, &t[5]);
    trials("sum(x^2 - 10*cos(2*pi*x)) + 100 + 0.1*prod(1 + sin(x)^2)", 10, 0, &t[6]);
}

/* g and grad g by Monte Carlo under cube noise at y = (0.3, -1.7, 0.9, ...);
 * mode 1: grad g alone, 2: g alone (the fused draw of phi_cube_*). */
static void smooth(const char *spec, size_t d, int mode, double out[8])
{
    sgd_landscape *f = sgd_landscape_create(spec, d);
    CHECK(f != NULL);
    if (!f) return;
    double y[600], grad[600], gerr[600];
    for (size_t i = 0; i < d; i++) y[i] = i % 3 == 0 ? 0.3 : i % 3 == 1 ? -1.7 : 0.9;
    sgd_noise W = {SGD_NOISE_CUBE, 13, NULL, NULL};
    sgd_smooth_params p;
    sgd_smooth_params_default(&p);
    p.method = SGD_SMOOTH_MC;
    p.nsamples = 3000;
    p.seed = 5;
    p.grad_only = mode == 1;
    sgd_smooth_workspace *w = sgd_smooth_workspace_alloc(d, p.limit);
    for (size_t i = 0; i < d; i++) grad[i] = gerr[i] = 0;
    sgd_smooth_value v = {.grad = mode == 2 ? NULL : grad, .grad_err = mode == 2 ? NULL : gerr};
    CHECK(sgd_smooth_eval(f, &W, 0.01, y, &p, w, &v) == SGD_OK);
    out[0] = v.g;
    out[1] = v.g_err;
    for (size_t i = 0; i < 3; i++) {
        out[2 + 2 * i] = grad[i * (d / 3)];
        out[3 + 2 * i] = gerr[i * (d / 3)];
    }
    sgd_smooth_workspace_free(w);
    sgd_landscape_free(f);
}

enum { NSMOOTH = 7 };
static void smooth_all(double out[NSMOOTH][8])
{
    smooth("spiky", 1, 0, out[0]);  /* separable, tile columns */
    smooth("spiky", 300, 0, out[1]); /* separable, tile rows */
    smooth("spiky", 600, 1, out[2]); /* gradient alone */
    smooth("ackley", 5, 0, out[3]);      /* not separable: the general cube draw */
    smooth("rastrigin", 5, 2, out[4]);   /* values alone: phi_cube_acc */
    smooth("rastrigin", 300, 2, out[5]); /* values alone: phi_cube_sum */
    smooth("quadratic", 9, 0, out[6]);
}

/* Direct convolution, forward and backward, cin -> cout at 32x32, batch 16. */
typedef struct conv_out {
    float *y, *dx, *dw;
} conv_out;

static conv_out conv(int cin, int cout, int k, int s, int p)
{
    const int h = 32, w = 32, oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    const size_t n = 16, xs = (size_t)cin * h * w, ys = (size_t)cout * oh * ow, wn = (size_t)cout * cin * k * k;
    float *x = malloc(sizeof(float) * n * xs), *wt = malloc(sizeof(float) * wn), *dy = malloc(sizeof(float) * n * ys);
    conv_out o = {calloc(n * ys, sizeof(float)), calloc(n * xs, sizeof(float)), calloc(wn, sizeof(float))};
    double z[2];
    for (size_t i = 0; i < n * xs; i++) {
        sgd_rng_normal2(3, SGD_RNG_USER, 1, 0, (uint32_t)i, z);
        x[i] = (float)z[0];
    }
    for (size_t i = 0; i < n * ys; i++) {
        sgd_rng_normal2(3, SGD_RNG_USER, 2, 0, (uint32_t)i, z);
        dy[i] = (float)z[0];
    }
    for (size_t i = 0; i < wn; i++) {
        sgd_rng_normal2(3, SGD_RNG_USER, 3, 0, (uint32_t)i, z);
        wt[i] = (float)z[0];
    }
    int nt = omp_get_max_threads();
    size_t sl = nn_direct_scratch(cin, cout, h, w, k, s, p);
    CHECK(sl > 0);
    float **scr = malloc(sizeof(float *) * (size_t)nt), *wpart = malloc(sizeof(float) * nn_conv_wpart(n, cin, cout, k));
    for (int t = 0; t < nt; t++) scr[t] = malloc(sizeof(float) * sl);
    nn_view vx = {x, xs, cin, h, w, 0}, vy = {o.y, ys, cout, oh, ow, 0}, vdy = {dy, ys, cout, oh, ow, 0};
    nn_view vdx = {o.dx, xs, cin, h, w, 0};
    nn_direct_conv_fwd(&vx, wt, k, s, p, &vy, n, scr);
    nn_direct_conv_bwd(&vx, wt, k, s, p, &vdy, &vdx, o.dw, n, scr, wpart);
    for (int t = 0; t < nt; t++) free(scr[t]);
    free(scr);
    free(wpart);
    free(x);
    free(wt);
    free(dy);
    return o;
}

/* H v, gradient and loss of spec at its seeded initialisation, BN in train
 * mode (densenet) or eval mode (resnet), in `bits`: 2 p + 1 doubles. */
enum { HVP_N = 18 };
static double *hvp(const char *spec, int bits, size_t *len)
{
    sgd_net *net = sgd_net_create(spec, 3, 16, 16, 10);
    CHECK(net != NULL);
    if (!net) return NULL;
    size_t p = sgd_net_nparams(net), nb = sgd_net_nbuffers(net), per = 3 * 16 * 16;
    float *x = malloc(sizeof(float) * p), *buf = malloc(sizeof(float) * (nb + 1)),
          *in = malloc(sizeof(float) * HVP_N * per);
    double *v = malloc(sizeof(double) * p), *out = malloc(sizeof(double) * (2 * p + 1));
    int32_t lab[HVP_N];
    sgd_net_init(net, 5, x, buf);
    sgd_rng_normal_fill(5, SGD_RNG_USER, 1, 0, v, p);
    double *z = malloc(sizeof(double) * HVP_N * per);
    sgd_rng_normal_fill(5, SGD_RNG_USER, 2, 0, z, HVP_N * per);
    for (size_t i = 0; i < HVP_N * per; i++) in[i] = (float)z[i];
    for (size_t i = 0; i < p; i++) x[i] += (float)(0.1 * v[i]); /* BN's weight 1 and bias 0 would hide rounding */
    free(z);
    for (int i = 0; i < HVP_N; i++) lab[i] = (i * 3) % 10;
    int eval = strstr(spec, "resnet") != NULL;
    CHECK(sgd_net_set_hvp_precision(net, bits) == SGD_OK);
    CHECK(sgd_net_hvp(net, x, eval ? buf : NULL, eval ? SGD_NN_EVAL : SGD_NN_TRAIN, in, lab, HVP_N, v, out,
                      out + 2 * p, out + p) == SGD_OK);
    *len = 2 * p + 1;
    free(x), free(buf), free(in), free(v);
    sgd_net_free(net);
    return out;
}

static void conv_free(conv_out *o)
{
    free(o->y);
    free(o->dx);
    free(o->dw);
}

int main(void)
{
    omp_set_num_threads(2);
    /* labels */
    sgd_isa v;
    CHECK(sgd_isa_parse("avx2", &v) == SGD_OK && v == SGD_ISA_AVX2);
    CHECK(sgd_isa_parse("avx512", &v) == SGD_OK && v == SGD_ISA_AVX512);
    CHECK(sgd_isa_parse("sse", &v) == SGD_EINVAL && strstr(sgd_errmsg(), "sse"));
    CHECK(sgd_isa_supported(SGD_ISA_BASELINE));
    CHECK(sgd_isa_init() == SGD_OK); /* ctest runs without SGD_ISA */
    for (int i = SGD_ISA_COUNT - 1; i >= 0; i--) /* the start-up choice is the widest supported */
        if (sgd_isa_supported((sgd_isa)i)) {
            CHECK(sgd_isa_current() == (sgd_isa)i);
            break;
        }
    if (!sgd_isa_supported(SGD_ISA_AVX512)) {
        CHECK(sgd_isa_use(SGD_ISA_AVX512) == SGD_EUNSUPPORTED && strstr(sgd_errmsg(), "avx512"));
        CHECK(sgd_isa_current() != SGD_ISA_AVX512);
    }

    /* the baseline's outputs */
    CHECK(sgd_isa_use(SGD_ISA_BASELINE) == SGD_OK);
    sgd_trials_result t0[NTRIALS];
    trials_all(t0);
    const sgd_trials_result *s0 = &t0[1];
    size_t stopped = 0;
    for (size_t j = 0; j < s0->ntrials; j++) stopped += s0->status[j] == SGD_TRIAL_HIT;
    printf("stopped %zu of %zu\n", stopped, s0->ntrials);
    CHECK(stopped > 0 && stopped < s0->ntrials); /* both paths of the step taken */
    double m0[NSMOOTH][8];
    smooth_all(m0);
    conv_out c0a = conv(3, 16, 3, 1, 1), c0b = conv(16, 8, 3, 2, 1);
    static const char *HVP_NETS[2] = {"densenet:depth=10,k=4", "resnet:n=1,w=4"};
    double *h0[4];
    size_t hl[4];
    for (int q = 0; q < 4; q++) h0[q] = hvp(HVP_NETS[q / 2], q % 2 ? 32 : 64, &hl[q]);

    int tested = 0;
    for (int i = 0; i < SGD_ISA_COUNT; i++) {
        const sgd_isa vi = (sgd_isa)i;
        if (!sgd_isa_supported(vi)) {
            printf("%s: not supported by this CPU, skipped\n", sgd_isa_label(vi));
            continue;
        }
        CHECK(sgd_isa_use(vi) == SGD_OK && sgd_isa_current() == vi);
        tested++;
        /* the batch gradient equals the scalar phi' (spiky_phi, compiled once) */
        double p[SPIKY_NPARAM], x[37], g[37];
        spiky_defaults(p);
        for (int k = 0; k < 37; k++) x[k] = -6 + 12.0 * k / 36 + 1e-3 * k;
        sgd_kern()->spiky_grad_batch(p, 37, x, g);
        int exact = 1;
        for (int k = 0; k < 37; k++) {
            double d1;
            spiky_phi(p, x[k], &d1, NULL);
            exact &= !memcmp(&d1, &g[k], sizeof d1);
        }
        CHECK(exact);
        sgd_trials_result t[NTRIALS];
        trials_all(t);
        for (int q = 0; q < NTRIALS; q++) {
            CHECK(trials_same(&t[q], &t0[q]));
            sgd_trials_result_free(&t[q]);
        }
        double m[NSMOOTH][8];
        smooth_all(m);
        for (int q = 0; q < NSMOOTH; q++) CHECK(same(m[q], m0[q], sizeof m[q]));
        conv_out ca = conv(3, 16, 3, 1, 1), cb = conv(16, 8, 3, 2, 1);
        CHECK(same(ca.y, c0a.y, sizeof(float) * 16 * 16 * 32 * 32));
        CHECK(same(ca.dx, c0a.dx, sizeof(float) * 16 * 3 * 32 * 32));
        CHECK(same(ca.dw, c0a.dw, sizeof(float) * 16 * 3 * 9));
        CHECK(same(cb.y, c0b.y, sizeof(float) * 16 * 8 * 16 * 16));
        CHECK(same(cb.dx, c0b.dx, sizeof(float) * 16 * 16 * 32 * 32));
        CHECK(same(cb.dw, c0b.dw, sizeof(float) * 8 * 16 * 9));
        conv_free(&ca);
        conv_free(&cb);
        for (int q = 0; q < 4; q++) {
            size_t len = 0;
            double *h = hvp(HVP_NETS[q / 2], q % 2 ? 32 : 64, &len);
            CHECK(len == hl[q] && same(h, h0[q], sizeof(double) * len));
            free(h);
        }
        printf("%s: same bytes as baseline (trials, formulas, smoothing, direct convolution, H v)\n",
               sgd_isa_label(vi));
    }
    CHECK(tested >= 1);
    for (int q = 0; q < NTRIALS; q++) sgd_trials_result_free(&t0[q]);
    conv_free(&c0a);
    conv_free(&c0b);
    for (int q = 0; q < 4; q++) free(h0[q]);
    return check_done();
}
