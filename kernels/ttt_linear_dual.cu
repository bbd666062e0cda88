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
 *            per reduction); 34 mma per warp per mini-batch at d = 64 (118 registers, 4 blocks
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

/* ---- version 1: fp32 loops ------------------------------------------------------------- */
static constexpr int V1_THREADS = 256;

static size_t v1_smem_bytes(int d, int mb) {
    auto r16 = [](size_t n) { return (n * sizeof(float) + 15) & ~(size_t)15; };
    return r16((size_t)d * d) + 3 * r16(d) + 2 * r16(mb) + 5 * r16((size_t)mb * d) + r16((size_t)mb * mb);
}

__global__ void __launch_bounds__(V1_THREADS, 1) ttt_linear_dual_kernel1(ttt_core_args a) {
    const int H = a.H, d = a.d, mb = a.mb, D = H * d;
    const int seq = blockIdx.x / H, h = blockIdx.x % H;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = V1_THREADS / 32;
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
    for (int e = tid; e < d * d; e += V1_THREADS) W[e] = w0.W1[e];
    for (int c = tid; c < d; c += V1_THREADS) {
        bv[c] = w0.b1[c];
        lw[c] = a.ln_w[hd + c];
        lb[c] = a.ln_b[hd + c];
    }
    for (int i = tid; i < mb; i += V1_THREADS) tau[i] = a.tau[i];

    const size_t row0 = (size_t)seq * a.T;
    for (int t0 = 0; t0 < a.T; t0 += mb) {
        const int r = min(mb, a.T - t0);
        __syncthreads(); /* the previous mini-batch is done with the tiles */
        for (int e = tid; e < mb * d; e += V1_THREADS) {
            const int i = e / d, c = e % d;
            float q = 0.f, k = 0.f, v = 0.f;
            if (i < r) {
                const bf16 *row = a.x + (row0 + t0 + i) * a.ldx + hd + c;
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

        /* Z = K W + b; C_ij = tau_i lr_j (1 + q_i . k_j) for j <= i, else 0 */
        for (int e = tid; e < mb * d + mb * mb; e += V1_THREADS) {
            if (e < mb * d) {
                const int i = e / d, c = e % d;
                float s = bv[c];
                for (int k = 0; k < d; k++) s += K[i * d + k] * W[k * d + c];
                Z[e] = s;
            } else {
                const int f = e - mb * d, i = f / mb, j = f % mb;
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

        /* G = LN_L2_bwd(Z, V - K); rows past the end of the sequence are zero */
        for (int i = warp; i < mb; i += nwarps) {
            float *g = G + i * d;
            const float *v = V + i * d, *k = K + i * d;
            if (i < r)
                ln_l2_bwd_row(Z + i * d, d, a.eps, lw, lb, [&](int c) { return v[c] - k[c]; },
                              [&](int c, float x) { g[c] = x; });
            else
                for (int c = lane; c < d; c += 32) g[c] = 0.f;
        }
        __syncthreads();

        /* Zbar = Q W + b - C G (into Z) */
        for (int e = tid; e < mb * d; e += V1_THREADS) {
            const int i = e / d, c = e % d;
            float s = bv[c];
            for (int k = 0; k < d; k++) s += Q[i * d + k] * W[k * d + c];
            for (int j = 0; j <= i; j++) s -= C[i * mb + j] * G[j * d + c];
            Z[e] = s;
        }
        __syncthreads();

        /* out = Q + LN(Zbar); then the weights: a full mini-batch commits W_{mb-1}, the open
         * (last, partial) one leaves W, b at its start and writes the gradient sums. */
        for (int i = warp; i < r; i += nwarps) {
            bf16 *y = a.y + (row0 + t0 + i) * a.ldy + hd;
            const float *q = Q + i * d;
            ln_fwd_row(Z + i * d, d, a.eps, lw, lb, [&](int c, float v) { y[c] = __float2bfloat16_rn(q[c] + v); });
        }
        const bool full = r == mb;
        float *GW = a.G.W1 + bh * d * d, *Gb = a.G.b1 + bh * d;
        for (int e = tid; e < d * d; e += V1_THREADS) {
            const int k = e / d, c = e % d;
            float s = 0.f;
            for (int j = 0; j < r; j++) s += alpha[j] * K[j * d + k] * G[j * d + c];
            if (full) W[e] -= tau[mb - 1] * s;
            else GW[e] = s;
        }
        for (int c = tid; c < d; c += V1_THREADS) {
            float s = 0.f;
            for (int j = 0; j < r; j++) s += alpha[j] * G[j * d + c];
            if (full) bv[c] -= tau[mb - 1] * s;
            else Gb[c] = s;
        }
    }
    __syncthreads();
    for (int e = tid; e < d * d; e += V1_THREADS) a.W.W1[bh * d * d + e] = W[e];
    for (int c = tid; c < d; c += V1_THREADS) a.W.b1[bh * d + c] = bv[c];
    if (a.T % mb == 0) {
        for (int e = tid; e < d * d; e += V1_THREADS) a.G.W1[bh * d * d + e] = 0.f;
        for (int c = tid; c < d; c += V1_THREADS) a.G.b1[bh * d + c] = 0.f;
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

/* W^T accumulator fragment (rows c = 16w + g (+8), cols k = 8nt + 2t (+1)) <-> W[k][c] in memory. */
template <int D_>
__device__ __forceinline__ void frag_store_wt(float *Wg, int nt, const float v[4], int c0, int t4) {
    const int k0 = 8 * nt + 2 * t4;
    Wg[k0 * D_ + c0] = v[0];
    Wg[(k0 + 1) * D_ + c0] = v[1];
    Wg[k0 * D_ + c0 + 8] = v[2];
    Wg[(k0 + 1) * D_ + c0 + 8] = v[3];
}

template <int D_, int VEC>
__global__ void __launch_bounds__(2 * D_, D_ >= 128 ? 1 : 4) ttt_linear_dual_kernel2(ttt_core_args a) {
    using Lay = lin2_layout<D_>;
    constexpr int NW = Lay::NW, NT = Lay::NT, LDT = Lay::LDT, LDZ = Lay::LDZ, NKT = D_ / 8;
    constexpr int LPR = D_ / 8, RPW = 32 / LPR; /* row LayerNorms: lanes per row, rows per warp */
    static_assert(NW * RPW == MB2, "the warps' row groups cover the mini-batch");
    const int H = a.H, D = H * D_;
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

    /* Q | K | V rows t0.. of this head into buffer buf; rows past the end are zero-filled. */
    auto load_tile = [&](int buf, int t0) {
        const int r = min(MB2, a.T - t0);
        constexpr int CPR = D_ * 2 / VEC, EPC = VEC / 2; /* copies per row, elements per copy */
        for (int e = tid; e < 3 * MB2 * CPR; e += NT) {
            const int which = e / (MB2 * CPR), rem = e % (MB2 * CPR), i = rem / CPR, ch = rem % CPR;
            const bf16 *src = a.x + (row0 + t0 + min(i, r - 1)) * a.ldx + (size_t)which * D + hd + ch * EPC;
            cp_async<VEC>(tile(buf, which) + i * LDT + ch * EPC, src, i < r ? VEC : 0);
        }
        cp_async_commit();
    };
    auto load_lr = [&](int t0) {
        const int r = min(MB2, a.T - t0);
        return tid < r ? to_f32(a.x[(row0 + t0 + tid) * a.ldx + 3 * D + h]) : 0.f;
    };

    /* W^T fragments of the warp's 16 columns: wf[nt] = W[8nt+2t (+1)][16w+g (+8)] */
    const int c0 = 16 * warp + g;
    float wf[NKT][4];
    {
        const float *W0 = ttt_start_weights(a, bh, h, D_ * D_, D_, 0, 0).W1;
#pragma unroll
        for (int nt = 0; nt < NKT; nt++) {
            const int k0 = 8 * nt + 2 * t4;
            wf[nt][0] = W0[k0 * D_ + c0];
            wf[nt][1] = W0[(k0 + 1) * D_ + c0];
            wf[nt][2] = W0[k0 * D_ + c0 + 8];
            wf[nt][3] = W0[(k0 + 1) * D_ + c0 + 8];
        }
    }
    for (int c = tid; c < D_; c += NT) {
        bias[c] = ttt_start_weights(a, bh, h, D_ * D_, D_, 0, 0).b1[c];
        lw[c] = a.ln_w[hd + c];
        lb[c] = a.ln_b[hd + c];
    }
    if (tid < MB2) {
        tau[tid] = a.tau[tid];
        alpha[tid] = load_lr(0);
    }
    load_tile(0, 0);

    /* per-lane ldmatrix row/column offsets (see the fragment notes in ttt_kernels.cuh) */
    const int lr_a = (lane & 7) + 8 * ((lane >> 3) & 1), lc_a = 8 * (lane >> 4);  /* A, and B via .trans */
    const int lr_b = (lane & 7) + 8 * (lane >> 4), lc_b = 8 * ((lane >> 3) & 1);  /* B from [n][k], A^T via .trans */

    const int nmb = (a.T + MB2 - 1) / MB2;
    for (int n = 0; n < nmb; n++) {
        const int buf = n & 1, t0 = n * MB2, r = min(MB2, a.T - t0);
        const bool full = r == MB2;
        cp_async_wait<0>();
        __syncthreads(); /* tile n landed; everyone is done with mini-batch n-1 */
        float lr_next = 0.f;
        if (n + 1 < nmb) {
            load_tile(buf ^ 1, t0 + MB2);
            if (tid < MB2) lr_next = load_lr(t0 + MB2);
        }
        const bf16 *Qs = tile(buf, 0), *Ks = tile(buf, 1), *Vs = tile(buf, 2);
        const float *al = alpha + buf * MB2;

        /* P1: Z = K W on the warp's columns */
        float z[2][4] = {};
#pragma unroll
        for (int ks = 0; ks < D_ / 16; ks++) {
            uint32_t ak[4];
            ldsm_x4(ak, Ks + lr_a * LDT + 16 * ks + lc_a);
#pragma unroll
            for (int nz = 0; nz < 2; nz++) {
                const uint32_t bw[2] = {pack_bf16(wf[2 * ks][2 * nz], wf[2 * ks][2 * nz + 1]),
                                        pack_bf16(wf[2 * ks + 1][2 * nz], wf[2 * ks + 1][2 * nz + 1])};
                mma_bf16_16816(z[nz], ak, bw);
            }
        }
#pragma unroll
        for (int nz = 0; nz < 2; nz++) {
            const int c = 16 * warp + 8 * nz + 2 * t4;
            const float b0 = bias[c], b1 = bias[c + 1];
            *reinterpret_cast<float2 *>(Zs + g * LDZ + c) = make_float2(z[nz][0] + b0, z[nz][1] + b1);
            *reinterpret_cast<float2 *>(Zs + (g + 8) * LDZ + c) = make_float2(z[nz][2] + b0, z[nz][3] + b1);
        }
        __syncthreads();

        /* P2: G = LN_L2_bwd(Z, V - K); coef_j = -eta_last,j (full) or lr_j (open). A row per group
         * of D_/8 lanes (row8 pieces): the NW warps cover the 16 rows in one pass. */
        {
            const int i = warp * RPW + lane / LPR, q = lane % LPR;
            float z[8], t[8], k[8], w8[8], b8[8], gv[8], gs[8];
            row8_load(z, Zs + i * LDZ, q, D_);
            row8_load(t, Vs + i * LDT, q, D_);
            row8_load(k, Ks + i * LDT, q, D_);
            row8_load(w8, lw, q, D_);
            row8_load(b8, lb, q, D_);
#pragma unroll
            for (int e = 0; e < 8; e++) t[e] -= k[e];
            row8_ln_l2_bwd(z, t, w8, b8, D_, LPR, a.eps, gv);
            const float coef = i < r ? (full ? -tau[MB2 - 1] * al[i] : al[i]) : 0.f;
#pragma unroll
            for (int e = 0; e < 8; e++) {
                gv[e] = i < r ? gv[e] : 0.f; /* rows past the end of the sequence */
                gs[e] = coef * gv[e];
            }
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
                ldsm_x4(aq, Qs + lr_a * LDT + 16 * ks + lc_a);
                ldsm_x4(bk, Ks + lr_b * LDT + 16 * ks + lc_b); /* K as [n = j][k]: the B of Q K^T */
#pragma unroll
                for (int nz = 0; nz < 2; nz++) {
                    const uint32_t bw[2] = {pack_bf16(wf[2 * ks][2 * nz], wf[2 * ks][2 * nz + 1]),
                                            pack_bf16(wf[2 * ks + 1][2 * nz], wf[2 * ks + 1][2 * nz + 1])};
                    mma_bf16_16816(qw[nz], aq, bw);
                    const uint32_t bs[2] = {bk[2 * nz], bk[2 * nz + 1]};
                    mma_bf16_16816(s[nz], aq, bs);
                }
            }
            float cv[2][4];
#pragma unroll
            for (int nz = 0; nz < 2; nz++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int i = g + 8 * (e >> 1), j = 8 * nz + 2 * t4 + (e & 1);
                    cv[nz][e] = j <= i ? -tau[i] * al[j] * (1.0f + s[nz][e]) : 0.f;
                }
            const uint32_t ac[4] = {pack_bf16(cv[0][0], cv[0][1]), pack_bf16(cv[0][2], cv[0][3]),
                                    pack_bf16(cv[1][0], cv[1][1]), pack_bf16(cv[1][2], cv[1][3])};
            uint32_t bg[4];
            ldsm_x4_trans(bg, Gh + lr_a * LDT + 16 * warp + lc_a);
#pragma unroll
            for (int nz = 0; nz < 2; nz++) {
                const uint32_t b2[2] = {bg[2 * nz], bg[2 * nz + 1]};
                mma_bf16_16816(qw[nz], ac, b2);
                const int c = 16 * warp + 8 * nz + 2 * t4;
                const float b0 = bias[c], b1 = bias[c + 1];
                *reinterpret_cast<float2 *>(Zs + g * LDZ + c) = make_float2(qw[nz][0] + b0, qw[nz][1] + b1);
                *reinterpret_cast<float2 *>(Zs + (g + 8) * LDZ + c) = make_float2(qw[nz][2] + b0, qw[nz][3] + b1);
            }
        }

        /* P3b: W^T += (coef G)^T K (full), or GW^T = (lr G)^T K for the open mini-batch */
        {
            uint32_t ag[4];
            ldsm_x4_trans(ag, Gsh + lr_b * LDT + 16 * warp + lc_b);
            float *GWg = a.G.W1 + bh * D_ * D_;
#pragma unroll
            for (int np = 0; np < NKT / 2; np++) {
                uint32_t bk2[4];
                ldsm_x4_trans(bk2, Ks + lr_a * LDT + 16 * np + lc_a);
                const uint32_t b0[2] = {bk2[0], bk2[1]}, b1[2] = {bk2[2], bk2[3]};
                if (full) {
                    mma_bf16_16816(wf[2 * np], ag, b0);
                    mma_bf16_16816(wf[2 * np + 1], ag, b1);
                } else {
                    float acc0[4] = {0.f, 0.f, 0.f, 0.f}, acc1[4] = {0.f, 0.f, 0.f, 0.f};
                    mma_bf16_16816(acc0, ag, b0);
                    mma_bf16_16816(acc1, ag, b1);
                    frag_store_wt<D_>(GWg, 2 * np, acc0, c0, t4);
                    frag_store_wt<D_>(GWg, 2 * np + 1, acc1, c0, t4);
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
            float z[8], qv[8], w8[8], b8[8];
            row8_load(z, Zs + i * LDZ, q, D_);
            row8_load(qv, Qs + i * LDT, q, D_);
            row8_load(w8, lw, q, D_);
            row8_load(b8, lb, q, D_);
            row8_ln_fwd(z, w8, b8, D_, LPR, a.eps);
#pragma unroll
            for (int e = 0; e < 8; e++) z[e] += qv[e];
            if (i < r) row8_store(a.y + (row0 + t0 + i) * a.ldy + hd, q, D_, z);
        }
        if (tid < MB2) alpha[(buf ^ 1) * MB2 + tid] = lr_next;
    }

    /* the state: W, b at the open mini-batch's start (after the last full one) */
    float *Wst = a.W.W1 + bh * D_ * D_;
#pragma unroll
    for (int nt = 0; nt < NKT; nt++) frag_store_wt<D_>(Wst, nt, wf[nt], c0, t4);
    __syncthreads();
    for (int c = tid; c < D_; c += NT) a.W.b1[bh * D_ + c] = bias[c];
    if (a.T % MB2 == 0) {
        for (int e = tid; e < D_ * D_; e += NT) a.G.W1[bh * D_ * D_ + e] = 0.f;
        for (int c = tid; c < D_; c += NT) a.G.b1[bh * D_ + c] = 0.f;
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

/* Widest cp.async (16, 8 or 4 bytes) that every Q/K/V row slice of the op rows allows; 0: none. */
static int row_copy_bytes(const ttt_core_args *a) {
    const size_t base = (size_t)(uintptr_t)a->x;
    for (int v = 16; v >= 4; v /= 2) {
        const size_t ve = v / 2; /* elements */
        if (base % v == 0 && a->ldx % ve == 0 && (size_t)a->H * a->d % ve == 0 && a->d % ve == 0) return v;
    }
    return 0;
}

static sb_status launch_v1(const ttt_core_args *a) {
    const size_t smem = v1_smem_bytes(a->d, a->mb);
    if (smem > (size_t)smem_optin_limit())
        return sb_fail(SB_EINVAL, "ttt_linear dual v1: head_dim %d, mini_batch %d need %zu B of shared memory", a->d, a->mb, smem);
    if (a->mb > 64) return sb_fail(SB_EINVAL, "ttt_linear dual v1: mini_batch %d > 64", a->mb);
    CUDA_TRY(cudaFuncSetAttribute(ttt_linear_dual_kernel1, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    ttt_linear_dual_kernel1<<<a->B * a->H, V1_THREADS, smem, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

template <int D_, int VEC>
static sb_status launch_v2_vec(const ttt_core_args *a) {
    const size_t smem = lin2_layout<D_>::smem_bytes();
    CUDA_TRY(cudaFuncSetAttribute(ttt_linear_dual_kernel2<D_, VEC>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    ttt_linear_dual_kernel2<D_, VEC><<<a->B * a->H, lin2_layout<D_>::NT, smem, sb_stream()>>>(*a);
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
    return a->mb == MB2 && (a->d == 16 || a->d == 32 || a->d == 64 || a->d == 128) && row_copy_bytes(a) > 0 &&
           a->ldy % 4 == 0 && (uintptr_t)a->y % 8 == 0; /* 8-byte output pieces */
}

static sb_status launch_v2(const ttt_core_args *a) {
    if (!v2_supports(a))
        return sb_fail(SB_EINVAL, "ttt_linear dual v2 needs mini_batch 16, head_dim 16/32/64/128, 4-byte aligned input "
                                  "rows and 8-byte aligned output rows (got mb %d, d %d, ldx %lld, ldy %lld)",
                   a->mb, a->d, a->ldx, a->ldy);
    const int vec = row_copy_bytes(a);
    switch (a->d) {
    case 16: return launch_v2_d<16>(a, vec);
    case 32: return launch_v2_d<32>(a, vec);
    case 64: return launch_v2_d<64>(a, vec);
    default: return launch_v2_d<128>(a, vec);
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
