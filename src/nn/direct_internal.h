/* Direct convolution for small channel counts (direct.c has the design):
 * what the selection rule and scratch sizes in direct.c and the kernels of
 * direct_kern.c (compiled once per kernel variant) share, the geometry of a
 * layer. Private to src/nn. */
#ifndef SGD_NN_DIRECT_INTERNAL_H
#define SGD_NN_DIRECT_INTERNAL_H

#include <stddef.h>

#define VL 8                  /* floats per vector */
#define KMAX 5                /* largest kernel handled */
#define SMAX 2                /* largest stride handled */
#define TAPS (KMAX * KMAX)

static inline size_t rnd(size_t a) { return (a + VL - 1) / VL * VL; }

/* Backward data, one phase (ry, rx) of dx. */
typedef struct dphase {
    int a0, na, b0, nb;       /* sub-output rows a in [a0, a0+na), cols b */
    int m8;                   /* flat sub-output length (na rows of dc), rounded */
    int nt;                   /* taps */
    int tap[TAPS];            /* ki * k + kj of each tap */
    int off[TAPS];            /* offset of each tap in a dy channel */
} dphase;

typedef struct dgeo {
    int cin, cout, h, w, k, s, p, oh, ow;
    /* forward and weights: x padded by p, split into s*s planes ph x pw */
    int ph, pw;
    size_t plane, xcs;        /* floats per plane, per channel of the copy */
    int m8;                   /* flat output length oh * pw, rounded */
    int nt, off[TAPS];        /* taps (ki, kj order) and their offsets */
    unsigned used;            /* bit r*s+c: plane (r, c) is read by a tap */
    /* backward data: dy padded by Q at top and left, dr x dc */
    int Q, dr, dc;
    size_t dcs;               /* floats per dy channel of the copy */
    int dm8;                  /* largest phase m8 */
    dphase ph_[SMAX * SMAX];
} dgeo;

/* The geometry of a k x k convolution of stride s and padding p, cin -> cout
 * channels on h x w inputs: 0 when the direct kernels do not handle it. */
int nn_direct_geo(dgeo *g, int cin, int cout, int h, int w, int k, int s, int p);

#endif
