/* Formula landscapes: the gradient program written out as C for the
 * compiler of formula_jit.c (the design is there). The C is
 * formula_grad_lanes (formula_eval.c) with the tape unrolled: per lane the
 * same operations in the same order, each the interpreter's own expression
 * (FORMULA_OPS, stringified); loops over the lanes are fused between sin/cos
 * calls, values that nothing outside a loop reads stay in registers, and
 * constant partials are written where they are used. */
#include "landscape/formula_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JB = FORMULA_JIT_LANES };

void formula_put(formula_sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)k) cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t) {
            b->oom = 1;
            return;
        }
        b->s = t;
        b->cap = cap;
    }
}

#define put formula_put
typedef formula_sbuf sbuf;

static const char *op_text(int op, int part)
{
    switch (op) {
#define FORMULA_TEXT_CASE(OP, VAL, DA, DB) \
    case OP: return part == 0 ? #VAL : part == 1 ? #DA : #DB;
        FORMULA_OPS(FORMULA_TEXT_CASE)
#undef FORMULA_TEXT_CASE
    default: return NULL;
    }
}

/* The emitter's view of the program: the last instruction that consumes
 * each value (-1: none, for f, a body's value and the sink; a shared
 * value has several consumers, all after it), and whether one of them is
 * a sin/cos (whose kernel reads the value's row). */
typedef struct {
    sbuf *b;
    const formula_prog *g;
    int *consumer;
    char *to_sincos;
    char *local; /* value j is a local variable of the loop being written */
    int open;    /* a loop over the lanes is open */
} emitter;

static void open_loop(emitter *E)
{
    if (!E->open) put(E->b, "_Pragma(\"omp simd\")\nfor (int q = 0; q < JB; q++) {\n");
    E->open = 1;
}

static void close_loop(emitter *E, int s, int e)
{
    if (E->open) put(E->b, "}\n");
    E->open = 0;
    memset(E->local + s, 0, (size_t)(e - s));
}

/* Operand j inside the open loop: its local, or its row. */
static const char *val(const emitter *E, int j, char *buf)
{
    snprintf(buf, 32, E->local[j] ? "v%d" : "V(%d)[q]", j);
    return buf;
}

/* A constant partial's text, "(...)", its k read from K[j]. */
static void const_text(const char *t, int j, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "(");
    for (const char *p = t; *p && o + 16 < len; p++) {
        int alone = *p == 'k' && (p == t || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[1]);
        o += alone ? (size_t)snprintf(out + o, len - o, "K[%d]", j) : (size_t)snprintf(out + o, len - o, "%c", *p);
    }
    snprintf(out + o, len - o, ")");
}

static int is_sincos(int op) { return op == OP_SIN || op == OP_COS; }

/* Whether value j (written in [s, e)) must be kept in its row: a reader
 * outside the loop it is computed in (the sin/cos kernel, a later stretch
 * or segment, the caller for f, a sum/prod for its body's value). Every
 * consumer comes after j, none after the last. */
static int needs_row(const emitter *E, int j, int s, int e)
{
    int c = E->consumer[j];
    if (c < s || c >= e || E->to_sincos[j]) return 1;
    for (int t = j + 1; t < c; t++)
        if (is_sincos(E->g->tape[t].op)) return 1;
    return 0;
}

/* bsweep_forward for instructions [s, e), fused: one loop over the lanes
 * for every stretch between sin/cos calls (the kernel takes whole rows).
 * Per lane the operations and their order are the interpreter's. cur is a
 * C expression. */
static void emit_forward(emitter *E, int s, int e, const char *cur, int partials)
{
    sbuf *b = E->b;
    char ba[32];
    for (int j = s; j < e; j++) {
        const fins *I = &E->g->tape[j];
        if (is_sincos(I->op)) {
            close_loop(E, s, e);
            if (I->op == OP_SIN) put(b, "ctx->sincos_lanes(JB, V(%d), V(%d), PA(%d));\n", I->a, j, j);
            else {
                put(b, "ctx->sincos_lanes(JB, V(%d), PB(%d), V(%d));\n", I->a, j, j);
                if (partials) {
                    open_loop(E);
                    put(b, "PA(%d)[q] = -PB(%d)[q];\n", j, j);
                }
            }
            continue;
        }
        open_loop(E);
        put(b, "double v%d;\n", j);
        switch (I->op) {
        case OP_CONST: put(b, "v%d = K[%d];\n", j, j); break;
        case OP_IDX: put(b, "v%d = (double)(%s + 1);\n", j, cur); break;
        case OP_VAR: put(b, "v%d = xs[(size_t)%d * JB + q];\n", j, I->a); break;
        case OP_CUR: put(b, "v%d = xs[(size_t)%s * JB + q];\n", j, cur); break;
        default: {
            int bin = OP_IS_BINARY(I->op);
            put(b, "{\n    const double a = %s, k = K[%d];\n", val(E, I->a, ba), j);
            if (bin) put(b, "    const double b = %s;\n", val(E, I->b, ba));
            else put(b, "    const double b = 0.0;\n"); /* the sink's value */
            put(b, "    v%d = %s;\n", j, op_text(I->op, 0));
            if (partials && !formula_const_partial(I->op)) {
                put(b, "    const double v = v%d;\n    PA(%d)[q] = %s;\n", j, j, op_text(I->op, 1));
                if (bin) put(b, "    PB(%d)[q] = %s;\n", j, op_text(I->op, 2));
                put(b, "    (void)v;\n");
            }
            put(b, "    (void)a; (void)b; (void)k;\n}\n");
            break;
        }
        }
        if (needs_row(E, j, s, e)) put(b, "V(%d)[q] = v%d;\n", j, j);
        E->local[j] = 1;
    }
    close_loop(E, s, e);
}

/* bsweep_reverse for [s, e), one loop: the adjoint of a value consumed
 * inside [s, e) is a local starting at 0.0, others live in ADJ rows (zeroed
 * beforehand, as the interpreter zeroes them). seed_at >= 0: that value's
 * adjoint starts at seed (a C expression) instead. */
static void emit_reverse(emitter *E, int s, int e, const char *cur, int seed_at, const char *seed)
{
    sbuf *b = E->b;
    put(b, "_Pragma(\"omp simd\")\nfor (int q = 0; q < JB; q++) {\n");
    for (int j = s; j < e; j++) {
        int c = E->consumer[j];
        E->local[j] = j == seed_at || (c >= s && c < e);
        if (!E->local[j]) continue;
        if (j == seed_at) put(b, "double a%d = %s;\n", j, seed);
        else put(b, "double a%d = 0.0;\n", j);
    }
    for (int j = e - 1; j >= s; j--) {
        const fins *I = &E->g->tape[j];
        char w[32];
        snprintf(w, sizeof w, E->local[j] ? "a%d" : "ADJ(%d)[q]", j);
        if (I->op == OP_VAR) put(b, "gs[(size_t)%d * JB + q] += %s;\n", I->a, w);
        else if (I->op == OP_CUR) put(b, "gs[(size_t)%s * JB + q] += %s;\n", cur, w);
        else if (I->op == OP_CONST || I->op == OP_IDX) continue;
        else {
            int ops[2] = {I->a, I->b};
            for (int t = 0; t < 1 + OP_IS_BINARY(I->op); t++) {
                int o = ops[t];
                char dst[32], pd[160];
                snprintf(dst, sizeof dst, o >= s && o < e && E->local[o] ? "a%d" : "ADJ(%d)[q]", o);
                if (formula_const_partial(I->op)) const_text(op_text(I->op, 1 + t), j, pd, sizeof pd);
                else snprintf(pd, sizeof pd, "P%c(%d)[q]", "AB"[t], j);
                put(b, "%s += %s * %s;\n", dst, w, pd);
            }
        }
    }
    put(b, "}\n");
    memset(E->local + s, 0, (size_t)(e - s));
}

/* The sum/prod body for coordinate c, forward and (with seed) reverse. */
static void emit_body(emitter *E, const fins *I, const char *seed)
{
    emit_forward(E, I->a, I->b, "c", seed != NULL);
    if (seed) emit_reverse(E, I->a, I->b, "c", I->b - 1, seed);
}

/* formula_grad_lanes, unrolled: per lane the same statements in the same
 * order (lanes are independent, so fusing loops over them changes nothing). */
static void emit_program(emitter *E)
{
    sbuf *b = E->b;
    const formula_prog *g = E->g;
    int n = g->n;
    put(b, "#include <math.h>\n#include <stddef.h>\n#include <string.h>\n%s\n%s\n",
        FORMULA_JIT_CTX(FORMULA_AS_TEXT), FORMULA_HELPERS(FORMULA_AS_TEXT));
    /* one base for every row: the vectoriser then sees that rows never overlap */
    put(b, "enum { JB = %d, N1 = %d };\n#define D ((size_t)%zu)\n"
           "#define V(j) W[j]\n#define PA(j) W[N1 + (j)]\n#define PB(j) W[2 * N1 + (j)]\n#define ADJ(j) W[3 * N1 + (j)]\n",
        JB, n + 1, g->d);
    put(b, "unsigned long long sgd_formula_lanes(const formula_jit_ctx *ctx, const double *restrict xs,\n"
           "                                     double *restrict gs, double *restrict ws)\n{\n"
           "const double *restrict K = ctx->K;\n"
           "double (*restrict W)[JB] = (double (*)[JB])ws;\n"
           "unsigned long long redo = 0;\n(void)redo;\n"
           "for (int q = 0; q < JB; q++) V(%d)[q] = 0.0;\nmemset(gs, 0, JB * D * sizeof *gs);\n", n);
    for (int m = 0; m < g->nseg; m++) {
        const fseg *S = &g->seg[m];
        const fins *I = &g->tape[S->s];
        if (!S->block) {
            emit_forward(E, S->s, S->e, "0", 1);
            continue;
        }
        put(b, "{\ndouble w[JB];\nfor (int q = 0; q < JB; q++) { V(%d)[q] = %s; w[q] = K[%d]; }\n", S->s,
            I->op == OP_SUM ? "0.0" : "1.0", n + m);
        put(b, "for (size_t c = 0; c < D; c++) {\n");
        emit_body(E, I, S->eager ? "w[q]" : NULL);
        put(b, "for (int q = 0; q < JB; q++) V(%d)[q] %s= V(%d)[q];\n}\n}\n", S->s, I->op == OP_SUM ? "+" : "*",
            I->b - 1);
    }
    /* ADJ rows: the values whose consumer is in another segment. */
    for (int m = 0; m < g->nseg; m++) {
        const fseg *S = &g->seg[m];
        for (int j = S->s; j < (S->block ? S->s + 1 : S->e); j++) {
            int c = E->consumer[j];
            int inside = !S->block && c >= S->s && c < S->e;
            if (c >= 0 && !inside) put(b, "for (int q = 0; q < JB; q++) ADJ(%d)[q] = 0.0;\n", j);
        }
    }
    for (int m = g->nseg - 1; m >= 0; m--) {
        const fseg *S = &g->seg[m];
        const fins *I = &g->tape[S->s];
        if (S->eager) continue;
        if (!S->block) {
            int has_root = g->root >= S->s && g->root < S->e;
            emit_reverse(E, S->s, S->e, "0", has_root ? g->root : -1, "1.0");
        } else {
            /* the block's adjoint: 1 when it is f, else its row */
            char w0[32];
            snprintf(w0, sizeof w0, S->s == g->root ? "1.0" : "ADJ(%d)[q]", S->s);
            if (I->op == OP_SUM) {
                put(b, "{\ndouble w[JB];\nfor (int q = 0; q < JB; q++) w[q] = %s;\n", w0);
                put(b, "for (size_t c = 0; c < D; c++) {\n");
                emit_body(E, I, "w[q]");
                put(b, "}\n}\n");
                continue;
            }
            int bv = I->b - 1;
            put(b, "{\ndouble w[JB], qp[JB], seed[JB];\nsize_t zeros[JB];\n"
                   "for (int q = 0; q < JB; q++) { w[q] = %s; qp[q] = 1.0; zeros[q] = 0; }\n", w0);
            put(b, "for (size_t c = 0; c < D; c++) {\n");
            emit_body(E, I, NULL);
            put(b, "for (int q = 0; q < JB; q++) { if (V(%d)[q] == 0.0) zeros[q]++; else qp[q] *= V(%d)[q]; }\n}\n",
                bv, bv);
            put(b, "for (size_t c = 0; c < D; c++) {\n");
            emit_forward(E, I->a, I->b, "c", 1);
            put(b, "for (int q = 0; q < JB; q++) {\n    if (zeros[q] > 1) redo |= 1ull << q;\n"
                   "    double other = zeros[q] > 1 ? 0.0 : zeros[q] == 0 ? qp[q] / V(%d)[q] : "
                   "(V(%d)[q] == 0.0 ? qp[q] : 0.0);\n    seed[q] = w[q] * other;\n}\n", bv, bv);
            emit_reverse(E, I->a, I->b, "c", bv, "seed[q]");
            put(b, "}\n}\n");
        }
    }
    put(b, "return redo;\n}\n");
}

int formula_emit(const formula_prog *g, formula_sbuf *out)
{
    emitter E = {out, g, calloc((size_t)g->n + 1, sizeof(int)), calloc((size_t)g->n + 1, 1),
                 calloc((size_t)g->n + 1, 1), 0};
    if (!E.consumer || !E.to_sincos || !E.local) out->oom = 1;
    else {
        for (int j = 0; j <= g->n; j++) E.consumer[j] = -1;
        for (int j = 0; j < g->n; j++) { /* in order: the last consumer stays */
            const fins *I = &g->tape[j];
            if (OP_IS_LEAF(I->op) || I->op == OP_SUM || I->op == OP_PROD) continue;
            E.consumer[I->a] = j;
            E.to_sincos[I->a] |= is_sincos(I->op);
            if (OP_IS_BINARY(I->op)) E.consumer[I->b] = j;
        }
        emit_program(&E);
    }
    free(E.consumer);
    free(E.to_sincos);
    free(E.local);
    return out->oom ? -1 : 0;
}
