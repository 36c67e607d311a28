/* Kernel variants chosen at run time (docs/bench.md, "Kernel variants").
 *
 * The hot kernels (the 1-D trial step with its Philox noise, the Figure-3
 * landscape's batched kernels, the direct convolutions) are compiled three
 * times into one library: for baseline x86-64, for AVX2+FMA and for AVX-512.
 * The first use picks the widest one this CPU runs, or the one the
 * environment variable SGD_ISA (baseline, avx2, avx512) names. Every variant
 * gives the same bits (FMA contraction stays off; sums are in a fixed order),
 * so the choice changes speed only. */
#ifndef SGDSCAPE_ISA_H
#define SGDSCAPE_ISA_H

typedef enum { SGD_ISA_BASELINE, SGD_ISA_AVX2, SGD_ISA_AVX512, SGD_ISA_COUNT } sgd_isa;

/* "baseline", "avx2", "avx512" (NULL for a value out of range). */
const char *sgd_isa_label(sgd_isa v);
/* Nonzero when this CPU (and OS) runs variant v. */
int sgd_isa_supported(sgd_isa v);
/* Variant by label into *v; SGD_EINVAL naming the accepted labels. */
int sgd_isa_parse(const char *label, sgd_isa *v);
/* Use variant v from now on (tests, benchmarks; not while kernels run):
 * SGD_EUNSUPPORTED when this CPU lacks it. */
int sgd_isa_use(sgd_isa v);
/* The start-up choice, made once: SGD_ISA when set, else the widest
 * supported variant. Returns SGD_EINVAL / SGD_EUNSUPPORTED (with a message)
 * for an SGD_ISA that is unknown or that this CPU lacks; the kernels then run
 * the baseline variant. The experiments call it before they start. */
int sgd_isa_init(void);
/* The variant in use (after sgd_isa_init). */
sgd_isa sgd_isa_current(void);

#endif
