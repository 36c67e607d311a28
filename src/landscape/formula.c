/* Formula landscapes: f given as a string such as
 *     x^2 + 0.05*(1-cos(60*x))      or      sum(x^2 - 10*cos(2*pi*x)) + 10*d
 * parsed once into an expression tree, folded, and compiled to a flat tape
 * (one instruction per intermediate value, operands by index). The gradient
 * is exact: a forward sweep stores every value, a reverse sweep accumulates
 * adjoints (reverse-mode automatic differentiation). The Hessian is
 * forward-over-reverse: one tangent sweep per coordinate direction.
 *
 * Constant operands are folded into the instruction (60*x is one MULK), and
 * grad_batch sweeps each instruction across several points at once, so the
 * interpreter's dispatch is shared by a block of trials.
 *
 * sum(E) and prod(E) bodies occupy their own stretch of the tape and are
 * re-run once per coordinate, so the tape stays small for any d. Nested
 * sums are rejected, which keeps each body a closed sub-tape: it reads only
 * x (the current coordinate), x1..xd, i and constants, never other values.
 *
 * fg is reentrant: its only mutable memory is four stack arrays sized by the
 * tape (values, local partials, adjoints), and the tape length is capped
 * (FORMULA_MAX_TAPE), so concurrent trials on OpenMP threads share nothing
 * but the read-only program. */
#include "sgdscape/landscape.h"
#include "sgdscape/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const struct {
    const char *name;
    int op, nargs;
} formula_funcs[] = {
    {"sin", OP_SIN, 1},   {"cos", OP_COS, 1},         {"tan", OP_TAN, 1},
    {"exp", OP_EXP, 1},   {"log", OP_LOG, 1},         {"sqrt", OP_SQRT, 1},
    {"abs", OP_ABS, 1},   {"tanh", OP_TANH, 1},       {"sinh", OP_SINH, 1},
    {"cosh", OP_COSH, 1}, {"atan", OP_ATAN, 1},       {"sigmoid", OP_SIGMOID, 1},
    {"softplus", OP_SOFTPLUS, 1}, {"pow", OP_POW, 2}, {"min", OP_MIN, 2},
    {"max", OP_MAX, 2},   {"sum", OP_SUM, 1},         {"prod", OP_PROD, 1},
};

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

/* ---------------------------------------------------------------- values */

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

/* First and second partials, for the Hessian. */
static void op_d2(int op, double a, double b, double v, double k, double *da, double *db,
                  double *daa, double *dab, double *dbb)
{
    op_d1(op, a, b, v, k, da, db);
    *daa = *dab = *dbb = 0.0;
    switch (op) {
    case OP_SQR: *daa = 2.0; break;
    case OP_POWC: *daa = k * (k - 1.0) * pow(a, k - 2.0); break;
    case OP_KDIV: *daa = 2.0 * v / (a * a); break;
    case OP_SIN: *daa = -v; break;
    case OP_COS: *daa = -v; break;
    case OP_TAN: *daa = 2.0 * v * (1.0 + v * v); break;
    case OP_EXP: *daa = v; break;
    case OP_LOG: *daa = -1.0 / (a * a); break;
    case OP_SQRT: *daa = -0.25 / (v * a); break;
    case OP_TANH: *daa = -2.0 * v * (1.0 - v * v); break;
    case OP_SINH: *daa = v; break;
    case OP_COSH: *daa = v; break;
    case OP_ATAN: {
        double q = 1.0 / (1.0 + a * a);
        *daa = -2.0 * a * q * q;
        break;
    }
    case OP_SIGMOID: *daa = v * (1.0 - v) * (1.0 - 2.0 * v); break;
    case OP_SOFTPLUS: {
        double s = sigmoid(a);
        *daa = s * (1.0 - s);
        break;
    }
    case OP_MUL: *dab = 1.0; break;
    case OP_DIV: *dab = -1.0 / (b * b); *dbb = 2.0 * v / (b * b); break;
    case OP_POW:
        *daa = b * (b - 1.0) * pow(a, b - 2.0);
        if (v != 0.0) {
            double la = log(a);
            *dab = pow(a, b - 1.0) * (1.0 + b * la);
            *dbb = v * la * la;
        }
        break;
    default: break;
    }
}

/* ---------------------------------------------------------------- parser */

typedef struct {
    int op, a, b; /* children (node indices), -1 if none; OP_VAR: a = coordinate */
    double k;
} fnode;

typedef struct {
    const char *src;
    size_t pos, len, d;
    fnode *nodes;
    int nn, cap;
    int in_body; /* column+1 of the enclosing sum()/prod(), 0 outside */
    int depth;
    int failed;
} fparser;

/* Records the first error only: later ones are consequences. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int perr(fparser *P, size_t col0, const char *fmt, ...)
{
    if (P->failed) return -1;
    P->failed = 1;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* Long formulas are abbreviated: the column still locates the spot. */
    int show = P->len > 300 ? 300 : (int)P->len;
    sgd_error(SGD_EPARSE, "formula: column %zu: %s in '%.*s%s'", col0 + 1, what, show, P->src,
              P->len > 300 ? "..." : "");
    return -1;
}

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

static void skip_space(fparser *P)
{
    while (P->pos < P->len && (P->src[P->pos] == ' ' || P->src[P->pos] == '\t' ||
                               P->src[P->pos] == '\n' || P->src[P->pos] == '\r'))
        P->pos++;
}

static int peek(fparser *P)
{
    skip_space(P);
    return P->pos < P->len ? (unsigned char)P->src[P->pos] : 0;
}

/* Describes the token at the cursor for messages. */
static void describe_here(fparser *P, char *buf, size_t n)
{
    if (P->pos >= P->len) {
        snprintf(buf, n, "the end of the formula");
        return;
    }
    unsigned char c0 = (unsigned char)P->src[P->pos];
    if (c0 >= 0x80 || c0 < 0x20 || c0 == 0x7f) {
        /* Half a UTF-8 sequence would garble the message (x² is a likely typo). */
        snprintf(buf, n, "byte 0x%02x (%s)", c0, c0 >= 0x80 ? "non-ASCII: write x^2, pi, ..." : "a control character");
        return;
    }
    size_t e = P->pos;
    if (is_alpha(P->src[e]) || is_digit(P->src[e]) || P->src[e] == '.')
        while (e < P->len && e - P->pos < 32 &&
               (is_alpha(P->src[e]) || is_digit(P->src[e]) || P->src[e] == '.'))
            e++;
    else
        e++;
    snprintf(buf, n, "'%.*s'", (int)(e - P->pos), P->src + P->pos);
}

static int new_node(fparser *P, int op, int a, int b, double k)
{
    if (P->nn >= FORMULA_MAX_NODES)
        return perr(P, P->pos, "formula too long (more than %d terms)", FORMULA_MAX_NODES);
    if (P->nn == P->cap) {
        int cap = P->cap ? 2 * P->cap : 64;
        fnode *nd = realloc(P->nodes, (size_t)cap * sizeof *nd);
        if (!nd) {
            P->failed = 1;
            sgd_error(SGD_ENOMEM, "formula: out of memory");
            return -1;
        }
        P->nodes = nd;
        P->cap = cap;
    }
    P->nodes[P->nn] = (fnode){op, a, b, k};
    return P->nn++;
}

/* An operation node, folded to a constant when its operands are constants
 * (2*pi, 10*d...), and a^const specialised so x^2 costs one multiply and its
 * derivative never touches log(x). */
static int make_op(fparser *P, int op, int a, int b)
{
    if (a < 0 || (OP_IS_BINARY(op) && b < 0)) return -1;
    if (op == OP_POW && P->nodes[b].op == OP_CONST) {
        double c = P->nodes[b].k;
        if (P->nodes[a].op == OP_CONST) return new_node(P, OP_CONST, -1, -1, pow(P->nodes[a].k, c));
        if (c == 0.0) return new_node(P, OP_CONST, -1, -1, 1.0); /* pow(a, 0) = 1 for every a */
        if (c == 1.0) return a;
        if (c == 2.0) return new_node(P, OP_SQR, a, a, 0.0);
        return new_node(P, OP_POWC, a, a, c);
    }
    /* e^u is exp(u), whose derivative needs no log(e). */
    if (op == OP_POW && P->nodes[a].op == OP_CONST && P->nodes[a].k == FORMULA_E)
        return new_node(P, OP_EXP, b, b, 0.0);
    if (!OP_IS_BINARY(op)) b = a;
    int ca = P->nodes[a].op == OP_CONST, cb = P->nodes[b].op == OP_CONST;
    if (ca && cb) return new_node(P, OP_CONST, -1, -1, op_value(op, P->nodes[a].k, P->nodes[b].k, 0.0));
    /* One constant operand: the K form (a+k and k+a round identically). */
    if (ca != cb && op >= OP_ADD && op <= OP_DIV) {
        int u = ca ? b : a;
        double k = P->nodes[ca ? a : b].k;
        int kop = op == OP_ADD   ? OP_ADDK
                  : op == OP_MUL ? OP_MULK
                  : op == OP_SUB ? (ca ? OP_KSUB : OP_SUBK)
                                 : (ca ? OP_KDIV : OP_DIVK);
        return new_node(P, kop, u, u, k);
    }
    return new_node(P, op, a, b, 0.0);
}

static int parse_expr(fparser *P);
static int parse_unary(fparser *P);

static int parse_number(fparser *P)
{
    size_t s = P->pos, e = s;
    while (e < P->len && is_digit(P->src[e])) e++;
    if (e < P->len && P->src[e] == '.') {
        e++;
        while (e < P->len && is_digit(P->src[e])) e++;
    }
    if (e < P->len && (P->src[e] == 'e' || P->src[e] == 'E')) {
        size_t t = e + 1;
        if (t < P->len && (P->src[t] == '+' || P->src[t] == '-')) t++;
        if (t < P->len && is_digit(P->src[t])) {
            while (t < P->len && is_digit(P->src[t])) t++;
            e = t;
        }
    }
    /* The span is validated above, so strtod sees only [digits][.digits][e..]. */
    char buf[128];
    if (e - s >= sizeof buf) return perr(P, s, "number too long");
    memcpy(buf, P->src + s, e - s);
    buf[e - s] = '\0';
    P->pos = e;
    return new_node(P, OP_CONST, -1, -1, strtod(buf, NULL));
}

static int parse_call(fparser *P, size_t col, const char *name, size_t nlen)
{
    int fi = -1;
    for (size_t j = 0; j < sizeof formula_funcs / sizeof formula_funcs[0]; j++)
        if (strlen(formula_funcs[j].name) == nlen && !memcmp(formula_funcs[j].name, name, nlen))
            fi = (int)j;
    if (fi < 0)
        return perr(P, col, "unknown function '%.*s' (functions: sin cos tan exp log sqrt abs tanh "
                            "sinh cosh atan sigmoid softplus pow min max sum prod)",
                    (int)nlen, name);
    int op = formula_funcs[fi].op, nargs = formula_funcs[fi].nargs;
    int body = op == OP_SUM || op == OP_PROD;
    if (body && P->in_body)
        return perr(P, col, "%.*s() inside sum()/prod() is not supported", (int)nlen, name);
    P->pos++; /* '(' */
    int args[2] = {-1, -1}, got = 0;
    if (body) P->in_body = (int)col + 1;
    if (peek(P) == ')') {
        got = 0;
    } else {
        for (;;) {
            int a = parse_expr(P);
            if (a < 0) return -1;
            if (got < 2) args[got] = a;
            got++;
            if (peek(P) != ',') break;
            P->pos++;
        }
    }
    if (body) P->in_body = 0;
    if (peek(P) != ')') {
        if (P->pos >= P->len)
            return perr(P, col, "expected ')' to close %.*s(", (int)nlen, name);
        char tok[64];
        describe_here(P, tok, sizeof tok);
        return perr(P, P->pos, "expected ',' or ')' in %.*s(...), found %s", (int)nlen, name, tok);
    }
    P->pos++;
    if (got != nargs)
        return perr(P, col, "%.*s() takes %d argument%s, got %d", (int)nlen, name, nargs,
                    nargs == 1 ? "" : "s", got);
    if (body) return new_node(P, op, args[0], -1, 0.0);
    return make_op(P, op, args[0], args[1]);
}

static int parse_name(fparser *P)
{
    size_t s = P->pos, e = s;
    while (e < P->len && (is_alpha(P->src[e]) || is_digit(P->src[e]))) e++;
    const char *name = P->src + s;
    size_t n = e - s;
    P->pos = e;
    if (peek(P) == '(') return parse_call(P, s, name, n);
    P->pos = e;
#define NAME_IS(lit) (n == sizeof(lit) - 1 && !memcmp(name, lit, n))
    if (NAME_IS("x")) {
        if (P->in_body) return new_node(P, OP_CUR, -1, -1, 0.0);
        if (P->d == 1) return new_node(P, OP_VAR, 0, -1, 0.0);
        return perr(P, s,
                    "'x' is ambiguous when d=%zu: write x1..x%zu for coordinates, or sum(...)/prod(...)"
                    " to range x over them",
                    P->d, P->d);
    }
    if (n >= 2 && name[0] == 'x') {
        int digits = 1;
        for (size_t j = 1; j < n; j++) digits &= is_digit(name[j]);
        if (digits) {
            /* Coordinates are 1-based like the paper's x_1..x_d. */
            size_t c = 0;
            for (size_t j = 1; j < n && c <= P->d; j++) c = 10 * c + (size_t)(name[j] - '0');
            if (c < 1 || c > P->d)
                return perr(P, s, "no coordinate '%.*s': the dimension is d=%zu, so x1..x%zu exist",
                            (int)n, name, P->d, P->d);
            return new_node(P, OP_VAR, (int)(c - 1), -1, 0.0);
        }
    }
    if (NAME_IS("i")) {
        if (P->in_body) return new_node(P, OP_IDX, -1, -1, 0.0);
        return perr(P, s, "'i' (the coordinate index) exists only inside sum() or prod()");
    }
    if (NAME_IS("d")) return new_node(P, OP_CONST, -1, -1, (double)P->d);
    if (NAME_IS("pi")) return new_node(P, OP_CONST, -1, -1, FORMULA_PI);
    if (NAME_IS("e")) return new_node(P, OP_CONST, -1, -1, FORMULA_E);
#undef NAME_IS
    for (size_t j = 0; j < sizeof formula_funcs / sizeof formula_funcs[0]; j++)
        if (strlen(formula_funcs[j].name) == n && !memcmp(formula_funcs[j].name, name, n))
            return perr(P, s, "'%.*s' is a function: write %.*s(...)", (int)n, name, (int)n, name);
    if (P->d == 1)
        return perr(P, s, "unknown name '%.*s' (names: x, i inside sum()/prod(), d, pi, e)", (int)n,
                    name);
    return perr(P, s, "unknown name '%.*s' (names: x1..x%zu, x and i inside sum()/prod(), d, pi, e)",
                (int)n, name, P->d);
}

static int parse_primary(fparser *P)
{
    int c = peek(P);
    if (c == '(') {
        size_t open = P->pos++;
        int r = parse_expr(P);
        if (r < 0) return -1;
        if (peek(P) != ')') {
            if (P->pos >= P->len) return perr(P, open, "expected ')' to close this '('");
            char tok[64];
            describe_here(P, tok, sizeof tok);
            return perr(P, P->pos, "expected ')' or an operator, found %s", tok);
        }
        P->pos++;
        return r;
    }
    if (is_digit(c) || (c == '.' && P->pos + 1 < P->len && is_digit(P->src[P->pos + 1])))
        return parse_number(P);
    if (is_alpha(c)) return parse_name(P);
    char tok[64];
    describe_here(P, tok, sizeof tok);
    return perr(P, P->pos, "expected a number, a name or '(' but found %s", tok);
}

/* power := primary [('^' | '**') unary]: right-associative, and binds
 * tighter than a leading minus, so -x^2 = -(x^2) and 2^3^2 = 2^9. */
static int parse_power(fparser *P)
{
    int base = parse_primary(P);
    if (base < 0) return -1;
    int c = peek(P);
    if (c == '^' || (c == '*' && P->pos + 1 < P->len && P->src[P->pos + 1] == '*')) {
        P->pos += c == '^' ? 1 : 2;
        int ex = parse_unary(P);
        return make_op(P, OP_POW, base, ex);
    }
    return base;
}

static int parse_unary(fparser *P)
{
    if (++P->depth > FORMULA_MAX_DEPTH) {
        perr(P, P->pos, "formula nested too deeply (more than %d levels)", FORMULA_MAX_DEPTH);
        return -1;
    }
    int r, c = peek(P);
    if (c == '-') {
        P->pos++;
        r = make_op(P, OP_NEG, parse_unary(P), -1);
    } else if (c == '+') {
        P->pos++;
        r = parse_unary(P);
    } else {
        r = parse_power(P);
    }
    P->depth--;
    return r;
}

static int parse_term(fparser *P)
{
    int l = parse_unary(P);
    while (l >= 0) {
        int c = peek(P);
        if (c == '*' && !(P->pos + 1 < P->len && P->src[P->pos + 1] == '*')) {
            P->pos++;
            l = make_op(P, OP_MUL, l, parse_unary(P));
        } else if (c == '/') {
            P->pos++;
            l = make_op(P, OP_DIV, l, parse_unary(P));
        } else {
            break;
        }
    }
    return l;
}

static int parse_expr(fparser *P)
{
    int l = parse_term(P);
    while (l >= 0) {
        int c = peek(P);
        if (c != '+' && c != '-') break;
        P->pos++;
        l = make_op(P, c == '+' ? OP_ADD : OP_SUB, l, parse_term(P));
    }
    return l;
}

/* ---------------------------------------------------------------- compiler */

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

/* ---------------------------------------------------------------- evaluation */

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

static double formula_fg(const sgd_landscape *f, const double *x, double *grad)
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

/* ---------------------------------------------------------------- batches */

/* grad_batch: the trial runner asks for the gradients of a block of trials
 * at once. Sweeping each instruction across FB points at a time pays the
 * dispatch once per FB points and lets the compiler vectorise the
 * arithmetic. Per point the operations and their order are those of
 * formula_fg, so both give the same bits. Long tapes (more stack than is
 * reasonable at FB lanes) go through formula_fg one point at a time. */
enum { FB = 8, FORMULA_BATCH_MAX_TAPE = 512 };

/* Lane q of instruction j lives at [j * FB + q]. */
#define LANE(arr, j) ((arr) + (size_t)(j) * FB)

/* One case per operation, op a compile-time constant so op_value/op_d1
 * reduce to the operation itself inside the lane loop. */
#define BATCH_OPS(X)                                                                           \
    X(OP_NEG) X(OP_SQR) X(OP_POWC) X(OP_ADDK) X(OP_SUBK) X(OP_KSUB) X(OP_MULK) X(OP_DIVK)       \
    X(OP_KDIV) X(OP_SIN) X(OP_COS) X(OP_TAN) X(OP_EXP) X(OP_LOG) X(OP_SQRT) X(OP_ABS)          \
    X(OP_TANH) X(OP_SINH) X(OP_COSH) X(OP_ATAN) X(OP_SIGMOID) X(OP_SOFTPLUS) X(OP_ADD)         \
    X(OP_SUB) X(OP_MUL) X(OP_DIV) X(OP_POW) X(OP_MIN) X(OP_MAX)

/* x of lane q is xs + q*d; partials are skipped when pa == NULL. */
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
            if (pa)
                for (int q = 0; q < np; q++) LANE(pa, j)[q] = LANE(pb, j)[q] = 0.0;
            break;
        case OP_IDX:
            for (int q = 0; q < np; q++) R[q] = (double)(cur + 1);
            if (pa)
                for (int q = 0; q < np; q++) LANE(pa, j)[q] = LANE(pb, j)[q] = 0.0;
            break;
        case OP_VAR:
            for (int q = 0; q < np; q++) R[q] = xs[(size_t)q * d + (size_t)I->a];
            break;
        case OP_CUR:
            for (int q = 0; q < np; q++) R[q] = xs[(size_t)q * d + cur];
            break;
#define BATCH_CASE(OP)                                                                 \
    case OP:                                                                           \
        if (pa) {                                                                      \
            double *PA = LANE(pa, j), *PB = LANE(pb, j);                               \
            for (int q = 0; q < np; q++) {                                             \
                R[q] = op_value(OP, A[q], B[q], k);                                    \
                op_d1(OP, A[q], B[q], R[q], k, &PA[q], &PB[q]);                        \
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
        if (I->op == OP_VAR) {
            for (int q = 0; q < np; q++) grad[(size_t)q * d + (size_t)I->a] += W[q];
        } else if (I->op == OP_CUR) {
            for (int q = 0; q < np; q++) grad[(size_t)q * d + cur] += W[q];
        } else {
            double *A = LANE(adj, I->a), *B = LANE(adj, I->b);
            const double *PA = LANE(pa, j), *PB = LANE(pb, j);
            for (int q = 0; q < np; q++) A[q] += W[q] * PA[q];
            for (int q = 0; q < np; q++) B[q] += W[q] * PB[q];
        }
    }
}

/* Seeds a body's adjoints: zero, then w (per lane) at its value. */
static void bseed(const fins *I, int np, double *adj, const double *w)
{
    memset(LANE(adj, I->a), 0, (size_t)(I->b - I->a) * FB * sizeof *adj);
    for (int q = 0; q < np; q++) LANE(adj, I->b - 1)[q] = w[q];
}

/* Gradients of np <= FB points xs (row-major, d each) into gs. */
static void formula_grad_lanes(const sgd_landscape *f, int np, const double *xs, double *gs)
{
    const formula_prog *g = f->params;
    const fins *T = g->tape;
    size_t d = g->d;
    int n = g->n;
    double v[(n + 1) * FB], pa[(n + 1) * FB], pb[(n + 1) * FB], adj[(n + 1) * FB];
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

static void formula_grad_batch(const sgd_landscape *f, size_t n, const double *x, double *grad)
{
    const formula_prog *g = f->params;
    size_t d = g->d;
    if (g->n > FORMULA_BATCH_MAX_TAPE) {
        for (size_t p = 0; p < n; p++) formula_fg(f, x + p * d, grad + p * d);
        return;
    }
    for (size_t p = 0; p < n; p += FB) {
        int np = n - p < FB ? (int)(n - p) : FB;
        formula_grad_lanes(f, np, x + p * d, grad + p * d);
    }
}

/* ---------------------------------------------------------------- Hessian */

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

static int formula_hess(const sgd_landscape *f, const double *x, double *H)
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

/* ---------------------------------------------------------------- construction */

static void formula_destroy(sgd_landscape *f)
{
    formula_prog *g = f->params;
    if (g) {
        free(g->tape);
        free(g->seg);
        free(g);
    }
    f->params = NULL;
}

sgd_landscape *sgd_landscape_formula(const char *expr, size_t d)
{
    if (!expr) {
        sgd_error(SGD_EINVAL, "formula: no expression");
        return NULL;
    }
    if (d < 1) {
        sgd_error(SGD_EINVAL, "formula: dimension must be at least 1");
        return NULL;
    }
    fparser P = {.src = expr, .len = strlen(expr), .d = d};
    if (peek(&P) == 0) {
        sgd_error(SGD_EPARSE, "formula: empty expression");
        return NULL;
    }
    int root = parse_expr(&P);
    if (root >= 0 && peek(&P) != 0) {
        char tok[64];
        describe_here(&P, tok, sizeof tok);
        root = perr(&P, P.pos, "unexpected %s after a complete expression (missing operator?)", tok);
    }
    if (root < 0) {
        free(P.nodes);
        return NULL;
    }

    formula_prog *g = calloc(1, sizeof *g);
    sgd_landscape *f = calloc(1, sizeof *f);
    if (!g || !f) {
        free(g);
        free(f);
        free(P.nodes);
        sgd_error(SGD_ENOMEM, "formula: out of memory");
        return NULL;
    }
    g->d = d;
    fcompiler C = {.prog = g, .nodes = P.nodes};
    int r = emit(&C, root);
    free(P.nodes);
    f->params = g;
    f->destroy = formula_destroy;
    g->root = r;
    if (r < 0 || finalize(g) != SGD_OK) {
        sgd_landscape_free(f);
        return NULL;
    }

    snprintf(f->name, sizeof f->name, "formula");
    size_t len = strlen(expr);
    if (len < sizeof f->doc) snprintf(f->doc, sizeof f->doc, "%s", expr);
    else snprintf(f->doc, sizeof f->doc, "%.*s...", (int)sizeof f->doc - 4, expr);
    f->d = d;
    f->fg = formula_fg;
    f->hess = formula_hess;
    f->grad_batch = formula_grad_batch;
    f->L = NAN;
    sgd_landscape_finish(f);
    return f;
}
