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
#include "ttt_launch.cuh"

/* ---- version 1: fp32 loops, weights in the (L2-resident) state arrays -------------------- */
static size_t v1_smem_bytes(int d, int mb) {
    auto r16 = [](size_t n) { return (n * sizeof(float) + 15) & ~(size_t)15; };
    const size_t dh = 4 * (size_t)d;
    return r16(dh) + 3 * r16(d) + 2 * r16(mb) + 5 * r16((size_t)mb * d) + 4 * r16((size_t)mb * dh) + r16((size_t)mb * mb);
}

__global__ void __launch_bounds__(TTT_V1_THREADS, 1) ttt_mlp_dual_kernel1(ttt_core_args a) {
    const int H = a.H, d = a.d, dh = 4 * d, mb = a.mb;
    const int seq = blockIdx.x / H, h = blockIdx.x % H;
    const int tid = threadIdx.x;
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
        for (int e = tid; e < d * dh; e += TTT_V1_THREADS) {
            W1[e] = w0.W1[e];
            W2[e] = w0.W2[e];
        }
    for (int u = tid; u < dh; u += TTT_V1_THREADS) b1[u] = w0.b1[u];
    for (int c = tid; c < d; c += TTT_V1_THREADS) {
        b2[c] = w0.b2[c];
        lw[c] = a.ln_w[(size_t)h * d + c];
        lb[c] = a.ln_b[(size_t)h * d + c];
    }
    for (int i = tid; i < mb; i += TTT_V1_THREADS) tau[i] = a.tau[i];

    for (int t0 = 0; t0 < a.T; t0 += mb) {
        const int r = min(mb, a.T - t0);
        __syncthreads(); /* previous mini-batch done (and the weights above written) */
        ttt_v1_load_rows(a, Q, K, V, alpha, row0, t0, r, h);
        __syncthreads();

        /* Z1 = K W1 + b1, X2 = gelu(Z1); C1 */
        for (int e = tid; e < mb * dh + mb * mb; e += TTT_V1_THREADS) {
            if (e < mb * dh) {
                const float s = ttt_v1_affine(K, W1, b1, d, dh, e / dh, e % dh);
                Z1[e] = s;
                X2[e] = gelu_tanh(s);
            } else {
                const int f = e - mb * dh;
                C[f] = ttt_v1_causal_coef(Q, K, d, tau, alpha, f / mb, f % mb);
            }
        }
        __syncthreads();
        /* Z2 = X2 W2 + b2 */
        for (int e = tid; e < mb * d; e += TTT_V1_THREADS) Z2[e] = ttt_v1_affine(X2, W2, b2, dh, d, e / d, e % d);
        __syncthreads();
        /* G2 = LN_L2_bwd(Z2, V - K); zero past the end */
        ttt_v1_grad_rows(Z2, V, K, G2, lw, lb, d, mb, r, a.eps);
        __syncthreads();
        /* G1 = (G2 W2^T) . gelu'(Z1) */
        for (int e = tid; e < mb * dh; e += TTT_V1_THREADS) {
            const int i = e / dh, u = e % dh;
            float s = 0.f;
            for (int c = 0; c < d; c++) s += G2[i * d + c] * W2[u * d + c];
            G1[e] = s * gelu_tanh_grad(Z1[e]);
        }
        __syncthreads();
        /* Zbar1 = Q W1 + b1 - C1 G1, X2bar = gelu(Zbar1) */
        for (int e = tid; e < mb * dh; e += TTT_V1_THREADS)
            Xb[e] = gelu_tanh(ttt_v1_dual_out(Q, W1, b1, C, G1, d, dh, mb, e / dh, e % dh));
        __syncthreads();
        /* C2_ij = tau_i lr_j (1 + x2bar_i . x2_j) */
        for (int f = tid; f < mb * mb; f += TTT_V1_THREADS) C[f] = ttt_v1_causal_coef(Xb, X2, dh, tau, alpha, f / mb, f % mb);
        __syncthreads();
        /* Zbar2 = X2bar W2 + b2 - C2 G2 (into Z2) */
        for (int e = tid; e < mb * d; e += TTT_V1_THREADS) Z2[e] = ttt_v1_dual_out(Xb, W2, b2, C, G2, dh, d, mb, e / d, e % d);
        __syncthreads();
        /* out = Q + LN(Zbar2); then the weights (commit or the open mini-batch's sums) */
        ttt_v1_store_out(a, Z2, Q, lw, lb, row0, t0, r, h);
        const bool full = r == mb;
        const float te = tau[mb - 1];
        float *GW1 = a.G.W1 + bh * d * dh, *GW2 = a.G.W2 + bh * dh * d;
        for (int e = tid; e < d * dh; e += TTT_V1_THREADS) {
            ttt_v1_update(W1[e], GW1[e], ttt_v1_grad_sum(K, d, G1, dh, alpha, r, e / dh, e % dh), full, te); /* W1[k][u] */
            ttt_v1_update(W2[e], GW2[e], ttt_v1_grad_sum(X2, dh, G2, d, alpha, r, e / d, e % d), full, te);  /* W2[u][c] */
        }
        ttt_v1_update_bias(b1, a.G.b1 + bh * dh, G1, dh, alpha, r, full, te);
        ttt_v1_update_bias(b2, a.G.b2 + bh * d, G2, d, alpha, r, full, te);
    }
    __syncthreads();
    for (int u = tid; u < dh; u += TTT_V1_THREADS) a.W.b1[bh * dh + u] = b1[u];
    for (int c = tid; c < d; c += TTT_V1_THREADS) a.W.b2[bh * d + c] = b2[c];
    if (a.T % mb == 0) {
        for (int e = tid; e < d * dh; e += TTT_V1_THREADS) {
            a.G.W1[bh * d * dh + e] = 0.f;
            a.G.W2[bh * dh * d + e] = 0.f;
        }
        for (int u = tid; u < dh; u += TTT_V1_THREADS) a.G.b1[bh * dh + u] = 0.f;
        for (int c = tid; c < d; c += TTT_V1_THREADS) a.G.b2[bh * d + c] = 0.f;
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

/* B operand (k = 16 hidden units, n = 8 outputs) of X W2 from W2 accumulator fragments (rows =
 * hidden units, cols = outputs): the two 8x8 halves, transposed in registers. */
__device__ __forceinline__ void w2_as_b(uint32_t b[2], const float w[4]) {
    b[0] = movmatrix_trans(pack_bf16(w[0], w[1]));
    b[1] = movmatrix_trans(pack_bf16(w[2], w[3]));
}
/* The warp's partial X W2 over its hidden units into its [16][ldz] slice rw of the reduction
 * buffer: X as the A fragments ax[mt] of the warp's HPW unit tiles, W2 from its row fragments. */
template <int HPW, int NKT>
__device__ __forceinline__ void mlp_partial_xw2(float *rw, int ldz, const uint32_t (*ax)[4], const float (*w2f)[NKT][4], int g,
                                                int t4) {
#pragma unroll
    for (int nt = 0; nt < NKT; nt++) {
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int mt = 0; mt < HPW; mt++) {
            uint32_t bw[2];
            w2_as_b(bw, w2f[mt][nt]);
            mma_bf16_16816(acc, ax[mt], bw);
        }
        frag_rows_store(rw, ldz, g, 8 * nt + 2 * t4, acc);
    }
}

/* b2 + the NW warps' partial sums (red [NW][16][ldz]) of row i, as row8 pieces. */
__device__ __forceinline__ void mlp_row8_sum(float z[8], const float *b2, const float *red, int nw, int ldz, int i, int q, int n) {
    row8_load(z, b2, q, n);
    for (int w = 0; w < nw; w++) {
        float p[8];
        row8_load(p, red + (w * MB2 + i) * ldz, q, n);
#pragma unroll
        for (int e = 0; e < 8; e++) z[e] += p[e];
    }
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
                frag_load(w1f[mt][nt], W1i, DH, U0(mt), nt, g, t4, true);
                frag_load(w2f[mt][nt], W2i, D_, U0(mt), nt, g, t4, false);
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

    const ldsm_lane lo = ldsm_lane_offsets(lane);
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
        auto coef = [&](int i) { return ttt_update_coef(i, r, full, tau, al); };

        /* P1: Z1 = K W1 + b1 on the warp's units, X2 = gelu(Z1), gelu'(Z1); partial X2 W2 */
        {
            uint32_t ax[HPW][4];
#pragma unroll
            for (int mt = 0; mt < HPW; mt++) {
                float z1[2][4] = {};
                mma_rows_wt<D_ / 16>(z1, Ks, LDT, w1f[mt], lo);
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
                    frag_rows_store(GP, LDP, g, u, gp);
                    frag_rows_store(X2h, LDH, g, u, z1[nz]);
                }
                acc_as_a(ax[mt], z1);
            }
            mlp_partial_xw2<HPW, NKT>(red + warp * MB2 * LDZ, LDZ, ax, w2f, g, t4);
        }
        /* the next mini-batch's lr (its buffer was last read in mini-batch n-1), stored here so
         * that the value is not live through the register-heavy P3 */
        if (tid < MB2) alpha[(buf ^ 1) * MB2 + tid] = lr_next;
        __syncthreads();

        /* P2: Z2 = b2 + sum of the partials, G2 = LN_L2_bwd(Z2, V - K); a row per group of D_/8
         * lanes (row8 pieces), the first 16 / RPW warps */
        if (warp * RPW < MB2) {
            const int i = warp * RPW + lane / LPR, q = lane % LPR;
            float z[8], gv[8], gs[8];
            mlp_row8_sum(z, b2, red, NW, LDZ, i, q, D_);
            row8_ttt_grad(z, Vs + i * LDT, Ks + i * LDT, lw, lb, q, D_, LPR, a.eps, i < r, gv);
            const float cf = coef(i);
#pragma unroll
            for (int e = 0; e < 8; e++) gs[e] = cf * gv[e];
            row8_store(G2h + i * LDT, q, D_, gv);
            row8_store(G2sh + i * LDT, q, D_, gs);
            row8_store(G2u + i * LDZ, q, D_, gv);
            row8_store(G2f + i * LDZ, q, D_, gs);
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
                mma_rows_wt<D_ / 16>(g1, G2h, LDT, w2f[mt], lo);
#pragma unroll
                for (int nz = 0; nz < 2; nz++) {
                    const int u = U0(mt) + 8 * nz + 2 * t4;
#pragma unroll
                    for (int e = 0; e < 4; e++) g1[nz][e] *= GP[(g + 8 * (e >> 1)) * LDP + u + (e & 1)];
                    const float gs[4] = {cg0 * g1[nz][0], cg0 * g1[nz][1], cg1 * g1[nz][2], cg1 * g1[nz][3]};
                    frag_rows_store(G1h, LDH, g, u, g1[nz]);
                    frag_rows_store(G1sh, LDH, g, u, gs);
#pragma unroll
                    for (int e = 0; e < 2; e++) { /* sum over the 16 rows: the 8 row groups g */
                        float sb = gs[e] + gs[e + 2];
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
                    ldsm_x4(aq, Qs + lo.ra * LDT + 16 * ks + lo.ca);
                    ldsm_x4(bk, Ks + lo.rb * LDT + 16 * ks + lo.cb);
#pragma unroll
                    for (int nz = 0; nz < 2; nz++) {
                        const uint32_t bs[2] = {bk[2 * nz], bk[2 * nz + 1]};
                        mma_bf16_16816(s1[nz], aq, bs);
                    }
                }
                neg_causal_coef(s1, tau, al, g, t4);
                acc_as_a(ac, s1);
            }

            /* Zbar1 = Q W1 + b1 - C1 G1, X2bar = gelu(Zbar1); partials X2bar X2^T, X2bar W2 */
            uint32_t axb[HPW][4];
            float a2[2][4] = {};
#pragma unroll
            for (int mt = 0; mt < HPW; mt++) {
                float qw[2][4] = {};
                mma_rows_wt<D_ / 16>(qw, Qs, LDT, w1f[mt], lo);
                uint32_t bg[4];
                ldsm_x4_trans(bg, G1h + lo.ra * LDH + U0(mt) + lo.ca);
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
                ldsm_x4(ax, X2h + lo.ra * LDH + U0(mt) + lo.ca);
#pragma unroll
                for (int jt = 0; jt < 2; jt++) {
                    const uint32_t bx[2] = {ax[jt], ax[jt + 2]};
                    mma_bf16_16816(a2[jt], axb[mt], bx);
                }
            }
#pragma unroll
            for (int jt = 0; jt < 2; jt++) frag_rows_store(red2 + warp * MB2 * LDA, LDA, g, 8 * jt + 2 * t4, a2[jt]);
            /* X2bar W2, W2 still at the mini-batch start */
            mlp_partial_xw2<HPW, NKT>(red + warp * MB2 * LDZ, LDZ, axb, w2f, g, t4);

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
                ldsm_x4_trans(ag1, G1sh + lo.rb * LDH + U0(mt) + lo.cb);
                ldsm_x4_trans(ax2, X2h + lo.rb * LDH + U0(mt) + lo.cb);
#pragma unroll
                for (int np = 0; np < NKT / 2; np++) {
                    uint32_t bk2[4], bg2[4];
                    ldsm_x4_trans(bk2, Ks + lo.ra * LDT + 16 * np + lo.ca);
                    ldsm_x4_trans(bg2, G2sh + lo.ra * LDT + 16 * np + lo.ca);
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
            mlp_row8_sum(z, b2, red, NW, LDZ, i, q, D_);
            for (int j = 0; j <= i; j++) {
                float gu[8];
                row8_load(gu, G2u + j * LDZ, q, D_);
                const float cj = cw[j];
#pragma unroll
                for (int e = 0; e < 8; e++) z[e] -= cj * gu[e];
            }
            row8_ttt_out(z, Qs + i * LDT, lw, lb, q, D_, LPR, a.eps, i < r, a.y + (row0 + t0 + i) * a.ldy + hd);
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
static sb_status launch_v1(const ttt_core_args *a) {
    if (a->mb > 64) return sb_fail(SB_EINVAL, "ttt_mlp dual v1: mini_batch %d > 64", a->mb);
    return ttt_launch_heads(ttt_mlp_dual_kernel1, TTT_V1_THREADS, v1_smem_bytes(a->d, a->mb), a, "ttt_mlp dual v1");
}

template <int D_, int VEC>
struct mlp2_kernel {
    static sb_status launch(const ttt_core_args *a) {
        return ttt_launch_heads(ttt_mlp_dual_kernel2<D_, VEC>, mlp2_layout<D_>::NT, mlp2_layout<D_>::smem_bytes(), a,
                                "ttt_mlp dual v2");
    }
};

static int v2_supports(const ttt_core_args *a) {
    return a->mb == MB2 && (a->d == 16 || a->d == 32 || a->d == 64) && ttt_row_copy_bytes(a) > 0 && a->ldy % 4 == 0 &&
           (uintptr_t)a->y % 8 == 0; /* 8-byte output pieces */
}

static sb_status launch_v2(const ttt_core_args *a) {
    if (!v2_supports(a))
        return sb_fail(SB_EINVAL, "ttt_mlp dual v2 needs mini_batch 16, head_dim 16/32/64 and 4-byte aligned rows "
                                  "(got mb %d, d %d, ldx %lld)", a->mb, a->d, a->ldx);
    const int vec = ttt_row_copy_bytes(a);
    switch (a->d) {
    case 16: return ttt_launch_vec<mlp2_kernel, 16>(a, vec);
    case 32: return ttt_launch_vec<mlp2_kernel, 32>(a, vec);
    default: return ttt_launch_vec<mlp2_kernel, 64>(a, vec);
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
