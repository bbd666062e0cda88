/* mamba_conv.cu: the causal depthwise conv1d of Mamba-1 (x <- SiLU(conv(x) + bias)) for prefill and
 * decode, the conv state that links them, and the random-state fill used by decode benchmarks.
 *   u[t, e] = SiLU(bias[e] + sum_{i<K} w[e, i] x[t-K+1+i, e]),  x[t < 0] from the state (or 0).
 * All arithmetic in fp32; inputs and u in bf16; the state [B, E, K-1] in fp32 (the pre-conv x, which
 * is bf16 already, so fp32 is lossless; kept fp32 to match state_bytes in layers/mamba.c).
 *
 * version 1: one thread per (b, t, e) reads its K inputs and writes one bf16. Simple, any K.
 * version 2: a thread owns 8 consecutive channels and CONV_TT consecutive tokens: 16-byte loads
 *            and stores, the K-1 previous inputs kept in registers (each input read (TT+K-1)/TT
 *            times instead of K times). Memory-bound: 2E bytes in, 2E out per token
 *            (1.4b: 16 KB per token -> 5.5 ns at 3 TB/s).
 * measured speed: not yet measured on a GPU.
 */
#include "mamba_conv.cuh"

/* ---- version 1 ------------------------------------------------------------------------------- */
static __global__ void __launch_bounds__(256) mamba_conv_kernel1(const mamba_conv_args a) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)a.B * a.T * a.E) return;
    const int e = (int)(idx % a.E);
    const long long bt = idx / a.E;
    const int t = (int)(bt % a.T), b = (int)(bt / a.T), K = a.K;
    float s = a.bias[e];
    for (int i = 0; i < K; i++) {
        const int src = t - (K - 1) + i;
        float v = 0.0f;
        if (src >= 0) v = bf2f(a.x[((size_t)b * a.T + src) * a.ldx + e]);
        else if (a.hist) v = a.hist[((size_t)b * a.E + e) * (K - 1) + (K - 1 + src)];
        s += a.w[(size_t)e * K + i] * v;
    }
    a.u[(size_t)bt * a.ldu + e] = f2bf(silu_ref(s));
}

/* ---- version 2 ------------------------------------------------------------------------------- */
constexpr int CONV_K = 4;  /* Mamba's d_conv */
constexpr int CONV_TT = 32; /* tokens per thread */

__device__ __forceinline__ void load_bf16x8(const bf16 *p, float (&v)[8]) {
    const uint4 raw = *(const uint4 *)p;
    const unsigned w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float2 f = __bfloat1622float2(*(const __nv_bfloat162 *)&w[i]);
        v[2 * i] = f.x;
        v[2 * i + 1] = f.y;
    }
}

__device__ __forceinline__ void store_bf16x8(bf16 *p, const float (&v)[8]) {
    uint4 raw;
    unsigned w[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const __nv_bfloat162 pair = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
        w[i] = *(const unsigned *)&pair;
    }
    raw.x = w[0]; raw.y = w[1]; raw.z = w[2]; raw.w = w[3];
    *(uint4 *)p = raw;
}

/* Threads: (b, token run, 8-channel group) with the group fastest, so that a warp reads 32 x 16
 * contiguous bytes of one row. */
static __global__ void __launch_bounds__(256) mamba_conv_kernel2(const mamba_conv_args a) {
    constexpr int K = CONV_K;
    const int groups = a.E / 8, runs = (a.T + CONV_TT - 1) / CONV_TT;
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)a.B * runs * groups) return;
    const int g = (int)(idx % groups), run = (int)((idx / groups) % runs), b = (int)(idx / groups / runs);
    const int e0 = g * 8, t0 = run * CONV_TT, t1 = min(a.T, t0 + CONV_TT);
    float w[8][K], bias[8];
#pragma unroll
    for (int c = 0; c < 8; c++) {
        const float4 wv = *(const float4 *)(a.w + (size_t)(e0 + c) * K);
        w[c][0] = wv.x; w[c][1] = wv.y; w[c][2] = wv.z; w[c][3] = wv.w;
        bias[c] = a.bias[e0 + c];
    }
    /* win[j] = x[t-K+1+j] for the token t about to be computed, j < K-1 */
    float win[K - 1][8];
#pragma unroll
    for (int j = 0; j < K - 1; j++) {
        const int src = t0 - (K - 1) + j;
        if (src >= 0) {
            load_bf16x8(a.x + ((size_t)b * a.T + src) * a.ldx + e0, win[j]);
        } else {
#pragma unroll
            for (int c = 0; c < 8; c++)
                win[j][c] = a.hist ? a.hist[((size_t)b * a.E + e0 + c) * (K - 1) + (K - 1 + src)] : 0.0f;
        }
    }
    for (int t = t0; t < t1; t++) {
        const size_t row = (size_t)b * a.T + t;
        float cur[8], out[8];
        load_bf16x8(a.x + row * a.ldx + e0, cur);
#pragma unroll
        for (int c = 0; c < 8; c++) {
            float s = bias[c];
#pragma unroll
            for (int j = 0; j < K - 1; j++) s = fmaf(w[c][j], win[j][c], s);
            s = fmaf(w[c][K - 1], cur[c], s);
            out[c] = silu_fast(s);
        }
        store_bf16x8(a.u + row * a.ldu + e0, out);
#pragma unroll
        for (int c = 0; c < 8; c++) {
#pragma unroll
            for (int j = 0; j < K - 2; j++) win[j][c] = win[j + 1][c];
            win[K - 2][c] = cur[c];
        }
    }
}

/* ---- conv state ------------------------------------------------------------------------------ */
/* One thread per (b, e). out[j] = x[T-(K-1)+j] or, before the sequence, the old state shifted by T
 * (old[j+T]): reading j+T > j before writing j keeps the in-place update correct. */
static __global__ void __launch_bounds__(256) mamba_conv_state_kernel(const mamba_conv_args a, float *out) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)a.B * a.E) return;
    const int e = (int)(idx % a.E), b = (int)(idx / a.E), K = a.K;
    const float *old = a.hist ? a.hist + (size_t)idx * (K - 1) : nullptr;
    float *o = out + (size_t)idx * (K - 1);
    for (int j = 0; j < K - 1; j++) {
        const int src = a.T - (K - 1) + j;
        o[j] = src >= 0 ? bf2f(a.x[((size_t)b * a.T + src) * a.ldx + e]) : (old ? old[j + a.T] : 0.0f);
    }
}

/* Decode: one thread per (b, e); the window is the state then the new input. */
static __global__ void __launch_bounds__(256) mamba_conv_step_kernel(const mamba_conv_args a, float *hist) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)a.B * a.E) return;
    const int e = (int)(idx % a.E), b = (int)(idx / a.E), K = a.K;
    float *hs = hist + (size_t)idx * (K - 1);
    const float *w = a.w + (size_t)e * K;
    const float x = bf2f(a.x[(size_t)b * a.ldx + e]);
    float s = fmaf(w[K - 1], x, a.bias[e]);
    for (int j = 0; j < K - 1; j++) s = fmaf(w[j], hs[j], s);
    for (int j = 0; j < K - 2; j++) hs[j] = hs[j + 1];
    hs[K - 2] = x;
    a.u[(size_t)b * a.ldu + e] = f2bf(silu_fast(s));
}

/* splitmix64 of (seed, i) -> uniform(-1, 1) */
static __global__ void __launch_bounds__(256) mamba_fill_kernel(float *x, size_t n, float scale, unsigned long long seed) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned long long z = seed + 0x9e3779b97f4a7c15ULL * (i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    x[i] = scale * ((float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
}

/* ---- launchers --------------------------------------------------------------------------------- */
int mamba_conv_supports(int version, const mamba_conv_args *a) {
    if (a->B <= 0 || a->T <= 0 || a->E <= 0 || a->K < 2 || a->ldx < a->E || a->ldu < a->E) return 0;
    if (version == 1) return 1;
    if (version != 2) return 0;
    return a->K == CONV_K && a->E % 8 == 0 && sb_rows_aligned16(a->x, a->ldx, sizeof(bf16)) &&
           sb_rows_aligned16(a->u, a->ldu, sizeof(bf16)) && sb_aligned16(a->w);
}

sb_status mamba_conv(int version, const mamba_conv_args *a) {
    if (!mamba_conv_supports(version, a))
        return sb_fail(SB_EINVAL, "mamba_conv v%d: unsupported shape or alignment (B %d, T %d, E %d, K %d)", version, a->B,
                       a->T, a->E, a->K);
    switch (version) {
    case 1: mamba_conv_kernel1<<<sb_cdiv((size_t)a->B * a->T * a->E, 256), 256, 0, sb_stream()>>>(*a); break;
    case 2: {
        const size_t threads = (size_t)a->B * ((a->T + CONV_TT - 1) / CONV_TT) * (a->E / 8);
        mamba_conv_kernel2<<<sb_cdiv(threads, 256), 256, 0, sb_stream()>>>(*a);
        break;
    }
    default: return sb_fail(SB_EINVAL, "mamba_conv: no version %d", version);
    }
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status mamba_conv_state_update(const mamba_conv_args *a, float *hist_out) {
    if (a->B <= 0 || a->T <= 0 || a->E <= 0 || a->K < 2 || !hist_out) return sb_fail(SB_EINVAL, "mamba_conv_state_update: bad arguments");
    mamba_conv_state_kernel<<<sb_cdiv((size_t)a->B * a->E, 256), 256, 0, sb_stream()>>>(*a, hist_out);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status mamba_conv_step(const mamba_conv_args *a, float *hist) {
    if (a->B <= 0 || a->T != 1 || a->E <= 0 || a->K < 2 || !hist) return sb_fail(SB_EINVAL, "mamba_conv_step: bad arguments");
    mamba_conv_step_kernel<<<sb_cdiv((size_t)a->B * a->E, 256), 256, 0, sb_stream()>>>(*a, hist);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status mamba_fill_uniform(float *x, size_t n, float scale, unsigned long long seed) {
    if (n == 0) return SB_OK;
    mamba_fill_kernel<<<sb_cdiv(n, 256), 256, 0, sb_stream()>>>(x, n, scale, seed);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}
