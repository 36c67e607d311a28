/* Formula landscapes, shared by the parser, compiler, evaluator and Hessian
 * (formula.c has the design; each stage is one file: formula_parse.c,
 * formula_compile.c, formula_eval.c, formula_hess.c). */
#ifndef SGD_FORMULA_INTERNAL_H
#define SGD_FORMULA_INTERNAL_H

#include "sgdscape/landscape.h"

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

typedef struct {
    fins *tape;
    int n;      /* tape length */
    fseg *seg;
    int nseg;
    int root;   /* the instruction holding f(x) */
    size_t d;
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

/* ---- values and first partials, inlined into every sweep ---------------- */

/* sigmoid without overflow for either sign of a. */
FORMULA_INLINE double sigmoid(double a)
{
    if (a >= 0) return 1.0 / (1.0 + exp(-a));
    double t = exp(a);
    return t / (1.0 + t);
}

/* NaN in either argument propagates, so a diverging trial stays visible. */
FORMULA_INLINE int min_takes_a(double a, double b) { return a <= b || isnan(a); }
FORMULA_INLINE int max_takes_a(double a, double b) { return a >= b || isnan(a); }

FORMULA_INLINE double op_value(int op, double a, double b, double k)
{
    switch (op) {
    case OP_NEG: return -a;
    case OP_SQR: return a * a;
    case OP_POWC: return pow(a, k);
    case OP_ADDK: return a + k;
    case OP_SUBK: return a - k;
    case OP_KSUB: return k - a;
    case OP_MULK: return a * k;
    case OP_DIVK: return a / k;
    case OP_KDIV: return k / a;
    case OP_SIN: return sin(a);
    case OP_COS: return cos(a);
    case OP_TAN: return tan(a);
    case OP_EXP: return exp(a);
    case OP_LOG: return log(a);
    case OP_SQRT: return sqrt(a);
    case OP_ABS: return fabs(a);
    case OP_TANH: return tanh(a);
    case OP_SINH: return sinh(a);
    case OP_COSH: return cosh(a);
    case OP_ATAN: return atan(a);
    case OP_SIGMOID: return sigmoid(a);
    case OP_SOFTPLUS: return (a > 0 ? a : 0.0) + log1p(exp(-fabs(a)));
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    case OP_POW: return pow(a, b);
    case OP_MIN: return min_takes_a(a, b) ? a : b;
    case OP_MAX: return max_takes_a(a, b) ? a : b;
    default: return NAN;
    }
}

/* First partial derivatives of v = op(a, b) (v already computed). */
FORMULA_INLINE void op_d1(int op, double a, double b, double v, double k, double *da, double *db)
{
    *db = 0.0;
    switch (op) {
    case OP_NEG: *da = -1.0; break;
    case OP_SQR: *da = 2.0 * a; break;
    case OP_POWC: *da = k * pow(a, k - 1.0); break;
    case OP_ADDK:
    case OP_SUBK: *da = 1.0; break;
    case OP_KSUB: *da = -1.0; break;
    case OP_MULK: *da = k; break;
    case OP_DIVK: *da = 1.0 / k; break;
    case OP_KDIV: *da = -v / a; break;
    case OP_SIN: *da = cos(a); break;
    case OP_COS: *da = -sin(a); break;
    case OP_TAN: *da = 1.0 + v * v; break;
    case OP_EXP: *da = v; break;
    case OP_LOG: *da = a >= 0 ? 1.0 / a : NAN; break; /* no slope where log is undefined */
    case OP_SQRT: *da = 0.5 / v; break;
    case OP_ABS: *da = a > 0 ? 1.0 : a < 0 ? -1.0 : 0.0; break;
    case OP_TANH: *da = 1.0 - v * v; break;
    case OP_SINH: *da = cosh(a); break;
    case OP_COSH: *da = sinh(a); break;
    case OP_ATAN: *da = 1.0 / (1.0 + a * a); break;
    case OP_SIGMOID: *da = v * (1.0 - v); break;
    case OP_SOFTPLUS: *da = sigmoid(a); break;
    case OP_ADD: *da = 1.0; *db = 1.0; break;
    case OP_SUB: *da = 1.0; *db = -1.0; break;
    case OP_MUL: *da = b; *db = a; break;
    case OP_DIV: *da = 1.0 / b; *db = -v / b; break;
    case OP_POW:
        *da = b * pow(a, b - 1.0);
        /* d/db a^b = a^b log a; where a^b = 0 the limit is 0, not 0*log 0. */
        *db = v == 0.0 ? 0.0 : v * log(a);
        break;
    case OP_MIN: *da = min_takes_a(a, b); *db = 1.0 - *da; break;
    case OP_MAX: *da = max_takes_a(a, b); *db = 1.0 - *da; break;
    default: *da = NAN; break;
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

#endif
