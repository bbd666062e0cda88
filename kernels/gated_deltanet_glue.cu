/* gated_deltanet_glue.cu: the element-wise pieces of the Gated DeltaNet layer between its GEMMs
 * (spec/gated_deltanet.md §2 steps 2-5 and 7, §3), fp32 arithmetic on bf16 activations:
 *   prep       one block per token row: the three causal depthwise convs + SiLU (history from the
 *              conv state in decode, which each thread then shifts for its own channels; zeros before
 *              t = 0 in prefill), L2 norms of q and k per head (warp sums), g = -exp(A_log)
 *              softplus(a + dt_bias) and beta = sigmoid(b) -> the packed op row.
 *   save_hist  after a prefill: the last W pre-conv rows of each sequence into the conv state.
 *   post       one block per token row, a warp per head: RMSNorm over V, * o_norm.weight * SiLU(G).
 */
#include "gated_deltanet_cuda.cuh"
#include "ttt_kernels.cuh" /* warp_sum */

constexpr int GDN_GLUE_THREADS = 256;

__device__ __forceinline__ float bf(bf16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + __expf(-x)); }

static __global__ void gdn_prep_kernel(const gdn_glue_args a) {
    extern __shared__ float xs[]; /* [CH] conv outputs of this row */
    const int row = blockIdx.x, b = row / a.T, t = row % a.T;
    const int HK = a.H * a.K, HV = a.H * a.V, CH = 2 * HK + HV, W = a.W;
    for (int ch = threadIdx.x; ch < CH; ch += GDN_GLUE_THREADS) {
        float acc = 0.f;
        for (int i = 0; i < W; i++) {
            const int j = t - W + 1 + i;
            float v;
            if (j >= 0) v = bf(a.P[((size_t)b * a.T + j) * a.pw + ch]);
            else v = a.decode ? a.hist[((size_t)b * W + W + j) * CH + ch] : 0.f;
            acc += a.conv_w[(size_t)i * CH + ch] * v;
        }
        xs[ch] = silu_f(acc);
        if (a.decode) { /* shift this channel's history; the newest pre-conv value last */
            float *hcol = a.hist + (size_t)b * W * CH + ch;
            for (int i = 0; i + 1 < W; i++) hcol[(size_t)i * CH] = hcol[(size_t)(i + 1) * CH];
            hcol[(size_t)(W - 1) * CH] = bf(a.P[(size_t)row * a.pw + ch]);
        }
    }
    __syncthreads();
    bf16 *op = a.op + (size_t)row * a.ow;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int hs = warp; hs < 2 * a.H; hs += GDN_GLUE_THREADS / 32) { /* q heads, then k heads */
        const float *x = xs + (size_t)hs * a.K;
        float ss = 0.f;
        for (int c = lane; c < a.K; c += 32) ss += x[c] * x[c];
        const float r = rsqrtf(warp_sum(ss) + 1e-6f);
        for (int c = lane; c < a.K; c += 32) op[hs * a.K + c] = __float2bfloat16_rn(x[c] * r);
    }
    for (int c = threadIdx.x; c < HV; c += GDN_GLUE_THREADS) op[2 * HK + c] = __float2bfloat16_rn(xs[2 * HK + c]);
    if ((int)threadIdx.x < a.H) {
        const int h = threadIdx.x;
        const float av = bf(a.P[(size_t)row * a.pw + CH + h]) + a.dt_bias[h];
        const float sp = av > 20.f ? av : log1pf(__expf(av));
        const float bv = bf(a.P[(size_t)row * a.pw + CH + a.H + h]);
        op[CH + h] = __float2bfloat16_rn(a.A_neg[h] * sp);
        op[CH + a.H + h] = __float2bfloat16_rn(1.0f / (1.0f + __expf(-bv)));
    }
}

static __global__ void gdn_save_hist_kernel(const gdn_glue_args a) {
    const int CH = 2 * a.H * a.K + a.H * a.V;
    const size_t n = (size_t)a.B * a.W * CH;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)(e % CH), i = (int)((e / CH) % a.W), b = (int)(e / ((size_t)CH * a.W));
        const int src = a.T - a.W + i;
        a.hist[e] = src >= 0 ? bf(a.P[((size_t)b * a.T + src) * a.pw + ch]) : 0.f;
    }
}

static __global__ void __launch_bounds__(GDN_GLUE_THREADS) gdn_post_kernel(const gdn_glue_args a) {
    const int row = blockIdx.x, warp = threadIdx.x / 32, lane = threadIdx.x % 32, HV = a.H * a.V;
    const bf16 *G = a.P + (size_t)row * a.pw + 2 * a.H * a.K + HV + 2 * a.H;
    for (int h = warp; h < a.H; h += GDN_GLUE_THREADS / 32) {
        bf16 *o = a.o + (size_t)row * HV + (size_t)h * a.V;
        float ss = 0.f;
        for (int c = lane; c < a.V; c += 32) ss += bf(o[c]) * bf(o[c]);
        const float r = rsqrtf(warp_sum(ss) / (float)a.V + a.norm_eps);
        for (int c = lane; c < a.V; c += 32) o[c] = __float2bfloat16_rn(bf(o[c]) * r * a.norm_w[c] * silu_f(bf(G[h * a.V + c])));
    }
}

static __global__ void gdn_fill_kernel(float *p, size_t n, float scale, unsigned long long seed) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned long long z = seed + 0x9e3779b97f4a7c15ULL * (i + 1);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        p[i] = scale * ((float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
    }
}

sb_status gdn_prep(const gdn_glue_args &a) {
    const size_t smem = (size_t)(2 * a.H * a.K + a.H * a.V) * sizeof(float);
    if (smem > 48 * 1024) CUDA_TRY(cudaFuncSetAttribute(gdn_prep_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    gdn_prep_kernel<<<(unsigned)((size_t)a.B * a.T), GDN_GLUE_THREADS, smem, sb_stream()>>>(a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status gdn_save_hist(const gdn_glue_args &a) {
    const size_t n = (size_t)a.B * a.W * (2 * a.H * a.K + a.H * a.V);
    gdn_save_hist_kernel<<<sb_cdiv(n, 256) < 4096 ? sb_cdiv(n, 256) : 4096, 256, 0, sb_stream()>>>(a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status gdn_post(const gdn_glue_args &a) {
    gdn_post_kernel<<<(unsigned)((size_t)a.B * a.T), GDN_GLUE_THREADS, 0, sb_stream()>>>(a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status gdn_fill(float *p, size_t n, float scale, unsigned long long seed) {
    gdn_fill_kernel<<<sb_cdiv(n, 256) < 4096 ? sb_cdiv(n, 256) : 4096, 256, 0, sb_stream()>>>(p, n, scale, seed);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}
