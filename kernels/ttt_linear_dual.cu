/* ttt_linear_dual.cu: the TTT-Linear prefill core, dual form (SPEC §3.3), on the GPU.
 * Per (sequence, head) the mini-batches of mb tokens are walked in order; each one computes
 *   Z = K W + b, G = LN_L2_bwd(Z, V - K), C_ij = tau_i lr_j (1 + q_i.k_j) (j <= i),
 *   Zbar = Q W + b - C G, out = Q + LN(Zbar), W -= (eta_last K)^T G, b -= eta_last . G
 * (C G = (eta . tril(Q K^T)) G + tril(eta) G, the two terms of the reference fused). A last partial
 * mini-batch leaves W, b at its start and writes the gradient sums GW = sum_j lr_j k_j^T g_j, Gb
 * for decode to continue (golden *_decode_T37_*). The CPU reference is layers/ttt_linear.c.
 *
 * version 1: one block of 256 threads per (sequence, head), W (d x d) and every per-mini-batch
 *            tile in fp32 shared memory, each product a plain loop over threads. Any d (shared
 *            memory permitting), any mb <= 64. The readable one. Not yet measured on a GPU.
 * version 2: the same walk on tensor cores (mma.sync m16n8k16, bf16 operands, fp32 accumulate),
 *            mb = 16 = one m16 tile, d in {16, 32, 64, 128}: d/16 warps, warp w owns the 16
 *            output columns [16w, 16w+16) of W. W stays in registers in fp32 for the whole walk,
 *            stored as W^T in the accumulator layout, which is the B-operand layout of X W, so
 *            Z = K W and Q W read it after a bf16 rounding with no data movement, and the update
 *            W^T += (coef G)^T K is one mma per 8x16 piece with W as the accumulator. Q/K/V
 *            tiles come in by cp.async, the next mini-batch's while the current one computes;
 *            4 barriers per mini-batch; the row LayerNorms take a row per d/8 lanes (3 shuffles
 *            per reduction); 34 mma per warp per mini-batch at d = 64 (100 registers, 4 blocks
 *            per SM). Not yet measured on a GPU. Next step if the barriers dominate: double-
 *            buffer Z so that the output LayerNorm of mini-batch n and Z = K W of n+1 share a
 *            phase (3 barriers).
 *
 * Roofline, 1.3b layer (D 2048, H 32, d 64, b 16), prefill B 16:
 *   FLOPs per token per head (SPEC §6): 6 d^2 + 6 b d = 24576 + 6144 = 30720; x 32 heads =
 *   0.98 MFLOP per token; B 16 x T 32k = 524288 tokens -> 0.52 TFLOP: 0.65 ms at the 800 TFLOP/s
 *   of a cuBLAS bf16 GEMM on an H100 (mma.sync reaches perhaps 2/3 of that: ~1 ms).
 *   Bytes per token (op level, bf16): read XQ, XK, XV, lr = (3 D + H) 2 = 12352, write D 2 = 4096:
 *   16448 B -> 8.6 GB at T 32k -> 2.9 ms at ~3.0 TB/s (an H100's device copy). Intensity
 *   60 FLOP/B, far under the ridge (~270): memory-bound, floor ~5.5 ns per token (2.9 ms at
 *   B 16 x 32k, 0.36 ms at 4k). The state (W, b: 16.6 KB per (b,h)) lives on chip.
 *   Latency: 512 (b,h) blocks fit in one wave (4 per SM), each walking T/16 mini-batches in
 *   order, so the floor is met only if one mini-batch step takes <= 1.4 us per block; a step is
 *   a chain of ~12 dependent mma, 3 row reductions and 4 barriers, ~1-2 us: expect 3-6 ms at
 *   B 16 x T 32k (~10 ns/token), vs causal attention's 7e13 FLOP (~140 ms) there; at 4k
 *   ~0.5-0.8 ms vs attention's ~2.2 ms. The layer level adds the projections (34 MFLOP/token,
 *   ~22 ms at 32k), which dominate.
 */
#include "ttt_kernels.cuh"
#include "ttt_launch.cuh"

/* ---- version 1: fp32 loops ------------------------------------------------------------- */
static size_t v1_smem_bytes(int d, int mb) {
    auto r16 = [](size_t n) { return (n * sizeof(float) + 15) & ~(size_t)15; };
    return r16((size_t)d * d) + 3 * r16(d) + 2 * r16(mb) + 5 * r16((size_t)mb * d) + r16((size_t)mb * mb);
}

__global__ void __launch_bounds__(TTT_V1_THREADS, 1) ttt_linear_dual_kernel1(ttt_core_args a) {
    const int H = a.H, d = a.d, mb = a.mb;
    const int seq = blockIdx.x / H, h = blockIdx.x % H;
    const int tid = threadIdx.x;
    SB_DYN_SMEM(smem);
    smem_carver sc{smem};
    float *W = sc.take<float>((size_t)d * d), *bv = sc.take<float>(d);
    float *lw = sc.take<float>(d), *lb = sc.take<float>(d);
    float *tau = sc.take<float>(mb), *alpha = sc.take<float>(mb);
    float *Q = sc.take<float>((size_t)mb * d), *K = sc.take<float>((size_t)mb * d), *V = sc.take<float>((size_t)mb * d);
    float *Z = sc.take<float>((size_t)mb * d), *G = sc.take<float>((size_t)mb * d);
    float *C = sc.take<float>((size_t)mb * mb);

    const size_t hd = (size_t)h * d, bh = (size_t)seq * H + h;
    const ttt_weights w0 = ttt_start_weights(a, bh, h, (size_t)d * d, d, 0, 0);
    for (int e = tid; e < d * d; e += TTT_V1_THREADS) W[e] = w0.W1[e];
    for (int c = tid; c < d; c += TTT_V1_THREADS) {
        bv[c] = w0.b1[c];
        lw[c] = a.ln_w[hd + c];
        lb[c] = a.ln_b[hd + c];
    }
    for (int i = tid; i < mb; i += TTT_V1_THREADS) tau[i] = a.tau[i];

    const size_t row0 = (size_t)seq * a.T;
    for (int t0 = 0; t0 < a.T; t0 += mb) {
        const int r = min(mb, a.T - t0);
        __syncthreads(); /* the previous mini-batch is done with the tiles */
        ttt_v1_load_rows(a, Q, K, V, alpha, row0, t0, r, h);
        __syncthreads();

        /* Z = K W + b; C_ij = tau_i lr_j (1 + q_i . k_j) for j <= i, else 0 */
        for (int e = tid; e < mb * d + mb * mb; e += TTT_V1_THREADS) {
            if (e < mb * d) {
                Z[e] = ttt_v1_affine(K, W, bv, d, d, e / d, e % d);
            } else {
                const int f = e - mb * d;
                C[f] = ttt_v1_causal_coef(Q, K, d, tau, alpha, f / mb, f % mb);
            }
        }
        __syncthreads();

        /* G = LN_L2_bwd(Z, V - K); rows past the end of the sequence are zero */
        ttt_v1_grad_rows(Z, V, K, G, lw, lb, d, mb, r, a.eps);
        __syncthreads();

        /* Zbar = Q W + b - C G (into Z) */
        for (int e = tid; e < mb * d; e += TTT_V1_THREADS) Z[e] = ttt_v1_dual_out(Q, W, bv, C, G, d, d, mb, e / d, e % d);
        __syncthreads();

        /* out = Q + LN(Zbar); then the weights: a full mini-batch commits W_{mb-1}, the open
         * (last, partial) one leaves W, b at its start and writes the gradient sums. */
        ttt_v1_store_out(a, Z, Q, lw, lb, row0, t0, r, h);
        const bool full = r == mb;
        float *GW = a.G.W1 + bh * d * d, *Gb = a.G.b1 + bh * d;
        for (int e = tid; e < d * d; e += TTT_V1_THREADS)
            ttt_v1_update(W[e], GW[e], ttt_v1_grad_sum(K, d, G, d, alpha, r, e / d, e % d), full, tau[mb - 1]);
        ttt_v1_update_bias(bv, Gb, G, d, alpha, r, full, tau[mb - 1]);
    }
    __syncthreads();
    for (int e = tid; e < d * d; e += TTT_V1_THREADS) a.W.W1[bh * d * d + e] = W[e];
    for (int c = tid; c < d; c += TTT_V1_THREADS) a.W.b1[bh * d + c] = bv[c];
    if (a.T % mb == 0) {
        for (int e = tid; e < d * d; e += TTT_V1_THREADS) a.G.W1[bh * d * d + e] = 0.f;
        for (int c = tid; c < d; c += TTT_V1_THREADS) a.G.b1[bh * d + c] = 0.f;
    }
}

/* ---- version 2: tensor cores, W in registers ----------------------------------------------- */
static constexpr int MB2 = 16; /* one m16 tile of tokens */

template <int D_>
struct lin2_layout {
    static constexpr int NW = D_ / 16, NT = 32 * NW;
    static constexpr int LDT = D_ + 8; /* bf16 tile row: 16-byte rows, ldmatrix conflict-free */
    static constexpr int LDZ = D_ + 8; /* fp32 row: float2 stores conflict-free */
    static size_t smem_bytes() {
        return (2 * 3 + 2) * MB2 * LDT * sizeof(bf16) + 2 * MB2 * LDZ * sizeof(float) +
               (3 * D_ + 3 * MB2) * sizeof(float) + 6 * 16;
    }
};

template <int D_, int VEC>
__global__ void __launch_bounds__(2 * D_, D_ >= 128 ? 1 : 4) ttt_linear_dual_kernel2(ttt_core_args a) {
    using Lay = lin2_layout<D_>;
    constexpr int NW = Lay::NW, NT = Lay::NT, LDT = Lay::LDT, LDZ = Lay::LDZ, NKT = D_ / 8;
    constexpr int LPR = D_ / 8, RPW = 32 / LPR; /* row LayerNorms: lanes per row, rows per warp */
    static_assert(NW * RPW == MB2, "the warps' row groups cover the mini-batch");
    const int H = a.H;
    const int seq = blockIdx.x / H, h = blockIdx.x % H;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
    const size_t hd = (size_t)h * D_, bh = (size_t)seq * H + h, row0 = (size_t)seq * a.T;

    SB_DYN_SMEM(smem);
    smem_carver sc{smem};
    bf16 *tiles = sc.take<bf16>(2 * 3 * MB2 * LDT); /* [buffer][Q, K, V][16][LDT] */
    bf16 *Gh = sc.take<bf16>(MB2 * LDT);            /* G, bf16 (B operand of C G) */
    bf16 *Gsh = sc.take<bf16>(MB2 * LDT);           /* coef_j G_j, bf16 (A operand of the update) */
    float *Zs = sc.take<float>(MB2 * LDZ);          /* Z, then Zbar */
    float *Gf = sc.take<float>(MB2 * LDZ);          /* coef_j G_j, fp32 (bias update) */
    float *bias = sc.take<float>(D_), *lw = sc.take<float>(D_), *lb = sc.take<float>(D_);
    float *tau = sc.take<float>(MB2), *alpha = sc.take<float>(2 * MB2);
    auto tile = [&](int buf, int which) { return tiles + (buf * 3 + which) * MB2 * LDT; };

    /* W^T fragments of the warp's 16 columns: wf[nt] = W[8nt+2t (+1)][16w+g (+8)] */
    const int c0 = 16 * warp;
    float wf[NKT][4];
    {
        const float *W0 = ttt_start_weights(a, bh, h, D_ * D_, D_, 0, 0).W1;
#pragma unroll
        for (int nt = 0; nt < NKT; nt++) frag_load(wf[nt], W0, D_, c0, nt, g, t4, true);
    }
    for (int c = tid; c < D_; c += NT) {
        bias[c] = ttt_start_weights(a, bh, h, D_ * D_, D_, 0, 0).b1[c];
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

        /* P1: Z = K W on the warp's columns */
        float z[2][4] = {};
        mma_rows_wt<D_ / 16>(z, Ks, LDT, wf, lo);
#pragma unroll
        for (int nz = 0; nz < 2; nz++) frag_rows_store_bias(Zs, LDZ, g, c0 + 8 * nz + 2 * t4, z[nz], bias);
        __syncthreads();

        /* P2: G = LN_L2_bwd(Z, V - K); coef_j = -eta_last,j (full) or lr_j (open). A row per group
         * of D_/8 lanes (row8 pieces): the NW warps cover the 16 rows in one pass. */
        {
            const int i = warp * RPW + lane / LPR, q = lane % LPR;
            float z[8], gv[8], gs[8];
            row8_load(z, Zs + i * LDZ, q, D_);
            row8_ttt_grad(z, Vs + i * LDT, Ks + i * LDT, lw, lb, q, D_, LPR, a.eps, i < r, gv);
            const float coef = ttt_update_coef(i, r, full, tau, al);
#pragma unroll
            for (int e = 0; e < 8; e++) gs[e] = coef * gv[e];
            row8_store(Gh + i * LDT, q, D_, gv);
            row8_store(Gsh + i * LDT, q, D_, gs);
            row8_store(Gf + i * LDZ, q, D_, gs);
        }
        __syncthreads();

        /* P3a: Zbar = Q W + b - C G with -C as the A operand, built from S = Q K^T (16 x 16, every
         * warp) in registers. (Q W and S are made here, not in P1 beside Z = K W, so that they are
         * not live in registers through P2.) */
        {
            float qw[2][4] = {}, s[2][4] = {};
#pragma unroll
            for (int ks = 0; ks < D_ / 16; ks++) {
                uint32_t aq[4], bk[4];
                ldsm_x4(aq, Qs + lo.ra * LDT + 16 * ks + lo.ca);
                ldsm_x4(bk, Ks + lo.rb * LDT + 16 * ks + lo.cb); /* K as [n = j][k]: the B of Q K^T */
#pragma unroll
                for (int nz = 0; nz < 2; nz++) {
                    uint32_t bw[2];
                    wt_as_b(bw, wf, ks, nz);
                    mma_bf16_16816(qw[nz], aq, bw);
                    const uint32_t bs[2] = {bk[2 * nz], bk[2 * nz + 1]};
                    mma_bf16_16816(s[nz], aq, bs);
                }
            }
            neg_causal_coef(s, tau, al, g, t4);
            uint32_t ac[4];
            acc_as_a(ac, s);
            uint32_t bg[4];
            ldsm_x4_trans(bg, Gh + lo.ra * LDT + 16 * warp + lo.ca);
#pragma unroll
            for (int nz = 0; nz < 2; nz++) {
                const uint32_t b2[2] = {bg[2 * nz], bg[2 * nz + 1]};
                mma_bf16_16816(qw[nz], ac, b2);
                frag_rows_store_bias(Zs, LDZ, g, c0 + 8 * nz + 2 * t4, qw[nz], bias);
            }
        }

        /* P3b: W^T += (coef G)^T K (full), or GW^T = (lr G)^T K for the open mini-batch */
        {
            uint32_t ag[4];
            ldsm_x4_trans(ag, Gsh + lo.rb * LDT + 16 * warp + lo.cb);
            float *GWg = a.G.W1 + bh * D_ * D_;
#pragma unroll
            for (int np = 0; np < NKT / 2; np++) {
                uint32_t bk2[4];
                ldsm_x4_trans(bk2, Ks + lo.ra * LDT + 16 * np + lo.ca);
                const uint32_t b0[2] = {bk2[0], bk2[1]}, b1[2] = {bk2[2], bk2[3]};
                if (full) {
                    mma_bf16_16816(wf[2 * np], ag, b0);
                    mma_bf16_16816(wf[2 * np + 1], ag, b1);
                } else {
                    float acc0[4] = {0.f, 0.f, 0.f, 0.f}, acc1[4] = {0.f, 0.f, 0.f, 0.f};
                    mma_bf16_16816(acc0, ag, b0);
                    mma_bf16_16816(acc1, ag, b1);
                    frag_store(GWg, D_, c0, 2 * np, acc0, g, t4, true);
                    frag_store(GWg, D_, c0, 2 * np + 1, acc1, g, t4, true);
                }
            }
        }
        /* P3c: the bias of the warp's columns (read above by this warp only) */
        __syncwarp();
        if (lane < 16) {
            const int c = 16 * warp + lane;
            float sg = 0.f;
#pragma unroll
            for (int j = 0; j < MB2; j++) sg += Gf[j * LDZ + c];
            if (full) bias[c] += sg;
            else a.G.b1[bh * D_ + c] = sg;
        }
        __syncthreads();

        /* P4: out = Q + LN(Zbar), row8 pieces as in P2 */
        {
            const int i = warp * RPW + lane / LPR, q = lane % LPR;
            float z[8];
            row8_load(z, Zs + i * LDZ, q, D_);
            row8_ttt_out(z, Qs + i * LDT, lw, lb, q, D_, LPR, a.eps, i < r, a.y + (row0 + t0 + i) * a.ldy + hd);
        }
        if (tid < MB2) alpha[(buf ^ 1) * MB2 + tid] = lr_next;
    }

    /* the state: W, b at the open mini-batch's start (after the last full one) */
    float *Wst = a.W.W1 + bh * D_ * D_;
#pragma unroll
    for (int nt = 0; nt < NKT; nt++) frag_store(Wst, D_, c0, nt, wf[nt], g, t4, true);
    __syncthreads();
    for (int c = tid; c < D_; c += NT) a.W.b1[bh * D_ + c] = bias[c];
    if (a.T % MB2 == 0) {
        for (int e = tid; e < D_ * D_; e += NT) a.G.W1[bh * D_ * D_ + e] = 0.f;
        for (int c = tid; c < D_; c += NT) a.G.b1[bh * D_ + c] = 0.f;
    }
}

/* ---- launchers -------------------------------------------------------------------------- */
static sb_status launch_v1(const ttt_core_args *a) {
    if (a->mb > 64) return sb_fail(SB_EINVAL, "ttt_linear dual v1: mini_batch %d > 64", a->mb);
    return ttt_launch_heads(ttt_linear_dual_kernel1, TTT_V1_THREADS, v1_smem_bytes(a->d, a->mb), a, "ttt_linear dual v1");
}

template <int D_, int VEC>
struct lin2_kernel {
    static sb_status launch(const ttt_core_args *a) {
        return ttt_launch_heads(ttt_linear_dual_kernel2<D_, VEC>, lin2_layout<D_>::NT, lin2_layout<D_>::smem_bytes(), a,
                                "ttt_linear dual v2");
    }
};

static int v2_supports(const ttt_core_args *a) {
    return a->mb == MB2 && (a->d == 16 || a->d == 32 || a->d == 64 || a->d == 128) && ttt_row_copy_bytes(a) > 0 &&
           a->ldy % 4 == 0 && (uintptr_t)a->y % 8 == 0; /* 8-byte output pieces */
}

static sb_status launch_v2(const ttt_core_args *a) {
    if (!v2_supports(a))
        return sb_fail(SB_EINVAL, "ttt_linear dual v2 needs mini_batch 16, head_dim 16/32/64/128, 4-byte aligned input "
                                  "rows and 8-byte aligned output rows (got mb %d, d %d, ldx %lld, ldy %lld)",
                   a->mb, a->d, a->ldx, a->ldy);
    const int vec = ttt_row_copy_bytes(a);
    switch (a->d) {
    case 16: return ttt_launch_vec<lin2_kernel, 16>(a, vec);
    case 32: return ttt_launch_vec<lin2_kernel, 32>(a, vec);
    case 64: return ttt_launch_vec<lin2_kernel, 64>(a, vec);
    default: return ttt_launch_vec<lin2_kernel, 128>(a, vec);
    }
}

sb_status ttt_linear_prefill(int version, const ttt_core_args *a) {
    if (a->B <= 0 || a->T <= 0) return sb_fail(SB_EINVAL, "ttt_linear prefill: B %d, T %d", a->B, a->T);
    if (version == 0) version = v2_supports(a) ? 2 : 1;
    switch (version) {
    case 1: return launch_v1(a);
    case 2: return launch_v2(a);
    default: return sb_fail(SB_EINVAL, "ttt_linear dual: no kernel version %d (1, 2)", version);
    }
}
