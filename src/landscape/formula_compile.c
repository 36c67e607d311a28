/* Formula landscapes: the compiler, from the expression tree to the flat
 * tape (constant operands folded into K-form instructions), and the segment
 * list the sweeps walk (formula.c has the design). */
#include "landscape/formula_internal.h"
#include "sgdscape/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Common subexpressions: an instruction equal to one already on the tape
 * (same operation, operands and constant bits) in the same scope (the top
 * level, or the one sum/prod body being written: a body reads nothing from
 * outside it) is not emitted again; its value gets one more consumer, and
 * the reverse sweeps add the adjoints of all of them. The smoothstep U of
 * `U*U*U*(10 - 15*U + 6*U*U)` is then evaluated once, not six times. */
enum { CSE_SLOTS = 2 * FORMULA_MAX_TAPE }; /* a power of two, > FORMULA_MAX_TAPE */

typedef struct {
    formula_prog *prog;
    const fnode *nodes;
    int cap;
    int failed;
    int scope;      /* -1 at the top level, else the sum/prod instruction */
    int *slot;      /* CSE_SLOTS tape indices (-1: empty), open addressing */
    int *ins_scope; /* the scope of each instruction (cap entries) */
} fcompiler;

static unsigned cse_hash(int op, int a, int b, double k, int scope)
{
    uint64_t kb;
    memcpy(&kb, &k, sizeof kb);
    uint64_t h = (uint64_t)(unsigned)op * 0x9E3779B97F4A7C15ULL;
    h = (h ^ (uint64_t)(unsigned)a) * 0xBF58476D1CE4E5B9ULL;
    h = (h ^ (uint64_t)(unsigned)b) * 0x94D049BB133111EBULL;
    h = (h ^ kb) * 0x9E3779B97F4A7C15ULL;
    h = (h ^ (uint64_t)(unsigned)scope) * 0xBF58476D1CE4E5B9ULL;
    return (unsigned)(h >> 40) & (CSE_SLOTS - 1);
}

static int emit_ins(fcompiler *C, int op, int a, int b, double k)
{
    formula_prog *g = C->prog;
    /* sum/prod instructions are never shared: their operands are set later */
    unsigned h = 0;
    if (op != OP_SUM && op != OP_PROD)
        for (h = cse_hash(op, a, b, k, C->scope);; h = (h + 1) & (CSE_SLOTS - 1)) {
            int t = C->slot[h];
            if (t < 0) break;
            const fins *I = &g->tape[t];
            if (I->op == op && I->a == a && I->b == b && !memcmp(&I->k, &k, sizeof k) &&
                C->ins_scope[t] == C->scope)
                return t;
        }
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
        int *sc = realloc(C->ins_scope, (size_t)cap * sizeof *sc);
        if (!sc) goto oom;
        C->ins_scope = sc;
        C->cap = cap;
    }
    g->tape[g->n] = (fins){op, a, b, k};
    C->ins_scope[g->n] = C->scope;
    if (op != OP_SUM && op != OP_PROD) C->slot[h] = g->n;
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
        if (p < 0) return -1;
        C->scope = p; /* bodies do not nest (the parser rejects it) */
        int body = emit(C, nd->a);
        C->scope = -1;
        if (body < 0) return -1;
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

/* Marks the sum() blocks whose adjoint is a constant (see fseg): those
 * whose path to f is unique (one consumer at every step: shared values add
 * the adjoints of several) and linear. */
static int find_eager_sums(formula_prog *g)
{
    int n = g->n;
    size_t nn = n > 0 ? (size_t)n : 1;
    int *consumer = malloc(nn * sizeof *consumer), *uses = calloc(nn, sizeof *uses);
    double *pd = malloc(nn * sizeof *pd);
    if (!consumer || !uses || !pd) {
        free(consumer);
        free(uses);
        free(pd);
        return sgd_error(SGD_ENOMEM, "formula: out of memory");
    }
    for (int j = 0; j < n; j++) consumer[j] = -1;
    for (int j = 0; j < n; j++) {
        const fins *I = &g->tape[j];
        if (OP_IS_LEAF(I->op) || I->op == OP_SUM || I->op == OP_PROD) continue;
        consumer[I->a] = j;
        uses[I->a]++;
        if (OP_IS_BINARY(I->op)) {
            consumer[I->b] = j;
            uses[I->b]++;
        }
    }
    for (int m = 0; m < g->nseg; m++) {
        fseg *S = &g->seg[m];
        if (!S->block || g->tape[S->s].op != OP_SUM) continue;
        int len = 0, linear = 1;
        for (int cur = S->s; cur != g->root && linear; cur = consumer[cur])
            linear = uses[cur] == 1 && linear_partial(&g->tape[consumer[cur]], cur, &pd[len++]);
        if (!linear) continue;
        /* Multiplied from f down, in the order the reverse sweep would. */
        double w = 1.0;
        while (len > 0) w *= pd[--len];
        S->eager = 1;
        S->w = w;
    }
    free(consumer);
    free(uses);
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
    fcompiler C = {.prog = g, .nodes = nodes, .scope = -1, .slot = malloc(CSE_SLOTS * sizeof(int))};
    if (!C.slot) return sgd_error(SGD_ENOMEM, "formula: out of memory");
    for (int i = 0; i < CSE_SLOTS; i++) C.slot[i] = -1;
    g->root = emit(&C, root);
    free(C.slot);
    free(C.ins_scope);
    return g->root < 0 ? SGD_EPARSE : finalize(g);
}
