/* attention_common.cuh: what the attention kernels (attention_prefill.cu, attention_decode.cu,
 * attention_rope.cu) share: the argument block of one causal attention call and small device
 * helpers (bf16 packing, safe online-softmax rescaling, 16-byte vectors).
 *
 * Layouts (elements are bf16; d = head dim, H heads, ctx = the cache's capacity in positions):
 *   query of (b, t, h)   q + (b*T + t)*ldq + h*d        rows of a fused q|k|v buffer (ldq = 3D)
 *                                                       or of the op-level input
 *   KV cache (b, h, j)   k + ((b*H + h)*ctx + j)*d      [max_batch, H, ctx, d], k after RoPE
 *   output   (b, t, h)   o + (b*T + t)*ldo + h*d        rows ready for o_proj (ldo = D)
 * Query t sits at absolute position pos + t and attends to keys 0 .. pos + t (causal); the keys
 * pos .. pos+T-1 must already be in the cache (attention_rope.cu writes them). */
#ifndef SB_ATTENTION_COMMON_CUH
#define SB_ATTENTION_COMMON_CUH

#include "../runtime/cuda_common.cuh"

#include <math.h>
#include <stdint.h>

typedef struct attn_fwd_args {
    const bf16 *q;
    long ldq;
    const bf16 *k, *v;
    bf16 *o;
    long ldo;
    int B, T, H, d, ctx;
    int pos; /* absolute position of query t = 0 (prefill 0, decode L->pos) */
} attn_fwd_args;

/* log2(e): softmax runs in base 2, exp(x) = exp2(x * log2(e)), the 1/sqrt(d) folded in. */
#define SB_LOG2E 1.4426950408889634f

static inline float attn_scale_log2(int d) { return SB_LOG2E / sqrtf((float)d); }

/* The checks every attention launcher makes on its arguments (sizes, 16-byte alignment of the
 * rows that kernels read with 16-byte accesses). Returns SB_EINVAL with a message. */
static inline sb_status attn_check_args(const attn_fwd_args *a, const char *who) {
    if (a->B <= 0 || a->T <= 0 || a->H <= 0 || a->d <= 0 || a->pos < 0 || a->pos + a->T > a->ctx)
        return sb_fail(SB_EINVAL, "%s: bad shape B %d T %d H %d d %d pos %d ctx %d", who, a->B, a->T, a->H, a->d,
                       a->pos, a->ctx);
    if (a->d % 8 || a->ldq % 8 || a->ldo % 2 || ((uintptr_t)a->q | (uintptr_t)a->k | (uintptr_t)a->v) % 16 ||
        (uintptr_t)a->o % 4)
        return sb_fail(SB_EINVAL, "%s: rows must be 16-byte aligned (d %d, ldq %ld, ldo %ld)", who, a->d, a->ldq,
                       a->ldo);
    return SB_OK;
}

#ifdef __CUDACC__
/* Online-softmax rescale factor exp2(m_old - m_new) for m_new >= m_old, 0 while nothing was
 * seen (m_old = -inf), never NaN (both -inf). */
__device__ __forceinline__ float attn_rescale(float m_old, float m_new) {
    return m_old == -INFINITY ? 0.0f : exp2f(m_old - m_new);
}

/* Two floats -> one 32-bit register of two bf16 (the lower column in the lower half, as the
 * mma fragments want it). */
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* 8 bf16 in a 16-byte vector <-> 8 floats. */
__device__ __forceinline__ void bf16x8_to_float(const uint4 &u, float (&f)[8]) {
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 p = __bfloat1622float2(h[i]);
        f[2 * i] = p.x;
        f[2 * i + 1] = p.y;
    }
}
__device__ __forceinline__ uint4 float_to_bf16x8(const float (&f)[8]) {
    uint4 u;
    u.x = pack_bf16x2(f[0], f[1]);
    u.y = pack_bf16x2(f[2], f[3]);
    u.z = pack_bf16x2(f[4], f[5]);
    u.w = pack_bf16x2(f[6], f[7]);
    return u;
}
#endif

#endif
