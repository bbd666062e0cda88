/* mamba_scan.cu: the Mamba-1 selective scan over T tokens (prefill), fp32 state and arithmetic.
 *
 *   h_t = exp(delta_t A) . h_{t-1} + delta_t B_t u_t      per channel e, state n; h_{-1} = 0
 *   y_t = (C_t . h_t + D u_t) . SiLU(z_t)
 * with delta = softplus(dt_raw + bias) computed here at layer level (op level: delta given).
 *
 * version 1: one thread per (b, e) walks the T tokens with the N states in registers, reading
 *            u/delta/B/C/z straight from global memory. Simple and correct; the oracle of the rest.
 * version 2: chunked and channel-parallel. A block owns 128 channels of one sequence (one thread per
 *            channel, all N states in registers); the tokens go by in chunks of 16, staged in shared
 *            memory by 16-byte cp.async copies, double-buffered (chunk k+1 lands while k is
 *            computed); B_t, C_t (shared by all channels) are turned into fp32 once per chunk;
 *            exp via exp2 with A pre-scaled by log2(e); softplus, D-skip and the SiLU(z) gate fused;
 *            y is written back over the u tile and leaves with 16-byte stores.
 * version 3: version 2 plus parallelism over time when B*E channels do not fill the GPU. T is cut
 *            into S segments; pass 1 scans segments 0..S-2 from h = 0 and keeps their end states
 *            and sum(delta); pass 2 starts segment s from the carry folded over segments < s
 *            (the recurrence composes: (a2,b2)o(a1,b1) = (a2 a1, a2 b1 + b2), and the decay of a
 *            whole segment is exp(A sum(delta))), then scans it exactly as version 2.
 *            Chosen by mamba_scan_plan: only when the channel blocks fill at most half of one
 *            wave (1.4b at B 16 = 512 blocks of 128 channels fills an H100's 132 SMs x 4: plain
 *            version 2; B 1 = 32 blocks: 16 segments). Costs a second pass over the tokens.
 * measured speed: not yet measured on a GPU.
 *
 * Notes: roofline of the 1.4b scan (E 4096, N 16), per token (one b, t), H100 SXM:
 *   bytes, op level   read u, delta, z (3 x 2E) + B, C (2 x 2N), write y (2E): 8E + 4N = 32.8 KB
 *                     -> 10.9 ns at 3.0 TB/s (the copy rate measured on the lent H100).
 *   bytes, layer level here: delta_raw in fp32 (4E instead of 2E): 10E + 4N = 41.0 KB -> 13.7 ns.
 *   FLOPs             9EN + 2E = 0.60 MFLOP -> 9 ns at 67 TFLOP/s fp32 (FMA pipe, not binding).
 *   special functions E*N = 65536 exp2 per token, plus ~4 per channel (softplus 2, SiLU 2):
 *                     81920 MUFU ops at 16/clk/SM x 132 SMs = 38.8 clk = 19.6 ns at 1.98 GHz
 *                     (22 ns at 1.755 GHz). The scan is bound by the exp2 unit, not by memory:
 *                     expect ~20-25 ns per token when loads overlap compute (target <= 40 ns).
 *   Halving the MUFU work would need exp2 by polynomial on the FMA pipe for part of the states.
 */
#include "mamba_scan.cuh"
#include "mamba_cuda_host.h"

#include <type_traits>

/* ---- version 1: one thread per (b, e) ------------------------------------------------------- */
/* NMAX: compile-time bound on N so that h[] stays in registers (indexed by unrolled constants). */
template <int NMAX>
static __global__ void __launch_bounds__(128) mamba_scan_kernel1(const mamba_scan_args a) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)a.B * a.E) return;
    const int b = (int)(idx / a.E), e = (int)(idx % a.E), N = a.N;
    const float *A2 = a.A2 + (size_t)e * N;
    const float Dv = a.Dskip[e], bias = a.layer ? a.dt_bias[e] : 0.0f;
    float h[NMAX];
#pragma unroll
    for (int n = 0; n < NMAX; n++) h[n] = 0.0f;
    for (int t = 0; t < a.T; t++) {
        const size_t row = (size_t)b * a.T + t;
        const float u = bf2f(a.u[row * a.ldu + e]);
        const float delta = a.layer ? softplus_ref(((const float *)a.dt)[row * a.lddt + e] + bias)
                                    : bf2f(((const bf16 *)a.dt)[row * a.lddt + e]);
        const bf16 *Bt = a.bc + row * a.ldbc, *Ct = Bt + N;
        float acc = 0.0f;
#pragma unroll
        for (int n = 0; n < NMAX; n++)
            if (n < N) {
                h[n] = exp2f(delta * A2[n]) * h[n] + delta * bf2f(Bt[n]) * u;
                acc += bf2f(Ct[n]) * h[n];
            }
        const float z = bf2f(a.z[row * a.ldz + e]);
        a.y[row * a.ldy + e] = f2bf((acc + Dv * u) * silu_ref(z));
    }
    float *hs = a.h + ((size_t)b * a.E + e) * N;
#pragma unroll
    for (int n = 0; n < NMAX; n++)
        if (n < N) hs[n] = h[n];
}

/* ---- version 2 (and the two passes of version 3) --------------------------------------------- */
constexpr int CH = MAMBA_SCAN_CH; /* channels per block = threads per block */
constexpr int TC = MAMBA_SCAN_TC; /* tokens per chunk */
/* fp32 dt_raw (bias and softplus applied here) at layer level; bf16 delta at op level. */
template <typename DT>
constexpr bool LAYER_DT = std::is_same<DT, float>::value;

/* Shared-memory tiles of one chunk, double-buffered. DT: bf16 delta (op) or fp32 dt_raw (layer).
 * y overwrites u in place (same thread, same element) and leaves from there. */
template <int N, typename DT>
struct scan_smem {
    bf16 u[2][TC][CH];
    DT dt[2][TC][CH];
    bf16 z[2][TC][CH];
    bf16 bc[2][TC][2 * N];
    float bcf[TC][2 * N]; /* B_t | C_t of the current chunk in fp32 */
};

/* Issue the cp.async copies of chunk rows [row0, row0 + nt) into buffer `buf`. */
template <int N, typename DT, bool GATE>
__device__ __forceinline__ void scan_load_chunk(scan_smem<N, DT> &s, int buf, const mamba_scan_args &a,
                                                size_t row0, int nt, int e0) {
    constexpr int U_VECS = CH * 2 / 16, DT_VECS = CH * (int)sizeof(DT) / 16, BC_VECS = 2 * N * 2 / 16;
    const DT *dt = (const DT *)a.dt;
    for (int i = threadIdx.x; i < nt * U_VECS; i += CH) {
        const int r = i / U_VECS, v = i % U_VECS;
        cp_async16(&s.u[buf][r][v * 8], a.u + (row0 + r) * a.ldu + e0 + v * 8);
        if (GATE) cp_async16(&s.z[buf][r][v * 8], a.z + (row0 + r) * a.ldz + e0 + v * 8);
    }
    for (int i = threadIdx.x; i < nt * DT_VECS; i += CH) {
        const int r = i / DT_VECS, v = i % DT_VECS, per = 16 / (int)sizeof(DT);
        cp_async16(&s.dt[buf][r][v * per], dt + (row0 + r) * a.lddt + e0 + v * per);
    }
    for (int i = threadIdx.x; i < nt * BC_VECS; i += CH) {
        const int r = i / BC_VECS, v = i % BC_VECS;
        cp_async16(&s.bc[buf][r][v * 8], a.bc + (row0 + r) * a.ldbc + v * 8);
    }
    cp_async_commit();
}

/* y of a finished chunk: shared -> global, 16 bytes per copy. */
template <int N, typename DT>
__device__ __forceinline__ void scan_store_y(const scan_smem<N, DT> &s, int buf, const mamba_scan_args &a,
                                             size_t row0, int nt, int e0) {
    constexpr int U_VECS = CH * 2 / 16;
    for (int i = threadIdx.x; i < nt * U_VECS; i += CH) {
        const int r = i / U_VECS, v = i % U_VECS;
        *(uint4 *)(a.y + (row0 + r) * a.ldy + e0 + v * 8) = *(const uint4 *)&s.u[buf][r][v * 8];
    }
}

/* One chunk of nt tokens for this thread's channel: the N-state recurrence and the fused output.
 * SUMMARY (pass 1 of version 3): no output, sum(delta) kept instead. */
template <int N, typename DT, bool SUMMARY>
__device__ __forceinline__ void scan_chunk(scan_smem<N, DT> &s, int buf, int nt, float bias, float Dv,
                                           const float (&A2)[N], float (&h)[N], float &dsum) {
    const int c = threadIdx.x;
    for (int t = 0; t < nt; t++) {
        const float u = bf2f(s.u[buf][t][c]);
        float delta;
        if constexpr (LAYER_DT<DT>) delta = softplus_fast(s.dt[buf][t][c] + bias);
        else delta = bf2f(s.dt[buf][t][c]);
        const float du = delta * u;
        const float4 *Bv = (const float4 *)&s.bcf[t][0], *Cv = (const float4 *)&s.bcf[t][N];
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
        for (int q = 0; q < N / 4; q++) {
            const float4 B4 = Bv[q];
            const float Bq[4] = {B4.x, B4.y, B4.z, B4.w};
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int n = 4 * q + j;
                h[n] = fmaf(fast_exp2(delta * A2[n]), h[n], du * Bq[j]);
            }
            if (!SUMMARY) {
                const float4 C4 = Cv[q];
                acc[0] = fmaf(C4.x, h[4 * q + 0], acc[0]);
                acc[1] = fmaf(C4.y, h[4 * q + 1], acc[1]);
                acc[2] = fmaf(C4.z, h[4 * q + 2], acc[2]);
                acc[3] = fmaf(C4.w, h[4 * q + 3], acc[3]);
            }
        }
        if (SUMMARY) {
            dsum += delta;
        } else {
            const float y = ((acc[0] + acc[1]) + (acc[2] + acc[3]) + Dv * u) * silu_fast(bf2f(s.z[buf][t][c]));
            s.u[buf][t][c] = f2bf(y);
        }
    }
}

/* bf16 B_t | C_t of the chunk -> fp32, once for all channels. */
template <int N, typename DT>
__device__ __forceinline__ void scan_convert_bc(scan_smem<N, DT> &s, int buf, int nt) {
    for (int i = threadIdx.x; i < nt * 2 * N; i += CH) s.bcf[i / (2 * N)][i % (2 * N)] = bf2f(s.bc[buf][i / (2 * N)][i % (2 * N)]);
}

/* Grid (E/CH, B, segments). Segment s covers tokens [s*seg_len, min(T, (s+1)*seg_len)).
 * SUMMARY = pass 1 of version 3 (segments 0..S-2): end state from h = 0 and sum(delta) to seg_*.
 * Otherwise: segment s starts from the carry of the summaries of segments < s, writes y, and the
 * last segment writes the final state. With S = 1 this is version 2. */
template <int N, typename DT, bool SUMMARY>
static __global__ void __launch_bounds__(CH, N <= 16 ? 4 : 3) mamba_scan_kernel2(const mamba_scan_args a) {
    static_assert(N % 4 == 0 && N <= 32, "N: multiple of 4, at most 32");
    __shared__ __align__(16) scan_smem<N, DT> s;
    const int c = threadIdx.x, e0 = blockIdx.x * CH, e = e0 + c, b = blockIdx.y, seg = blockIdx.z;
    const int t_begin = seg * a.seg_len, t_end = min(a.T, t_begin + a.seg_len);
    const size_t row_begin = (size_t)b * a.T + t_begin;
    const float bias = LAYER_DT<DT> ? a.dt_bias[e] : 0.0f, Dv = a.Dskip[e];

    float A2[N], h[N];
#pragma unroll
    for (int q = 0; q < N / 4; q++) {
        const float4 v = ((const float4 *)(a.A2 + (size_t)e * N))[q];
        A2[4 * q] = v.x; A2[4 * q + 1] = v.y; A2[4 * q + 2] = v.z; A2[4 * q + 3] = v.w;
    }
#pragma unroll
    for (int n = 0; n < N; n++) h[n] = 0.0f;
    if (!SUMMARY) /* carry-in: fold the end states of segments 0..seg-1 */
        for (int j = 0; j < seg; j++) {
            const size_t sj = ((size_t)b * (a.S - 1) + j) * a.E + e;
            const float dsum = a.seg_dsum[sj];
            const float4 *hj = (const float4 *)(a.seg_h + sj * N);
#pragma unroll
            for (int q = 0; q < N / 4; q++) {
                const float4 v = hj[q];
                const float hv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int k = 0; k < 4; k++) h[4 * q + k] = fmaf(fast_exp2(dsum * A2[4 * q + k]), h[4 * q + k], hv[k]);
            }
        }

    const int n_chunks = (t_end - t_begin + TC - 1) / TC;
    float dsum = 0.0f;
    scan_load_chunk<N, DT, !SUMMARY>(s, 0, a, row_begin, min(TC, t_end - t_begin), e0);
    for (int k = 0; k < n_chunks; k++) {
        const int buf = k & 1, nt = min(TC, t_end - t_begin - k * TC);
        cp_async_wait_all();
        __syncthreads(); /* chunk k is in shared memory; chunk k-1's compute is over */
        scan_convert_bc(s, buf, nt);
        if (!SUMMARY && k > 0) scan_store_y(s, buf ^ 1, a, row_begin + (size_t)(k - 1) * TC, TC, e0);
        __syncthreads(); /* bcf ready; buffer buf^1 is free for chunk k+1 */
        if (k + 1 < n_chunks)
            scan_load_chunk<N, DT, !SUMMARY>(s, buf ^ 1, a, row_begin + (size_t)(k + 1) * TC,
                                             min(TC, t_end - t_begin - (k + 1) * TC), e0);
        scan_chunk<N, DT, SUMMARY>(s, buf, nt, bias, Dv, A2, h, dsum);
    }

    if (SUMMARY) {
        const size_t sj = ((size_t)b * (a.S - 1) + seg) * a.E + e;
        a.seg_dsum[sj] = dsum;
        float4 *out = (float4 *)(a.seg_h + sj * N);
#pragma unroll
        for (int q = 0; q < N / 4; q++) out[q] = make_float4(h[4 * q], h[4 * q + 1], h[4 * q + 2], h[4 * q + 3]);
        return;
    }
    __syncthreads(); /* the last chunk's y is complete */
    if (n_chunks > 0) {
        const int last = n_chunks - 1;
        scan_store_y(s, last & 1, a, row_begin + (size_t)last * TC, t_end - t_begin - last * TC, e0);
    }
    if (seg == a.S - 1) {
        float4 *out = (float4 *)(a.h + ((size_t)b * a.E + e) * N);
#pragma unroll
        for (int q = 0; q < N / 4; q++) out[q] = make_float4(h[4 * q], h[4 * q + 1], h[4 * q + 2], h[4 * q + 3]);
    }
}

/* ---- launchers --------------------------------------------------------------------------------- */
static sb_status scan1(const mamba_scan_args *a) {
    const unsigned grid = sb_cdiv((size_t)a->B * a->E, 128);
    if (a->N <= 16) mamba_scan_kernel1<16><<<grid, 128, 0, sb_stream()>>>(*a);
    else mamba_scan_kernel1<64><<<grid, 128, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

template <int N, typename DT>
static sb_status scan2_n(const mamba_scan_args *a) {
    const dim3 block(CH);
    if (a->S > 1) {
        const dim3 grid1(a->E / CH, a->B, a->S - 1);
        mamba_scan_kernel2<N, DT, true><<<grid1, block, 0, sb_stream()>>>(*a);
        CUDA_LAUNCH_CHECK();
    }
    const dim3 grid(a->E / CH, a->B, a->S);
    mamba_scan_kernel2<N, DT, false><<<grid, block, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

template <typename DT>
static sb_status scan2_dt(const mamba_scan_args *a) {
    switch (a->N) {
    case 8: return scan2_n<8, DT>(a);
    case 16: return scan2_n<16, DT>(a);
    case 32: return scan2_n<32, DT>(a);
    default: return sb_fail(SB_EINVAL, "mamba_scan v2: N = %d not in {8, 16, 32}", a->N);
    }
}

int mamba_scan_supports(int version, const mamba_scan_args *a) {
    if (a->B <= 0 || a->T <= 0 || a->E <= 0 || a->N <= 0) return 0;
    if ((long long)a->B * a->T > 0x7fffffffLL) return 0;
    if (a->layer && !a->dt_bias) return 0;
    if (version == 1) return a->N <= 64;
    if (version != 2) return 0;
    const size_t dts = a->layer ? sizeof(float) : sizeof(bf16);
    const bool shape = a->E % CH == 0 && (a->N == 8 || a->N == 16 || a->N == 32) && a->B <= 65535 /* grid.y */ &&
                       a->S >= 1 && a->S <= MAMBA_MAX_SEG &&
                       a->seg_len >= 1 && (long long)a->S * a->seg_len >= a->T &&
                       (long long)(a->S - 1) * a->seg_len < a->T && (a->S == 1 || a->seg_len % TC == 0);
    const bool aligned = sb_rows_aligned16(a->u, a->ldu, sizeof(bf16)) && sb_rows_aligned16(a->dt, a->lddt, dts) &&
                         sb_rows_aligned16(a->bc, a->ldbc, sizeof(bf16)) && sb_rows_aligned16(a->z, a->ldz, sizeof(bf16)) &&
                         sb_rows_aligned16(a->y, a->ldy, sizeof(bf16)) && sb_aligned16(a->A2) && sb_aligned16(a->h);
    const bool segs = a->S == 1 || (a->seg_h && a->seg_dsum && sb_aligned16(a->seg_h));
    return shape && aligned && segs;
}

sb_status mamba_scan(int version, const mamba_scan_args *a) {
    if (!mamba_scan_supports(version, a))
        return sb_fail(SB_EINVAL, "mamba_scan v%d: unsupported shape or alignment (B %d, T %d, E %d, N %d, S %d)", version,
                       a->B, a->T, a->E, a->N, a->S);
    switch (version) {
    case 1: return scan1(a);
    case 2: return a->layer ? scan2_dt<float>(a) : scan2_dt<bf16>(a);
    default: return sb_fail(SB_EINVAL, "mamba_scan: no version %d", version);
    }
}

template <int N, typename DT>
static sb_status blocks_per_sm(int *blocks) {
    CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks, mamba_scan_kernel2<N, DT, false>, CH, 0));
    return SB_OK;
}

sb_status mamba_scan_blocks_per_sm(int N, int layer, int *blocks) {
    *blocks = 1;
    switch (N) {
    case 8: return layer ? blocks_per_sm<8, float>(blocks) : blocks_per_sm<8, bf16>(blocks);
    case 16: return layer ? blocks_per_sm<16, float>(blocks) : blocks_per_sm<16, bf16>(blocks);
    case 32: return layer ? blocks_per_sm<32, float>(blocks) : blocks_per_sm<32, bf16>(blocks);
    default: return SB_OK; /* version 1 only: no time split */
    }
}
