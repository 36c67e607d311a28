/* Which kernel variant runs (include/sgdscape/isa.h): chosen once, from
 * the CPU's features (cpuid through __builtin_cpu_supports, which also asks
 * the OS whether it saves the wide registers) or from SGD_ISA. */
#include "core/isa.h"
#include "sgdscape/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SGD_KERN_BASELINE_(ret, name, args) name##_baseline,
#define SGD_KERN_AVX2_(ret, name, args) name##_avx2,
#define SGD_KERN_AVX512_(ret, name, args) name##_avx512,
static const sgd_kernels tables[SGD_ISA_COUNT] = {
    {SGD_KERNEL_LIST(SGD_KERN_BASELINE_)},
    {SGD_KERNEL_LIST(SGD_KERN_AVX2_)},
    {SGD_KERNEL_LIST(SGD_KERN_AVX512_)},
};
static const char *const labels[SGD_ISA_COUNT] = {"baseline", "avx2", "avx512"};

static int current = SGD_ISA_BASELINE; /* read and written atomically */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc;
static char init_msg[160];

const char *sgd_isa_label(sgd_isa v) { return (unsigned)v < SGD_ISA_COUNT ? labels[v] : NULL; }

int sgd_isa_supported(sgd_isa v)
{
#if !defined(__x86_64__)
    return v == SGD_ISA_BASELINE; /* not x86: the variants are one code (CMakeLists.txt) */
#else
    __builtin_cpu_init();
    switch (v) {
    case SGD_ISA_BASELINE: return 1;
    /* the flags the variants are compiled with (CMakeLists.txt, SGD_ISA_FLAGS_*) */
    case SGD_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SGD_ISA_AVX512:
        return sgd_isa_supported(SGD_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw");
    default: return 0;
    }
#endif
}

int sgd_isa_parse(const char *label, sgd_isa *v)
{
    for (int i = 0; i < SGD_ISA_COUNT; i++)
        if (label && !strcmp(label, labels[i])) {
            *v = (sgd_isa)i;
            return SGD_OK;
        }
    return sgd_error(SGD_EINVAL, "SGD_ISA: unknown kernel variant '%s' (baseline, avx2 or avx512)",
                     label ? label : "");
}

int sgd_isa_use(sgd_isa v)
{
    if ((unsigned)v >= SGD_ISA_COUNT) return sgd_error(SGD_EINVAL, "kernel variant %d out of range", (int)v);
    if (!sgd_isa_supported(v))
        return sgd_error(SGD_EUNSUPPORTED, "SGD_ISA=%s: this CPU cannot run the %s kernels", labels[v], labels[v]);
    __atomic_store_n(&current, (int)v, __ATOMIC_RELEASE);
    return SGD_OK;
}

static void choose(void)
{
    const char *env = getenv("SGD_ISA");
    sgd_isa v = SGD_ISA_BASELINE;
    if (env && *env) {
        init_rc = sgd_isa_parse(env, &v);
        if (!init_rc) init_rc = sgd_isa_use(v);
        if (init_rc) snprintf(init_msg, sizeof init_msg, "%s", sgd_errmsg());
        return;
    }
    for (int i = SGD_ISA_COUNT - 1; i > 0; i--)
        if (sgd_isa_supported((sgd_isa)i)) {
            v = (sgd_isa)i;
            break;
        }
    sgd_isa_use(v);
}

int sgd_isa_init(void)
{
    pthread_once(&once, choose);
    return init_rc ? sgd_error(init_rc, "%s", init_msg) : SGD_OK;
}

sgd_isa sgd_isa_current(void)
{
    pthread_once(&once, choose);
    return (sgd_isa)__atomic_load_n(&current, __ATOMIC_ACQUIRE);
}

const sgd_kernels *sgd_kern(void) { return &tables[sgd_isa_current()]; }
