/* The formula interpreter's batched sweeps (grad_batch: one instruction
 * across a block of points) and the sin/cos of a block of lanes, which the
 * compiled formulas call too, compiled once per kernel variant
 * (src/core/isa.h) so that the lane loops run at the CPU's vector width.
 * formula_eval.c has the one-point sweeps (fg), which the redo path below
 * falls back on. */
#include "landscape/formula_internal.h"
#include "core/isa.h"

#include <stdlib.h>
#include <string.h>

/* The fast kernel where |a| < FORMULA_SINCOS_LIM, libm beyond (rarely
 * taken: a second pass over the block only when some lane needs it). */
void SGD_KERN(formula_sincos_lanes)(int n, const double *a, double *s, double *c)
{
    int slow = 0;
#pragma omp simd reduction(| : slow)
    for (int q = 0; q < n; q++) {
        sgd_sincos(a[q], &s[q], &c[q]);
        slow |= !(fabs(a[q]) < FORMULA_SINCOS_LIM);
    }
    if (slow)
        for (int q = 0; q < n; q++)
            if (!(fabs(a[q]) < FORMULA_SINCOS_LIM)) formula_sincos_slow(a[q], &s[q], &c[q]);
}

/* ---------------------------------------------------------------- batches */

/* grad_batch: the trial runner asks for the gradients of a block of trials
 * at once. Sweeping each instruction across FB points at a time pays the
 * dispatch once per FB points and lets the compiler vectorise the
 * arithmetic. FB = 64, the trial runner's block: at 32 the dispatch and the
 * loops' set-up (four AVX-512 vectors per loop) cost a third more per point.
 * Per point the operations and their order are those of formula_fg, so both
 * give the same bits. The lanes' workspace is on the stack up to 127
 * instructions, on the heap beyond. */
enum { FB = 64, FORMULA_BATCH_STACK = 32768 /* doubles: 256 KiB */ };

/* Lane q of instruction j lives at [j * FB + q]. */
#define LANE(arr, j) ((arr) + (size_t)(j) * FB)

/* One case per operation, op a compile-time constant so op_value/op_d1
 * reduce to the operation itself inside the lane loop. */
#define BATCH_OPS(X)                                                                           \
    X(OP_NEG) X(OP_SQR) X(OP_POWC) X(OP_ADDK) X(OP_SUBK) X(OP_KSUB) X(OP_MULK) X(OP_DIVK)       \
    X(OP_KDIV) X(OP_TAN) X(OP_EXP) X(OP_LOG) X(OP_SQRT) X(OP_ABS)                              \
    X(OP_TANH) X(OP_SINH) X(OP_COSH) X(OP_ATAN) X(OP_SIGMOID) X(OP_SOFTPLUS) X(OP_ADD)         \
    X(OP_SUB) X(OP_MUL) X(OP_DIV) X(OP_POW) X(OP_MIN) X(OP_MAX)

/* x of lane q is xs + q*d; partials are skipped when pa == NULL. Only the
 * partials the reverse sweep reads are stored: none for constants and
 * constant partials, no pb for one operand. */
static void bsweep_forward(const fins *T, int s, int e, const double *xs, size_t d, int np,
                           size_t cur, double *v, double *pa, double *pb)
{
    for (int j = s; j < e; j++) {
        const fins *I = &T[j];
        double *R = LANE(v, j);
        const double *A = LANE(v, I->a), *B = LANE(v, I->b);
        double k = I->k;
        switch (I->op) {
        case OP_CONST:
            for (int q = 0; q < np; q++) R[q] = k;
            break;
        case OP_IDX:
            for (int q = 0; q < np; q++) R[q] = (double)(cur + 1);
            break;
        case OP_VAR:
            for (int q = 0; q < np; q++) R[q] = xs[(size_t)q * d + (size_t)I->a];
            break;
        case OP_CUR:
            for (int q = 0; q < np; q++) R[q] = xs[(size_t)q * d + cur];
            break;
        case OP_SIN:
        case OP_COS: {
            /* One kernel call for the value and the partial: sin, cos. */
            double sn[FB], cs[FB];
            SGD_KERN(formula_sincos_lanes)(np, A, sn, cs);
            const int is_sin = I->op == OP_SIN;
            for (int q = 0; q < np; q++) R[q] = is_sin ? sn[q] : cs[q];
            if (pa)
                for (int q = 0; q < np; q++) LANE(pa, j)[q] = is_sin ? cs[q] : -sn[q];
            break;
        }
#define BATCH_CASE(OP)                                                                 \
    case OP:                                                                           \
        if (pa && !formula_const_partial(OP)) {                                        \
            double *PA = LANE(pa, j), *PB = LANE(pb, j), unused;                       \
            for (int q = 0; q < np; q++) {                                             \
                R[q] = op_value(OP, A[q], B[q], k);                                    \
                op_d1(OP, A[q], B[q], R[q], k, &PA[q], OP_IS_BINARY(OP) ? &PB[q] : &unused); \
            }                                                                          \
        } else {                                                                       \
            for (int q = 0; q < np; q++) R[q] = op_value(OP, A[q], B[q], k);           \
        }                                                                              \
        break;
            BATCH_OPS(BATCH_CASE)
#undef BATCH_CASE
        default: break;
        }
    }
}

static void bsweep_reverse(const fins *T, int s, int e, size_t d, int np, size_t cur,
                           const double *pa, const double *pb, double *adj, double *grad)
{
    for (int j = e - 1; j >= s; j--) {
        const fins *I = &T[j];
        const double *W = LANE(adj, j);
        double *A = LANE(adj, I->a), *B = LANE(adj, I->b);
        switch (I->op) {
        case OP_CONST:
        case OP_IDX: break;
        case OP_VAR:
            for (int q = 0; q < np; q++) grad[(size_t)q * d + (size_t)I->a] += W[q];
            break;
        case OP_CUR:
            for (int q = 0; q < np; q++) grad[(size_t)q * d + cur] += W[q];
            break;
#define CONST_REVERSE_CASE(OP)                                                         \
    case OP: {                                                                         \
        double da, db;                                                                 \
        op_d1(OP, 0.0, 0.0, 0.0, I->k, &da, &db);                                      \
        for (int q = 0; q < np; q++) A[q] += W[q] * da;                                \
        if (OP_IS_BINARY(OP))                                                          \
            for (int q = 0; q < np; q++) B[q] += W[q] * db;                            \
        break;                                                                         \
    }
            FORMULA_CONST_PARTIAL_OPS(CONST_REVERSE_CASE)
#undef CONST_REVERSE_CASE
        default: {
            const double *PA = LANE(pa, j), *PB = LANE(pb, j);
            for (int q = 0; q < np; q++) A[q] += W[q] * PA[q];
            if (OP_IS_BINARY(I->op))
                for (int q = 0; q < np; q++) B[q] += W[q] * PB[q];
            break;
        }
        }
    }
}

/* Seeds a body's adjoints: zero, then w (per lane) at its value. */
static void bseed(const fins *I, int np, double *adj, const double *w)
{
    memset(LANE(adj, I->a), 0, (size_t)(I->b - I->a) * FB * sizeof *adj);
    for (int q = 0; q < np; q++) LANE(adj, I->b - 1)[q] = w[q];
}

/* Gradients of np <= FB points xs (row-major, d each) into gs; ws holds
 * 4 (n+1) FB doubles. */
static void formula_grad_lanes(const sgd_landscape *f, int np, const double *xs, double *gs, double *ws)
{
    const formula_prog *g = f->params;
    const fins *T = g->tape;
    size_t d = g->d;
    int n = g->n;
    double *v = ws, *pa = v + (n + 1) * FB, *pb = pa + (n + 1) * FB, *adj = pb + (n + 1) * FB;
    int redo[FB] = {0};
    memset(LANE(v, n), 0, FB * sizeof *v);
    memset(gs, 0, (size_t)np * d * sizeof *gs);

    for (int m = 0; m < g->nseg; m++) {
        const fseg *S = &g->seg[m];
        const fins *I = &T[S->s];
        double *acc = LANE(v, S->s);
        if (!S->block) {
            bsweep_forward(T, S->s, S->e, xs, d, np, 0, v, pa, pb);
            continue;
        }
        double w[FB];
        for (int q = 0; q < FB; q++) {
            acc[q] = I->op == OP_SUM ? 0.0 : 1.0;
            w[q] = S->w;
        }
        for (size_t c = 0; c < d; c++) {
            const double *b = LANE(v, I->b - 1);
            if (S->eager) {
                bsweep_forward(T, I->a, I->b, xs, d, np, c, v, pa, pb);
                bseed(I, np, adj, w);
                bsweep_reverse(T, I->a, I->b, d, np, c, pa, pb, adj, gs);
            } else {
                bsweep_forward(T, I->a, I->b, xs, d, np, c, v, NULL, NULL);
            }
            if (I->op == OP_SUM)
                for (int q = 0; q < np; q++) acc[q] += b[q];
            else
                for (int q = 0; q < np; q++) acc[q] *= b[q];
        }
    }

    for (int m = 0; m < g->nseg; m++) {
        const fseg *S = &g->seg[m];
        if (!S->block) memset(LANE(adj, S->s), 0, (size_t)(S->e - S->s) * FB * sizeof *adj);
        else memset(LANE(adj, S->s), 0, FB * sizeof *adj);
    }
    memset(LANE(adj, n), 0, FB * sizeof *adj);
    for (int q = 0; q < np; q++) LANE(adj, g->root)[q] = 1.0;

    for (int m = g->nseg - 1; m >= 0; m--) {
        const fseg *S = &g->seg[m];
        const fins *I = &T[S->s];
        const double *W = LANE(adj, S->s);
        if (S->eager) continue;
        if (!S->block) {
            bsweep_reverse(T, S->s, S->e, d, np, 0, pa, pb, adj, gs);
        } else if (I->op == OP_SUM) {
            double w[FB];
            memcpy(w, W, sizeof w);
            for (size_t c = 0; c < d; c++) {
                bsweep_forward(T, I->a, I->b, xs, d, np, c, v, pa, pb);
                bseed(I, np, adj, w);
                bsweep_reverse(T, I->a, I->b, d, np, c, pa, pb, adj, gs);
            }
        } else {
            /* As in formula_fg: products of the nonzero factors and zero counts. */
            double w[FB], qp[FB], seed[FB];
            size_t zeros[FB];
            memcpy(w, W, sizeof w);
            for (int q = 0; q < FB; q++) {
                qp[q] = 1.0;
                zeros[q] = 0;
            }
            const double *b = LANE(v, I->b - 1);
            for (size_t c = 0; c < d; c++) {
                bsweep_forward(T, I->a, I->b, xs, d, np, c, v, NULL, NULL);
                for (int q = 0; q < np; q++) {
                    if (b[q] == 0.0) zeros[q]++;
                    else qp[q] *= b[q];
                }
            }
            for (size_t c = 0; c < d; c++) {
                bsweep_forward(T, I->a, I->b, xs, d, np, c, v, pa, pb);
                for (int q = 0; q < np; q++) {
                    /* formula_fg skips such a product altogether; its lane is
                     * redone below rather than masked here. */
                    redo[q] |= zeros[q] > 1;
                    double other = zeros[q] > 1    ? 0.0
                                   : zeros[q] == 0 ? qp[q] / b[q]
                                                   : (b[q] == 0.0 ? qp[q] : 0.0);
                    seed[q] = w[q] * other;
                }
                bseed(I, np, adj, seed);
                bsweep_reverse(T, I->a, I->b, d, np, c, pa, pb, adj, gs);
            }
        }
    }
    for (int q = 0; q < np; q++)
        if (redo[q]) formula_fg(f, xs + (size_t)q * d, gs + (size_t)q * d);
}

void SGD_KERN(formula_grad_batch)(const sgd_landscape *f, size_t n, const double *x, double *grad)
{
    const formula_prog *g = f->params;
    size_t d = g->d, nws = 4 * (size_t)(g->n + 1) * FB;
    double *heap = nws > FORMULA_BATCH_STACK ? malloc(nws * sizeof *heap) : NULL;
    if (nws > FORMULA_BATCH_STACK && !heap) { /* one point at a time needs no memory */
        for (size_t p = 0; p < n; p++) formula_fg(f, x + p * d, grad + p * d);
        return;
    }
    double stack[heap ? 1 : nws];
    for (size_t p = 0; p < n; p += FB) {
        int np = n - p < FB ? (int)(n - p) : FB;
        formula_grad_lanes(f, np, x + p * d, grad + p * d, heap ? heap : stack);
    }
    free(heap);
}

#ifdef SGD_ISA_PRIMARY
void formula_sincos_lanes(int n, const double *a, double *s, double *c)
{
    sgd_kern()->formula_sincos_lanes(n, a, s, c);
}

void formula_grad_batch(const sgd_landscape *f, size_t n, const double *x, double *grad)
{
    sgd_kern()->formula_grad_batch(f, n, x, grad);
}
#endif
