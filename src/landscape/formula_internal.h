/* Formula landscapes, shared by the parser, compiler, evaluator and Hessian
 * (formula.c has the design; each stage is one file: formula_parse.c,
 * formula_compile.c, formula_eval.c, formula_hess.c). */
#ifndef SGD_FORMULA_INTERNAL_H
#define SGD_FORMULA_INTERNAL_H

#include "sgdscape/landscape.h"

#include "core/fastmath.h"

#include <math.h>
#include <stddef.h>


/* The tape cap bounds the per-call stack use (4 doubles per instruction,
 * 128 KiB at most); the tree cap bounds parse time and recursion depth. */
enum { FORMULA_MAX_TAPE = 4096, FORMULA_MAX_NODES = 16384, FORMULA_MAX_DEPTH = 200 };

#define FORMULA_PI 3.14159265358979323846
#define FORMULA_E 2.71828182845904523536

enum op {
    OP_CONST, /* k */
    OP_VAR,   /* x_{a+1}: a fixed coordinate */
    OP_CUR,   /* x inside sum()/prod(): the coordinate being summed over */
    OP_IDX,   /* i inside sum()/prod(): 1-based index */
    OP_SUM,   /* body on tape[a..b), value = sum over coordinates */
    OP_PROD,  /* body on tape[a..b), value = product over coordinates */
    /* unary; the K forms carry a constant operand k: a+k, a-k, k-a, a*k,
     * a/k, k/a (one instruction instead of two for 60*x, 1-cos(...)) */
    OP_NEG, OP_SQR, OP_POWC, /* a^k for a constant exponent k */
    OP_ADDK, OP_SUBK, OP_KSUB, OP_MULK, OP_DIVK, OP_KDIV,
    OP_SIN, OP_COS, OP_TAN, OP_EXP, OP_LOG, OP_SQRT, OP_ABS, OP_TANH, OP_SINH, OP_COSH, OP_ATAN,
    OP_SIGMOID, OP_SOFTPLUS,
    /* binary */
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MIN, OP_MAX,
    OP_COUNT
};

#define OP_IS_LEAF(op) ((op) <= OP_IDX)
#define OP_IS_BINARY(op) ((op) >= OP_ADD)

/* One tape instruction: v[j] = op(v[a], v[b]; k). Operands an instruction
 * does not use point at the sink slot n (see finalize), so the sweeps read
 * and write them without branching on the arity. */
typedef struct {
    int op, a, b;
    double k;
} fins;

/* The tape outside sum()/prod() bodies, in order: runs of plain
 * instructions [s, e), and blocks (s = the sum/prod instruction, e = the end
 * of its body). Sweeping runs whole keeps the common case a tight loop. */
typedef struct {
    int s, e, block;
    /* A sum() reaching f only through +, -, and scaling by constants has a
     * constant adjoint w: its gradient is then accumulated in the forward
     * sweep, visiting the body once per coordinate instead of twice. */
    int eager;
    double w;
} fseg;

typedef struct formula_jit formula_jit;

typedef struct {
    fins *tape;
    int n;      /* tape length */
    fseg *seg;
    int nseg;
    int root;   /* the instruction holding f(x) */
    size_t d;
    formula_jit *jit; /* the compiled form (formula_jit.c), or NULL */
} formula_prog;

/* The evaluator's per-instruction helpers must inline into the sweeps: a
 * call per instruction costs more than the arithmetic it does. */
#if defined(__GNUC__)
#define FORMULA_INLINE static inline __attribute__((always_inline))
#else
#define FORMULA_INLINE static inline
#endif

/* A node of the parsed expression tree. */
typedef struct {
    int op, a, b; /* children (node indices), -1 if none; OP_VAR: a = coordinate */
    double k;
} fnode;

/* ---- values and first partials ------------------------------------------
 * One table, two uses: the interpreter's op_value/op_d1 below are generated
 * from it, and the compiler of formula_jit.c writes the same expressions
 * into its C source by stringifying them, so the compiled form computes what
 * the interpreter computes, operation for operation (the same bits).
 * X(op, value, d value/da, d value/db) in terms of the operands a, b, the
 * constant k and the value v; unary ops have b = 0. sin and cos are not in
 * it: both paths take them from formula_sincos (below). */
#define FORMULA_OPS(X)                                                                              \
    X(OP_NEG, -a, -1.0, 0.0)                                                                        \
    X(OP_SQR, a * a, 2.0 * a, 0.0)                                                                  \
    X(OP_POWC, pow(a, k), k * pow(a, k - 1.0), 0.0)                                                 \
    X(OP_ADDK, a + k, 1.0, 0.0)                                                                     \
    X(OP_SUBK, a - k, 1.0, 0.0)                                                                     \
    X(OP_KSUB, k - a, -1.0, 0.0)                                                                    \
    X(OP_MULK, a * k, k, 0.0)                                                                       \
    X(OP_DIVK, a / k, 1.0 / k, 0.0)                                                                 \
    X(OP_KDIV, k / a, -v / a, 0.0)                                                                  \
    X(OP_TAN, tan(a), 1.0 + v * v, 0.0)                                                             \
    X(OP_EXP, exp(a), v, 0.0)                                                                       \
    /* no slope where log is undefined */                                                           \
    X(OP_LOG, log(a), a >= 0 ? 1.0 / a : NAN, 0.0)                                                  \
    X(OP_SQRT, sqrt(a), 0.5 / v, 0.0)                                                               \
    X(OP_ABS, fabs(a), a > 0 ? 1.0 : a < 0 ? -1.0 : 0.0, 0.0)                                       \
    X(OP_TANH, tanh(a), 1.0 - v * v, 0.0)                                                           \
    X(OP_SINH, sinh(a), cosh(a), 0.0)                                                               \
    X(OP_COSH, cosh(a), sinh(a), 0.0)                                                               \
    X(OP_ATAN, atan(a), 1.0 / (1.0 + a * a), 0.0)                                                   \
    X(OP_SIGMOID, formula_sigmoid(a), v * (1.0 - v), 0.0)                                           \
    X(OP_SOFTPLUS, (a > 0 ? a : 0.0) + log1p(exp(-fabs(a))), formula_sigmoid(a), 0.0)               \
    X(OP_ADD, a + b, 1.0, 1.0)                                                                      \
    X(OP_SUB, a - b, 1.0, -1.0)                                                                     \
    X(OP_MUL, a * b, b, a)                                                                          \
    X(OP_DIV, a / b, 1.0 / b, -v / b)                                                               \
    /* d/db a^b = a^b log a; where a^b = 0 the limit is 0, not 0*log 0 */                           \
    X(OP_POW, pow(a, b), b * pow(a, b - 1.0), v == 0.0 ? 0.0 : v * log(a))                          \
    /* NaN in either argument propagates, so a diverging trial stays visible; a tie takes a.      \
     * "a <= b or a is NaN", spelled without ||: GCC 12 cannot vectorise the select between       \
     * two masks that || becomes, and a compiled formula's whole loop then runs scalar */         \
    X(OP_MIN, (!(a > b) && !(isnan(b) && !isnan(a))) ? a : b,                                        \
      (double)(!(a > b) && !(isnan(b) && !isnan(a))), 1.0 - (double)(!(a > b) && !(isnan(b) && !isnan(a)))) \
    X(OP_MAX, (!(a < b) && !(isnan(b) && !isnan(a))) ? a : b,                                        \
      (double)(!(a < b) && !(isnan(b) && !isnan(a))), 1.0 - (double)(!(a < b) && !(isnan(b) && !isnan(a))))

/* Second partials of v = op(a, b), for the Hessian (formula_hess.c; the
 * compiled Hessian writes the same text): X(op, d2v/da2, d2v/dadb, d2v/db2);
 * an op not listed has none (0). Each is the expression the first partials
 * of FORMULA_OPS differentiate, spelled once for both uses. */
#define FORMULA_D2_OPS(X)                                                                            \
    X(OP_SQR, 2.0, 0.0, 0.0)                                                                         \
    X(OP_POWC, k * (k - 1.0) * pow(a, k - 2.0), 0.0, 0.0)                                            \
    X(OP_KDIV, 2.0 * v / (a * a), 0.0, 0.0)                                                          \
    X(OP_SIN, -v, 0.0, 0.0)                                                                          \
    X(OP_COS, -v, 0.0, 0.0)                                                                          \
    X(OP_TAN, 2.0 * v * (1.0 + v * v), 0.0, 0.0)                                                     \
    X(OP_EXP, v, 0.0, 0.0)                                                                           \
    X(OP_LOG, -1.0 / (a * a), 0.0, 0.0)                                                              \
    X(OP_SQRT, -0.25 / (v * a), 0.0, 0.0)                                                            \
    X(OP_TANH, -2.0 * v * (1.0 - v * v), 0.0, 0.0)                                                   \
    X(OP_SINH, v, 0.0, 0.0)                                                                          \
    X(OP_COSH, v, 0.0, 0.0)                                                                          \
    X(OP_ATAN, -2.0 * a * (1.0 / (1.0 + a * a)) * (1.0 / (1.0 + a * a)), 0.0, 0.0)                    \
    X(OP_SIGMOID, v * (1.0 - v) * (1.0 - 2.0 * v), 0.0, 0.0)                                         \
    X(OP_SOFTPLUS, formula_sigmoid(a) * (1.0 - formula_sigmoid(a)), 0.0, 0.0)                        \
    X(OP_MUL, 0.0, 1.0, 0.0)                                                                         \
    X(OP_DIV, 0.0, -1.0 / (b * b), 2.0 * v / (b * b))                                                \
    /* where a^b = 0, d/db terms are 0 (as for the first partial) */                                 \
    X(OP_POW, b * (b - 1.0) * pow(a, b - 2.0), v != 0.0 ? pow(a, b - 1.0) * (1.0 + b * log(a)) : 0.0, \
      v != 0.0 ? v * log(a) * log(a) : 0.0)

/* Helpers the table calls, as code here and as text in compiled formulas.
 * sigmoid without overflow for either sign of a. */
#define FORMULA_HELPERS(X)                                                                           \
    X(static inline double formula_sigmoid(double a) {                                              \
        if (a >= 0) return 1.0 / (1.0 + exp(-a));                                                    \
        double t = exp(a);                                                                           \
        return t / (1.0 + t);                                                                        \
    })
FORMULA_HELPERS(SGD_AS_CODE)

/* sin and cos of one argument: the library's vectorisable kernel
 * (core/fastmath.h, within 4e-16 of libm) where |a| < FORMULA_SINCOS_LIM,
 * libm beyond (and for NaN/Inf). The kernel is what lets a block of trials
 * take sin/cos in vector lanes. Compiled formulas carry the kernel's source
 * (SGD_SINCOS_SOURCE) and hand a point with an argument beyond the limit
 * back to the interpreter, so both agree to the bit. */
#define FORMULA_SINCOS_LIM 1e5
void formula_sincos_slow(double a, double *s, double *c);
/* s[q], c[q] = sin, cos of a[q] for q < n (c may alias nothing, s neither). */
void formula_sincos_lanes(int n, const double *a, double *s, double *c);
FORMULA_INLINE void formula_sincos(double a, double *s, double *c)
{
    if (fabs(a) < FORMULA_SINCOS_LIM) sgd_sincos(a, s, c);
    else formula_sincos_slow(a, s, c);
}

FORMULA_INLINE double op_value(int op, double a, double b, double k)
{
    double s, c;
    switch (op) {
#define FORMULA_VALUE_CASE(OP, VAL, DA, DB) \
    case OP: return VAL;
        FORMULA_OPS(FORMULA_VALUE_CASE)
#undef FORMULA_VALUE_CASE
    case OP_SIN: formula_sincos(a, &s, &c); return s;
    case OP_COS: formula_sincos(a, &s, &c); return c;
    default: return NAN;
    }
}

/* The operations whose partials are constants (k at most): the reverse
 * sweeps take them from op_d1 (the interpreter) or write them in place
 * (compiled formulas) instead of storing a row; the same values, the same bits. */
#define FORMULA_CONST_PARTIAL_OPS(X) X(OP_NEG) X(OP_ADDK) X(OP_SUBK) X(OP_KSUB) X(OP_MULK) X(OP_DIVK) X(OP_ADD) X(OP_SUB)
#define FORMULA_CONST_PARTIAL_CASE(OP) case OP:
FORMULA_INLINE int formula_const_partial(int op)
{
    switch (op) {
        FORMULA_CONST_PARTIAL_OPS(FORMULA_CONST_PARTIAL_CASE) return 1;
    default: return 0;
    }
}

/* First partial derivatives of v = op(a, b) (v already computed). */
FORMULA_INLINE void op_d1(int op, double a, double b, double v, double k, double *da, double *db)
{
    double s, c;
    (void)b;
    switch (op) {
#define FORMULA_D1_CASE(OP, VAL, DA, DB) \
    case OP: *da = DA; *db = DB; break;
        FORMULA_OPS(FORMULA_D1_CASE)
#undef FORMULA_D1_CASE
    case OP_SIN: formula_sincos(a, &s, &c); *da = c; *db = 0.0; break;
    case OP_COS: formula_sincos(a, &s, &c); *da = -s; *db = 0.0; break;
    default: *da = NAN; *db = 0.0; break;
    }
}

/* The parse: the tree's root index (nodes in *nodes, the caller frees them),
 * or -1 after sgd_error. */
int formula_parse(const char *expr, size_t d, fnode **nodes);
/* Compiles the tree into g's tape (g->d set): SGD_OK or an error code. */
int formula_compile(formula_prog *g, const fnode *nodes, int root);
/* The landscape's operations (g = f->params). */
double formula_fg(const sgd_landscape *f, const double *x, double *grad);
void formula_grad_batch(const sgd_landscape *f, size_t n, const double *x, double *grad);
int formula_hess(const sgd_landscape *f, const double *x, double *H);
/* Unloads a compiled form (formula_jit.c); NULL is fine. */
void formula_jit_free(formula_jit *J);

/* ---- compiled formulas (formula_emit.c writes the C, formula_jit.c
 * compiles and runs it) ---------------------------------------------------- */

/* Points per call of the compiled function: the block of values stays in L1. */
#define FORMULA_JIT_LANES 32

/* What the compiled code receives: the constants (tape constants, then the
 * eager sums' adjoints). Declared once, compiled in formula_jit.c and
 * written into the emitted C. */
#define FORMULA_JIT_CTX(X)                                                          \
    X(typedef struct {                                                              \
        const double *K;                                                            \
    } formula_jit_ctx;)

/* A growing string (oom set, and further output dropped, when memory runs out). */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} formula_sbuf;
void formula_put(formula_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The C source of g's compiled form, defining
 *   unsigned long long sgd_formula_lanes(const formula_jit_ctx *ctx, int np, const double *x,
 *                                        double *grad, double *ws)
 *   unsigned long long sgd_formula_values(const formula_jit_ctx *ctx, int np, const double *x,
 *                                         double *ws)
 * (formula_jit.c says what they compute). 0, or -1 out of memory. */
int formula_emit(const formula_prog *g, formula_sbuf *out);
/* For the emitters: the text of FORMULA_OPS's value (part 0) or first
 * partials (1: by a, 2: by b) of op; whether k = +-2^m with 1/k exact (a / k
 * is then written a * (1.0 / k), the same bits). */
const char *formula_op_text(int op, int part);
int formula_pow2(double k);
/* The compiled code's includes, kernels and sizes (JB, N1, D, SINCOS_LIM). */
void formula_emit_prologue(const formula_prog *g, formula_sbuf *out);
/* The C source of g's compiled Hessian (formula_emit_hess.c), defining
 *   int sgd_formula_hess(const formula_jit_ctx *ctx, const double *x, double *H, double *ws)
 * (formula_jit.c says what it computes); 0, or -1 out of memory. Only where
 * formula_hess_compilable(g): a prod()'s Hessian stays interpreted. */
int formula_emit_hess(const formula_prog *g, formula_sbuf *out);
int formula_hess_compilable(const formula_prog *g);

#endif
