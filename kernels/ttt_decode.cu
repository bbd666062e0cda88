/* ttt_decode.cu: one decode step of TTT-Linear and TTT-MLP (SPEC §3.3, golden README TTT 9):
 * one token per sequence at position p, slot m = p mod mb, state = weights at the open
 * mini-batch's start + gradient sums over its tokens so far:
 *   Linear: z = k W + b; g = LN_L2_bwd(z, v - k); GW += lr k^T g; Gb += lr g;
 *           W_t = W - tau_m GW; b_t = b - tau_m Gb; out = q + LN(q W_t + b_t);
 *           at m = mb - 1: W <- W_t, b <- b_t, GW = Gb = 0.
 *   MLP:    the same with z1 = k W1 + b1, x2 = gelu(z1), z2 = x2 W2 + b2, g2 = LN_L2_bwd(z2, v-k),
 *           g1 = (g2 W2^T) . gelu'(z1); GW1 += lr k^T g1, GW2 += lr x2^T g2; the output through
 *           W1_t, W2_t: out = q + LN(gelu(q W1_t + b1_t) W2_t + b2_t).
 * The step is memory-bound (the fp32 state: Linear d^2 read twice-worth, GW written; 1.3b at
 * B 512 = 0.8 GB per step, ~0.27 ms at 3 TB/s). One kernel per step, no host sync, no allocation:
 * the driver captures it in a CUDA graph.
 *
 * version 1 (the only one): one block per (sequence, head); each thread holds a fixed set of
 *   float4 column chunks of W (and W1, W2 for MLP) in registers, loaded once with 16-byte
 *   coalesced loads; column sums through a shared-memory [row group][col] table, row sums
 *   through shuffles. Not yet measured on a GPU.
 */
#include "ttt_kernels.cuh"

/* ---- TTT-Linear --------------------------------------------------------------------------- */
template <int D_>
struct lin_dec {
    static constexpr int NT = D_ * D_ / 16 < 32 ? 32 : D_ * D_ / 16; /* threads */
    static constexpr int CPR = D_ / 4;  /* float4 chunks per row of W */
    static constexpr int RG = NT / CPR; /* row groups: thread rows rg, rg + RG, ... */
    static constexpr int U = D_ / RG;   /* chunks per thread */
};

__device__ __forceinline__ float4 f4_fma(float s, float4 x, float4 acc) {
    return make_float4(acc.x + s * x.x, acc.y + s * x.y, acc.z + s * x.z, acc.w + s * x.w);
}

/* ---- the steps both kernels take ---------------------------------------------------------- */
/* The token's q, k, v of head h (fp32) and the ttt_norm weight and bias into shared memory; its lr
 * (thread 0). */
template <int D_, int NT>
__device__ __forceinline__ void dec_load_token(const ttt_core_args &a, int seq, int h, float *q, float *k, float *v, float *lw,
                                               float *lb, float &lr) {
    const int D = a.H * D_, tid = threadIdx.x;
    const size_t hd = (size_t)h * D_;
    const bf16 *row = a.x + (size_t)seq * a.ldx;
    for (int c = tid; c < D_; c += NT) {
        q[c] = to_f32(row[hd + c]);
        k[c] = to_f32(row[D + hd + c]);
        v[c] = to_f32(row[2 * D + hd + c]);
        lw[c] = a.ln_w[hd + c];
        lb[c] = a.ln_b[hd + c];
    }
    if (tid == 0) lr = to_f32(row[3 * D + h]);
}

/* A thread's U float4 chunks of a weight W [rows][LD]: rows rg + RG u, columns 4 cg .. 4 cg + 3. */
template <int U, int RG, int LD>
__device__ __forceinline__ void dec_load_chunks(float4 (&w)[U], const float *W, int rg, int cg) {
#pragma unroll
    for (int u = 0; u < U; u++) w[u] = *reinterpret_cast<const float4 *>(W + (rg + RG * u) * LD + 4 * cg);
}

/* The thread's part of x W: sum over its rows of x[row] * its chunk of the row. */
template <int U, int RG>
__device__ __forceinline__ float4 dec_rows_dot(const float *x, const float4 (&w)[U], int rg) {
    float4 p = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int u = 0; u < U; u++) p = f4_fma(x[rg + RG * u], w[u], p);
    return p;
}

/* s + column j of the row groups' partial sums red[RG][.]. */
template <int RG, int LD>
__device__ __forceinline__ float dec_col_sum(float s, const float (&red)[RG][LD], int j) {
    for (int r = 0; r < RG; r++) s += red[r][j];
    return s;
}

/* The decode update of a weight W [rows][LD] on the thread's chunks w (W at the mini-batch start):
 * GW += lr x^T g; W_t = W - tau GW; returns the thread's part of xin W_t (xin: the next product's
 * input). commit (last token of the mini-batch): W <- W_t, GW <- 0. */
template <int U, int RG, int LD>
__device__ __forceinline__ float4 dec_update_weight(const float4 (&w)[U], float *W, float *GW, const float *x, const float *g,
                                                    const float *xin, int rg, int cg, float lr, float tau, bool commit) {
    const float4 g4 = *reinterpret_cast<const float4 *>(&g[4 * cg]);
    float4 p = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int row = rg + RG * u;
        float4 *gwp = reinterpret_cast<float4 *>(GW + row * LD + 4 * cg);
        const float4 gw = f4_fma(lr * x[row], g4, *gwp);
        const float4 wt = f4_fma(-tau, gw, w[u]);
        p = f4_fma(xin[row], wt, p);
        if (commit) {
            *reinterpret_cast<float4 *>(W + row * LD + 4 * cg) = wt;
            *gwp = make_float4(0.f, 0.f, 0.f, 0.f);
        } else {
            *gwp = gw;
        }
    }
    return p;
}

/* The decode update of a bias entry b (gradient sum gb, both as at the mini-batch start): Gb += lr g;
 * returns b_t = b - tau Gb; stores the state (commit: b <- b_t, Gb <- 0). */
__device__ __forceinline__ float dec_update_bias(float *bs, float *gbs, float b, float gb, float g, float lr, float tau,
                                                 bool commit) {
    const float gbn = gb + lr * g, bt = b - tau * gbn;
    *bs = commit ? bt : b;
    *gbs = commit ? 0.f : gbn;
    return bt;
}

/* out = q + LN(z) for the token, by warp 0. */
template <int D_>
__device__ __forceinline__ void dec_store_out(const ttt_core_args &a, int seq, int h, const float *z, const float *q,
                                              const float *lw, const float *lb) {
    if (threadIdx.x >> 5 == 0) {
        bf16 *y = a.y + (size_t)seq * a.ldy + (size_t)h * D_;
        ln_fwd_row(z, D_, a.eps, lw, lb, [&](int c, float x) { y[c] = __float2bfloat16_rn(q[c] + x); });
    }
}

template <int D_>
__global__ void __launch_bounds__(lin_dec<D_>::NT) ttt_linear_decode_kernel(ttt_core_args a) {
    using P = lin_dec<D_>;
    constexpr int NT = P::NT, CPR = P::CPR, RG = P::RG, U = P::U;
    const int H = a.H, mb = a.mb, m = a.pos % mb;
    const int seq = blockIdx.x / H, h = blockIdx.x % H, tid = threadIdx.x, warp = tid >> 5;
    const size_t bh = (size_t)seq * H + h;
    __shared__ __align__(16) float q[D_], k[D_], v[D_], z[D_], gs[D_], lw[D_], lb[D_], red[RG][D_];
    __shared__ float lr_s;

    dec_load_token<D_, NT>(a, seq, h, q, k, v, lw, lb, lr_s);
    /* this thread's chunks: columns 4 cg .. 4 cg + 3 of rows rg + RG u */
    const int cg = tid % CPR, rg = tid / CPR;
    float *Wg = a.W.W1 + bh * D_ * D_, *GWg = a.G.W1 + bh * D_ * D_;
    float4 w[U];
    dec_load_chunks<U, RG, D_>(w, Wg, rg, cg);
    __syncthreads();

    /* z = k W + b */
    *reinterpret_cast<float4 *>(&red[rg][4 * cg]) = dec_rows_dot<U, RG>(k, w, rg);
    __syncthreads();
    float bias = 0.f, gb = 0.f;
    if (tid < D_) {
        bias = a.W.b1[bh * D_ + tid];
        gb = a.G.b1[bh * D_ + tid];
        z[tid] = dec_col_sum(bias, red, tid);
    }
    __syncthreads();
    /* g = LN_L2_bwd(z, v - k) */
    if (warp == 0)
        ln_l2_bwd_row(z, D_, a.eps, lw, lb, [&](int c) { return v[c] - k[c]; }, [&](int c, float x) { gs[c] = x; });
    __syncthreads();

    /* GW += lr k^T g; W_t = W - tau GW; zbar = q W_t + b_t */
    const float lr = lr_s, tau = a.tau[m];
    const bool commit = m == mb - 1;
    *reinterpret_cast<float4 *>(&red[rg][4 * cg]) = dec_update_weight<U, RG, D_>(w, Wg, GWg, k, gs, q, rg, cg, lr, tau, commit);
    __syncthreads();
    if (tid < D_) {
        const float bt = dec_update_bias(a.W.b1 + bh * D_ + tid, a.G.b1 + bh * D_ + tid, bias, gb, gs[tid], lr, tau, commit);
        z[tid] = dec_col_sum(bt, red, tid);
    }
    __syncthreads();
    /* out = q + LN(zbar) */
    dec_store_out<D_>(a, seq, h, z, q, lw, lb);
}

/* ---- TTT-MLP ------------------------------------------------------------------------------ */
template <int D_>
struct mlp_dec {
    static constexpr int DH = 4 * D_;
    static constexpr int NT = D_ * D_ / 8;         /* threads: 8 float4 chunks of W1 and of W2 each */
    static constexpr int CPR1 = DH / 4, RG1 = NT / CPR1, U1 = D_ / RG1; /* W1 [D_][DH] */
    static constexpr int CPR2 = D_ / 4, RG2 = NT / CPR2, U2 = DH / RG2; /* W2 [DH][D_] */
};

template <int D_>
__global__ void __launch_bounds__(mlp_dec<D_>::NT) ttt_mlp_decode_kernel(ttt_core_args a) {
    using P = mlp_dec<D_>;
    constexpr int NT = P::NT, DH = P::DH, CPR1 = P::CPR1, RG1 = P::RG1, U1 = P::U1, CPR2 = P::CPR2, RG2 = P::RG2, U2 = P::U2;
    const int H = a.H, mb = a.mb, m = a.pos % mb;
    const int seq = blockIdx.x / H, h = blockIdx.x % H, tid = threadIdx.x, warp = tid >> 5;
    const size_t bh = (size_t)seq * H + h;
    __shared__ __align__(16) float q[D_], k[D_], v[D_], z2[D_], g2[D_], lw[D_], lb[D_];
    __shared__ __align__(16) float z1[DH], x2[DH], g1[DH];
    __shared__ __align__(16) float red1[RG1][DH], red2[RG2][D_];
    __shared__ float lr_s;

    dec_load_token<D_, NT>(a, seq, h, q, k, v, lw, lb, lr_s);

    float *W1g = a.W.W1 + bh * D_ * DH, *W2g = a.W.W2 + bh * DH * D_;
    float *GW1g = a.G.W1 + bh * D_ * DH, *GW2g = a.G.W2 + bh * DH * D_;
    float *b1g = a.W.b1 + bh * DH, *b2g = a.W.b2 + bh * D_, *Gb1g = a.G.b1 + bh * DH, *Gb2g = a.G.b2 + bh * D_;
    const int cg1 = tid % CPR1, rg1 = tid / CPR1, cg2 = tid % CPR2, rg2 = tid / CPR2;
    float4 w1[U1], w2[U2];
    dec_load_chunks<U1, RG1, DH>(w1, W1g, rg1, cg1);
    dec_load_chunks<U2, RG2, D_>(w2, W2g, rg2, cg2);
    __syncthreads();

    /* z1 = k W1 + b1, x2 = gelu(z1) */
    *reinterpret_cast<float4 *>(&red1[rg1][4 * cg1]) = dec_rows_dot<U1, RG1>(k, w1, rg1);
    __syncthreads();
    for (int j = tid; j < DH; j += NT) {
        const float s = dec_col_sum(b1g[j], red1, j);
        z1[j] = s;
        x2[j] = gelu_tanh(s);
    }
    __syncthreads();
    /* z2 = x2 W2 + b2 */
    *reinterpret_cast<float4 *>(&red2[rg2][4 * cg2]) = dec_rows_dot<U2, RG2>(x2, w2, rg2);
    __syncthreads();
    for (int c = tid; c < D_; c += NT) z2[c] = dec_col_sum(b2g[c], red2, c);
    __syncthreads();
    /* g2 = LN_L2_bwd(z2, v - k) */
    if (warp == 0)
        ln_l2_bwd_row(z2, D_, a.eps, lw, lb, [&](int c) { return v[c] - k[c]; }, [&](int c, float x) { g2[c] = x; });
    __syncthreads();
    /* g1 = (g2 W2^T) . gelu'(z1): each W2 row is spread over CPR2 consecutive lanes */
    {
        const float4 gg = *reinterpret_cast<const float4 *>(&g2[4 * cg2]);
#pragma unroll
        for (int u = 0; u < U2; u++) {
            float s = gg.x * w2[u].x + gg.y * w2[u].y + gg.z * w2[u].z + gg.w * w2[u].w;
            s = group_sum(s, CPR2);
            const int j = rg2 + RG2 * u;
            if (cg2 == 0) g1[j] = s * gelu_tanh_grad(z1[j]);
        }
    }
    __syncthreads();

    const float lr = lr_s, tau = a.tau[m];
    const bool commit = m == mb - 1;
    /* GW1 += lr k^T g1; W1_t = W1 - tau GW1; zbar1 = q W1_t + b1_t */
    *reinterpret_cast<float4 *>(&red1[rg1][4 * cg1]) =
        dec_update_weight<U1, RG1, DH>(w1, W1g, GW1g, k, g1, q, rg1, cg1, lr, tau, commit);
    __syncthreads();
    for (int j = tid; j < DH; j += NT) {
        const float bt = dec_update_bias(b1g + j, Gb1g + j, b1g[j], Gb1g[j], g1[j], lr, tau, commit);
        z1[j] = gelu_tanh(dec_col_sum(bt, red1, j)); /* x2bar */
    }
    __syncthreads();
    /* GW2 += lr x2^T g2; W2_t = W2 - tau GW2; zbar2 = x2bar W2_t + b2_t */
    *reinterpret_cast<float4 *>(&red2[rg2][4 * cg2]) =
        dec_update_weight<U2, RG2, D_>(w2, W2g, GW2g, x2, g2, z1, rg2, cg2, lr, tau, commit);
    __syncthreads();
    for (int c = tid; c < D_; c += NT) {
        const float bt = dec_update_bias(b2g + c, Gb2g + c, b2g[c], Gb2g[c], g2[c], lr, tau, commit);
        z2[c] = dec_col_sum(bt, red2, c);
    }
    __syncthreads();
    dec_store_out<D_>(a, seq, h, z2, q, lw, lb);
}

/* ---- launchers -------------------------------------------------------------------------- */
sb_status ttt_check_shape(int mlp, int H, int d, int mb) {
    /* the decode kernels are instantiated per head dim; prefill falls back to the fp32 version 1
     * kernel (any d) where version 2 has no instantiation */
    const int ok_d = d == 16 || d == 32 || d == 48 || d == 64 || (!mlp && d == 128);
    if (H <= 0 || !ok_d)
        return sb_fail(SB_EINVAL, "ttt_%s cuda: head_dim %d not supported (16, 32, 48, 64%s)", mlp ? "mlp" : "linear", d,
                       mlp ? "" : ", 128");
    if (mb < 1 || mb > 64) return sb_fail(SB_EINVAL, "ttt cuda: mini_batch %d outside 1..64", mb);
    return SB_OK;
}

template <int D_>
static sb_status launch_linear(const ttt_core_args *a) {
    ttt_linear_decode_kernel<D_><<<a->B * a->H, lin_dec<D_>::NT, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

template <int D_>
static sb_status launch_mlp(const ttt_core_args *a) {
    ttt_mlp_decode_kernel<D_><<<a->B * a->H, mlp_dec<D_>::NT, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status ttt_linear_decode(const ttt_core_args *a) {
    SB_TRY(ttt_check_shape(0, a->H, a->d, a->mb));
    switch (a->d) {
    case 16: return launch_linear<16>(a);
    case 32: return launch_linear<32>(a);
    case 48: return launch_linear<48>(a);
    case 64: return launch_linear<64>(a);
    default: return launch_linear<128>(a);
    }
}

sb_status ttt_mlp_decode(const ttt_core_args *a) {
    SB_TRY(ttt_check_shape(1, a->H, a->d, a->mb));
    switch (a->d) {
    case 16: return launch_mlp<16>(a);
    case 32: return launch_mlp<32>(a);
    case 48: return launch_mlp<48>(a);
    default: return launch_mlp<64>(a);
    }
}
