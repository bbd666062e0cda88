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

template <int D_>
__global__ void __launch_bounds__(lin_dec<D_>::NT) ttt_linear_decode_kernel(ttt_core_args a) {
    using P = lin_dec<D_>;
    constexpr int NT = P::NT, CPR = P::CPR, RG = P::RG, U = P::U;
    const int H = a.H, D = H * D_, mb = a.mb, m = a.pos % mb;
    const int seq = blockIdx.x / H, h = blockIdx.x % H, tid = threadIdx.x, warp = tid >> 5;
    const size_t bh = (size_t)seq * H + h, hd = (size_t)h * D_;
    __shared__ __align__(16) float q[D_], k[D_], v[D_], z[D_], gs[D_], lw[D_], lb[D_], red[RG][D_];
    __shared__ float lr_s;

    const bf16 *row = a.x + (size_t)seq * a.ldx;
    for (int c = tid; c < D_; c += NT) {
        q[c] = to_f32(row[hd + c]);
        k[c] = to_f32(row[D + hd + c]);
        v[c] = to_f32(row[2 * D + hd + c]);
        lw[c] = a.ln_w[hd + c];
        lb[c] = a.ln_b[hd + c];
    }
    if (tid == 0) lr_s = to_f32(row[3 * D + h]);

    /* this thread's chunks: columns 4 cg .. 4 cg + 3 of rows rg + RG u */
    const int cg = tid % CPR, rg = tid / CPR;
    float *Wg = a.W.W1 + bh * D_ * D_, *GWg = a.G.W1 + bh * D_ * D_;
    float4 w[U];
#pragma unroll
    for (int u = 0; u < U; u++) w[u] = *reinterpret_cast<const float4 *>(Wg + (rg + RG * u) * D_ + 4 * cg);
    __syncthreads();

    /* z = k W + b */
    float4 p = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int u = 0; u < U; u++) p = f4_fma(k[rg + RG * u], w[u], p);
    *reinterpret_cast<float4 *>(&red[rg][4 * cg]) = p;
    __syncthreads();
    float bias = 0.f, gb = 0.f;
    if (tid < D_) {
        bias = a.W.b1[bh * D_ + tid];
        gb = a.G.b1[bh * D_ + tid];
        float s = bias;
        for (int r = 0; r < RG; r++) s += red[r][tid];
        z[tid] = s;
    }
    __syncthreads();
    /* g = LN_L2_bwd(z, v - k) */
    if (warp == 0)
        ln_l2_bwd_row(z, D_, a.eps, lw, lb, [&](int c) { return v[c] - k[c]; }, [&](int c, float x) { gs[c] = x; });
    __syncthreads();

    /* GW += lr k^T g; W_t = W - tau GW; zbar = q W_t + b_t */
    const float lr = lr_s, tau = a.tau[m];
    const bool commit = m == mb - 1;
    const float4 g4 = *reinterpret_cast<const float4 *>(&gs[4 * cg]);
    float4 pz = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int kr = rg + RG * u;
        float4 *gwp = reinterpret_cast<float4 *>(GWg + kr * D_ + 4 * cg);
        const float4 gw = f4_fma(lr * k[kr], g4, *gwp);
        const float4 wt = f4_fma(-tau, gw, w[u]);
        pz = f4_fma(q[kr], wt, pz);
        if (commit) {
            *reinterpret_cast<float4 *>(Wg + kr * D_ + 4 * cg) = wt;
            *gwp = make_float4(0.f, 0.f, 0.f, 0.f);
        } else {
            *gwp = gw;
        }
    }
    *reinterpret_cast<float4 *>(&red[rg][4 * cg]) = pz;
    __syncthreads();
    if (tid < D_) {
        const float gbn = gb + lr * gs[tid], bt = bias - tau * gbn;
        float s = bt;
        for (int r = 0; r < RG; r++) s += red[r][tid];
        z[tid] = s;
        a.W.b1[bh * D_ + tid] = commit ? bt : bias;
        a.G.b1[bh * D_ + tid] = commit ? 0.f : gbn;
    }
    __syncthreads();
    /* out = q + LN(zbar) */
    if (warp == 0) {
        bf16 *y = a.y + (size_t)seq * a.ldy + hd;
        ln_fwd_row(z, D_, a.eps, lw, lb, [&](int c, float x) { y[c] = __float2bfloat16_rn(q[c] + x); });
    }
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
    const int H = a.H, D = H * D_, mb = a.mb, m = a.pos % mb;
    const int seq = blockIdx.x / H, h = blockIdx.x % H, tid = threadIdx.x, warp = tid >> 5;
    const size_t bh = (size_t)seq * H + h, hd = (size_t)h * D_;
    __shared__ __align__(16) float q[D_], k[D_], v[D_], z2[D_], g2[D_], lw[D_], lb[D_];
    __shared__ __align__(16) float z1[DH], x2[DH], g1[DH];
    __shared__ __align__(16) float red1[RG1][DH], red2[RG2][D_];
    __shared__ float lr_s;

    const bf16 *row = a.x + (size_t)seq * a.ldx;
    for (int c = tid; c < D_; c += NT) {
        q[c] = to_f32(row[hd + c]);
        k[c] = to_f32(row[D + hd + c]);
        v[c] = to_f32(row[2 * D + hd + c]);
        lw[c] = a.ln_w[hd + c];
        lb[c] = a.ln_b[hd + c];
    }
    if (tid == 0) lr_s = to_f32(row[3 * D + h]);

    float *W1g = a.W.W1 + bh * D_ * DH, *W2g = a.W.W2 + bh * DH * D_;
    float *GW1g = a.G.W1 + bh * D_ * DH, *GW2g = a.G.W2 + bh * DH * D_;
    float *b1g = a.W.b1 + bh * DH, *b2g = a.W.b2 + bh * D_, *Gb1g = a.G.b1 + bh * DH, *Gb2g = a.G.b2 + bh * D_;
    const int cg1 = tid % CPR1, rg1 = tid / CPR1, cg2 = tid % CPR2, rg2 = tid / CPR2;
    float4 w1[U1], w2[U2];
#pragma unroll
    for (int u = 0; u < U1; u++) w1[u] = *reinterpret_cast<const float4 *>(W1g + (rg1 + RG1 * u) * DH + 4 * cg1);
#pragma unroll
    for (int u = 0; u < U2; u++) w2[u] = *reinterpret_cast<const float4 *>(W2g + (rg2 + RG2 * u) * D_ + 4 * cg2);
    __syncthreads();

    /* z1 = k W1 + b1, x2 = gelu(z1) */
    float4 p = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int u = 0; u < U1; u++) p = f4_fma(k[rg1 + RG1 * u], w1[u], p);
    *reinterpret_cast<float4 *>(&red1[rg1][4 * cg1]) = p;
    __syncthreads();
    for (int j = tid; j < DH; j += NT) {
        float s = b1g[j];
        for (int r = 0; r < RG1; r++) s += red1[r][j];
        z1[j] = s;
        x2[j] = gelu_tanh(s);
    }
    __syncthreads();
    /* z2 = x2 W2 + b2 */
    p = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int u = 0; u < U2; u++) p = f4_fma(x2[rg2 + RG2 * u], w2[u], p);
    *reinterpret_cast<float4 *>(&red2[rg2][4 * cg2]) = p;
    __syncthreads();
    for (int c = tid; c < D_; c += NT) {
        float s = b2g[c];
        for (int r = 0; r < RG2; r++) s += red2[r][c];
        z2[c] = s;
    }
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
    p = make_float4(0.f, 0.f, 0.f, 0.f);
    {
        const float4 gg = *reinterpret_cast<const float4 *>(&g1[4 * cg1]);
#pragma unroll
        for (int u = 0; u < U1; u++) {
            const int kr = rg1 + RG1 * u;
            float4 *gwp = reinterpret_cast<float4 *>(GW1g + kr * DH + 4 * cg1);
            const float4 gw = f4_fma(lr * k[kr], gg, *gwp);
            const float4 wt = f4_fma(-tau, gw, w1[u]);
            p = f4_fma(q[kr], wt, p);
            if (commit) {
                *reinterpret_cast<float4 *>(W1g + kr * DH + 4 * cg1) = wt;
                *gwp = make_float4(0.f, 0.f, 0.f, 0.f);
            } else {
                *gwp = gw;
            }
        }
    }
    *reinterpret_cast<float4 *>(&red1[rg1][4 * cg1]) = p;
    __syncthreads();
    for (int j = tid; j < DH; j += NT) {
        const float b = b1g[j], gbn = Gb1g[j] + lr * g1[j], bt = b - tau * gbn;
        float s = bt;
        for (int r = 0; r < RG1; r++) s += red1[r][j];
        z1[j] = gelu_tanh(s); /* x2bar */
        b1g[j] = commit ? bt : b;
        Gb1g[j] = commit ? 0.f : gbn;
    }
    __syncthreads();
    /* GW2 += lr x2^T g2; W2_t = W2 - tau GW2; zbar2 = x2bar W2_t + b2_t */
    p = make_float4(0.f, 0.f, 0.f, 0.f);
    {
        const float4 gg = *reinterpret_cast<const float4 *>(&g2[4 * cg2]);
#pragma unroll
        for (int u = 0; u < U2; u++) {
            const int j = rg2 + RG2 * u;
            float4 *gwp = reinterpret_cast<float4 *>(GW2g + j * D_ + 4 * cg2);
            const float4 gw = f4_fma(lr * x2[j], gg, *gwp);
            const float4 wt = f4_fma(-tau, gw, w2[u]);
            p = f4_fma(z1[j], wt, p);
            if (commit) {
                *reinterpret_cast<float4 *>(W2g + j * D_ + 4 * cg2) = wt;
                *gwp = make_float4(0.f, 0.f, 0.f, 0.f);
            } else {
                *gwp = gw;
            }
        }
    }
    *reinterpret_cast<float4 *>(&red2[rg2][4 * cg2]) = p;
    __syncthreads();
    for (int c = tid; c < D_; c += NT) {
        const float b = b2g[c], gbn = Gb2g[c] + lr * g2[c], bt = b - tau * gbn;
        float s = bt;
        for (int r = 0; r < RG2; r++) s += red2[r][c];
        z2[c] = s;
        b2g[c] = commit ? bt : b;
        Gb2g[c] = commit ? 0.f : gbn;
    }
    __syncthreads();
    if (warp == 0) {
        bf16 *y = a.y + (size_t)seq * a.ldy + hd;
        ln_fwd_row(z2, D_, a.eps, lw, lb, [&](int c, float x) { y[c] = __float2bfloat16_rn(q[c] + x); });
    }
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
