/* Formula landscapes: the exact Hessian, forward-over-reverse (one tangent
 * sweep per coordinate direction). Compiled formulas run the same sweeps
 * written out as C (formula_emit_hess.c), 32 directions at a time. */
#include "landscape/formula_internal.h"
#include "sgdscape/error.h"

#include <stdlib.h>
#include <string.h>

/* First and second partials, for the Hessian (FORMULA_D2_OPS). */
static void op_d2(int op, double a, double b, double v, double k, double *da, double *db,
                  double *daa, double *dab, double *dbb)
{
    op_d1(op, a, b, v, k, da, db);
    *daa = *dab = *dbb = 0.0;
    switch (op) {
#define FORMULA_D2_CASE(OP, AA, AB, BB) \
    case OP: *daa = AA; *dab = AB; *dbb = BB; break;
        FORMULA_D2_OPS(FORMULA_D2_CASE)
#undef FORMULA_D2_CASE
    default: break;
    }
}

/* Scratch for one forward-over-reverse sweep: values, tangents (direction
 * e_dir), adjoints and the tangents of the adjoints. */
typedef struct {
    double *v, *vt, *adj, *adjt;
    double *b, *bt, *pre, *pret, *suf, *suft; /* prod() factors and their prefix/suffix products */
} hscratch;

static void hsweep_forward(const fins *T, int s, int e, const double *x, size_t cur, size_t dir,
                           hscratch *S)
{
    double *v = S->v, *vt = S->vt;
    for (int j = s; j < e; j++) {
        const fins *I = &T[j];
        switch (I->op) {
        case OP_CONST: v[j] = I->k; vt[j] = 0.0; break;
        case OP_IDX: v[j] = (double)(cur + 1); vt[j] = 0.0; break;
        case OP_VAR: v[j] = x[I->a]; vt[j] = (size_t)I->a == dir; break;
        case OP_CUR: v[j] = x[cur]; vt[j] = cur == dir; break;
        default: {
            double da, db;
            v[j] = op_value(I->op, v[I->a], v[I->b], I->k);
            op_d1(I->op, v[I->a], v[I->b], v[j], I->k, &da, &db);
            vt[j] = da * vt[I->a];
            if (OP_IS_BINARY(I->op)) vt[j] += db * vt[I->b];
            break;
        }
        }
    }
}

/* Reverse sweep carrying adjoint tangents; row receives d(grad)/d(x_dir). */
static void hsweep_reverse(const fins *T, int s, int e, size_t cur, hscratch *S, double *row)
{
    double *v = S->v, *vt = S->vt, *adj = S->adj, *adjt = S->adjt;
    for (int j = e - 1; j >= s; j--) {
        const fins *I = &T[j];
        double w = adj[j], wt = adjt[j];
        switch (I->op) {
        case OP_CONST:
        case OP_IDX: break;
        case OP_VAR: row[I->a] += wt; break;
        case OP_CUR: row[cur] += wt; break;
        default: {
            double da, db, daa, dab, dbb;
            int A = I->a, B = I->b;
            op_d2(I->op, v[A], v[B], v[j], I->k, &da, &db, &daa, &dab, &dbb);
            if (OP_IS_BINARY(I->op)) {
                adj[A] += w * da;
                adjt[A] += wt * da + w * (daa * vt[A] + dab * vt[B]);
                adj[B] += w * db;
                adjt[B] += wt * db + w * (dab * vt[A] + dbb * vt[B]);
            } else {
                adj[A] += w * da;
                adjt[A] += wt * da + w * daa * vt[A];
            }
            break;
        }
        }
    }
}

static void hbody_seed(const fins *I, hscratch *S, double w, double wt)
{
    size_t len = (size_t)(I->b - I->a);
    memset(S->adj + I->a, 0, len * sizeof(double));
    memset(S->adjt + I->a, 0, len * sizeof(double));
    S->adj[I->b - 1] = w;
    S->adjt[I->b - 1] = wt;
}

/* Row `dir` of the Hessian: the directional derivative of the gradient. */
static void hess_row(const formula_prog *g, const double *x, size_t dir, hscratch *S, double *row)
{
    const fins *T = g->tape;
    size_t d = g->d;
    for (int m = 0; m < g->nseg; m++) {
        const fseg *Sg = &g->seg[m];
        int j = Sg->s;
        const fins *I = &T[j];
        if (!Sg->block) {
            hsweep_forward(T, Sg->s, Sg->e, x, 0, dir, S);
        } else {
            double acc = I->op == OP_SUM ? 0.0 : 1.0, acct = 0.0;
            for (size_t c = 0; c < d; c++) {
                hsweep_forward(T, I->a, I->b, x, c, dir, S);
                double b = S->v[I->b - 1], bt = S->vt[I->b - 1];
                if (I->op == OP_SUM) {
                    acc += b;
                    acct += bt;
                } else {
                    acct = acct * b + acc * bt;
                    acc *= b;
                }
            }
            S->v[j] = acc;
            S->vt[j] = acct;
        }
    }
    memset(S->adj, 0, ((size_t)g->n + 1) * sizeof(double));
    memset(S->adjt, 0, ((size_t)g->n + 1) * sizeof(double));
    memset(row, 0, d * sizeof *row);
    S->adj[g->root] = 1.0;
    for (int m = g->nseg - 1; m >= 0; m--) {
        const fseg *Sg = &g->seg[m];
        const fins *I = &T[Sg->s];
        double w = S->adj[Sg->s], wt = S->adjt[Sg->s];
        if (!Sg->block) {
            hsweep_reverse(T, Sg->s, Sg->e, 0, S, row);
        } else if (I->op == OP_SUM) {
            for (size_t c = 0; c < d; c++) {
                hsweep_forward(T, I->a, I->b, x, c, dir, S);
                hbody_seed(I, S, w, wt);
                hsweep_reverse(T, I->a, I->b, c, S, row);
            }
        } else if (I->op == OP_PROD) {
            /* The product of the other factors and its tangent, from prefix
             * and suffix products of (value, tangent) pairs: no division. */
            for (size_t c = 0; c < d; c++) {
                hsweep_forward(T, I->a, I->b, x, c, dir, S);
                S->b[c] = S->v[I->b - 1];
                S->bt[c] = S->vt[I->b - 1];
            }
            S->pre[0] = 1.0;
            S->pret[0] = 0.0;
            for (size_t c = 0; c < d; c++) {
                S->pre[c + 1] = S->pre[c] * S->b[c];
                S->pret[c + 1] = S->pret[c] * S->b[c] + S->pre[c] * S->bt[c];
            }
            S->suf[d] = 1.0;
            S->suft[d] = 0.0;
            for (size_t c = d; c-- > 0;) {
                S->suf[c] = S->suf[c + 1] * S->b[c];
                S->suft[c] = S->suft[c + 1] * S->b[c] + S->suf[c + 1] * S->bt[c];
            }
            for (size_t c = 0; c < d; c++) {
                double o = S->pre[c] * S->suf[c + 1];
                double ot = S->pret[c] * S->suf[c + 1] + S->pre[c] * S->suft[c + 1];
                hsweep_forward(T, I->a, I->b, x, c, dir, S);
                hbody_seed(I, S, w * o, wt * o + w * ot);
                hsweep_reverse(T, I->a, I->b, c, S, row);
            }
        }
    }
}

int formula_hess(const sgd_landscape *f, const double *x, double *H)
{
    const formula_prog *g = f->params;
    size_t d = g->d, n = (size_t)g->n;
    /* Allocated per call: the Hessian is an occasional diagnostic, and its
     * prod() scratch grows with d. */
    size_t m = n + 1; /* + the sink slot */
    double *mem = malloc((4 * m + 6 * (d + 1)) * sizeof(double));
    if (!mem) return sgd_error(SGD_ENOMEM, "formula: out of memory for the Hessian (d=%zu)", d);
    hscratch S = {mem, mem + m, mem + 2 * m, mem + 3 * m, NULL, NULL, NULL, NULL, NULL, NULL};
    S.v[n] = S.vt[n] = 0.0;
    double *p = mem + 4 * m;
    S.b = p; S.bt = p + (d + 1); S.pre = p + 2 * (d + 1); S.pret = p + 3 * (d + 1);
    S.suf = p + 4 * (d + 1); S.suft = p + 5 * (d + 1);
    for (size_t r = 0; r < d; r++) hess_row(g, x, r, &S, H + r * d);
    free(mem);
    return SGD_OK;
}
