/* Formula landscapes: the parser, a recursive descent over
 *     expr := term (('+' | '-') term)*     term := unary (('*' | '/') unary)*
 * with unary minus, right-associative '^', calls and names, into an
 * expression tree (fnode) with constants folded as it is built. */
#include "landscape/formula_internal.h"
#include "sgdscape/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int formula_parse(const char *expr, size_t d, fnode **nodes)
{
    fparser P = {.src = expr, .len = strlen(expr), .d = d};
    *nodes = NULL;
    if (peek(&P) == 0) {
        sgd_error(SGD_EPARSE, "formula: empty expression");
        return -1;
    }
    int root = parse_expr(&P);
    if (root >= 0 && peek(&P) != 0) {
        char tok[64];
        describe_here(&P, tok, sizeof tok);
        root = perr(&P, P.pos, "unexpected %s after a complete expression (missing operator?)", tok);
    }
    if (root < 0) {
        free(P.nodes);
        return -1;
    }
    *nodes = P.nodes;
    return root;
}
