/* mamba_common.cuh: device helpers shared by the Mamba-1 CUDA kernels (mamba_conv.cu,
 * mamba_scan.cu, mamba_step.cu) and the argument block of the scan and the decode step.
 *
 * The PTX one-liners (cp.async, ex2/lg2/rcp.approx) sit here, behind small functions, so that the
 * kernels read as plain C++ (tests/cuemu/ runs them on a CPU model of the GPU, PTX included). */
#ifndef SB_MAMBA_COMMON_CUH
#define SB_MAMBA_COMMON_CUH

#include "../runtime/cuda_common.cuh"

#include <stdint.h>

/* ---- the argument block of the selective scan (prefill) and the decode step ------------------
 * Rows are tokens: row(b, t) = b*T + t (decode: T = 1). Every pointer is a device pointer and
 * every ld is a row stride in elements of that array. */
struct mamba_scan_args {
    const bf16 *u;        int ldu;   /* x after conv + SiLU [rows, E] */
    const void *dt;       int lddt;  /* op: delta (bf16, softplus done); layer: dt_raw (fp32) */
    const float *dt_bias;            /* layer: [E], delta = softplus(dt_raw + bias); op: NULL */
    const bf16 *bc;       int ldbc;  /* B_t at bc[row*ldbc + n], C_t at bc[row*ldbc + N + n] */
    const bf16 *z;        int ldz;   /* gate input [rows, E] */
    bf16 *y;              int ldy;   /* output (C.h + D.u) * SiLU(z) [rows, E] */
    const float *A2;                 /* [E, N]: A * log2(e) = -exp(A_log) * log2(e) */
    const float *Dskip;              /* [E] */
    float *h;                        /* ssm state [B, E, N] fp32: written at the end of a prefill,
                                        read and written by a decode step */
    int B, T, E, N;
    int layer;                       /* 1: dt is fp32 dt_raw (+bias, softplus); 0: dt is bf16 delta */
    /* time-parallel scan (scan version 3): S segments of seg_len tokens */
    int S, seg_len;
    float *seg_h;                    /* [B, S-1, E, N]: the state at the end of segment s from h = 0 */
    float *seg_dsum;                 /* [B, S-1, E]: sum of delta over segment s */
};

/* ---- numerics ------------------------------------------------------------------------------- */
#define SB_LOG2E 1.4426950408889634f
#define SB_LN2 0.6931471805599453f

__device__ __forceinline__ float bf2f(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ bf16 f2bf(float x) { return __float2bfloat16_rn(x); }

/* 2^x on the special-function unit (one MUFU.EX2); relative error ~2^-22, 0 for x < -126. */
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float fast_log2(float x) {
    float y;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float fast_rcp(float x) {
    float y;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/* Accurate versions for the simple kernels (version 1): libdevice, a few ulp. */
__device__ __forceinline__ float softplus_ref(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
__device__ __forceinline__ float silu_ref(float x) { return x / (1.0f + expf(-x)); }

/* softplus(x) = log(1 + e^x) (PyTorch: identity above 20) with two MUFU ops. log(1 + e) through
 * lg2 loses the low bits of a small e when 1 + e rounds, so below e = 1/64 a 4-term series is used
 * (error < e^5/5, relative 1e-8); above, the rounding of 1 + e costs < 4e-6 relative. */
__device__ __forceinline__ float softplus_fast(float x) {
    const float e = fast_exp2(x * SB_LOG2E);
    const float series = e * (1.0f - e * (0.5f - e * (1.0f / 3.0f - e * 0.25f)));
    const float logged = fast_log2(1.0f + e) * SB_LN2;
    return x > 20.0f ? x : (e < 0.015625f ? series : logged);
}
/* SiLU(z) = z / (1 + e^-z); e^-z = inf for z < -88 gives rcp(inf) = 0 and SiLU = -0. */
__device__ __forceinline__ float silu_fast(float z) { return z * fast_rcp(1.0f + fast_exp2(-z * SB_LOG2E)); }

/* ---- asynchronous 16-byte global -> shared copies (sm_80+) ------------------------------------ */
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;" ::: "memory"); }

/* ---- launcher helpers ------------------------------------------------------------------------- */
static inline bool sb_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }
/* A row-strided array is 16-byte friendly when its base and its row stride in bytes are. */
static inline bool sb_rows_aligned16(const void *p, long long ld, size_t elem) {
    return sb_aligned16(p) && ((size_t)ld * elem) % 16 == 0;
}

#endif
