/* ttt_mlp_dual.cu: the TTT-MLP prefill core, dual form (SPEC §3.3), on the GPU. Inner model
 * f(x) = gelu(x W1 + b1) W2 + b2 with hidden width dh = 4d; per (sequence, head), per mini-batch:
 *   Z1 = K W1 + b1, X2 = gelu(Z1), Z2 = X2 W2 + b2, G2 = LN_L2_bwd(Z2, V - K),
 *   G1 = (G2 W2^T) . gelu'(Z1), C1_ij = tau_i lr_j (1 + q_i.k_j) (j <= i),
 *   Zbar1 = Q W1 + b1 - C1 G1, X2bar = gelu(Zbar1), C2_ij = tau_i lr_j (1 + x2bar_i.x2_j),
 *   Zbar2 = X2bar W2 + b2 - C2 G2, out = Q + LN(Zbar2),
 *   W1 -= (eta_last K)^T G1, b1 -= eta_last.G1, W2 -= (eta_last X2)^T G2, b2 -= eta_last.G2.
 * A last partial mini-batch leaves the weights at its start and writes the four gradient sums
 * (lr-weighted, no tau) for decode. The CPU reference is layers/ttt_mlp.c.
 *
 * Where the fp32 weights live: W1 and W2 are 2 x d x 4d fp32 = 128 KB per (b,h) at d = 64, too
 * much to sit in shared memory next to the tiles with room to spare (and it would cap the SM at
 * one block anyway). Version 1 keeps them in the fp32 state arrays in global memory, which the
 * block owns for the whole walk: 128 KB per block, 132 blocks in flight = 17 MB, resident in the
 * 50 MB L2, so the re-reads are L2 hits; biases and every per-mini-batch tile are in shared
 * memory. The planned version 2 keeps the masters in registers instead (4d/16 = 16 warps, warp w
 * owning hidden units [16w, 16w+16): W1^T and W2 in accumulator layout, 64 fp32 registers per
 * thread at d = 64), which makes X W1, G2 W2^T and both updates register-local mma, with X2 W2
 * needing an 8x8 movmatrix transpose of the bf16 copy and a cross-warp sum of [16 x d] partials.
 *
 * version 1: one block of 256 threads per (sequence, head), fp32 loops, weights in global
 *            (L2-resident) state, tiles in shared memory; any d (shared memory permitting),
 *            mb <= 64. Not yet measured on a GPU.
 */
#include "ttt_kernels.cuh"

/* ---- version 1: fp32 loops, weights in the (L2-resident) state arrays -------------------- */
static constexpr int V1_THREADS = 256;

static size_t v1_smem_bytes(int d, int mb) {
    auto r16 = [](size_t n) { return (n * sizeof(float) + 15) & ~(size_t)15; };
    const size_t dh = 4 * (size_t)d;
    return r16(dh) + 3 * r16(d) + 2 * r16(mb) + 5 * r16((size_t)mb * d) + 4 * r16((size_t)mb * dh) + r16((size_t)mb * mb);
}

__global__ void __launch_bounds__(V1_THREADS, 1) ttt_mlp_dual_kernel1(ttt_core_args a) {
    const int H = a.H, d = a.d, dh = 4 * d, mb = a.mb, D = H * d;
    const int seq = blockIdx.x / H, h = blockIdx.x % H;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = V1_THREADS / 32;
    const size_t bh = (size_t)seq * H + h, row0 = (size_t)seq * a.T;
    SB_DYN_SMEM(smem);
    smem_carver sc{smem};
    float *b1 = sc.take<float>(dh), *b2 = sc.take<float>(d), *lw = sc.take<float>(d), *lb = sc.take<float>(d);
    float *tau = sc.take<float>(mb), *alpha = sc.take<float>(mb);
    float *Q = sc.take<float>((size_t)mb * d), *K = sc.take<float>((size_t)mb * d), *V = sc.take<float>((size_t)mb * d);
    float *Z2 = sc.take<float>((size_t)mb * d), *G2 = sc.take<float>((size_t)mb * d);
    float *Z1 = sc.take<float>((size_t)mb * dh), *X2 = sc.take<float>((size_t)mb * dh);
    float *G1 = sc.take<float>((size_t)mb * dh), *Xb = sc.take<float>((size_t)mb * dh);
    float *C = sc.take<float>((size_t)mb * mb);

    /* this block's weights: the state arrays, started from the parameters */
    float *W1 = a.W.W1 + bh * d * dh, *W2 = a.W.W2 + bh * dh * d;
    const float *W1i = a.init.W1 + (size_t)h * d * dh, *W2i = a.init.W2 + (size_t)h * dh * d;
    for (int e = tid; e < d * dh; e += V1_THREADS) {
        W1[e] = W1i[e];
        W2[e] = W2i[e];
    }
    for (int u = tid; u < dh; u += V1_THREADS) b1[u] = a.init.b1[(size_t)h * dh + u];
    for (int c = tid; c < d; c += V1_THREADS) {
        b2[c] = a.init.b2[(size_t)h * d + c];
        lw[c] = a.ln_w[(size_t)h * d + c];
        lb[c] = a.ln_b[(size_t)h * d + c];
    }
    for (int i = tid; i < mb; i += V1_THREADS) tau[i] = a.tau[i];

    for (int t0 = 0; t0 < a.T; t0 += mb) {
        const int r = min(mb, a.T - t0);
        __syncthreads(); /* previous mini-batch done (and the weights above written) */
        for (int e = tid; e < mb * d; e += V1_THREADS) {
            const int i = e / d, c = e % d;
            float q = 0.f, k = 0.f, v = 0.f;
            if (i < r) {
                const bf16 *row = a.x + (row0 + t0 + i) * a.ldx + (size_t)h * d + c;
                q = to_f32(row[0]);
                k = to_f32(row[D]);
                v = to_f32(row[2 * D]);
            }
            Q[e] = q;
            K[e] = k;
            V[e] = v;
        }
        for (int i = tid; i < mb; i += V1_THREADS)
            alpha[i] = i < r ? to_f32(a.x[(row0 + t0 + i) * a.ldx + 3 * D + h]) : 0.f;
        __syncthreads();

        /* Z1 = K W1 + b1, X2 = gelu(Z1); C1 */
        for (int e = tid; e < mb * dh + mb * mb; e += V1_THREADS) {
            if (e < mb * dh) {
                const int i = e / dh, u = e % dh;
                float s = b1[u];
                for (int k = 0; k < d; k++) s += K[i * d + k] * W1[k * dh + u];
                Z1[e] = s;
                X2[e] = gelu_tanh(s);
            } else {
                const int f = e - mb * dh, i = f / mb, j = f % mb;
                float s = 0.f;
                if (j <= i) {
                    float qk = 0.f;
                    for (int k = 0; k < d; k++) qk += Q[i * d + k] * K[j * d + k];
                    s = tau[i] * alpha[j] * (1.0f + qk);
                }
                C[f] = s;
            }
        }
        __syncthreads();
        /* Z2 = X2 W2 + b2 */
        for (int e = tid; e < mb * d; e += V1_THREADS) {
            const int i = e / d, c = e % d;
            float s = b2[c];
            for (int u = 0; u < dh; u++) s += X2[i * dh + u] * W2[u * d + c];
            Z2[e] = s;
        }
        __syncthreads();
        /* G2 = LN_L2_bwd(Z2, V - K); zero past the end */
        for (int i = warp; i < mb; i += nwarps) {
            float *g = G2 + i * d;
            const float *v = V + i * d, *k = K + i * d;
            if (i < r)
                ln_l2_bwd_row(Z2 + i * d, d, a.eps, lw, lb, [&](int c) { return v[c] - k[c]; },
                              [&](int c, float x) { g[c] = x; });
            else
                for (int c = lane; c < d; c += 32) g[c] = 0.f;
        }
        __syncthreads();
        /* G1 = (G2 W2^T) . gelu'(Z1) */
        for (int e = tid; e < mb * dh; e += V1_THREADS) {
            const int i = e / dh, u = e % dh;
            float s = 0.f;
            for (int c = 0; c < d; c++) s += G2[i * d + c] * W2[u * d + c];
            G1[e] = s * gelu_tanh_grad(Z1[e]);
        }
        __syncthreads();
        /* Zbar1 = Q W1 + b1 - C1 G1, X2bar = gelu(Zbar1) */
        for (int e = tid; e < mb * dh; e += V1_THREADS) {
            const int i = e / dh, u = e % dh;
            float s = b1[u];
            for (int k = 0; k < d; k++) s += Q[i * d + k] * W1[k * dh + u];
            for (int j = 0; j <= i; j++) s -= C[i * mb + j] * G1[j * dh + u];
            Xb[e] = gelu_tanh(s);
        }
        __syncthreads();
        /* C2_ij = tau_i lr_j (1 + x2bar_i . x2_j) */
        for (int f = tid; f < mb * mb; f += V1_THREADS) {
            const int i = f / mb, j = f % mb;
            float s = 0.f;
            if (j <= i) {
                float xx = 0.f;
                for (int u = 0; u < dh; u++) xx += Xb[i * dh + u] * X2[j * dh + u];
                s = tau[i] * alpha[j] * (1.0f + xx);
            }
            C[f] = s;
        }
        __syncthreads();
        /* Zbar2 = X2bar W2 + b2 - C2 G2 (into Z2) */
        for (int e = tid; e < mb * d; e += V1_THREADS) {
            const int i = e / d, c = e % d;
            float s = b2[c];
            for (int u = 0; u < dh; u++) s += Xb[i * dh + u] * W2[u * d + c];
            for (int j = 0; j <= i; j++) s -= C[i * mb + j] * G2[j * d + c];
            Z2[e] = s;
        }
        __syncthreads();
        /* out = Q + LN(Zbar2); then the weights (commit or the open mini-batch's sums) */
        for (int i = warp; i < r; i += nwarps) {
            bf16 *y = a.y + (row0 + t0 + i) * a.ldy + (size_t)h * d;
            const float *q = Q + i * d;
            ln_fwd_row(Z2 + i * d, d, a.eps, lw, lb, [&](int c, float v) { y[c] = __float2bfloat16_rn(q[c] + v); });
        }
        const bool full = r == mb;
        const float te = tau[mb - 1];
        float *GW1 = a.G.W1 + bh * d * dh, *GW2 = a.G.W2 + bh * dh * d;
        for (int e = tid; e < d * dh; e += V1_THREADS) {
            const int k = e / dh, u = e % dh; /* W1[k][u] */
            float s = 0.f;
            for (int j = 0; j < r; j++) s += alpha[j] * K[j * d + k] * G1[j * dh + u];
            if (full) W1[e] -= te * s;
            else GW1[e] = s;
            const int u2 = e / d, c = e % d; /* W2[u2][c] */
            float s2 = 0.f;
            for (int j = 0; j < r; j++) s2 += alpha[j] * X2[j * dh + u2] * G2[j * d + c];
            if (full) W2[e] -= te * s2;
            else GW2[e] = s2;
        }
        for (int u = tid; u < dh; u += V1_THREADS) {
            float s = 0.f;
            for (int j = 0; j < r; j++) s += alpha[j] * G1[j * dh + u];
            if (full) b1[u] -= te * s;
            else a.G.b1[bh * dh + u] = s;
        }
        for (int c = tid; c < d; c += V1_THREADS) {
            float s = 0.f;
            for (int j = 0; j < r; j++) s += alpha[j] * G2[j * d + c];
            if (full) b2[c] -= te * s;
            else a.G.b2[bh * d + c] = s;
        }
    }
    __syncthreads();
    for (int u = tid; u < dh; u += V1_THREADS) a.W.b1[bh * dh + u] = b1[u];
    for (int c = tid; c < d; c += V1_THREADS) a.W.b2[bh * d + c] = b2[c];
    if (a.T % mb == 0) {
        for (int e = tid; e < d * dh; e += V1_THREADS) {
            a.G.W1[bh * d * dh + e] = 0.f;
            a.G.W2[bh * dh * d + e] = 0.f;
        }
        for (int u = tid; u < dh; u += V1_THREADS) a.G.b1[bh * dh + u] = 0.f;
        for (int c = tid; c < d; c += V1_THREADS) a.G.b2[bh * d + c] = 0.f;
    }
}

/* ---- launchers -------------------------------------------------------------------------- */
static int smem_optin_limit(void) {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
        cudaGetLastError();
        return 48 * 1024;
    }
    return v;
}

static sb_status launch_v1(const ttt_core_args *a) {
    const size_t smem = v1_smem_bytes(a->d, a->mb);
    if (smem > (size_t)smem_optin_limit())
        return sb_fail(SB_EINVAL, "ttt_mlp dual v1: head_dim %d, mini_batch %d need %zu B of shared memory", a->d, a->mb, smem);
    if (a->mb > 64) return sb_fail(SB_EINVAL, "ttt_mlp dual v1: mini_batch %d > 64", a->mb);
    CUDA_TRY(cudaFuncSetAttribute(ttt_mlp_dual_kernel1, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    ttt_mlp_dual_kernel1<<<a->B * a->H, V1_THREADS, smem, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status ttt_mlp_prefill(int version, const ttt_core_args *a) {
    if (a->B <= 0 || a->T <= 0) return sb_fail(SB_EINVAL, "ttt_mlp prefill: B %d, T %d", a->B, a->T);
    if (version == 0) version = 1;
    switch (version) {
    case 1: return launch_v1(a);
    default: return sb_fail(SB_EINVAL, "ttt_mlp dual: no kernel version %d (1)", version);
    }
}
