/* Formula landscapes: f given as a string such as
 *     x^2 + 0.05*(1-cos(60*x))      or      sum(x^2 - 10*cos(2*pi*x)) + 10*d
 * parsed once into an expression tree, folded, and compiled to a flat tape
 * (one instruction per distinct intermediate value, operands by index: a
 * subexpression written twice is computed once, formula_compile.c). The gradient
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
 * but the read-only program.
 *
 * One file per stage: formula_parse.c (string -> tree), formula_compile.c
 * (tree -> tape), formula_eval.c (f, gradient, batches), formula_hess.c
 * (Hessian); this one builds the landscape. */
#include "landscape/formula_internal.h"
#include "sgdscape/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void formula_destroy(sgd_landscape *f)
{
    formula_prog *g = f->params;
    if (g) {
        formula_jit_free(g->jit);
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
    fnode *nodes = NULL;
    int root = formula_parse(expr, d, &nodes);
    if (root < 0) return NULL;

    formula_prog *g = calloc(1, sizeof *g);
    sgd_landscape *f = calloc(1, sizeof *f);
    if (!g || !f) {
        free(g);
        free(f);
        free(nodes);
        sgd_error(SGD_ENOMEM, "formula: out of memory");
        return NULL;
    }
    g->d = d;
    int rc = formula_compile(g, nodes, root);
    free(nodes);
    f->params = g;
    f->destroy = formula_destroy;
    if (rc != SGD_OK) {
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
