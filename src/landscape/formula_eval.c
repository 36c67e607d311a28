/* Formula landscapes: evaluation, f and its exact gradient by a forward
 * sweep and a reverse (adjoint) sweep over the tape, one point at a time
 * (fg); formula_kern.c sweeps a block of points per instruction. */
#include "landscape/formula_internal.h"
#include "sgdscape/error.h"

#include <stdlib.h>
#include <string.h>

void formula_sincos_slow(double a, double *s, double *c)
{
    *s = sin(a);
    *c = cos(a);
}

/* Every sweep sees v[n] = 0 in the sink slot that unused operands point at. */

/* Values only: f without its gradient, and sum/prod bodies on the way in. */
FORMULA_INLINE void sweep_values(const fins *T, int s, int e, const double *x, size_t cur, double *v)
{
    for (int j = s; j < e; j++) {
        const fins *I = &T[j];
        switch (I->op) {
        case OP_CONST: v[j] = I->k; break;
        case OP_VAR: v[j] = x[I->a]; break;
        case OP_CUR: v[j] = x[cur]; break;
        case OP_IDX: v[j] = (double)(cur + 1); break;
        default: v[j] = op_value(I->op, v[I->a], v[I->b], I->k); break;
        }
    }
}

/* Values and local partials pa = dv/da, pb = dv/db: the reverse sweep is
 * then a plain loop with no dispatch. */
FORMULA_INLINE void sweep_partials(const fins *T, int s, int e, const double *x, size_t cur,
                                   double *v, double *pa, double *pb)
{
    for (int j = s; j < e; j++) {
        const fins *I = &T[j];
        switch (I->op) {
        case OP_CONST: v[j] = I->k; pa[j] = pb[j] = 0.0; break;
        case OP_VAR: v[j] = x[I->a]; break;
        case OP_CUR: v[j] = x[cur]; break;
        case OP_IDX: v[j] = (double)(cur + 1); pa[j] = pb[j] = 0.0; break;
        case OP_SIN: formula_sincos(v[I->a], &v[j], &pa[j]); pb[j] = 0.0; break;
        case OP_COS: {
            double sn;
            formula_sincos(v[I->a], &sn, &v[j]);
            pa[j] = -sn;
            pb[j] = 0.0;
            break;
        }
        default:
            v[j] = op_value(I->op, v[I->a], v[I->b], I->k);
            op_d1(I->op, v[I->a], v[I->b], v[j], I->k, &pa[j], &pb[j]);
            break;
        }
    }
}

/* Adjoints flow to operands (unused ones land in the sink); x_k leaves
 * collect the gradient. */
FORMULA_INLINE void sweep_reverse(const fins *T, int s, int e, size_t cur, const double *pa,
                                  const double *pb, double *adj, double *grad)
{
    for (int j = e - 1; j >= s; j--) {
        const fins *I = &T[j];
        double w = adj[j];
        if (I->op == OP_VAR) {
            grad[I->a] += w;
        } else if (I->op == OP_CUR) {
            grad[cur] += w;
        } else {
            adj[I->a] += w * pa[j];
            adj[I->b] += w * pb[j];
        }
    }
}

/* Body value for coordinate `cur`. */
FORMULA_INLINE double body_value(const fins *T, const fins *S, const double *x, size_t cur, double *v)
{
    sweep_values(T, S->a, S->b, x, cur, v);
    return v[S->b - 1];
}

static double formula_value(const formula_prog *g, const double *x, double *v)
{
    const fins *T = g->tape;
    for (int m = 0; m < g->nseg; m++) {
        const fseg *S = &g->seg[m];
        const fins *I = &T[S->s];
        if (!S->block) {
            sweep_values(T, S->s, S->e, x, 0, v);
        } else if (I->op == OP_SUM) {
            double acc = 0.0;
            for (size_t c = 0; c < g->d; c++) acc += body_value(T, I, x, c, v);
            v[S->s] = acc;
        } else {
            double acc = 1.0;
            for (size_t c = 0; c < g->d; c++) acc *= body_value(T, I, x, c, v);
            v[S->s] = acc;
        }
    }
    return v[g->root];
}

double formula_fg(const sgd_landscape *f, const double *x, double *grad)
{
    const formula_prog *g = f->params;
    const fins *T = g->tape;
    size_t d = g->d;
    int n = g->n;
    double v[n + 1];
    v[n] = 0.0;
    if (!grad) return formula_value(g, x, v);

    double pa[n + 1], pb[n + 1], adj[n + 1];
    memset(grad, 0, d * sizeof *grad);
    for (int m = 0; m < g->nseg; m++) {
        const fseg *S = &g->seg[m];
        const fins *I = &T[S->s];
        if (!S->block) {
            sweep_partials(T, S->s, S->e, x, 0, v, pa, pb);
        } else if (S->eager) {
            size_t blen = (size_t)(I->b - I->a);
            double acc = 0.0;
            for (size_t c = 0; c < d; c++) {
                sweep_partials(T, I->a, I->b, x, c, v, pa, pb);
                acc += v[I->b - 1];
                memset(adj + I->a, 0, blen * sizeof *adj);
                adj[I->b - 1] = S->w;
                sweep_reverse(T, I->a, I->b, c, pa, pb, adj, grad);
            }
            v[S->s] = acc;
        } else if (I->op == OP_SUM) {
            double acc = 0.0;
            for (size_t c = 0; c < d; c++) acc += body_value(T, I, x, c, v);
            v[S->s] = acc;
        } else {
            double acc = 1.0;
            for (size_t c = 0; c < d; c++) acc *= body_value(T, I, x, c, v);
            v[S->s] = acc;
        }
    }
    double fx = v[g->root];

    /* Eager bodies above wrote adjoints inside their own stretch only; the
     * main instructions' adjoints start from zero here. */
    for (int m = 0; m < g->nseg; m++)
        if (!g->seg[m].block) memset(adj + g->seg[m].s, 0, (size_t)(g->seg[m].e - g->seg[m].s) * sizeof *adj);
        else adj[g->seg[m].s] = 0.0;
    adj[n] = 0.0;
    adj[g->root] = 1.0;
    for (int m = g->nseg - 1; m >= 0; m--) {
        const fseg *S = &g->seg[m];
        const fins *I = &T[S->s];
        double w = adj[S->s];
        size_t blen = (size_t)(I->b - I->a);
        if (S->eager) {
            continue; /* its gradient went in on the way forward */
        } else if (!S->block) {
            sweep_reverse(T, S->s, S->e, 0, pa, pb, adj, grad);
        } else if (I->op == OP_SUM) {
            /* Bodies are recomputed rather than stored per coordinate, so
             * memory stays O(tape) whatever d is. */
            for (size_t c = 0; c < d; c++) {
                sweep_partials(T, I->a, I->b, x, c, v, pa, pb);
                memset(adj + I->a, 0, blen * sizeof *adj);
                adj[I->b - 1] = w;
                sweep_reverse(T, I->a, I->b, c, pa, pb, adj, grad);
            }
        } else {
            /* d prod / d b_c = product of the other factors: the product Q of
             * the nonzero factors and the number of zeros give it exactly
             * where a division P/b_c would fail. */
            size_t zeros = 0;
            double q = 1.0;
            for (size_t c = 0; c < d; c++) {
                double b = body_value(T, I, x, c, v);
                if (b == 0.0) zeros++;
                else q *= b;
            }
            if (zeros > 1) continue;
            for (size_t c = 0; c < d; c++) {
                sweep_partials(T, I->a, I->b, x, c, v, pa, pb);
                double b = v[I->b - 1];
                double other = zeros == 0 ? q / b : (b == 0.0 ? q : 0.0);
                memset(adj + I->a, 0, blen * sizeof *adj);
                adj[I->b - 1] = w * other;
                sweep_reverse(T, I->a, I->b, c, pa, pb, adj, grad);
            }
        }
    }
    return fx;
}
