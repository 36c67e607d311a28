/* Formula landscapes: the Hessian written out as C for the compiler of
 * formula_jit.c. It is formula_hess.c's forward-over-reverse sweep with the
 * tape unrolled, one lane per direction: lane q of a block computes row
 * dir0 + q of H, so the d sweeps of the interpreter run 32 at a time. Per
 * lane the operations and their order are formula_hess.c's, each spelled by
 * the same text (FORMULA_OPS for values and first partials, FORMULA_D2_OPS
 * for second partials), so H has the interpreter's bits. Every value lives
 * in a row [j][q] of the workspace, as in the interpreter's arrays.
 * Formulas with prod() keep the interpreter's Hessian (its prefix and
 * suffix products are not written out). It is an object of its own,
 * compiled the first time the Hessian is asked for (formula_jit.c): its
 * sweeps cost the compiler 2-4 times the gradient's, and only `check` (to
 * estimate L) and diagnostics ask. */
#include "landscape/formula_internal.h"

#include <stdio.h>

#define put formula_put

static const char *d2_text(int op, int part)
{
    switch (op) {
#define FORMULA_D2_TEXT_CASE(OP, AA, AB, BB) \
    case OP: return part == 0 ? #AA : part == 1 ? #AB : #BB;
        FORMULA_D2_OPS(FORMULA_D2_TEXT_CASE)
#undef FORMULA_D2_TEXT_CASE
    default: return "0.0";
    }
}

static int is_sincos(int op) { return op == OP_SIN || op == OP_COS; }

/* hsweep_forward for [s, e): values and tangents along the lane's direction. */
static void hess_forward(formula_sbuf *b, const formula_prog *g, int s, int e, const char *cur, int sum)
{
    put(b, "_Pragma(\"omp simd\")\nfor (int q = 0; q < JB; q++) {\nconst size_t dir = dir0 + (size_t)q;\n(void)dir;\n");
    for (int j = s; j < e; j++) {
        const fins *I = &g->tape[j];
        switch (I->op) {
        case OP_CONST: put(b, "HV(%d)[q] = K[%d]; HVT(%d)[q] = 0.0;\n", j, j, j); break;
        case OP_IDX: put(b, "HV(%d)[q] = (double)(%s + 1); HVT(%d)[q] = 0.0;\n", j, cur, j); break;
        case OP_VAR: put(b, "HV(%d)[q] = x[%d]; HVT(%d)[q] = (double)((size_t)%d == dir);\n", j, I->a, j, I->a); break;
        case OP_CUR: put(b, "HV(%d)[q] = x[%s]; HVT(%d)[q] = (double)(%s == dir);\n", j, cur, j, cur); break;
        default:
            if (is_sincos(I->op)) {
                put(b, "{\n    const double a = HV(%d)[q];\n    double sn, cs;\n    sgd_sincos(a, &sn, &cs);\n"
                       "    SLOW[q] = fabs(a) < SINCOS_LIM ? SLOW[q] : 1.0;\n",
                    I->a);
                put(b, "    HV(%d)[q] = %s;\n    HVT(%d)[q] = (%s) * HVT(%d)[q];\n}\n", j,
                    I->op == OP_SIN ? "sn" : "cs", j, I->op == OP_SIN ? "cs" : "-sn", I->a);
                break;
            }
            put(b, "{\n    const double a = HV(%d)[q], b = HV(%d)[q], k = K[%d];\n", I->a, I->b, j);
            put(b, "    const double v = %s;\n",
                I->op == OP_DIVK && formula_pow2(I->k) ? "a * (1.0 / k)" : formula_op_text(I->op, 0));
            put(b, "    const double da = %s, db = %s;\n", formula_op_text(I->op, 1), formula_op_text(I->op, 2));
            put(b, "    HV(%d)[q] = v;\n    HVT(%d)[q] = da * HVT(%d)[q];\n", j, j, I->a);
            if (OP_IS_BINARY(I->op)) put(b, "    HVT(%d)[q] += db * HVT(%d)[q];\n", j, I->b);
            put(b, "    (void)a; (void)b; (void)k; (void)db;\n}\n");
            break;
        }
    }
    /* a sum()'s value and tangent accumulate its body's, coordinate by coordinate */
    if (sum >= 0) put(b, "HV(%d)[q] += HV(%d)[q];\nHVT(%d)[q] += HVT(%d)[q];\n", sum, e - 1, sum, e - 1);
    put(b, "}\n");
}

/* hsweep_reverse for [s, e): adjoints and their tangents; rows of H
 * gather in HROW. body: the sum() body's adjoints start from W (zeroed, as
 * hbody_seed does, then the body's value seeded). */
static void hess_reverse(formula_sbuf *b, const formula_prog *g, int s, int e, const char *cur, int body)
{
    put(b, "_Pragma(\"omp simd\")\nfor (int q = 0; q < JB; q++) {\n");
    if (body) {
        for (int j = s; j < e; j++) put(b, "HADJ(%d)[q] = 0.0; HADJT(%d)[q] = 0.0;\n", j, j);
        put(b, "HADJ(%d)[q] = WB[q]; HADJT(%d)[q] = WBT[q];\n", e - 1, e - 1);
    }
    for (int j = e - 1; j >= s; j--) {
        const fins *I = &g->tape[j];
        int A = I->a, B = I->b;
        switch (I->op) {
        case OP_CONST:
        case OP_IDX: break;
        case OP_VAR: put(b, "HROW(%d)[q] += HADJT(%d)[q];\n", A, j); break;
        case OP_CUR: put(b, "HROW(%s)[q] += HADJT(%d)[q];\n", cur, j); break;
        default:
            put(b, "{\n    const double w = HADJ(%d)[q], wt = HADJT(%d)[q];\n", j, j);
            put(b, "    const double a = HV(%d)[q], b = HV(%d)[q], v = HV(%d)[q], k = K[%d];\n", A, B, j, j);
            if (is_sincos(I->op))
                put(b, "    double sn, cs;\n    sgd_sincos(a, &sn, &cs);\n    const double da = %s, db = 0.0;\n",
                    I->op == OP_SIN ? "cs" : "-sn");
            else
                put(b, "    const double da = %s, db = %s;\n", formula_op_text(I->op, 1), formula_op_text(I->op, 2));
            put(b, "    const double daa = %s, dab = %s, dbb = %s;\n", d2_text(I->op, 0), d2_text(I->op, 1),
                d2_text(I->op, 2));
            if (OP_IS_BINARY(I->op)) {
                put(b, "    HADJ(%d)[q] += w * da;\n", A);
                put(b, "    HADJT(%d)[q] += wt * da + w * (daa * HVT(%d)[q] + dab * HVT(%d)[q]);\n", A, A, B);
                put(b, "    HADJ(%d)[q] += w * db;\n", B);
                put(b, "    HADJT(%d)[q] += wt * db + w * (dab * HVT(%d)[q] + dbb * HVT(%d)[q]);\n", B, A, B);
            } else {
                put(b, "    HADJ(%d)[q] += w * da;\n", A);
                put(b, "    HADJT(%d)[q] += wt * da + w * daa * HVT(%d)[q];\n", A, A);
            }
            put(b, "    (void)a; (void)b; (void)v; (void)k; (void)db; (void)dab; (void)dbb;\n}\n");
            break;
        }
    }
    put(b, "}\n");
}

int formula_hess_compilable(const formula_prog *g)
{
    for (int m = 0; m < g->nseg; m++)
        if (g->seg[m].block && g->tape[g->seg[m].s].op == OP_PROD) return 0;
    return 1;
}

/* hess_row of formula_hess.c for 32 directions at once. */
int formula_emit_hess(const formula_prog *g, formula_sbuf *b)
{
    int n = g->n;
    formula_emit_prologue(g, b);
    put(b, "#define HV(j) W[j]\n#define HVT(j) W[N1 + (j)]\n#define HADJ(j) W[2 * N1 + (j)]\n"
           "#define HADJT(j) W[3 * N1 + (j)]\n#define HROW(i) W[4 * N1 + (i)]\n");
    put(b, "int sgd_formula_hess(const formula_jit_ctx *ctx, const double *restrict x, double *restrict H,\n"
           "                     double *restrict ws)\n{\n"
           "const double *restrict K = ctx->K;\n"
           "double (*restrict W)[JB] = (double (*)[JB])ws;\n"
           "double SLOW[JB], WB[JB], WBT[JB];\n"
           "for (int q = 0; q < JB; q++) SLOW[q] = 0.0;\n"
           "for (size_t dir0 = 0; dir0 < D; dir0 += JB) {\n"
           "for (int q = 0; q < JB; q++) { HV(%d)[q] = 0.0; HVT(%d)[q] = 0.0; }\n",
        n, n);
    for (int m = 0; m < g->nseg; m++) {
        const fseg *S = &g->seg[m];
        const fins *I = &g->tape[S->s];
        if (!S->block) {
            hess_forward(b, g, S->s, S->e, "(size_t)0", -1);
            continue;
        }
        put(b, "for (int q = 0; q < JB; q++) { HV(%d)[q] = 0.0; HVT(%d)[q] = 0.0; }\n", S->s, S->s);
        put(b, "for (size_t c = 0; c < D; c++) {\n");
        hess_forward(b, g, I->a, I->b, "c", S->s);
        put(b, "}\n");
    }
    put(b, "for (int j = 0; j < N1; j++)\n    for (int q = 0; q < JB; q++) { HADJ(j)[q] = 0.0; HADJT(j)[q] = 0.0; }\n"
           "for (size_t i = 0; i < D; i++)\n    for (int q = 0; q < JB; q++) HROW(i)[q] = 0.0;\n"
           "for (int q = 0; q < JB; q++) HADJ(%d)[q] = 1.0;\n",
        g->root);
    for (int m = g->nseg - 1; m >= 0; m--) {
        const fseg *S = &g->seg[m];
        const fins *I = &g->tape[S->s];
        if (!S->block) {
            hess_reverse(b, g, S->s, S->e, "(size_t)0", 0);
            continue;
        }
        put(b, "for (int q = 0; q < JB; q++) { WB[q] = HADJ(%d)[q]; WBT[q] = HADJT(%d)[q]; }\n", S->s, S->s);
        put(b, "for (size_t c = 0; c < D; c++) {\n");
        hess_forward(b, g, I->a, I->b, "c", -1);
        hess_reverse(b, g, I->a, I->b, "c", 1);
        put(b, "}\n");
    }
    put(b, "for (int q = 0; q < JB && dir0 + (size_t)q < D; q++)\n"
           "    for (size_t i = 0; i < D; i++) H[(dir0 + (size_t)q) * D + i] = HROW(i)[q];\n"
           "}\n"
           "int slow = 0;\nfor (int q = 0; q < JB; q++) slow |= SLOW[q] != 0.0;\nreturn slow;\n}\n");
    return b->oom ? -1 : 0;
}
