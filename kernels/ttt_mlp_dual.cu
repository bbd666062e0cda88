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
 * much for shared memory next to the tiles and partial sums (and the bf16 operand copies the
 * tensor cores would read), and an fp32 master in global memory is re-read and rewritten every
 * mini-batch. The choice: registers. The hidden units are split over the warps, HPW m16 tiles
 * each (d 64: 8 warps x 2 tiles x 16 units = 256 = 4d); a warp holds its units' W1 columns as W1^T
 * and its W2 rows, fp32, in the mma accumulator layout (d 64: 128 registers per thread, 246 in
 * all, no spill). In that layout X W1 and G2 W2^T read their B operands from registers after a
 * bf16 rounding, X2 W2 after an 8x8 movmatrix transpose, and both updates are mma with the
 * master as accumulator; only the sums over all hidden units (X2 W2, X2bar W2, X2bar X2^T) cross
 * warps, as per-warp partials in shared memory summed by the row-LayerNorm warps. One block
 * (256 threads, ~127 KB shared) per SM.
 *
 * version 1: one block of 256 threads per (sequence, head), fp32 loops; the weights stay in the
 *            fp32 state arrays in global memory (the block owns them for its walk; 17 MB for the
 *            132 blocks in flight, L2-resident), tiles in shared memory; any d (shared memory
 *            permitting), mb <= 64. The readable one. Not yet measured on a GPU.
 * version 2: tensor cores (mma.sync m16n8k16, bf16 operands, fp32 accumulate), mb = 16 = one m16
 *            tile, d in {16, 32, 64}: W1, W2 in registers as above, Q/K/V by cp.async one
 *            mini-batch ahead, 4 barriers per mini-batch, row LayerNorms with a row per d/8
 *            lanes; at d = 64 each of the 8 warps issues 128 mma per mini-batch (8 of them the
 *            16 x 16 Q K^T every warp makes for itself). Not yet measured on a GPU.
 *
 * FLOPs (SPEC §6) per token per head: 56 d^2 + 30 b d = 260k at d 64, b 16: 1.3b B 16 x T 32k =
 * 4.4 TFLOP, ~6 ms at 800 TFLOP/s, ~10 ms at an mma.sync-realistic 450. Bytes as TTT-Linear
 * (16.4 kB per token): 2.9 ms. Compute-bound (intensity ~500 FLOP/B); expect 15-25 ms at
 * B 16 x T 32k with 512 blocks over 132 SMs in 4 waves.
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

    /* this block's weights: the state arrays, started from the parameters (or already there) */
    float *W1 = a.W.W1 + bh * d * dh, *W2 = a.W.W2 + bh * dh * d;
    const ttt_weights w0 = ttt_start_weights(a, bh, h, (size_t)d * dh, dh, (size_t)dh * d, d);
    if (!a.from_state)
        for (int e = tid; e < d * dh; e += V1_THREADS) {
            W1[e] = w0.W1[e];
            W2[e] = w0.W2[e];
        }
    for (int u = tid; u < dh; u += V1_THREADS) b1[u] = w0.b1[u];
    for (int c = tid; c < d; c += V1_THREADS) {
        b2[c] = w0.b2[c];
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

/* ---- version 2: tensor cores, W1 and W2 in registers ------------------------------------- */
static constexpr int MB2 = 16; /* one m16 tile of tokens */

/* HPW m16 tiles of hidden units per warp: 1 for d <= 32; 2 at d = 64, where one tile per warp
 * would mean 16 warps x 32 lanes and a 128-register cap that the 64 master registers + the
 * working set overflow (ptxas spilled); 8 warps of 2 tiles have 255 registers each. */
template <int D_>
struct mlp2_layout {
    static constexpr int DH = 4 * D_, HPW = D_ >= 64 ? 2 : 1, NW = DH / (16 * HPW), NT = 32 * NW, NKT = D_ / 8;
    static constexpr int LDT = D_ + 8;  /* bf16 rows of d: Q, K, V, G2 (16-byte rows, ldmatrix conflict-free) */
    static constexpr int LDH = DH + 8;  /* bf16 rows of dh: X2, G1 */
    static constexpr int LDZ = D_ + 8;  /* fp32 rows of d: partial sums, G2 (float2 stores conflict-free) */
    static constexpr int LDP = DH + 8;  /* fp32 rows of dh: gelu'(Z1) */
    static constexpr int LDA = 24;      /* fp32 rows of the 16 x 16 partial X2bar X2^T */
    static size_t smem_bytes() {
        return (2 * 3 + 2) * MB2 * LDT * sizeof(bf16) + 3 * MB2 * LDH * sizeof(bf16) + MB2 * LDP * sizeof(float) +
               (size_t)NW * MB2 * LDZ * sizeof(float) + (size_t)NW * MB2 * LDA * sizeof(float) +
               2 * MB2 * LDZ * sizeof(float) + MB2 * MB2 * sizeof(float) + (2 * DH + 4 * D_ + 3 * MB2) * sizeof(float) +
               20 * 16;
    }
};

/* An accumulator fragment (rows r0 + g (+8), cols 8 nt + 2t (+1)) into a row-major fp32 matrix:
 * ld = row stride; `trans` stores element (row, col) at [col][row] instead. */
__device__ __forceinline__ void frag_store(float *M, int ld, int r0, int nt, const float v[4], int g, int t4, bool trans) {
    const int c = 8 * nt + 2 * t4, ra = r0 + g, rb = r0 + g + 8;
    if (trans) {
        M[c * ld + ra] = v[0], M[(c + 1) * ld + ra] = v[1], M[c * ld + rb] = v[2], M[(c + 1) * ld + rb] = v[3];
    } else {
        M[ra * ld + c] = v[0], M[ra * ld + c + 1] = v[1], M[rb * ld + c] = v[2], M[rb * ld + c + 1] = v[3];
    }
}

/* B operand (k = 16 hidden units, n = 8 outputs) of X W2 from W2 accumulator fragments (rows =
 * hidden units, cols = outputs): the two 8x8 halves, transposed in registers. */
__device__ __forceinline__ void w2_as_b(uint32_t b[2], const float w[4]) {
    b[0] = movmatrix_trans(pack_bf16(w[0], w[1]));
    b[1] = movmatrix_trans(pack_bf16(w[2], w[3]));
}
/* B operand (k = 16 inputs of k-step ks, n = 8 units nz of a tile) of X W1 from W1^T fragments
 * (rows = units, cols = inputs); the same formula reads G2 W2^T's B from W2 fragments. */
__device__ __forceinline__ void wt_as_b(uint32_t b[2], const float (*w)[4], int ks, int nz) {
    b[0] = pack_bf16(w[2 * ks][2 * nz], w[2 * ks][2 * nz + 1]);
    b[1] = pack_bf16(w[2 * ks + 1][2 * nz], w[2 * ks + 1][2 * nz + 1]);
}
/* An accumulator pair (two 8-wide n-tiles, 16 rows) as the A operand of the next product. */
__device__ __forceinline__ void acc_as_a(uint32_t a[4], const float v[2][4]) {
    a[0] = pack_bf16(v[0][0], v[0][1]);
    a[1] = pack_bf16(v[0][2], v[0][3]);
    a[2] = pack_bf16(v[1][0], v[1][1]);
    a[3] = pack_bf16(v[1][2], v[1][3]);
}

template <int D_, int VEC>
__global__ void __launch_bounds__(mlp2_layout<D_>::NT, 1) ttt_mlp_dual_kernel2(ttt_core_args a) {
    using Lay = mlp2_layout<D_>;
    constexpr int DH = Lay::DH, HPW = Lay::HPW, NW = Lay::NW, NT = Lay::NT, NKT = Lay::NKT;
    constexpr int LDT = Lay::LDT, LDH = Lay::LDH, LDZ = Lay::LDZ, LDP = Lay::LDP, LDA = Lay::LDA;
    constexpr int LPR = D_ / 8, RPW = 32 / LPR; /* row LayerNorms: lanes per row, rows per warp */
    static_assert(NW * RPW >= MB2 && MB2 % RPW == 0, "whole warps of row groups cover the mini-batch");
    const int H = a.H;
    const int seq = blockIdx.x / H, h = blockIdx.x % H;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
    const size_t hd = (size_t)h * D_, bh = (size_t)seq * H + h, row0 = (size_t)seq * a.T;
    /* the warp's hidden units: tiles u0(mt) = 16 (HPW warp + mt), mt < HPW */
    auto U0 = [&](int mt) { return 16 * (HPW * warp + mt); };

    SB_DYN_SMEM(smem);
    smem_carver sc{smem};
    bf16 *tiles = sc.take<bf16>(2 * 3 * MB2 * LDT); /* [buffer][Q, K, V][16][LDT] */
    bf16 *G2h = sc.take<bf16>(MB2 * LDT);           /* G2, bf16 (A of G2 W2^T) */
    bf16 *G2sh = sc.take<bf16>(MB2 * LDT);          /* coef_j G2_j, bf16 (B of the W2 update) */
    bf16 *X2h = sc.take<bf16>(MB2 * LDH);           /* X2 = gelu(Z1), bf16 */
    bf16 *G1h = sc.take<bf16>(MB2 * LDH);           /* G1, bf16 (B of C1 G1) */
    bf16 *G1sh = sc.take<bf16>(MB2 * LDH);          /* coef_j G1_j, bf16 (A of the W1 update) */
    float *GP = sc.take<float>(MB2 * LDP);          /* gelu'(Z1) */
    float *red = sc.take<float>(NW * MB2 * LDZ);    /* per-warp partial X2 W2, then X2bar W2 */
    float *red2 = sc.take<float>(NW * MB2 * LDA);   /* per-warp partial X2bar X2^T */
    float *G2u = sc.take<float>(MB2 * LDZ);         /* G2, fp32 */
    float *G2f = sc.take<float>(MB2 * LDZ);         /* coef_j G2_j, fp32 (b2 update) */
    float *c2s = sc.take<float>(MB2 * MB2);         /* C2 */
    float *b1buf = sc.take<float>(2 * DH), *b2buf = sc.take<float>(2 * D_); /* [current | next] by parity */
    float *lw = sc.take<float>(D_), *lb = sc.take<float>(D_);
    float *tau = sc.take<float>(MB2), *alpha = sc.take<float>(2 * MB2);
    auto tile = [&](int buf, int which) { return tiles + (buf * 3 + which) * MB2 * LDT; };

    /* masters: W1^T rows u0+g (+8), cols k = 8nt+2t (+1); W2 rows u0+g (+8), cols c = 8nt+2t (+1) */
    float w1f[HPW][NKT][4], w2f[HPW][NKT][4];
    {
        const ttt_weights w0 = ttt_start_weights(a, bh, h, D_ * DH, DH, DH * D_, D_);
        const float *W1i = w0.W1, *W2i = w0.W2;
#pragma unroll
        for (int mt = 0; mt < HPW; mt++)
#pragma unroll
            for (int nt = 0; nt < NKT; nt++) {
                const int k0 = 8 * nt + 2 * t4, u0 = U0(mt);
                w1f[mt][nt][0] = W1i[k0 * DH + u0 + g];
                w1f[mt][nt][1] = W1i[(k0 + 1) * DH + u0 + g];
                w1f[mt][nt][2] = W1i[k0 * DH + u0 + 8 + g];
                w1f[mt][nt][3] = W1i[(k0 + 1) * DH + u0 + 8 + g];
                w2f[mt][nt][0] = W2i[(u0 + g) * D_ + k0];
                w2f[mt][nt][1] = W2i[(u0 + g) * D_ + k0 + 1];
                w2f[mt][nt][2] = W2i[(u0 + 8 + g) * D_ + k0];
                w2f[mt][nt][3] = W2i[(u0 + 8 + g) * D_ + k0 + 1];
            }
    }
    const ttt_weights w0 = ttt_start_weights(a, bh, h, D_ * DH, DH, DH * D_, D_);
    for (int u = tid; u < DH; u += NT) b1buf[u] = w0.b1[u];
    for (int c = tid; c < D_; c += NT) {
        b2buf[c] = w0.b2[c];
        lw[c] = a.ln_w[hd + c];
        lb[c] = a.ln_b[hd + c];
    }
    if (tid < MB2) {
        tau[tid] = a.tau[tid];
        alpha[tid] = ttt_load_lr(a, row0, h, 0);
    }
    ttt_load_qkv_tile<D_, VEC, NT>(a, tile(0, 0), LDT, row0, hd, 0);

    const int lr_a = (lane & 7) + 8 * ((lane >> 3) & 1), lc_a = 8 * (lane >> 4);
    const int lr_b = (lane & 7) + 8 * (lane >> 4), lc_b = 8 * ((lane >> 3) & 1);
    const int nmb = (a.T + MB2 - 1) / MB2;
    for (int n = 0; n < nmb; n++) {
        const int buf = n & 1, t0 = n * MB2, r = min(MB2, a.T - t0);
        const bool full = r == MB2;
        cp_async_wait<0>();
        __syncthreads(); /* tile n landed; everyone is done with mini-batch n-1 */
        float lr_next = 0.f;
        if (n + 1 < nmb) {
            ttt_load_qkv_tile<D_, VEC, NT>(a, tile(buf ^ 1, 0), LDT, row0, hd, t0 + MB2);
            if (tid < MB2) lr_next = ttt_load_lr(a, row0, h, t0 + MB2);
        }
        const bf16 *Qs = tile(buf, 0), *Ks = tile(buf, 1), *Vs = tile(buf, 2);
        const float *al = alpha + buf * MB2;
        const float *b1 = b1buf + (n & 1) * DH, *b2 = b2buf + (n & 1) * D_;
        float *b1n = b1buf + ((n + 1) & 1) * DH, *b2n = b2buf + ((n + 1) & 1) * D_;
        auto coef = [&](int i) { return i < r ? (full ? -tau[MB2 - 1] * al[i] : al[i]) : 0.f; };

        /* P1: Z1 = K W1 + b1 on the warp's units, X2 = gelu(Z1), gelu'(Z1); partial X2 W2 */
        {
            uint32_t ax[HPW][4];
#pragma unroll
            for (int mt = 0; mt < HPW; mt++) {
                float z1[2][4] = {};
#pragma unroll
                for (int ks = 0; ks < D_ / 16; ks++) {
                    uint32_t ak[4];
                    ldsm_x4(ak, Ks + lr_a * LDT + 16 * ks + lc_a);
#pragma unroll
                    for (int nz = 0; nz < 2; nz++) {
                        uint32_t bw[2];
                        wt_as_b(bw, w1f[mt], ks, nz);
                        mma_bf16_16816(z1[nz], ak, bw);
                    }
                }
#pragma unroll
                for (int nz = 0; nz < 2; nz++) {
                    const int u = U0(mt) + 8 * nz + 2 * t4;
                    float gp[4];
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const float zz = z1[nz][e] + b1[u + (e & 1)];
                        z1[nz][e] = gelu_tanh(zz);
                        gp[e] = gelu_tanh_grad(zz);
                    }
                    *reinterpret_cast<float2 *>(GP + g * LDP + u) = make_float2(gp[0], gp[1]);
                    *reinterpret_cast<float2 *>(GP + (g + 8) * LDP + u) = make_float2(gp[2], gp[3]);
                    *reinterpret_cast<uint32_t *>(X2h + g * LDH + u) = pack_bf16(z1[nz][0], z1[nz][1]);
                    *reinterpret_cast<uint32_t *>(X2h + (g + 8) * LDH + u) = pack_bf16(z1[nz][2], z1[nz][3]);
                }
                acc_as_a(ax[mt], z1);
            }
            float *rw = red + warp * MB2 * LDZ;
#pragma unroll
            for (int nt = 0; nt < NKT; nt++) {
                float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
                for (int mt = 0; mt < HPW; mt++) {
                    uint32_t bw[2];
                    w2_as_b(bw, w2f[mt][nt]);
                    mma_bf16_16816(acc, ax[mt], bw);
                }
                *reinterpret_cast<float2 *>(rw + g * LDZ + 8 * nt + 2 * t4) = make_float2(acc[0], acc[1]);
                *reinterpret_cast<float2 *>(rw + (g + 8) * LDZ + 8 * nt + 2 * t4) = make_float2(acc[2], acc[3]);
            }
        }
        /* the next mini-batch's lr (its buffer was last read in mini-batch n-1), stored here so
         * that the value is not live through the register-heavy P3 */
        if (tid < MB2) alpha[(buf ^ 1) * MB2 + tid] = lr_next;
        __syncthreads();

        /* P2: Z2 = b2 + sum of the partials, G2 = LN_L2_bwd(Z2, V - K); a row per group of D_/8
         * lanes (row8 pieces), the first 16 / RPW warps */
        if (warp * RPW < MB2) {
            const int i = warp * RPW + lane / LPR, q = lane % LPR;
            float z[8], t[8], k[8], gv[8];
            row8_load(z, b2, q, D_);
            for (int w = 0; w < NW; w++) {
                float p[8];
                row8_load(p, red + (w * MB2 + i) * LDZ, q, D_);
#pragma unroll
                for (int e = 0; e < 8; e++) z[e] += p[e];
            }
            row8_load(t, Vs + i * LDT, q, D_);
            row8_load(k, Ks + i * LDT, q, D_);
#pragma unroll
            for (int e = 0; e < 8; e++) t[e] -= k[e];
            {
                float w8[8], b8[8];
                row8_load(w8, lw, q, D_);
                row8_load(b8, lb, q, D_);
                row8_ln_l2_bwd(z, t, w8, b8, D_, LPR, a.eps, gv);
            }
            const float cf = coef(i);
#pragma unroll
            for (int e = 0; e < 8; e++) {
                gv[e] = i < r ? gv[e] : 0.f; /* rows past the end of the sequence */
                t[e] = cf * gv[e];
            }
            row8_store(G2h + i * LDT, q, D_, gv);
            row8_store(G2sh + i * LDT, q, D_, t);
            row8_store(G2u + i * LDZ, q, D_, gv);
            row8_store(G2f + i * LDZ, q, D_, t);
        }
        __syncthreads();

        /* P3: per warp, its units: G1, Zbar1, X2bar, the partials of X2bar X2^T and X2bar W2;
         * then the updates of its W1 columns and W2 rows */
        if (warp == 0) /* b2 of the next mini-batch (double-buffered: P4 still reads b2) */
            for (int c = lane; c < D_; c += 32) {
                float sg = 0.f;
                for (int j = 0; j < MB2; j++) sg += G2f[j * LDZ + c];
                b2n[c] = full ? b2[c] + sg : b2[c];
                if (!full) a.G.b2[bh * D_ + c] = sg;
            }
        {
            /* G1 = (G2 W2^T) . gelu'(Z1); b1 of the next mini-batch */
            const float cg0 = coef(g), cg1 = coef(g + 8);
#pragma unroll
            for (int mt = 0; mt < HPW; mt++) {
                float g1[2][4] = {};
#pragma unroll
                for (int ks = 0; ks < D_ / 16; ks++) {
                    uint32_t ag[4];
                    ldsm_x4(ag, G2h + lr_a * LDT + 16 * ks + lc_a);
#pragma unroll
                    for (int nz = 0; nz < 2; nz++) {
                        uint32_t bw[2];
                        wt_as_b(bw, w2f[mt], ks, nz);
                        mma_bf16_16816(g1[nz], ag, bw);
                    }
                }
#pragma unroll
                for (int nz = 0; nz < 2; nz++) {
                    const int u = U0(mt) + 8 * nz + 2 * t4;
#pragma unroll
                    for (int e = 0; e < 4; e++) g1[nz][e] *= GP[(g + 8 * (e >> 1)) * LDP + u + (e & 1)];
                    *reinterpret_cast<uint32_t *>(G1h + g * LDH + u) = pack_bf16(g1[nz][0], g1[nz][1]);
                    *reinterpret_cast<uint32_t *>(G1h + (g + 8) * LDH + u) = pack_bf16(g1[nz][2], g1[nz][3]);
                    *reinterpret_cast<uint32_t *>(G1sh + g * LDH + u) = pack_bf16(cg0 * g1[nz][0], cg0 * g1[nz][1]);
                    *reinterpret_cast<uint32_t *>(G1sh + (g + 8) * LDH + u) = pack_bf16(cg1 * g1[nz][2], cg1 * g1[nz][3]);
#pragma unroll
                    for (int e = 0; e < 2; e++) { /* sum over the 16 rows: the 8 row groups g */
                        float sb = cg0 * g1[nz][e] + cg1 * g1[nz][e + 2];
                        for (int o = 4; o < 32; o <<= 1) sb += __shfl_xor_sync(0xffffffffu, sb, o);
                        if (g == 0) {
                            b1n[u + e] = full ? b1[u + e] + sb : b1[u + e];
                            if (!full) a.G.b1[bh * DH + u + e] = sb;
                        }
                    }
                }
            }
            __syncwarp(); /* G1h, G1sh written by the warp's lanes */

            /* C1_ij = tau_i lr_j (1 + q_i.k_j) (j <= i), negated, as an A operand */
            uint32_t ac[4];
            {
                float s1[2][4] = {};
#pragma unroll
                for (int ks = 0; ks < D_ / 16; ks++) {
                    uint32_t aq[4], bk[4];
                    ldsm_x4(aq, Qs + lr_a * LDT + 16 * ks + lc_a);
                    ldsm_x4(bk, Ks + lr_b * LDT + 16 * ks + lc_b);
#pragma unroll
                    for (int nz = 0; nz < 2; nz++) {
                        const uint32_t bs[2] = {bk[2 * nz], bk[2 * nz + 1]};
                        mma_bf16_16816(s1[nz], aq, bs);
                    }
                }
#pragma unroll
                for (int nz = 0; nz < 2; nz++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int i = g + 8 * (e >> 1), j = 8 * nz + 2 * t4 + (e & 1);
                        s1[nz][e] = j <= i ? -tau[i] * al[j] * (1.0f + s1[nz][e]) : 0.f;
                    }
                acc_as_a(ac, s1);
            }

            /* Zbar1 = Q W1 + b1 - C1 G1, X2bar = gelu(Zbar1); partials X2bar X2^T, X2bar W2 */
            uint32_t axb[HPW][4];
            float a2[2][4] = {};
#pragma unroll
            for (int mt = 0; mt < HPW; mt++) {
                float qw[2][4] = {};
#pragma unroll
                for (int ks = 0; ks < D_ / 16; ks++) {
                    uint32_t aq[4];
                    ldsm_x4(aq, Qs + lr_a * LDT + 16 * ks + lc_a);
#pragma unroll
                    for (int nz = 0; nz < 2; nz++) {
                        uint32_t bw[2];
                        wt_as_b(bw, w1f[mt], ks, nz);
                        mma_bf16_16816(qw[nz], aq, bw);
                    }
                }
                uint32_t bg[4];
                ldsm_x4_trans(bg, G1h + lr_a * LDH + U0(mt) + lc_a);
#pragma unroll
                for (int nz = 0; nz < 2; nz++) {
                    const uint32_t b2f[2] = {bg[2 * nz], bg[2 * nz + 1]};
                    mma_bf16_16816(qw[nz], ac, b2f);
                    const int u = U0(mt) + 8 * nz + 2 * t4;
#pragma unroll
                    for (int e = 0; e < 4; e++) qw[nz][e] = gelu_tanh(qw[nz][e] + b1[u + (e & 1)]);
                }
                acc_as_a(axb[mt], qw);
                /* X2 (A layout: rows = tokens) is the B of X2bar X2^T: j-tile jt = regs jt, jt + 2 */
                uint32_t ax[4];
                ldsm_x4(ax, X2h + lr_a * LDH + U0(mt) + lc_a);
#pragma unroll
                for (int jt = 0; jt < 2; jt++) {
                    const uint32_t bx[2] = {ax[jt], ax[jt + 2]};
                    mma_bf16_16816(a2[jt], axb[mt], bx);
                }
            }
            float *rw2 = red2 + warp * MB2 * LDA;
#pragma unroll
            for (int jt = 0; jt < 2; jt++) {
                *reinterpret_cast<float2 *>(rw2 + g * LDA + 8 * jt + 2 * t4) = make_float2(a2[jt][0], a2[jt][1]);
                *reinterpret_cast<float2 *>(rw2 + (g + 8) * LDA + 8 * jt + 2 * t4) = make_float2(a2[jt][2], a2[jt][3]);
            }
            float *rw = red + warp * MB2 * LDZ; /* X2bar W2, W2 still at the mini-batch start */
#pragma unroll
            for (int nt = 0; nt < NKT; nt++) {
                float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
                for (int mt = 0; mt < HPW; mt++) {
                    uint32_t bw[2];
                    w2_as_b(bw, w2f[mt][nt]);
                    mma_bf16_16816(acc, axb[mt], bw);
                }
                *reinterpret_cast<float2 *>(rw + g * LDZ + 8 * nt + 2 * t4) = make_float2(acc[0], acc[1]);
                *reinterpret_cast<float2 *>(rw + (g + 8) * LDZ + 8 * nt + 2 * t4) = make_float2(acc[2], acc[3]);
            }

            /* W1^T += (coef G1)^T K and W2 += X2^T (coef G2). The open (last, partial) mini-batch
             * leaves W in the state and accumulates its sums in the (then free) fragments. */
#pragma unroll
            for (int mt = 0; mt < HPW; mt++) {
                if (!full)
#pragma unroll
                    for (int nt = 0; nt < NKT; nt++) {
                        frag_store(a.W.W1 + bh * D_ * DH, DH, U0(mt), nt, w1f[mt][nt], g, t4, true);
                        frag_store(a.W.W2 + bh * DH * D_, D_, U0(mt), nt, w2f[mt][nt], g, t4, false);
#pragma unroll
                        for (int e = 0; e < 4; e++) w1f[mt][nt][e] = w2f[mt][nt][e] = 0.f;
                    }
                uint32_t ag1[4], ax2[4];
                ldsm_x4_trans(ag1, G1sh + lr_b * LDH + U0(mt) + lc_b);
                ldsm_x4_trans(ax2, X2h + lr_b * LDH + U0(mt) + lc_b);
#pragma unroll
                for (int np = 0; np < NKT / 2; np++) {
                    uint32_t bk2[4], bg2[4];
                    ldsm_x4_trans(bk2, Ks + lr_a * LDT + 16 * np + lc_a);
                    ldsm_x4_trans(bg2, G2sh + lr_a * LDT + 16 * np + lc_a);
                    const uint32_t bk0[2] = {bk2[0], bk2[1]}, bk1[2] = {bk2[2], bk2[3]};
                    const uint32_t bg0[2] = {bg2[0], bg2[1]}, bg1[2] = {bg2[2], bg2[3]};
                    mma_bf16_16816(w1f[mt][2 * np], ag1, bk0);
                    mma_bf16_16816(w1f[mt][2 * np + 1], ag1, bk1);
                    mma_bf16_16816(w2f[mt][2 * np], ax2, bg0);
                    mma_bf16_16816(w2f[mt][2 * np + 1], ax2, bg1);
                }
            }
        }
        __syncthreads();

        /* P4: Zbar2 = b2 + sum of the partials - C2 G2, C2_ij = tau_i lr_j (1 + x2bar_i.x2_j);
         * out = Q + LN(Zbar2) */
        if (warp * RPW < MB2) {
            const int i = warp * RPW + lane / LPR, q = lane % LPR;
            float *cw = c2s + i * MB2; /* row i of C2, made by the row's lanes */
            for (int j = q; j < MB2; j += LPR) {
                float s = 0.f;
                for (int w = 0; w < NW; w++) s += red2[(w * MB2 + i) * LDA + j];
                cw[j] = j <= i ? tau[i] * al[j] * (1.0f + s) : 0.f;
            }
            __syncwarp();
            float z[8];
            row8_load(z, b2, q, D_);
            for (int w = 0; w < NW; w++) {
                float p[8];
                row8_load(p, red + (w * MB2 + i) * LDZ, q, D_);
#pragma unroll
                for (int e = 0; e < 8; e++) z[e] += p[e];
            }
            for (int j = 0; j <= i; j++) {
                float gu[8];
                row8_load(gu, G2u + j * LDZ, q, D_);
                const float cj = cw[j];
#pragma unroll
                for (int e = 0; e < 8; e++) z[e] -= cj * gu[e];
            }
            {
                float w8[8], b8[8];
                row8_load(w8, lw, q, D_);
                row8_load(b8, lb, q, D_);
                row8_ln_fwd(z, w8, b8, D_, LPR, a.eps);
            }
            float qv[8];
            row8_load(qv, Qs + i * LDT, q, D_);
#pragma unroll
            for (int e = 0; e < 8; e++) z[e] += qv[e];
            if (i < r) row8_store(a.y + (row0 + t0 + i) * a.ldy + hd, q, D_, z);
        }
    }

    /* the state: the fragments hold the weights after the last full mini-batch, or (T ends inside
     * a mini-batch) that mini-batch's gradient sums, its start weights being stored already */
    const bool open = a.T % MB2 != 0;
    float *W1o = open ? a.G.W1 + bh * D_ * DH : a.W.W1 + bh * D_ * DH;
    float *W2o = open ? a.G.W2 + bh * DH * D_ : a.W.W2 + bh * DH * D_;
#pragma unroll
    for (int mt = 0; mt < HPW; mt++)
#pragma unroll
        for (int nt = 0; nt < NKT; nt++) {
            frag_store(W1o, DH, U0(mt), nt, w1f[mt][nt], g, t4, true);
            frag_store(W2o, D_, U0(mt), nt, w2f[mt][nt], g, t4, false);
        }
    __syncthreads();
    for (int u = tid; u < DH; u += NT) a.W.b1[bh * DH + u] = b1buf[(nmb & 1) * DH + u];
    for (int c = tid; c < D_; c += NT) a.W.b2[bh * D_ + c] = b2buf[(nmb & 1) * D_ + c];
    if (!open) {
        for (int e = tid; e < D_ * DH; e += NT) {
            a.G.W1[bh * D_ * DH + e] = 0.f;
            a.G.W2[bh * DH * D_ + e] = 0.f;
        }
        for (int u = tid; u < DH; u += NT) a.G.b1[bh * DH + u] = 0.f;
        for (int c = tid; c < D_; c += NT) a.G.b2[bh * D_ + c] = 0.f;
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

/* Widest cp.async (16, 8 or 4 bytes) that every Q/K/V row slice of the op rows allows; 0: none. */
static int row_copy_bytes(const ttt_core_args *a) {
    const size_t base = (size_t)(uintptr_t)a->x;
    for (int v = 16; v >= 4; v /= 2) {
        const size_t ve = v / 2; /* elements */
        if (base % v == 0 && a->ldx % ve == 0 && (size_t)a->H * a->d % ve == 0 && a->d % ve == 0) return v;
    }
    return 0;
}

template <int D_, int VEC>
static sb_status launch_v2_vec(const ttt_core_args *a) {
    const size_t smem = mlp2_layout<D_>::smem_bytes();
    if (smem > (size_t)smem_optin_limit())
        return sb_fail(SB_EINVAL, "ttt_mlp dual v2: head_dim %d needs %zu B of shared memory", D_, smem);
    CUDA_TRY(cudaFuncSetAttribute(ttt_mlp_dual_kernel2<D_, VEC>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    ttt_mlp_dual_kernel2<D_, VEC><<<a->B * a->H, mlp2_layout<D_>::NT, smem, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

template <int D_>
static sb_status launch_v2_d(const ttt_core_args *a, int vec) {
    switch (vec) {
    case 16: return launch_v2_vec<D_, 16>(a);
    case 8: return launch_v2_vec<D_, 8>(a);
    default: return launch_v2_vec<D_, 4>(a);
    }
}

static int v2_supports(const ttt_core_args *a) {
    return a->mb == MB2 && (a->d == 16 || a->d == 32 || a->d == 64) && row_copy_bytes(a) > 0 && a->ldy % 4 == 0 &&
           (uintptr_t)a->y % 8 == 0; /* 8-byte output pieces */
}

static sb_status launch_v2(const ttt_core_args *a) {
    if (!v2_supports(a))
        return sb_fail(SB_EINVAL, "ttt_mlp dual v2 needs mini_batch 16, head_dim 16/32/64 and 4-byte aligned rows "
                                  "(got mb %d, d %d, ldx %lld)", a->mb, a->d, a->ldx);
    const int vec = row_copy_bytes(a);
    switch (a->d) {
    case 16: return launch_v2_d<16>(a, vec);
    case 32: return launch_v2_d<32>(a, vec);
    default: return launch_v2_d<64>(a, vec);
    }
}

sb_status ttt_mlp_prefill(int version, const ttt_core_args *a) {
    if (a->B <= 0 || a->T <= 0) return sb_fail(SB_EINVAL, "ttt_mlp prefill: B %d, T %d", a->B, a->T);
    if (version == 0) version = v2_supports(a) ? 2 : 1;
    switch (version) {
    case 1: return launch_v1(a);
    case 2: return launch_v2(a);
    default: return sb_fail(SB_EINVAL, "ttt_mlp dual: no kernel version %d (1, 2)", version);
    }
}
