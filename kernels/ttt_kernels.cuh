/* ttt_kernels.cuh: what the TTT CUDA files share: the argument structs of the launchers, the
 * launchers (one per .cu: ttt_linear_dual.cu, ttt_mlp_dual.cu, ttt_decode.cu, ttt_glue.cu) and
 * the device helpers that TTT-Linear and TTT-MLP share: warp sums, row LayerNorms, gelu, the steps
 * of the version-1 prefill kernels, the sm_80 tensor-core primitives (mma.sync m16n8k16 / ldmatrix /
 * cp.async as inline PTX) and the fragment and row8 pieces of the version-2 kernels. (The host
 * helpers of their launchers are in ttt_launch.cuh.)
 *
 * Semantics (SPEC §3.3, golden README "TTT"): per head, per mini-batch of mb tokens, inner model
 * f (Linear: z = x W1 + b1; MLP: z = gelu(x W1 + b1) W2 + b2), loss 1/2 |LN(f(k)) - (v - k)|^2,
 * eta_ij = tau_i * lr_j (j <= i), all gradients at the mini-batch-start weights.
 * (tests/cuemu/ runs these files on a CPU model of the GPU, PTX included.) */
#ifndef SB_TTT_KERNELS_CUH
#define SB_TTT_KERNELS_CUH

#include "../runtime/cuda_common.cuh"

#include <stdint.h>

/* ---- arguments ------------------------------------------------------------------------- */
/* Inner-model weights. Linear: W1 [d,d], b1 [d]. MLP: W1 [d,4d], b1 [4d], W2 [4d,d], b2 [d].
 * Used as x @ W1 (row = input feature). Parameters are [H, ...]; state arrays [B, H, ...]. */
struct ttt_weights {
    float *W1, *b1, *W2, *b2;
};

/* One call of a TTT core (prefill over T tokens, or one decode step). */
struct ttt_core_args {
    const bf16 *x;      /* op rows [B*T, ldx]: XQ | XK | XV | lr at columns 0, D, 2D, 3D (D = H*d) */
    long long ldx;
    bf16 *y;            /* outputs [B*T, ldy]: concat_h(XQ_h + LN_h(Zbar_h)), D columns */
    long long ldy;
    int B, T, H, d, mb;
    float eps;
    int pos;            /* decode: absolute position of the token (mini-batch slot = pos % mb) */
    const float *ln_w, *ln_b; /* ttt_norm_weight / ttt_norm_bias [H, d] */
    const float *tau;   /* token_eta [mb]: max(0, 1/(i+1) + learnable_token_idx[i]) */
    ttt_weights init;   /* parameters: where a prefill starts (unless from_state) */
    int from_state;     /* prefill: start from W (G = 0), the state a previous chunk of the same
                           sequences left on a mini-batch boundary (chunked layer prefill) */
    ttt_weights W;      /* state: weights at the start of the open mini-batch */
    ttt_weights G;      /* state: sum_j lr_j x_j^T g_j over the open mini-batch's tokens so far */
};

/* Prefill cores. version 0 = the fastest one that supports the shape. A prefill ending inside a
 * mini-batch leaves W at that mini-batch's start and G = its partial sums; else G = 0. */
sb_status ttt_linear_prefill(int version, const ttt_core_args *a);
sb_status ttt_mlp_prefill(int version, const ttt_core_args *a);
/* One token per sequence (T = 1) at position a->pos, state updated in place. */
sb_status ttt_linear_decode(const ttt_core_args *a);
sb_status ttt_mlp_decode(const ttt_core_args *a);
/* Shapes the kernels take (SB_EINVAL with a message otherwise). */
sb_status ttt_check_shape(int mlp, int H, int d, int mb);

/* Layer glue: projection rows -> op rows (convs for share_qk, interleaved RoPE at t mod mb,
 * lr gate). */
struct ttt_glue_args {
    const bf16 *proj;   /* [B*T, ldp] output of the fused input GEMM */
    long long ldp;
    int col_q, col_k, col_v, col_lr; /* column offsets; col_k < 0: share_qk (q columns = P) */
    bf16 *ops;          /* [B*T, ldo] op rows out */
    long long ldo;
    int B, T, pos0, H, d, mb, K;
    const float *rope;  /* [mb][d/2][2]: cos, sin of (position p) theta^(-2j/d), made at setup */
    float lr_scale;     /* ttt_base_lr / d */
    const float *lr_bias;            /* [H] */
    const float *cq_w, *cq_b, *ck_w, *ck_b; /* conv_q / conv_k: [D, K], [D] (share_qk) */
    float *hist;        /* [B, D, K-1]: P of the K-1 tokens before this call, oldest first */
    int update_hist;    /* T == 1 only: shift the new P into hist (decode) */
};
sb_status ttt_glue_ops(const ttt_glue_args *a);
/* After a prefill (hist was zero): hist <- the last K-1 rows of P. */
sb_status ttt_glue_save_hist(const ttt_glue_args *a);

/* post_norm (LayerNorm over D, affine) of the core output, times gelu_tanh(gate) if gate. */
struct ttt_post_args {
    const bf16 *core;   /* [rows, ldc] */
    long long ldc;
    const bf16 *gate;   /* [rows, ldg] or NULL */
    long long ldg;
    bf16 *out;          /* [rows, ldo] (may alias core) */
    long long ldo;
    long long rows;
    int D;
    float eps;
    const float *w, *b; /* [D] */
};
sb_status ttt_glue_post(const ttt_post_args *a);

/* p[i] = base[i % period] (or 0) + scale * u, u uniform in [-1, 1) from (seed, i). */
sb_status ttt_fill_random(float *p, size_t n, const float *base, size_t period, float scale, uint64_t seed);

/* ---- device helpers ------------------------------------------------------------------ */
/* Where the prefill of (sequence, head) = (bh / H, h) starts: the parameters [H, ...], or with
 * from_state the state [B, H, ...]; n* = elements per head. */
__device__ __forceinline__ ttt_weights ttt_start_weights(const ttt_core_args &a, size_t bh, int h, size_t nw1, size_t nb1,
                                                         size_t nw2, size_t nb2) {
    const ttt_weights &src = a.from_state ? a.W : a.init;
    const size_t i = a.from_state ? bh : (size_t)h;
    ttt_weights w;
    w.W1 = src.W1 + i * nw1;
    w.b1 = src.b1 + i * nb1;
    w.W2 = nw2 ? src.W2 + i * nw2 : nullptr;
    w.b2 = nb2 ? src.b2 + i * nb2 : nullptr;
    return w;
}

#define SB_DYN_SMEM(name) extern __shared__ __align__(16) unsigned char name[]

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Sum over the `width` lanes of an aligned group (width a power of two <= 32). */
__device__ __forceinline__ float group_sum(float v, int width) {
    for (int o = width >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(bf16 v) { return __bfloat162float(v); }

/* gelu with the tanh approximation (F.gelu(approximate="tanh")) and its derivative with the
 * reference's constants (ttt.py gelu_bwd). */
__device__ __forceinline__ float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ float gelu_tanh_grad(float x) {
    float t = tanhf(0.79788456f * x * (1.0f + 0.044715f * x * x));
    return 0.5f * x * ((1.0f - t * t) * (0.79788456f + 0.1070322243f * x * x)) + 0.5f * (1.0f + t);
}

/* Allocation of the dynamic shared memory, 16-byte aligned pieces. */
struct smem_carver {
    unsigned char *p;
    template <class T> __device__ __forceinline__ T *take(size_t n) {
        T *r = (T *)p;
        p += (n * sizeof(T) + 15) & ~(size_t)15;
        return r;
    }
};

/* Row statistics of n values in shared memory, one warp: mean and 1/sqrt(biased var + eps). */
__device__ __forceinline__ void row_stats(const float *z, int n, float eps, float &mu, float &rstd) {
    const int lane = threadIdx.x & 31;
    float s = 0.f;
    for (int c = lane; c < n; c += 32) s += z[c];
    mu = warp_sum(s) / (float)n;
    float q = 0.f;
    for (int c = lane; c < n; c += 32) {
        float e = z[c] - mu;
        q += e * e;
    }
    rstd = 1.0f / sqrtf(warp_sum(q) / (float)n + eps);
}

/* LayerNorm backward fused with the L2 loss (ttt.py ln_fused_l2_bwd), one warp, one row:
 * g_c = (n gh_c - sum gh - xh_c sum(gh xh)) / (n s), gh = w (w xh + b - target).
 * target(c) and store(c, g) are callables. */
template <class Target, class Store>
__device__ __forceinline__ void ln_l2_bwd_row(const float *z, int n, float eps, const float *w, const float *b,
                                              Target target, Store store) {
    const int lane = threadIdx.x & 31;
    float mu, rstd;
    row_stats(z, n, eps, mu, rstd);
    float s1 = 0.f, s2 = 0.f;
    for (int c = lane; c < n; c += 32) {
        float xh = (z[c] - mu) * rstd;
        float gh = (w[c] * xh + b[c] - target(c)) * w[c];
        s1 += gh;
        s2 += gh * xh;
    }
    s1 = warp_sum(s1);
    s2 = warp_sum(s2);
    for (int c = lane; c < n; c += 32) {
        float xh = (z[c] - mu) * rstd;
        float gh = (w[c] * xh + b[c] - target(c)) * w[c];
        store(c, ((float)n * gh - s1 - xh * s2) * rstd / (float)n);
    }
}

/* LayerNorm forward, one warp, one row: store(c, w_c (z_c - mu) / s + b_c). */
template <class Store>
__device__ __forceinline__ void ln_fwd_row(const float *z, int n, float eps, const float *w, const float *b,
                                           Store store) {
    const int lane = threadIdx.x & 31;
    float mu, rstd;
    row_stats(z, n, eps, mu, rstd);
    for (int c = lane; c < n; c += 32) store(c, w[c] * (z[c] - mu) * rstd + b[c]);
}

/* ---- version 1 of the prefill kernels (fp32 loops, a block of TTT_V1_THREADS per (b, h)) ---- */
static constexpr int TTT_V1_THREADS = 256;

/* The Q, K, V rows t0 .. t0+mb-1 of head h into fp32 [mb][d] (0 from row r on, past the end of
 * the sequence) and their lr. */
__device__ __forceinline__ void ttt_v1_load_rows(const ttt_core_args &a, float *Q, float *K, float *V, float *lr,
                                                 size_t row0, int t0, int r, int h) {
    const int d = a.d, mb = a.mb, D = a.H * d;
    for (int e = threadIdx.x; e < mb * d; e += TTT_V1_THREADS) {
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
    for (int i = threadIdx.x; i < mb; i += TTT_V1_THREADS)
        lr[i] = i < r ? to_f32(a.x[(row0 + t0 + i) * a.ldx + 3 * D + h]) : 0.f;
}

/* Entry (i, c) of X W + b: X [.][n_in], W [n_in][n_out]. */
__device__ __forceinline__ float ttt_v1_affine(const float *X, const float *W, const float *bias, int n_in, int n_out, int i,
                                               int c) {
    float s = bias[c];
    for (int k = 0; k < n_in; k++) s += X[i * n_in + k] * W[k * n_out + c];
    return s;
}

/* C_ij = tau_i lr_j (1 + x_i . y_j) for j <= i, else 0 (X, Y rows of n): the dual form's mix
 * eta . (tril(X Y^T) + tril(1)) of the mini-batch's gradients. */
__device__ __forceinline__ float ttt_v1_causal_coef(const float *X, const float *Y, int n, const float *tau, const float *lr,
                                                    int i, int j) {
    float s = 0.f;
    if (j <= i) {
        float xy = 0.f;
        for (int k = 0; k < n; k++) xy += X[i * n + k] * Y[j * n + k];
        s = tau[i] * lr[j] * (1.0f + xy);
    }
    return s;
}

/* Entry (i, c) of Zbar = X W + b - C G (C [mb][mb] lower triangular, G [mb][n_out]). */
__device__ __forceinline__ float ttt_v1_dual_out(const float *X, const float *W, const float *bias, const float *C,
                                                 const float *G, int n_in, int n_out, int mb, int i, int c) {
    float s = ttt_v1_affine(X, W, bias, n_in, n_out, i, c);
    for (int j = 0; j <= i; j++) s -= C[i * mb + j] * G[j * n_out + c];
    return s;
}

/* G = LN_L2_bwd(Z, V - K), a warp per row ([mb][d]); rows r.. (past the end of the sequence) 0. */
__device__ __forceinline__ void ttt_v1_grad_rows(const float *Z, const float *V, const float *K, float *G, const float *lw,
                                                 const float *lb, int d, int mb, int r, float eps) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = TTT_V1_THREADS / 32;
    for (int i = warp; i < mb; i += nwarps) {
        float *g = G + i * d;
        const float *v = V + i * d, *k = K + i * d;
        if (i < r)
            ln_l2_bwd_row(Z + i * d, d, eps, lw, lb, [&](int c) { return v[c] - k[c]; }, [&](int c, float x) { g[c] = x; });
        else
            for (int c = lane; c < d; c += 32) g[c] = 0.f;
    }
}

/* The output rows t0 .. t0+r-1 of head h: Q + LN(Zbar), a warp per row, bf16. */
__device__ __forceinline__ void ttt_v1_store_out(const ttt_core_args &a, const float *Zbar, const float *Q, const float *lw,
                                                 const float *lb, size_t row0, int t0, int r, int h) {
    const int d = a.d, nwarps = TTT_V1_THREADS / 32;
    for (int i = threadIdx.x >> 5; i < r; i += nwarps) {
        bf16 *y = a.y + (row0 + t0 + i) * a.ldy + (size_t)h * d;
        const float *q = Q + i * d;
        ln_fwd_row(Zbar + i * d, d, a.eps, lw, lb, [&](int c, float v) { y[c] = __float2bfloat16_rn(q[c] + v); });
    }
}

/* sum_j lr_j x_j[k] g_j[c] over the r tokens of a mini-batch (rows of X: nx, of G: ng): the
 * (k, c) entry of the gradient sum (alpha X)^T G. */
__device__ __forceinline__ float ttt_v1_grad_sum(const float *X, int nx, const float *G, int ng, const float *lr, int r, int k,
                                                 int c) {
    float s = 0.f;
    for (int j = 0; j < r; j++) s += lr[j] * X[j * nx + k] * G[j * ng + c];
    return s;
}

/* End of a mini-batch for one parameter entry p with gradient sum s: a full mini-batch applies it
 * (p -= tau_last s), the open (last, partial) one keeps p at its start and s as its sum gs. */
__device__ __forceinline__ void ttt_v1_update(float &p, float &gs, float s, bool full, float tau_last) {
    if (full) p -= tau_last * s;
    else gs = s;
}

/* ttt_v1_update of a bias b [n] by the gradient sums sum_j lr_j G_j (G [mb][n]); gs: the state's sums. */
__device__ __forceinline__ void ttt_v1_update_bias(float *b, float *gs, const float *G, int n, const float *lr, int r, bool full,
                                                   float tau_last) {
    for (int c = threadIdx.x; c < n; c += TTT_V1_THREADS) {
        float s = 0.f;
        for (int j = 0; j < r; j++) s += lr[j] * G[j * n + c];
        ttt_v1_update(b[c], gs[c], s, full, tau_last);
    }
}

/* Rows in registers for the tensor-core kernels: a row of n = 8 L values is spread over an
 * aligned group of L lanes (L = n / 8, a power of two <= 32); lane q of the group holds columns
 * 4q .. 4q+3 and n/2 + 4q .. n/2 + 4q+3, so that each group reads and writes 16-byte (fp32) or
 * 8-byte (bf16) pieces, consecutive across its lanes. Reductions are log2(L) shuffles. */
__device__ __forceinline__ void row8_load(float v[8], const float *row, int q, int n) {
    const float4 x = *reinterpret_cast<const float4 *>(row + 4 * q), y = *reinterpret_cast<const float4 *>(row + n / 2 + 4 * q);
    v[0] = x.x, v[1] = x.y, v[2] = x.z, v[3] = x.w, v[4] = y.x, v[5] = y.y, v[6] = y.z, v[7] = y.w;
}
__device__ __forceinline__ void row8_load(float v[8], const bf16 *row, int q, int n) {
#pragma unroll
    for (int hlf = 0; hlf < 2; hlf++) {
        const uint2 u = *reinterpret_cast<const uint2 *>(row + hlf * (n / 2) + 4 * q);
        const __nv_bfloat162 a = *reinterpret_cast<const __nv_bfloat162 *>(&u.x), b = *reinterpret_cast<const __nv_bfloat162 *>(&u.y);
        v[4 * hlf + 0] = __low2float(a), v[4 * hlf + 1] = __high2float(a);
        v[4 * hlf + 2] = __low2float(b), v[4 * hlf + 3] = __high2float(b);
    }
}
__device__ __forceinline__ void row8_store(float *row, int q, int n, const float v[8]) {
    *reinterpret_cast<float4 *>(row + 4 * q) = make_float4(v[0], v[1], v[2], v[3]);
    *reinterpret_cast<float4 *>(row + n / 2 + 4 * q) = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void row8_store(bf16 *row, int q, int n, const float v[8]) {
#pragma unroll
    for (int hlf = 0; hlf < 2; hlf++) {
        __nv_bfloat162 a = __floats2bfloat162_rn(v[4 * hlf], v[4 * hlf + 1]), b = __floats2bfloat162_rn(v[4 * hlf + 2], v[4 * hlf + 3]);
        uint2 u;
        u.x = *reinterpret_cast<uint32_t *>(&a);
        u.y = *reinterpret_cast<uint32_t *>(&b);
        *reinterpret_cast<uint2 *>(row + hlf * (n / 2) + 4 * q) = u;
    }
}

/* LayerNorm statistics of a row held as row8 pieces by groups of `width` lanes. */
__device__ __forceinline__ void row8_stats(const float z[8], int n, int width, float eps, float &mu, float &rstd) {
    float s = 0.f;
#pragma unroll
    for (int k = 0; k < 8; k++) s += z[k];
    mu = group_sum(s, width) / (float)n;
    float q = 0.f;
#pragma unroll
    for (int k = 0; k < 8; k++) q += (z[k] - mu) * (z[k] - mu);
    rstd = 1.0f / sqrtf(group_sum(q, width) / (float)n + eps);
}
/* ln_l2_bwd_row on row8 pieces: g from z, target t, LN weight w and bias b (all pieces). */
__device__ __forceinline__ void row8_ln_l2_bwd(const float z[8], const float t[8], const float w[8], const float b[8], int n,
                                               int width, float eps, float g[8]) {
    float mu, rstd;
    row8_stats(z, n, width, eps, mu, rstd);
    float xh[8], gh[8], s1 = 0.f, s2 = 0.f;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        xh[k] = (z[k] - mu) * rstd;
        gh[k] = (w[k] * xh[k] + b[k] - t[k]) * w[k];
        s1 += gh[k];
        s2 += gh[k] * xh[k];
    }
    s1 = group_sum(s1, width);
    s2 = group_sum(s2, width);
#pragma unroll
    for (int k = 0; k < 8; k++) g[k] = ((float)n * gh[k] - s1 - xh[k] * s2) * rstd / (float)n;
}
/* LayerNorm forward on row8 pieces, in place. */
__device__ __forceinline__ void row8_ln_fwd(float z[8], const float w[8], const float b[8], int n, int width, float eps) {
    float mu, rstd;
    row8_stats(z, n, width, eps, mu, rstd);
#pragma unroll
    for (int k = 0; k < 8; k++) z[k] = w[k] * (z[k] - mu) * rstd + b[k];
}

/* The inner loss's gradient of a row on row8 pieces: g = LN_L2_bwd(z, v - k), v and k the row's
 * bf16 tile rows, lw / lb the ttt_norm weight and bias [n]; g = 0 where !valid (a row past the
 * end of the sequence). */
__device__ __forceinline__ void row8_ttt_grad(const float z[8], const bf16 *vrow, const bf16 *krow, const float *lw,
                                              const float *lb, int q, int n, int width, float eps, bool valid, float g[8]) {
    float t[8], k[8], w8[8], b8[8];
    row8_load(t, vrow, q, n);
    row8_load(k, krow, q, n);
#pragma unroll
    for (int e = 0; e < 8; e++) t[e] -= k[e];
    row8_load(w8, lw, q, n);
    row8_load(b8, lb, q, n);
    row8_ln_l2_bwd(z, t, w8, b8, n, width, eps, g);
#pragma unroll
    for (int e = 0; e < 8; e++) g[e] = valid ? g[e] : 0.f;
}
/* The output of a row on row8 pieces: z <- q + LN(z) (q the row's bf16 tile row), stored as bf16
 * at y if valid. */
__device__ __forceinline__ void row8_ttt_out(float z[8], const bf16 *qrow, const float *lw, const float *lb, int q, int n,
                                             int width, float eps, bool valid, bf16 *y) {
    float w8[8], b8[8], qv[8];
    row8_load(w8, lw, q, n);
    row8_load(b8, lb, q, n);
    row8_ln_fwd(z, w8, b8, n, width, eps);
    row8_load(qv, qrow, q, n);
#pragma unroll
    for (int e = 0; e < 8; e++) z[e] += qv[e];
    if (valid) row8_store(y, q, n, z);
}

/* The weight of token i's gradient in the parameter update that ends a version-2 mini-batch (16
 * tokens, r of them in the sequence): -eta_15,i = -tau_15 lr_i when it is full (the update is
 * applied), lr_i when it is the open one (its gradient sums are kept), 0 past the end. */
__device__ __forceinline__ float ttt_update_coef(int i, int r, bool full, const float *tau, const float *lr) {
    return i < r ? (full ? -tau[15] * lr[i] : lr[i]) : 0.f;
}

/* Two floats -> one .b32 holding two bf16 (lo in the low half: the lower column/row index). */
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* D = A B + D, m16n8k16, A row-major bf16 (4 regs), B "col" bf16 (2 regs), fp32 accumulators.
 * Fragments (PTX ISA, g = lane/4, t = lane%4): A a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..),
 * a3 (g+8, 2t+8..); B b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g); C c0,c1 (g, 2t..), c2,c3 (g+8, 2t..). */
__device__ __forceinline__ void mma_bf16_16816(float c[4], const uint32_t a[4], const uint32_t b[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* ldmatrix x4: lanes 8i..8i+7 give the row addresses (16 bytes each) of 8x8 matrix i; register i
 * gets matrix i's fragment: (row lane/4, cols 2(lane%4)..+1), or with .trans the transposed one. */
__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void *row) {
    unsigned s = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const void *row) {
    unsigned s = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

/* The transpose of an 8x8 b16 matrix held one row-pair per lane (lane l: row l/4, cols 2(l%4)..+1)
 * in the same form: lane l gets (M[2(l%4)][l/4], M[2(l%4)+1][l/4]). */
__device__ __forceinline__ uint32_t movmatrix_trans(uint32_t a) {
    uint32_t d;
    asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(d) : "r"(a));
    return d;
}

/* Per-lane ldmatrix x4 offsets into a 16 x 16 bf16 tile (row ra/rb, column ca/cb): (ra, ca) for an
 * A operand [m][k] (and a B operand [k][n] via .trans), (rb, cb) for a B operand stored [n][k]
 * (and an A^T via .trans). */
struct ldsm_lane {
    int ra, ca, rb, cb;
};
__device__ __forceinline__ ldsm_lane ldsm_lane_offsets(int lane) {
    return {(lane & 7) + 8 * ((lane >> 3) & 1), 8 * (lane >> 4), (lane & 7) + 8 * (lane >> 4), 8 * ((lane >> 3) & 1)};
}

/* An accumulator fragment (rows r0 + g (+8), cols 8 nt + 2t (+1)) from / into a row-major fp32
 * matrix of row stride ld; `trans`: element (row, col) lives at [col][row] (the masters W^T of the
 * prefill kernels, read from and written to W [in][out]). */
__device__ __forceinline__ void frag_load(float v[4], const float *M, int ld, int r0, int nt, int g, int t4, bool trans) {
    const int c = 8 * nt + 2 * t4, ra = r0 + g, rb = r0 + g + 8;
    if (trans) {
        v[0] = M[c * ld + ra], v[1] = M[(c + 1) * ld + ra], v[2] = M[c * ld + rb], v[3] = M[(c + 1) * ld + rb];
    } else {
        v[0] = M[ra * ld + c], v[1] = M[ra * ld + c + 1], v[2] = M[rb * ld + c], v[3] = M[rb * ld + c + 1];
    }
}
__device__ __forceinline__ void frag_store(float *M, int ld, int r0, int nt, const float v[4], int g, int t4, bool trans) {
    const int c = 8 * nt + 2 * t4, ra = r0 + g, rb = r0 + g + 8;
    if (trans) {
        M[c * ld + ra] = v[0], M[(c + 1) * ld + ra] = v[1], M[c * ld + rb] = v[2], M[(c + 1) * ld + rb] = v[3];
    } else {
        M[ra * ld + c] = v[0], M[ra * ld + c + 1] = v[1], M[rb * ld + c] = v[2], M[rb * ld + c + 1] = v[3];
    }
}

/* Rows g and g+8, columns c and c+1 of an accumulator fragment into a row-major matrix of row
 * stride ld: fp32 as float2 (with bias[c], bias[c+1] added in the _bias form), bf16 as packed pairs. */
__device__ __forceinline__ void frag_rows_store(float *M, int ld, int g, int c, const float v[4]) {
    *reinterpret_cast<float2 *>(M + g * ld + c) = make_float2(v[0], v[1]);
    *reinterpret_cast<float2 *>(M + (g + 8) * ld + c) = make_float2(v[2], v[3]);
}
__device__ __forceinline__ void frag_rows_store_bias(float *M, int ld, int g, int c, const float v[4], const float *bias) {
    const float b0 = bias[c], b1 = bias[c + 1];
    *reinterpret_cast<float2 *>(M + g * ld + c) = make_float2(v[0] + b0, v[1] + b1);
    *reinterpret_cast<float2 *>(M + (g + 8) * ld + c) = make_float2(v[2] + b0, v[3] + b1);
}
__device__ __forceinline__ void frag_rows_store(bf16 *M, int ld, int g, int c, const float v[4]) {
    *reinterpret_cast<uint32_t *>(M + g * ld + c) = pack_bf16(v[0], v[1]);
    *reinterpret_cast<uint32_t *>(M + (g + 8) * ld + c) = pack_bf16(v[2], v[3]);
}

/* B operand (k = 16 inputs of k-step ks, n = 8 outputs nz of a 16-wide tile) of X W from W^T
 * accumulator fragments (rows = outputs, cols = inputs); the same formula reads G2 W2^T's B from
 * TTT-MLP's W2 fragments. */
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

/* acc += X W on 16 rows and the 16 columns whose W^T fragments wt[2 ks (+1)] a warp holds:
 * X bf16 [16][ld] in shared memory (A operand by ldmatrix, lane offsets o), KSTEPS = in / 16. */
template <int KSTEPS>
__device__ __forceinline__ void mma_rows_wt(float acc[2][4], const bf16 *X, int ld, const float (*wt)[4], const ldsm_lane &o) {
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ks++) {
        uint32_t ax[4];
        ldsm_x4(ax, X + o.ra * ld + 16 * ks + o.ca);
#pragma unroll
        for (int nz = 0; nz < 2; nz++) {
            uint32_t bw[2];
            wt_as_b(bw, wt, ks, nz);
            mma_bf16_16816(acc[nz], ax, bw);
        }
    }
}

/* -C_ij = -tau_i lr_j (1 + s_ij) for j <= i, else 0, in place on the 16 x 16 accumulator pair of
 * S = X Y^T (rows i = g (+8), cols j = 8 nz + 2t (+1)): after acc_as_a, the A operand of -C G. */
__device__ __forceinline__ void neg_causal_coef(float s[2][4], const float *tau, const float *lr, int g, int t4) {
#pragma unroll
    for (int nz = 0; nz < 2; nz++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int i = g + 8 * (e >> 1), j = 8 * nz + 2 * t4 + (e & 1);
            s[nz][e] = j <= i ? -tau[i] * lr[j] * (1.0f + s[nz][e]) : 0.f;
        }
}

/* Asynchronous global -> shared copies of BYTES (16 or 8); src_bytes < BYTES zero-fills the rest. */
template <int BYTES>
__device__ __forceinline__ void cp_async(void *dst, const void *src, int src_bytes) {
    unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    if (BYTES == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(src_bytes));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(s), "l"(src), "n"(BYTES), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* The Q | K | V rows t0 .. t0+15 of head hd (offset in elements) of sequence row0 into three
 * [16][ldt] bf16 tiles at dst (dst, dst + 16 ldt, dst + 32 ldt), by cp.async of VEC bytes; rows
 * past the end of the sequence are zero-filled. Commits one group. */
template <int D_, int VEC, int NT>
__device__ __forceinline__ void ttt_load_qkv_tile(const ttt_core_args &a, bf16 *dst, int ldt, size_t row0, size_t hd,
                                                  int t0) {
    const int r = min(16, a.T - t0), D = a.H * D_;
    constexpr int CPR = D_ * 2 / VEC, EPC = VEC / 2; /* copies per row, elements per copy */
#pragma unroll 1 /* (unrolled, its per-thread addresses get hoisted out of the mini-batch loop: spills) */
    for (int e = threadIdx.x; e < 3 * 16 * CPR; e += NT) {
        const int which = e / (16 * CPR), rem = e % (16 * CPR), i = rem / CPR, ch = rem % CPR;
        const bf16 *src = a.x + (row0 + t0 + min(i, r - 1)) * a.ldx + (size_t)which * D + hd + ch * EPC;
        cp_async<VEC>(dst + (which * 16 + i) * ldt + ch * EPC, src, i < r ? VEC : 0);
    }
    cp_async_commit();
}

/* lr of tokens t0 + threadIdx.x (threads < 16; 0 past the end). */
__device__ __forceinline__ float ttt_load_lr(const ttt_core_args &a, size_t row0, int h, int t0) {
    const int r = min(16, a.T - t0), i = threadIdx.x;
    return i < r ? to_f32(a.x[(row0 + t0 + i) * a.ldx + 3 * (size_t)a.H * a.d + h]) : 0.f;
}

#endif
