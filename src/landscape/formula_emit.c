/* Formula landscapes: the gradient program written out as C for the
 * compiler of formula_jit.c (the design is there). The C is
 * formula_grad_lanes (formula_eval.c) with the tape unrolled: per lane the
 * same operations in the same order, each the interpreter's own expression
 * (FORMULA_OPS, stringified), sin/cos the library's kernel with its source
 * written in (SGD_SINCOS_SOURCE); each stretch of the tape is one loop over
 * the lanes, values and partials that nothing outside a loop reads stay in
 * registers, and constant partials are written where they are used. */
#include "landscape/formula_internal.h"

#include <ctype.h>
#include <math.h>
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

const char *formula_op_text(int op, int part)
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
 * value has several consumers, all after it). */
typedef struct {
    sbuf *b;
    const formula_prog *g;
    int *consumer;
    char *local; /* value j (adjoint j in a reverse sweep) is a local variable of the loop being written */
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

/* Partial t (0: by a, 1: by b) of instruction j: a local of the loop when
 * the forward and reverse sweeps share it (fused), else its row. */
static const char *partial(int fused, int t, int j, char *buf)
{
    if (fused) snprintf(buf, 32, "p%c%d", "ab"[t], j);
    else snprintf(buf, 32, "P%c(%d)[q]", "AB"[t], j);
    return buf;
}

/* Whether k = +-2^m with 2^-m a normal double (so that 1/k is exact). */
int formula_pow2(double k)
{
    int ex;
    double m = frexp(fabs(k), &ex);
    return m == 0.5 && ex > -1020 && ex < 1020;
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

/* Whether value j (written in [s, e)) must be kept in its row: a reader
 * outside the loop it is computed in (a later segment, the caller for f,
 * a sum/prod for its body's value). */
static int needs_row(const emitter *E, int j, int s, int e)
{
    int c = E->consumer[j];
    return c < s || c >= e;
}

/* bsweep_forward for instructions [s, e), one loop over the lanes, per
 * lane the interpreter's operations in its order. sin/cos is the library's
 * kernel inline; a lane whose argument is beyond the kernel's range is
 * marked in SLOW and redone by the interpreter (libm), as formula_sincos
 * does. fused: the partials are locals and the loop stays open for
 * emit_reverse. cur is a C expression. sum: [s, e) is a sum() body, whose
 * value (e - 1) needs no row; sum[0] != 0: it is added into the sum there
 * ("V(s)[q] +="), each lane's terms in the interpreter's order. */
static void emit_forward(emitter *E, int s, int e, const char *cur, int partials, int fused, const char *sum)
{
    sbuf *b = E->b;
    char ba[32], pa[32], pb[32];
    open_loop(E);
    for (int j = s; j < e; j++) {
        const fins *I = &E->g->tape[j];
        int store = partials && !formula_const_partial(I->op) && !OP_IS_LEAF(I->op);
        int bin = OP_IS_BINARY(I->op);
        put(b, "double v%d;\n", j);
        if (store && fused) put(b, bin ? "double pa%d, pb%d;\n" : "double pa%d;\n", j, j);
        partial(fused, 0, j, pa);
        partial(fused, 1, j, pb);
        switch (I->op) {
        case OP_CONST: put(b, "v%d = K[%d];\n", j, j); break;
        case OP_IDX: put(b, "v%d = (double)(%s + 1);\n", j, cur); break;
        case OP_VAR: put(b, "v%d = xs[(size_t)%d * JB + q];\n", j, I->a); break;
        case OP_CUR: put(b, "v%d = xs[(size_t)%s * JB + q];\n", j, cur); break;
        case OP_SIN:
        case OP_COS:
            put(b, "{\n    const double a = %s;\n    double sn, cs;\n    sgd_sincos(a, &sn, &cs);\n"
                   "    SLOW[q] = fabs(a) < SINCOS_LIM ? SLOW[q] : 1.0;\n",
                val(E, I->a, ba));
            put(b, "    v%d = %s;\n", j, I->op == OP_SIN ? "sn" : "cs");
            if (store) put(b, "    %s = %s;\n", pa, I->op == OP_SIN ? "cs" : "-sn");
            put(b, "}\n");
            break;
        default: {
            put(b, "{\n    const double a = %s, k = K[%d];\n", val(E, I->a, ba), j);
            if (bin) put(b, "    const double b = %s;\n", val(E, I->b, ba));
            else put(b, "    const double b = 0.0;\n"); /* the sink's value */
            /* a / k for k = 2^m is a * 2^-m to the bit (both round the same real):
             * a multiply instead of a division where the formula divides by 2 */
            put(b, "    v%d = %s;\n", j, I->op == OP_DIVK && formula_pow2(I->k) ? "a * (1.0 / k)" : formula_op_text(I->op, 0));
            if (store) {
                put(b, "    const double v = v%d;\n    %s = %s;\n", j, pa, formula_op_text(I->op, 1));
                if (bin) put(b, "    %s = %s;\n", pb, formula_op_text(I->op, 2));
                put(b, "    (void)v;\n");
            }
            put(b, "    (void)a; (void)b; (void)k;\n}\n");
            break;
        }
        }
        if (needs_row(E, j, s, e) && !(sum && j == e - 1)) put(b, "V(%d)[q] = v%d;\n", j, j);
        E->local[j] = 1;
    }
    if (sum && sum[0]) put(b, "%s v%d;\n", sum, e - 1);
    if (!fused) close_loop(E, s, e);
}

/* bsweep_reverse for [s, e), in the loop emit_forward left open (fused) or
 * a loop of its own: the adjoint of a value consumed inside [s, e) is a
 * local starting at 0.0, others live in ADJ rows (zeroed beforehand, as the
 * interpreter zeroes them). seed_at >= 0: that value's adjoint starts at
 * seed (a C expression) instead. */
static void emit_reverse(emitter *E, int s, int e, const char *cur, int seed_at, const char *seed, int fused)
{
    sbuf *b = E->b;
    if (!fused) open_loop(E);
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
                if (formula_const_partial(I->op)) const_text(formula_op_text(I->op, 1 + t), j, pd, sizeof pd);
                else partial(fused, t, j, pd);
                put(b, "%s += %s * %s;\n", dst, w, pd);
            }
        }
    }
    close_loop(E, s, e);
}

/* The sum/prod body for coordinate c: forward alone, or (with seed)
 * forward and reverse in one loop; sum as for emit_forward. */
static void emit_body(emitter *E, const fins *I, const char *seed, const char *sum)
{
    emit_forward(E, I->a, I->b, "c", seed != NULL, seed != NULL, sum);
    if (seed) emit_reverse(E, I->a, I->b, "c", I->b - 1, seed, 1);
}

/* The ADJ rows of the values whose consumer is in another segment, zeroed
 * before the first reverse sweep writes to them. */
static void emit_adj_zero(emitter *E)
{
    const formula_prog *g = E->g;
    for (int m = 0; m < g->nseg; m++) {
        const fseg *S = &g->seg[m];
        for (int j = S->s; j < (S->block ? S->s + 1 : S->e); j++) {
            int c = E->consumer[j];
            int inside = !S->block && c >= S->s && c < S->e;
            if (c >= 0 && !inside) put(E->b, "for (int q = 0; q < JB; q++) ADJ(%d)[q] = 0.0;\n", j);
        }
    }
}

/* formula_grad_lanes, unrolled (sgd_formula_lanes): per lane the same
 * statements in the same order (lanes are independent, so fusing loops over
 * them changes nothing). The last segment, when it is not a block, runs its
 * forward and reverse sweeps in one loop: nothing comes between them.
 * values: the forward sweep alone (sgd_formula_values), f without its
 * gradient, as formula_fg computes it when asked for no gradient. */
static void emit_program(emitter *E, int values)
{
    sbuf *b = E->b;
    const formula_prog *g = E->g;
    int n = g->n;
    int fuse_last = !values && g->nseg > 0 && !g->seg[g->nseg - 1].block;
    /* the block by coordinate ([i][q], so that a sum() body reads and writes
     * consecutive lanes): a 1-D block is that already, otherwise it goes
     * through transposed copies (zeros beyond np), here where D is a constant */
    if (values)
        put(b, "unsigned long long sgd_formula_values(const formula_jit_ctx *ctx, int np, const double *restrict x,\n"
               "                                      double *restrict ws)\n{\n");
    else
        put(b, "unsigned long long sgd_formula_lanes(const formula_jit_ctx *ctx, int np, const double *restrict x,\n"
               "                                     double *restrict grad, double *restrict ws)\n{\n");
    put(b, "const double *restrict K = ctx->K;\n"
           "double (*restrict W)[JB] = (double (*)[JB])ws;\n"
           "double *restrict XT = ws + (size_t)4 * N1 * JB;\n"
           "const int direct = D == 1 && np == JB;\n"
           "const double *restrict xs = direct ? x : XT;\n");
    if (!values) put(b, "double *restrict GT = XT + JB * D, *restrict gs = direct ? grad : GT;\n");
    put(b, "if (!direct && np == JB)\n"
           "    for (size_t i = 0; i < D; i++)\n"
           "        for (int q = 0; q < JB; q++) XT[i * JB + q] = x[(size_t)q * D + i];\n"
           "else if (!direct)\n"
           "    for (size_t i = 0; i < D; i++)\n"
           "        for (int q = 0; q < JB; q++) XT[i * JB + q] = q < np ? x[(size_t)q * D + i] : 0.0;\n"
           "unsigned long long redo = 0;\n(void)redo;\n"
           "double SLOW[JB];\n"
           "for (int q = 0; q < JB; q++) { V(%d)[q] = 0.0; SLOW[q] = 0.0; }\n",
        n);
    if (!values) put(b, "memset(gs, 0, JB * D * sizeof *gs);\n");
    for (int m = 0; m < g->nseg; m++) {
        const fseg *S = &g->seg[m];
        const fins *I = &g->tape[S->s];
        if (!S->block) {
            if (fuse_last && m == g->nseg - 1) {
                int has_root = g->root >= S->s && g->root < S->e;
                emit_adj_zero(E);
                emit_forward(E, S->s, S->e, "0", 1, 1, NULL);
                emit_reverse(E, S->s, S->e, "0", has_root ? g->root : -1, "1.0", 1);
            } else emit_forward(E, S->s, S->e, "0", !values, 0, NULL);
            continue;
        }
        int eager = !values && S->eager;
        put(b, "{\nfor (int q = 0; q < JB; q++) V(%d)[q] = %s;\n", S->s, I->op == OP_SUM ? "0.0" : "1.0");
        if (eager) put(b, "double w[JB];\nfor (int q = 0; q < JB; q++) w[q] = K[%d];\n", n + m);
        put(b, "for (size_t c = 0; c < D; c++) {\n");
        if (I->op == OP_SUM) {
            char acc[32];
            snprintf(acc, sizeof acc, "V(%d)[q] +=", S->s);
            emit_body(E, I, eager ? "w[q]" : NULL, acc);
            put(b, "}\n}\n");
        } else {
            emit_body(E, I, NULL, NULL);
            put(b, "for (int q = 0; q < JB; q++) V(%d)[q] *= V(%d)[q];\n}\n}\n", S->s, I->b - 1);
        }
    }
    if (!values && !fuse_last) emit_adj_zero(E);
    for (int m = g->nseg - 1 - fuse_last; !values && m >= 0; m--) {
        const fseg *S = &g->seg[m];
        const fins *I = &g->tape[S->s];
        if (S->eager) continue;
        if (!S->block) {
            int has_root = g->root >= S->s && g->root < S->e;
            emit_reverse(E, S->s, S->e, "0", has_root ? g->root : -1, "1.0", 0);
        } else {
            /* the block's adjoint: 1 when it is f, else its row */
            char w0[32];
            snprintf(w0, sizeof w0, S->s == g->root ? "1.0" : "ADJ(%d)[q]", S->s);
            if (I->op == OP_SUM) {
                put(b, "{\ndouble w[JB];\nfor (int q = 0; q < JB; q++) w[q] = %s;\n", w0);
                put(b, "for (size_t c = 0; c < D; c++) {\n");
                emit_body(E, I, "w[q]", "");
                put(b, "}\n}\n");
                continue;
            }
            int bv = I->b - 1;
            put(b, "{\ndouble w[JB], qp[JB], seed[JB];\nsize_t zeros[JB];\n"
                   "for (int q = 0; q < JB; q++) { w[q] = %s; qp[q] = 1.0; zeros[q] = 0; }\n", w0);
            put(b, "for (size_t c = 0; c < D; c++) {\n");
            emit_body(E, I, NULL, NULL);
            put(b, "for (int q = 0; q < JB; q++) { if (V(%d)[q] == 0.0) zeros[q]++; else qp[q] *= V(%d)[q]; }\n}\n",
                bv, bv);
            put(b, "for (size_t c = 0; c < D; c++) {\n");
            emit_forward(E, I->a, I->b, "c", 1, 0, NULL);
            put(b, "for (int q = 0; q < JB; q++) {\n    if (zeros[q] > 1) redo |= 1ull << q;\n"
                   "    double other = zeros[q] > 1 ? 0.0 : zeros[q] == 0 ? qp[q] / V(%d)[q] : "
                   "(V(%d)[q] == 0.0 ? qp[q] : 0.0);\n    seed[q] = w[q] * other;\n}\n", bv, bv);
            emit_reverse(E, I->a, I->b, "c", bv, "seed[q]", 0);
            put(b, "}\n}\n");
        }
    }
    /* a lane with a sin/cos argument out of the kernel's range: the interpreter redoes it */
    put(b, "int slow = 0;\n_Pragma(\"omp simd reduction(| : slow)\")\nfor (int q = 0; q < JB; q++) slow |= SLOW[q] != 0.0;\n"
           "for (int q = 0; slow && q < JB; q++) if (SLOW[q] != 0.0) redo |= 1ull << q;\n"
           "%s", values ? "" : "if (!direct)\n    for (int q = 0; q < np; q++)\n"
                              "        for (size_t i = 0; i < D; i++) grad[(size_t)q * D + i] = GT[i * JB + q];\n");
    put(b, "return redo;\n}\n");
}

void formula_emit_prologue(const formula_prog *g, formula_sbuf *out)
{
    put(out, "#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n%s\n%s\n%s\n",
        FORMULA_JIT_CTX(SGD_AS_TEXT), FORMULA_HELPERS(SGD_AS_TEXT), SGD_SINCOS_SOURCE(SGD_AS_TEXT));
    /* one base for every row: the vectoriser then sees that rows never overlap */
    put(out, "enum { JB = %d, N1 = %d };\n#define D ((size_t)%zu)\n#define SINCOS_LIM %.17g\n", JB, g->n + 1, g->d,
        FORMULA_SINCOS_LIM);
}

int formula_emit(const formula_prog *g, formula_sbuf *out)
{
    emitter E = {out, g, calloc((size_t)g->n + 1, sizeof(int)), calloc((size_t)g->n + 1, 1), 0};
    if (!E.consumer || !E.local) out->oom = 1;
    else {
        for (int j = 0; j <= g->n; j++) E.consumer[j] = -1;
        for (int j = 0; j < g->n; j++) { /* in order: the last consumer stays */
            const fins *I = &g->tape[j];
            if (OP_IS_LEAF(I->op) || I->op == OP_SUM || I->op == OP_PROD) continue;
            E.consumer[I->a] = j;
            if (OP_IS_BINARY(I->op)) E.consumer[I->b] = j;
        }
        formula_emit_prologue(g, out);
        put(out, "#define V(j) W[j]\n#define PA(j) W[N1 + (j)]\n#define PB(j) W[2 * N1 + (j)]\n"
                 "#define ADJ(j) W[3 * N1 + (j)]\n");
        emit_program(&E, 0);
        emit_program(&E, 1);
    }
    free(E.consumer);
    free(E.local);
    return out->oom ? -1 : 0;
}
