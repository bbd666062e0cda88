/* ttt_glue.cu: the TTT layer around the core (golden README TTT 1-3, 7), on the GPU. The input
 * projections are one cuBLAS GEMM on a weight concatenated at setup (kernels/ttt_cuda.cu):
 *   proj = x [q (|k) | v | g (use_gate) | lr-gate rows]^T
 * and these kernels turn its rows into the op rows XQ | XK | XV | lr of the core, then finish:
 *   ops:  share_qk: XQ = conv_q(P), XK = conv_k(P) (causal depthwise, width K, bias, P = q columns,
 *         history of the K-1 previous P rows); RoPE on XQ, XK, interleaved pairs (2j, 2j+1), at
 *         position (t mod mb), angle p theta^(-2j/d) from a cos/sin table made at setup (mb x d/2
 *         entries: no transcendental, no stack frame in the kernel); lr = ttt_base_lr
 *         sigmoid(logit + bias_h) / d.
 *   post: LayerNorm over D (post_norm, eps) of the core output, times gelu_tanh(x Wg^T) with a gate.
 * All arithmetic in fp32 on bf16 inputs. Memory-bound and small next to the GEMMs.
 *
 * version 1 (the only one): ops = one block per token row, a thread per channel pair; post = one
 *   warp per row, two-pass statistics. Not yet measured on a GPU.
 */
#include "ttt_kernels.cuh"

/* P (the q columns) at time s of sequence seq: a row of this call, or the history before it. */
__device__ __forceinline__ float conv_input(const ttt_glue_args &a, int seq, int s, int c) {
    if (s >= 0) return to_f32(a.proj[((size_t)seq * a.T + s) * a.ldp + a.col_q + c]);
    return a.hist[((size_t)seq * a.H * a.d + c) * (a.K - 1) + (a.K - 1) + s];
}

__global__ void ttt_glue_ops_kernel(ttt_glue_args a) {
    const size_t rowi = blockIdx.x;
    const int seq = (int)(rowi / a.T), t = (int)(rowi % a.T);
    const int d = a.d, D = a.H * d, K = a.K;
    const bf16 *pr = a.proj + rowi * a.ldp;
    bf16 *o = a.ops + rowi * a.ldo;
    const float *rope = a.rope + (size_t)((a.pos0 + t) % a.mb) * d; /* [d/2][2] at this position */
    for (int pair = threadIdx.x; pair < D / 2; pair += blockDim.x) {
        const int c = 2 * pair, j = (c % d) / 2;
        float q0, q1, k0, k1;
        if (a.col_k < 0) { /* share_qk: two convs of P */
            q0 = a.cq_b[c], q1 = a.cq_b[c + 1], k0 = a.ck_b[c], k1 = a.ck_b[c + 1];
            for (int i = 0; i < K; i++) {
                const int s = t - (K - 1) + i;
                const float p0 = conv_input(a, seq, s, c), p1 = conv_input(a, seq, s, c + 1);
                q0 += a.cq_w[c * K + i] * p0;
                q1 += a.cq_w[(c + 1) * K + i] * p1;
                k0 += a.ck_w[c * K + i] * p0;
                k1 += a.ck_w[(c + 1) * K + i] * p1;
            }
            if (a.update_hist && K > 1) { /* decode (T == 1): shift P(t) into the history */
                float *h0 = a.hist + ((size_t)seq * D + c) * (K - 1), *h1 = h0 + (K - 1);
                for (int i = 0; i + 1 < K - 1; i++) {
                    h0[i] = h0[i + 1];
                    h1[i] = h1[i + 1];
                }
                h0[K - 2] = to_f32(pr[a.col_q + c]);
                h1[K - 2] = to_f32(pr[a.col_q + c + 1]);
            }
        } else {
            q0 = to_f32(pr[a.col_q + c]), q1 = to_f32(pr[a.col_q + c + 1]);
            k0 = to_f32(pr[a.col_k + c]), k1 = to_f32(pr[a.col_k + c + 1]);
        }
        const float cs = rope[2 * j], sn = rope[2 * j + 1];
        o[c] = __float2bfloat16_rn(q0 * cs - q1 * sn);
        o[c + 1] = __float2bfloat16_rn(q1 * cs + q0 * sn);
        o[D + c] = __float2bfloat16_rn(k0 * cs - k1 * sn);
        o[D + c + 1] = __float2bfloat16_rn(k1 * cs + k0 * sn);
        o[2 * D + c] = pr[a.col_v + c];
        o[2 * D + c + 1] = pr[a.col_v + c + 1];
    }
    for (int hh = threadIdx.x; hh < a.H; hh += blockDim.x) {
        const float logit = to_f32(pr[a.col_lr + hh]) + a.lr_bias[hh];
        o[3 * D + hh] = __float2bfloat16_rn(a.lr_scale / (1.0f + expf(-logit)));
    }
}

/* hist[seq][c][i] <- P at time T - (K-1) + i (or the old history when T < K-1). */
__global__ void ttt_glue_save_hist_kernel(ttt_glue_args a) {
    const int D = a.H * a.d, K = a.K;
    const size_t n = (size_t)a.B * D;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const int seq = (int)(e / D), c = (int)(e % D);
        float *hrow = a.hist + e * (K - 1);
        for (int i = 0; i < K - 1; i++) { /* ascending: hrow[i + T] is read before it is written */
            const int s = a.T - (K - 1) + i;
            hrow[i] = s >= 0 ? to_f32(a.proj[((size_t)seq * a.T + s) * a.ldp + a.col_q + c]) : hrow[i + a.T];
        }
    }
}

/* post_norm (+ gate), one warp per row. */
static constexpr int POST_ROWS = 8;
__global__ void __launch_bounds__(32 * POST_ROWS) ttt_glue_post_kernel(ttt_post_args a) {
    const long long rowi = (long long)blockIdx.x * POST_ROWS + (threadIdx.x >> 5);
    if (rowi >= a.rows) return; /* whole warps */
    const int lane = threadIdx.x & 31, D = a.D;
    const bf16 *x = a.core + rowi * a.ldc;
    float s = 0.f;
    for (int c = lane; c < D; c += 32) s += to_f32(x[c]);
    const float mu = warp_sum(s) / (float)D;
    float qs = 0.f;
    for (int c = lane; c < D; c += 32) {
        const float e = to_f32(x[c]) - mu;
        qs += e * e;
    }
    const float rstd = 1.0f / sqrtf(warp_sum(qs) / (float)D + a.eps);
    bf16 *y = a.out + rowi * a.ldo;
    const bf16 *gate = a.gate ? a.gate + rowi * a.ldg : nullptr;
    for (int c = lane; c < D; c += 32) {
        float v = a.w[c] * (to_f32(x[c]) - mu) * rstd + a.b[c];
        if (gate) v *= gelu_tanh(to_f32(gate[c]));
        y[c] = __float2bfloat16_rn(v);
    }
}

/* Deterministic noise from (seed, i): splitmix64 -> uniform [-1, 1). */
__device__ __forceinline__ float hash_uniform(uint64_t seed, uint64_t i) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

__global__ void ttt_fill_random_kernel(float *p, size_t n, const float *base, size_t period, float scale, uint64_t seed) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = (base ? base[i % period] : 0.f) + (scale != 0.f ? scale * hash_uniform(seed, i) : 0.f);
}

/* ---- launchers -------------------------------------------------------------------------- */
static unsigned grid_for(size_t n, int threads) {
    size_t b = (n + threads - 1) / threads;
    const size_t cap = (size_t)sb_num_sms() * 32;
    return (unsigned)(b < 1 ? 1 : b > cap ? cap : b);
}

sb_status ttt_glue_ops(const ttt_glue_args *a) {
    const size_t rows = (size_t)a->B * a->T;
    if (rows == 0 || rows > 0x7fffffffull || a->d % 2) return sb_fail(SB_EINVAL, "ttt glue: %zu rows, head_dim %d", rows, a->d);
    if (a->update_hist && a->T != 1) return sb_fail(SB_EINVAL, "ttt glue: history update needs T == 1");
    ttt_glue_ops_kernel<<<(unsigned)rows, 128, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status ttt_glue_save_hist(const ttt_glue_args *a) {
    if (a->K < 2) return SB_OK;
    const size_t n = (size_t)a->B * a->H * a->d;
    ttt_glue_save_hist_kernel<<<grid_for(n, 256), 256, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status ttt_glue_post(const ttt_post_args *a) {
    if (a->rows <= 0) return SB_OK;
    const long long blocks = (a->rows + POST_ROWS - 1) / POST_ROWS;
    if (blocks > 0x7fffffffll) return sb_fail(SB_EINVAL, "ttt post: %lld rows", a->rows);
    ttt_glue_post_kernel<<<(unsigned)blocks, 32 * POST_ROWS, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status ttt_fill_random(float *p, size_t n, const float *base, size_t period, float scale, uint64_t seed) {
    if (n == 0) return SB_OK;
    ttt_fill_random_kernel<<<grid_for(n, 256), 256, 0, sb_stream()>>>(p, n, base, period ? period : 1, scale, seed);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}
