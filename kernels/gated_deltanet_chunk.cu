/* gated_deltanet_chunk.cu: the chunked gated delta rule (spec/gated_deltanet.md §4, fla's chunk
 * kernels) on tensor cores: mma.sync m16n8k16 with bf16 operands and fp32 accumulators, the state
 * fp32. Two kernels per prefill, as fla splits its work (chunk_scaled_dot_kkt + solve_tril + wy_fast,
 * then chunk_fwd_h + chunk_fwd_o fused here):
 *
 *   kernel 1  one block per (sequence, head, chunk), all chunks at once (the K side does not depend
 *             on the state): gamma = cumsum g; K K^T and Q K^T (mma); A = strict lower of
 *             beta_i k_i.k_j e^{gamma_i - gamma_j}; T = (I + A)^-1 by forward substitution in fp32
 *             (one row per barrier); writes Tb = T diag(beta), M = s (Q K^T . Gamma) (lower, with the
 *             diagonal), Wk = T diag(beta e^gamma) K (mma) and gamma to the scratch.
 *   kernel 2  one block per (sequence, head, tile of BV value rows of the state), walking the chunks
 *             in order with its fp32 state tile S [BV, K] in shared memory (value rows are independent
 *             in every product below): per chunk
 *                V_new = Tb V - Wk S^T                    (mma, k over C and K)
 *                O     = (e^gamma s Q) S^T + M V_new      (mma) -> o rows
 *                S     = e^{gamma_last} S + V_new^T (e^{gamma_last - gamma} K)   (mma, fp32 accumulators)
 *             with S also kept as bf16 for the products that read it (as fla casts h).
 * Rows past T are zeros (g = 0, beta = 0: they change nothing) and are not stored.
 * Shapes: C in {16, 32, 64}; K and V multiples of 16, K <= 256 (shared memory: gdn_state_smem).
 * Warps loop over 16 x 16 output tiles; operands come from padded shared tiles by ldmatrix.
 * measured speed: not yet measured on a GPU.
 */
#include "gated_deltanet_cuda.cuh"
#include "ttt_kernels.cuh" /* the sm_80 primitives (mma_bf16_16816, ldsm_x4(_trans), ldsm_lane_offsets), smem_carver */

constexpr int GDN_THREADS = 128, GDN_WARPS = GDN_THREADS / 32, GDN_PAD = 8;

/* acc (one 16 x 16 output tile at rows m0, cols n0) += A B over kdim (a multiple of 16).
 * A is [m][k] (A_KM: stored [k][m]), B is stored [n][k] (B_KN: stored [k][n]); bf16 in shared
 * memory, row strides lda, ldb multiples of 8. */
template <bool A_KM, bool B_KN>
__device__ __forceinline__ void tile_mma(float acc[2][4], const bf16 *A, int lda, const bf16 *B, int ldb, int m0, int n0,
                                         int kdim, const ldsm_lane &o) {
    for (int k0 = 0; k0 < kdim; k0 += 16) {
        uint32_t a[4], b[4];
        if (A_KM) ldsm_x4_trans(a, A + (k0 + o.rb) * lda + m0 + o.cb);
        else ldsm_x4(a, A + (m0 + o.ra) * lda + k0 + o.ca);
        if (B_KN) ldsm_x4_trans(b, B + (k0 + o.ra) * ldb + n0 + o.ca);
        else ldsm_x4(b, B + (n0 + o.rb) * ldb + k0 + o.cb);
        const uint32_t b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
        mma_bf16_16816(acc[0], a, b0);
        mma_bf16_16816(acc[1], a, b1);
    }
}

__device__ __forceinline__ void tile_zero(float acc[2][4]) {
#pragma unroll
    for (int nz = 0; nz < 2; nz++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[nz][e] = 0.f;
}
/* Row and column of accumulator element (nz, e) of the tile at (m0, n0) for lane (g, t4). */
__device__ __forceinline__ int tile_row(int m0, int g, int e) { return m0 + g + 8 * (e >> 1); }
__device__ __forceinline__ int tile_col(int n0, int t4, int nz, int e) { return n0 + 8 * nz + 2 * t4 + (e & 1); }

__device__ __forceinline__ float ld_f32(const bf16 *p) { return __bfloat162float(*p); }

static size_t part(size_t bytes) { return (bytes + 15) / 16 * 16; }

static size_t prep_smem(int C, int K) {
    return 2 * part((size_t)C * (K + GDN_PAD) * sizeof(bf16)) + 2 * part(C * sizeof(float)) +
           3 * part((size_t)C * (C + 1) * sizeof(float)) + part((size_t)C * (C + GDN_PAD) * sizeof(bf16));
}
static int state_bv(int K, int V) { return K > 128 || V % 64 ? (V % 32 ? 16 : 32) : 64; }
static size_t state_smem(int C, int K, int BV) {
    return part((size_t)BV * K * sizeof(float)) + part((size_t)BV * (K + GDN_PAD) * sizeof(bf16)) +
           3 * part((size_t)C * (K + GDN_PAD) * sizeof(bf16)) + 2 * part((size_t)C * (C + GDN_PAD) * sizeof(bf16)) +
           2 * part((size_t)C * (BV + GDN_PAD) * sizeof(bf16)) + part(C * sizeof(float));
}
constexpr size_t GDN_SMEM_MAX = 227 * 1024; /* sm_90 opt-in per block */

void gdn_chunk_scratch_sizes(int B, int H, int T, int C, int K, size_t bytes[4]) {
    const size_t chunks = (size_t)B * H * ((T + C - 1) / C);
    bytes[0] = chunks * C * sizeof(float);
    bytes[1] = bytes[2] = chunks * C * C * sizeof(bf16);
    bytes[3] = chunks * C * K * sizeof(bf16);
}

sb_status gdn_chunk_supports(int C, int K, int V) {
    if (C != 16 && C != 32 && C != 64) return sb_fail(SB_ENOTSUP, "gated_deltanet cuda: chunk_size %d (16, 32 or 64)", C);
    if (K % 16 || V % 16 || K > 256)
        return sb_fail(SB_ENOTSUP, "gated_deltanet cuda: head_dim %d / head_v_dim %d (multiples of 16, K <= 256)", K, V);
    if (prep_smem(C, K) > GDN_SMEM_MAX || state_smem(C, K, state_bv(K, V)) > GDN_SMEM_MAX)
        return sb_fail(SB_ENOTSUP, "gated_deltanet cuda: K %d, V %d need more shared memory than a block has", K, V);
    return SB_OK;
}

/* ---- kernel 1: the K side of every chunk ------------------------------------------------------- */
template <int C>
static __global__ void __launch_bounds__(GDN_THREADS) gdn_chunk_prep_kernel(const gdn_op_args a, const gdn_chunk_scratch s) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int NC = (a.T + C - 1) / C, chunk = blockIdx.x % NC, bh = blockIdx.x / NC, b = bh / a.H, h = bh % a.H;
    const int K = a.K, HK = a.H * K, HV = a.H * a.V, ldk = K + GDN_PAD, ldc = C + 1;
    const int t0 = chunk * C, n = min(C, a.T - t0);
    smem_carver sc{smem};
    bf16 *Ks = sc.take<bf16>((size_t)C * ldk), *Qs = sc.take<bf16>((size_t)C * ldk);
    float *gam = sc.take<float>(C), *beta = sc.take<float>(C);
    float *KK = sc.take<float>((size_t)C * ldc), *QK = sc.take<float>((size_t)C * ldc), *X = sc.take<float>((size_t)C * ldc);
    bf16 *Ab = sc.take<bf16>((size_t)C * (C + GDN_PAD));
    const bf16 *rows = a.x + ((size_t)b * a.T + t0) * a.ldx;
    for (int e = threadIdx.x; e < C * K; e += GDN_THREADS) {
        const int i = e / K, c = e % K;
        const bf16 zero = __float2bfloat16_rn(0.f);
        Qs[i * ldk + c] = i < n ? rows[(size_t)i * a.ldx + h * K + c] : zero;
        Ks[i * ldk + c] = i < n ? rows[(size_t)i * a.ldx + HK + h * K + c] : zero;
    }
    if (threadIdx.x < C) {
        const int i = threadIdx.x;
        gam[i] = i < n ? ld_f32(rows + (size_t)i * a.ldx + 2 * HK + HV + h) : 0.f;
        beta[i] = i < n ? ld_f32(rows + (size_t)i * a.ldx + 2 * HK + HV + a.H + h) : 0.f;
    }
    __syncthreads();
    if (threadIdx.x == 0)
        for (int i = 1; i < C; i++) gam[i] += gam[i - 1];
    /* K K^T and Q K^T, fp32 */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
    const ldsm_lane o = ldsm_lane_offsets(lane);
    constexpr int CT = C / 16;
    for (int tile = warp; tile < 2 * CT * CT; tile += GDN_WARPS) {
        const int which = tile / (CT * CT), m0 = 16 * ((tile % (CT * CT)) / CT), n0 = 16 * (tile % CT);
        float acc[2][4];
        tile_zero(acc);
        tile_mma<false, false>(acc, which ? Qs : Ks, ldk, Ks, ldk, m0, n0, K, o);
        float *dst = which ? QK : KK;
#pragma unroll
        for (int nz = 0; nz < 2; nz++)
#pragma unroll
            for (int e = 0; e < 4; e++) dst[tile_row(m0, g, e) * ldc + tile_col(n0, t4, nz, e)] = acc[nz][e];
    }
    __syncthreads();
    /* A (strict lower, in KK) and X = (I + A)^-1 by forward substitution, one row per barrier */
    for (int e = threadIdx.x; e < C * C; e += GDN_THREADS) {
        const int i = e / C, j = e % C;
        KK[i * ldc + j] = j < i ? beta[i] * KK[i * ldc + j] * __expf(gam[i] - gam[j]) : 0.f;
        X[i * ldc + j] = i == j ? 1.f : 0.f;
    }
    __syncthreads();
    for (int i = 1; i < C; i++) {
        if ((int)threadIdx.x < i) {
            const int j = threadIdx.x;
            float x = -KK[i * ldc + j];
            for (int m = j + 1; m < i; m++) x -= KK[i * ldc + m] * X[m * ldc + j];
            X[i * ldc + j] = x;
        }
        __syncthreads();
    }
    /* Tb, M to the scratch; Ab = T diag(beta e^gamma) for Wk */
    const size_t cidx = (size_t)bh * NC + chunk;
    bf16 *Tb = s.Tb + cidx * C * C, *M = s.M + cidx * C * C;
    for (int e = threadIdx.x; e < C * C; e += GDN_THREADS) {
        const int i = e / C, j = e % C;
        const float x = X[i * ldc + j];
        Tb[e] = __float2bfloat16_rn(x * beta[j]);
        Ab[i * (C + GDN_PAD) + j] = __float2bfloat16_rn(x * beta[j] * __expf(gam[j]));
        M[e] = __float2bfloat16_rn(j <= i ? a.scale * QK[i * ldc + j] * __expf(gam[i] - gam[j]) : 0.f);
    }
    if (threadIdx.x < C) s.gam[cidx * C + threadIdx.x] = gam[threadIdx.x];
    __syncthreads();
    /* Wk = Ab K  [C, K] */
    bf16 *Wk = s.Wk + cidx * C * K;
    for (int tile = warp; tile < CT * (K / 16); tile += GDN_WARPS) {
        const int m0 = 16 * (tile / (K / 16)), n0 = 16 * (tile % (K / 16));
        float acc[2][4];
        tile_zero(acc);
        tile_mma<false, true>(acc, Ab, C + GDN_PAD, Ks, ldk, m0, n0, C, o);
#pragma unroll
        for (int nz = 0; nz < 2; nz++)
#pragma unroll
            for (int e = 0; e < 4; e++) Wk[tile_row(m0, g, e) * K + tile_col(n0, t4, nz, e)] = __float2bfloat16_rn(acc[nz][e]);
    }
}

/* ---- kernel 2: the state pass ----------------------------------------------------------------- */
template <int C>
static __global__ void __launch_bounds__(GDN_THREADS) gdn_chunk_state_kernel(const gdn_op_args a, const gdn_chunk_scratch s,
                                                                               int BV) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int bh = blockIdx.x, b = bh / a.H, h = bh % a.H, v0 = blockIdx.y * BV, NC = (a.T + C - 1) / C;
    const int K = a.K, HK = a.H * K, ldk = K + GDN_PAD, ldc = C + GDN_PAD, ldv = BV + GDN_PAD;
    smem_carver sc{smem};
    float *Sf = sc.take<float>((size_t)BV * K);
    bf16 *Sb = sc.take<bf16>((size_t)BV * ldk), *Qe = sc.take<bf16>((size_t)C * ldk), *Kd = sc.take<bf16>((size_t)C * ldk);
    bf16 *Wk = sc.take<bf16>((size_t)C * ldk), *Tb = sc.take<bf16>((size_t)C * ldc), *M = sc.take<bf16>((size_t)C * ldc);
    bf16 *Vs = sc.take<bf16>((size_t)C * ldv), *Vn = sc.take<bf16>((size_t)C * ldv);
    float *gam = sc.take<float>(C);
    float *S = a.S + ((size_t)bh * a.V + v0) * K;
    for (int e = threadIdx.x; e < BV * K; e += GDN_THREADS) {
        Sf[e] = S[e];
        Sb[(e / K) * ldk + e % K] = __float2bfloat16_rn(S[e]);
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t4 = lane % 4;
    const ldsm_lane o = ldsm_lane_offsets(lane);
    constexpr int CT = C / 16;
    const int VT = BV / 16, KT = K / 16;
    const bf16 zero = __float2bfloat16_rn(0.f);
    for (int chunk = 0; chunk < NC; chunk++) {
        const int t0 = chunk * C, n = min(C, a.T - t0);
        const size_t cidx = (size_t)bh * NC + chunk;
        const bf16 *rows = a.x + ((size_t)b * a.T + t0) * a.ldx;
        if (threadIdx.x < C) gam[threadIdx.x] = s.gam[cidx * C + threadIdx.x];
        __syncthreads(); /* gam in; the previous chunk's readers of Qe, Kd, Vs, ... are done */
        const float glast = gam[C - 1];
        for (int e = threadIdx.x; e < C * K; e += GDN_THREADS) {
            const int i = e / K, c = e % K;
            const bool in = i < n;
            Qe[i * ldk + c] = in ? __float2bfloat16_rn(a.scale * __expf(gam[i]) * ld_f32(rows + (size_t)i * a.ldx + h * K + c)) : zero;
            Kd[i * ldk + c] = in ? __float2bfloat16_rn(__expf(glast - gam[i]) * ld_f32(rows + (size_t)i * a.ldx + HK + h * K + c)) : zero;
            Wk[i * ldk + c] = s.Wk[cidx * C * K + e];
        }
        for (int e = threadIdx.x; e < C * C; e += GDN_THREADS) {
            Tb[(e / C) * ldc + e % C] = s.Tb[cidx * C * C + e];
            M[(e / C) * ldc + e % C] = s.M[cidx * C * C + e];
        }
        for (int e = threadIdx.x; e < C * BV; e += GDN_THREADS) {
            const int i = e / BV, r = e % BV;
            Vs[i * ldv + r] = i < n ? rows[(size_t)i * a.ldx + 2 * HK + h * a.V + v0 + r] : zero;
        }
        __syncthreads();
        /* V_new = Tb V - Wk S^T  [C, BV] */
        for (int tile = warp; tile < CT * VT; tile += GDN_WARPS) {
            const int m0 = 16 * (tile / VT), n0 = 16 * (tile % VT);
            float u[2][4], w[2][4];
            tile_zero(u);
            tile_zero(w);
            tile_mma<false, true>(u, Tb, ldc, Vs, ldv, m0, n0, C, o);
            tile_mma<false, false>(w, Wk, ldk, Sb, ldk, m0, n0, K, o);
#pragma unroll
            for (int nz = 0; nz < 2; nz++)
#pragma unroll
                for (int e = 0; e < 4; e++) Vn[tile_row(m0, g, e) * ldv + tile_col(n0, t4, nz, e)] = __float2bfloat16_rn(u[nz][e] - w[nz][e]);
        }
        __syncthreads();
        /* O = Qe S^T + M V_new  [C, BV] -> o rows */
        for (int tile = warp; tile < CT * VT; tile += GDN_WARPS) {
            const int m0 = 16 * (tile / VT), n0 = 16 * (tile % VT);
            float acc[2][4];
            tile_zero(acc);
            tile_mma<false, false>(acc, Qe, ldk, Sb, ldk, m0, n0, K, o);
            tile_mma<false, true>(acc, M, ldc, Vn, ldv, m0, n0, C, o);
#pragma unroll
            for (int nz = 0; nz < 2; nz++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int i = tile_row(m0, g, e);
                    if (i < n) a.o[((size_t)b * a.T + t0 + i) * a.ldo + h * a.V + v0 + tile_col(n0, t4, nz, e)] = __float2bfloat16_rn(acc[nz][e]);
                }
        }
        __syncthreads(); /* every reader of Sb is done */
        /* S = e^{gamma_last} S + V_new^T Kd  [BV, K], fp32 accumulators */
        const float dl = __expf(glast);
        for (int tile = warp; tile < VT * KT; tile += GDN_WARPS) {
            const int m0 = 16 * (tile / KT), n0 = 16 * (tile % KT);
            float acc[2][4];
#pragma unroll
            for (int nz = 0; nz < 2; nz++)
#pragma unroll
                for (int e = 0; e < 4; e++) acc[nz][e] = dl * Sf[tile_row(m0, g, e) * K + tile_col(n0, t4, nz, e)];
            tile_mma<true, true>(acc, Vn, ldv, Kd, ldk, m0, n0, C, o);
#pragma unroll
            for (int nz = 0; nz < 2; nz++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const int r = tile_row(m0, g, e), c = tile_col(n0, t4, nz, e);
                    Sf[r * K + c] = acc[nz][e];
                    Sb[r * ldk + c] = __float2bfloat16_rn(acc[nz][e]);
                }
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < BV * K; e += GDN_THREADS) S[e] = Sf[e];
}

template <int C>
static sb_status launch(const gdn_op_args &a, const gdn_chunk_scratch &s) {
    const int NC = (a.T + C - 1) / C, BV = state_bv(a.K, a.V);
    const size_t sm1 = prep_smem(C, a.K), sm2 = state_smem(C, a.K, BV);
    CUDA_TRY(cudaFuncSetAttribute(gdn_chunk_prep_kernel<C>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm1));
    CUDA_TRY(cudaFuncSetAttribute(gdn_chunk_state_kernel<C>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm2));
    gdn_chunk_prep_kernel<C><<<(unsigned)((size_t)a.B * a.H * NC), GDN_THREADS, sm1, sb_stream()>>>(a, s);
    CUDA_LAUNCH_CHECK();
    gdn_chunk_state_kernel<C><<<dim3((unsigned)(a.B * a.H), (unsigned)(a.V / BV)), GDN_THREADS, sm2, sb_stream()>>>(a, s, BV);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status gdn_chunked(const gdn_op_args &a, int C, const gdn_chunk_scratch &s) {
    SB_TRY(gdn_chunk_supports(C, a.K, a.V));
    switch (C) {
    case 16: return launch<16>(a, s);
    case 32: return launch<32>(a, s);
    default: return launch<64>(a, s);
    }
}
