/* cpu_common.h: what the fast CPU kernels (kernels/<layer>_cpu.c) share: row-major wrappers over
 * OpenBLAS cblas_sgemm for every projection, host allocation that refuses what cannot fit,
 * grow-only workspaces, the OpenMP thread count (all three in runtime/host_blas.h), and small
 * vectorisable math (exp, SiLU).
 *
 * Threading: the big GEMMs run outside any parallel region and use OpenBLAS's own threads; the
 * kernels' OpenMP regions call cblas_* from inside, where (OpenMP build of OpenBLAS) each call
 * runs on the calling thread only. */
#ifndef SB_CPU_COMMON_H
#define SB_CPU_COMMON_H

#include "../layers/seqbench.h"
#include "../runtime/host_blas.h"

/* The clamps of cpu_expf are comparisons that GCC will not if-convert (and so not vectorise)
 * while floating-point compares may trap; no kernel relies on FP exceptions, so the files that
 * include this header are compiled as with -fno-trapping-math. */
#pragma GCC optimize("no-trapping-math")

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* exp in fp32 for loops that must vectorise (#pragma omp simd): Cody-Waite range reduction and
 * a degree-6 polynomial, relative error ~2e-7 over [-87, 88]; clamped outside (exp(-87) ~ 1.6e-38),
 * NaN stays NaN. */
static inline float cpu_expf(float x) {
    x = x > 88.0f ? 88.0f : x;             /* written so that NaN passes through */
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504088896341f + 12582912.0f; /* + 1.5*2^23 rounds x/ln2 to an integer */
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;       /* ln2 split: hi part exact in fp32 */
    r = r - n * -2.12194440e-4f;          /* lo part */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits;
    memcpy(&bits, &t, sizeof bits);       /* n sits in the low mantissa bits of t */
    bits = (bits - 0x4B400000 + 127) << 23; /* 2^n */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float cpu_silu(float x) { return x / (1.0f + cpu_expf(-x)); }

/* softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), vectorisable. log1p(y), y in (0, 1], as
 * 2 atanh(s), s = y / (2 + y) in (0, 1/3]: an odd series whose terms past s^17 are < 1e-9 of
 * the result, relative accuracy ~1e-7 even for tiny y (delta ~ 1e-3 needs it). Above 20 it is
 * x to fp32 precision, as PyTorch's threshold. */
static inline float cpu_softplusf(float x) {
    float ax = x < 0.0f ? -x : x;
    float y = cpu_expf(-ax), s = y / (2.0f + y), s2 = s * s;
    float p = 1.0f / 17;
    p = p * s2 + 1.0f / 15;
    p = p * s2 + 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    p = p * s2 + 1.0f;
    return (x > 0.0f ? x : 0.0f) + 2.0f * s * p;
}

#endif
