/* Formula landscapes: the compiler, from the expression tree to the flat
 * tape (constant operands folded into K-form instructions), and the segment
 * list the sweeps walk (formula.c has the design). */
#include "landscape/formula_internal.h"
#include "sgdscape/error.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    formula_prog *prog;
    const fnode *nodes;
    int cap;
    int failed;
} fcompiler;

static int emit_ins(fcompiler *C, int op, int a, int b, double k)
{
    formula_prog *g = C->prog;
    if (g->n >= FORMULA_MAX_TAPE) {
        if (!C->failed)
            sgd_error(SGD_EPARSE, "formula: too long (compiles to more than %d instructions)",
                      FORMULA_MAX_TAPE);
        C->failed = 1;
        return -1;
    }
    if (g->n == C->cap) {
        int cap = C->cap ? 2 * C->cap : 64;
        fins *t = realloc(g->tape, (size_t)cap * sizeof *t);
        if (!t) goto oom;
        g->tape = t;
        C->cap = cap;
    }
    g->tape[g->n] = (fins){op, a, b, k};
    return g->n++;
oom:
    if (!C->failed) sgd_error(SGD_ENOMEM, "formula: out of memory");
    C->failed = 1;
    return -1;
}

/* Post-order emission: operands precede their user. A sum/prod instruction
 * precedes its body, whose last instruction is the body's value. */
static int emit(fcompiler *C, int ni)
{
    const fnode *nd = &C->nodes[ni];
    if (nd->op == OP_SUM || nd->op == OP_PROD) {
        int p = emit_ins(C, nd->op, 0, 0, 0.0);
        if (p < 0 || emit(C, nd->a) < 0) return -1;
        C->prog->tape[p].a = p + 1;
        C->prog->tape[p].b = C->prog->n;
        return p;
    }
    if (OP_IS_LEAF(nd->op)) return emit_ins(C, nd->op, nd->a, nd->a, nd->k);
    int a = emit(C, nd->a);
    if (a < 0) return -1;
    int b = a;
    if (OP_IS_BINARY(nd->op) && (b = emit(C, nd->b)) < 0) return -1;
    return emit_ins(C, nd->op, a, b, nd->k);
}

/* d(consumer)/d(operand) when it is a constant, as in the reverse sweep. */
static int linear_partial(const fins *C, int operand, double *pd)
{
    switch (C->op) {
    case OP_ADD:
    case OP_ADDK:
    case OP_SUBK: *pd = 1.0; return 1;
    case OP_SUB: *pd = C->a == operand ? 1.0 : -1.0; return 1;
    case OP_KSUB:
    case OP_NEG: *pd = -1.0; return 1;
    case OP_MULK: *pd = C->k; return 1;
    case OP_DIVK: *pd = 1.0 / C->k; return 1;
    default: return 0;
    }
}

/* Marks the sum() blocks whose adjoint is a constant (see fseg). Every value
 * has one consumer (the tape is a tree), so the path to f is unique. */
static int find_eager_sums(formula_prog *g)
{
    int n = g->n;
    int *consumer = malloc((size_t)n * sizeof *consumer);
    double *pd = malloc((size_t)n * sizeof *pd);
    if (!consumer || !pd) {
        free(consumer);
        free(pd);
        return sgd_error(SGD_ENOMEM, "formula: out of memory");
    }
    for (int j = 0; j < n; j++) consumer[j] = -1;
    for (int j = 0; j < n; j++) {
        const fins *I = &g->tape[j];
        if (OP_IS_LEAF(I->op) || I->op == OP_SUM || I->op == OP_PROD) continue;
        consumer[I->a] = j;
        if (OP_IS_BINARY(I->op)) consumer[I->b] = j;
    }
    for (int m = 0; m < g->nseg; m++) {
        fseg *S = &g->seg[m];
        if (!S->block || g->tape[S->s].op != OP_SUM) continue;
        int len = 0, linear = 1;
        for (int cur = S->s; cur != g->root && linear; cur = consumer[cur])
            linear = consumer[cur] >= 0 && linear_partial(&g->tape[consumer[cur]], cur, &pd[len++]);
        if (!linear) continue;
        /* Multiplied from f down, in the order the reverse sweep would. */
        double w = 1.0;
        while (len > 0) w *= pd[--len];
        S->eager = 1;
        S->w = w;
    }
    free(consumer);
    free(pd);
    return SGD_OK;
}

/* Points unused operands at the sink slot n (so the reverse sweep needs no
 * branch per arity) and splits the top level into runs and sum/prod blocks. */
static int finalize(formula_prog *g)
{
    for (int j = 0; j < g->n; j++) {
        fins *I = &g->tape[j];
        if (I->op == OP_CONST || I->op == OP_IDX || I->op == OP_CUR) I->a = I->b = g->n;
        else if (I->op == OP_VAR || (!OP_IS_LEAF(I->op) && !OP_IS_BINARY(I->op) &&
                                     I->op != OP_SUM && I->op != OP_PROD))
            I->b = g->n;
    }
    g->seg = malloc((size_t)g->n * sizeof *g->seg);
    if (!g->seg) return sgd_error(SGD_ENOMEM, "formula: out of memory");
    g->nseg = 0;
    for (int j = 0; j < g->n;) {
        int op = g->tape[j].op;
        if (op == OP_SUM || op == OP_PROD) {
            g->seg[g->nseg++] = (fseg){j, g->tape[j].b, 1, 0, 0.0};
            j = g->tape[j].b;
        } else {
            int s = j;
            while (j < g->n && g->tape[j].op != OP_SUM && g->tape[j].op != OP_PROD) j++;
            g->seg[g->nseg++] = (fseg){s, j, 0, 0, 0.0};
        }
    }
    return find_eager_sums(g);
}

int formula_compile(formula_prog *g, const fnode *nodes, int root)
{
    fcompiler C = {.prog = g, .nodes = nodes};
    g->root = emit(&C, root);
    return g->root < 0 ? SGD_EPARSE : finalize(g);
}
