/* mamba2_glue.cu: the Mamba-2 kernels between the GEMMs and the scan (kernels/mamba2_kernels.cuh):
 *   conv          one thread per (row, column) of the op rows: the causal depthwise conv of the
 *                 xBC columns (bias, SiLU; taps before the first row from the conv history), and a
 *                 copy of dt behind them. Prefill and decode (T = 1) use the same kernel.
 *   conv state    one thread per (sequence, channel): the last K-1 pre-conv inputs, oldest first
 *                 (ascending writes read the old entries first, so it works in place).
 *   gated norm    one warp per (row, norm group): v = y SiLU(z), v / sqrt(mean(v^2) + eps) w.
 *   fills         hash-based uniform values for decode-benchmark states.
 * All arithmetic fp32; bf16 only in memory. Simple kernels: each is a small share of the layer.
 */
#include "mamba2_kernels.cuh"

__device__ __forceinline__ float g_bf(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float g_silu(float x) { return x / (1.0f + __expf(-x)); }

static __global__ void __launch_bounds__(256) m2_conv_kernel(const mamba2_conv_args a) {
    const int cols = a.CD + a.H;
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)a.B * a.T * cols) return;
    const int ch = (int)(idx % cols);
    const long long row = idx / cols;
    const int b = (int)(row / a.T), t = (int)(row % a.T);
    if (ch >= a.CD) { /* dt rides along behind x | B | C */
        a.op[row * a.ld + ch] = a.zx[row * a.ldz + a.dtoff + (ch - a.CD)];
        return;
    }
    float acc = a.bias[ch];
    for (int i = 0; i < a.K; i++) {
        const int src = t - (a.K - 1) + i; /* w[ch, K-1] multiplies the current token */
        const float v = src >= 0 ? g_bf(a.zx[((long long)b * a.T + src) * a.ldz + a.xoff + ch])
                                 : g_bf(a.hist[((size_t)b * (a.K - 1) + (a.K - 1 + src)) * a.CD + ch]);
        acc = fmaf(a.w[(size_t)ch * a.K + i], v, acc);
    }
    a.op[row * a.ld + ch] = __float2bfloat16_rn(g_silu(acc));
}

static __global__ void __launch_bounds__(256) m2_conv_state_kernel(const mamba2_conv_args a) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)a.B * a.CD) return;
    const int b = (int)(idx / a.CD), ch = (int)(idx % a.CD);
    bf16 *hist = a.hist + (size_t)b * (a.K - 1) * a.CD + ch;
    for (int j = 0; j < a.K - 1; j++) {
        const int src = a.T - (a.K - 1) + j;
        hist[(size_t)j * a.CD] = src >= 0 ? a.zx[((long long)b * a.T + src) * a.ldz + a.xoff + ch] : hist[(size_t)(j + a.T) * a.CD];
    }
}

sb_status mamba2_conv(const mamba2_conv_args *a) {
    const size_t n = (size_t)a->B * a->T * (a->CD + a->H);
    m2_conv_kernel<<<sb_cdiv(n, 256), 256, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status mamba2_conv_state_update(const mamba2_conv_args *a) {
    m2_conv_state_kernel<<<sb_cdiv((size_t)a->B * a->CD, 256), 256, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

/* Each lane keeps its own elements between the two passes, so the norm works in place. */
static __global__ void __launch_bounds__(256) m2_gated_norm_kernel(bf16 *y, int ldy, const bf16 *z, int ldz, const float *w,
                                                                  int rows, int E, int G, float eps) {
    const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (warp >= (long long)rows * G) return; /* whole warps */
    const long long r = warp / G;
    const int gs = E / G, c0 = (int)(warp % G) * gs;
    bf16 *yr = y + r * ldy + c0;
    const bf16 *zr = z + r * ldz + c0;
    float ss = 0.0f;
    for (int i = lane; i < gs; i += 32) {
        const float v = g_bf(yr[i]) * g_silu(g_bf(zr[i]));
        ss = fmaf(v, v, ss);
    }
#pragma unroll
    for (int m = 16; m >= 1; m /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, m);
    const float rstd = rsqrtf(ss / gs + eps);
    for (int i = lane; i < gs; i += 32)
        yr[i] = __float2bfloat16_rn(g_bf(yr[i]) * g_silu(g_bf(zr[i])) * rstd * w[c0 + i]);
}

sb_status mamba2_gated_norm(bf16 *y, int ldy, const bf16 *z, int ldz, const float *w, int rows, int E, int G, float eps) {
    const size_t threads = (size_t)rows * G * 32;
    m2_gated_norm_kernel<<<sb_cdiv(threads, 256), 256, 0, sb_stream()>>>(y, ldy, z, ldz, w, rows, E, G, eps);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

__device__ __forceinline__ float hash_uniform(unsigned long long seed, unsigned long long i) {
    unsigned long long z = seed + 0x9e3779b97f4a7c15ull * (i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; /* [-1, 1) */
}

static __global__ void m2_fill_f32_kernel(float *x, size_t n, float scale, unsigned long long seed) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = scale * hash_uniform(seed, i);
}
static __global__ void m2_fill_bf16_kernel(bf16 *x, size_t n, float scale, unsigned long long seed) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = __float2bfloat16_rn(scale * hash_uniform(seed, i));
}

sb_status mamba2_fill_uniform_f32(float *x, size_t n, float scale, unsigned long long seed) {
    m2_fill_f32_kernel<<<sb_cdiv(n, 256), 256, 0, sb_stream()>>>(x, n, scale, seed);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}
sb_status mamba2_fill_uniform_bf16(bf16 *x, size_t n, float scale, unsigned long long seed) {
    m2_fill_bf16_kernel<<<sb_cdiv(n, 256), 256, 0, sb_stream()>>>(x, n, scale, seed);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}
