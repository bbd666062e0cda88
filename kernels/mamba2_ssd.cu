/* mamba2_ssd.cu: the Mamba-2 SSD scan on tensor cores (prefill) and the fused decode step.
 * The chunked dual form of spec §3 in four launches, as the official Triton kernels split it:
 *
 *   1. dt_cumsum     one thread per (b, chunk, h): delta = softplus(dt + dt_bias), the fp32 inclusive
 *                    cumulative sum s_t of delta*A within the chunk
 *   2. chunk_state   one block per (b, chunk, h): U = sum_tau exp(s_e - s_tau) delta_tau x_tau (x) B_tau
 *                    = Xw^T B, a [P, N] product over the chunk's tokens on mma.sync (bf16 in, fp32 acc)
 *   3. state_pass    one thread per (b, h, state element): S = exp(s_e) S + U chunk after chunk; each
 *                    chunk's U is replaced by the state entering the chunk; the last S is the final state
 *   4. chunk_scan    one warp per 16 rows of a chunk of one head: y = exp(s_t) (C S_in^T)
 *                    + (C B^T . exp(s_t - s_tau) delta_tau, causal) X + D x, all products on mma.sync
 *                    m16n8k16; the decay-weighted scores go from the accumulator to the next A
 *                    fragment in registers (as in FlashAttention-2)
 *
 * Every exponential is of a difference of fp32 cumulative sums (never a ratio), the state and the
 * accumulators are fp32; only the MMA inputs (x, B, C, the scores, S_in) are bf16.
 * Version 1 (this file): MMA fragments are read straight from global memory (L1/L2); a version with
 * shared-memory staging (ldmatrix, cp.async) is the next step.
 * Decode step: LANES lanes per state row (h, p), each lane N/LANES elements strided by LANES, so
 * that a warp's loads of the fp32 state are contiguous; C.S is reduced with xor shuffles.
 * measured speed: not yet measured on a GPU.
 */
#include "mamba2_kernels.cuh"

#include <stdint.h>

__device__ __forceinline__ float m2_bf(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float m2_softplus(float x) { return x > 20.0f ? x : log1pf(__expf(x)); }

/* Two floats -> one 32-bit register of two bf16 (lower column in the lower half, as mma wants). */
__device__ __forceinline__ uint32_t m2_pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}
/* Two consecutive bf16, or zero. ALIGNED (even row stride and offsets): one 4-byte load; else two
 * (op rows of odd width, e.g. an odd number of heads). */
template <bool ALIGNED>
__device__ __forceinline__ uint32_t m2_pair(const bf16 *p, bool valid) {
    if (!valid) return 0u;
    if (ALIGNED) return *reinterpret_cast<const uint32_t *>(p);
    const unsigned short lo = *reinterpret_cast<const unsigned short *>(p), hi = *reinterpret_cast<const unsigned short *>(p + 1);
    return (uint32_t)lo | (uint32_t)hi << 16;
}

/* d[16x8] += a[16x16] . b[16x8], bf16 inputs, fp32 accumulators. */
__device__ __forceinline__ void m2_mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Fragment coordinates of lane l in m16n8k16: A rows l/4 and l/4 + 8, k columns 2(l%4) (+1) and
 * + 8; B (k x n, "col") k rows 2(l%4) (+1) and + 8, n column l/4; C rows l/4 (+8), columns 2(l%4) (+1). */
struct m2_lane {
    int r, c; /* l/4, 2*(l%4) */
    __device__ m2_lane() : r((threadIdx.x & 31) >> 2), c((threadIdx.x & 3) * 2) {}
};

/* ---- 1. delta and the within-chunk cumulative sums ----------------------------------------------- */
static __global__ void __launch_bounds__(128) m2_dt_cumsum_kernel(const mamba2_ssd_args a) {
    const int nc = mamba2_n_chunks(a.T, a.Q);
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)a.B * nc * a.H) return;
    const int h = (int)(idx % a.H), c = (int)(idx / a.H % nc), b = (int)(idx / a.H / nc);
    const int t0 = c * a.Q, q = min(a.Q, a.T - t0);
    const float bias = a.dt_bias[h], A = a.A[h];
    float s = 0.0f;
    for (int t = 0; t < q; t++) {
        const size_t row = (size_t)b * a.T + t0 + t;
        const float d = m2_softplus(m2_bf(a.op[row * a.ld + a.offdt + h]) + bias);
        s += d * A;
        a.delta[row * a.H + h] = d;
        a.cum[row * a.H + h] = s;
    }
}

/* ---- 2. the chunk's own state U = Xw^T B ------------------------------------------------------------ */
constexpr int M2_WARPS = 4;

static __global__ void __launch_bounds__(M2_WARPS * 32) m2_chunk_state_kernel(const mamba2_ssd_args a) {
    const int nc = mamba2_n_chunks(a.T, a.Q);
    const int h = blockIdx.x % a.H, c = blockIdx.x / a.H % nc, b = blockIdx.x / a.H / nc;
    const int g = h / (a.H / a.G), t0 = c * a.Q, q = min(a.Q, a.T - t0);
    const size_t row0 = (size_t)b * a.T + t0;
    const float se = a.cum[(row0 + q - 1) * a.H + h];
    const bf16 *X = a.op + row0 * a.ld + h * a.P, *Bm = a.op + row0 * a.ld + a.offB + g * a.N;
    float *U = a.chunk_states + (((size_t)b * nc + c) * a.H + h) * a.P * a.N;
    const m2_lane ln;
    const int warp = threadIdx.x >> 5, tiles_n = a.N / 8, tiles = (a.P / 16) * tiles_n;
    for (int tile = warp; tile < tiles; tile += M2_WARPS) {
        const int p0 = tile / tiles_n * 16, n0 = tile % tiles_n * 8;
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int k0 = 0; k0 < q; k0 += 16) {
            float wt[4]; /* exp(s_e - s_tau) delta_tau at tau = k0 + c, +1, +8, +9 */
            const int taus[4] = {k0 + ln.c, k0 + ln.c + 1, k0 + ln.c + 8, k0 + ln.c + 9};
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const size_t r = row0 + taus[i];
                wt[i] = taus[i] < q ? __expf(se - a.cum[r * a.H + h]) * a.delta[r * a.H + h] : 0.0f;
            }
            auto xw = [&](int i, int p) { return taus[i] < q ? wt[i] * m2_bf(X[(size_t)taus[i] * a.ld + p]) : 0.0f; };
            auto bv = [&](int i, int n) { return taus[i] < q ? m2_bf(Bm[(size_t)taus[i] * a.ld + n]) : 0.0f; };
            uint32_t af[4];
            af[0] = m2_pack(xw(0, p0 + ln.r), xw(1, p0 + ln.r));
            af[1] = m2_pack(xw(0, p0 + ln.r + 8), xw(1, p0 + ln.r + 8));
            af[2] = m2_pack(xw(2, p0 + ln.r), xw(3, p0 + ln.r));
            af[3] = m2_pack(xw(2, p0 + ln.r + 8), xw(3, p0 + ln.r + 8));
            m2_mma(acc, af, m2_pack(bv(0, n0 + ln.r), bv(1, n0 + ln.r)), m2_pack(bv(2, n0 + ln.r), bv(3, n0 + ln.r)));
        }
        U[(size_t)(p0 + ln.r) * a.N + n0 + ln.c] = acc[0];
        U[(size_t)(p0 + ln.r) * a.N + n0 + ln.c + 1] = acc[1];
        U[(size_t)(p0 + ln.r + 8) * a.N + n0 + ln.c] = acc[2];
        U[(size_t)(p0 + ln.r + 8) * a.N + n0 + ln.c + 1] = acc[3];
    }
}

/* ---- 3. states across chunk boundaries --------------------------------------------------------------- */
static __global__ void __launch_bounds__(256) m2_state_pass_kernel(const mamba2_ssd_args a) {
    const int nc = mamba2_n_chunks(a.T, a.Q), PN = a.P * a.N;
    const int bh = blockIdx.y, b = bh / a.H, h = bh % a.H;
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= PN) return;
    float s = 0.0f; /* prefill starts from the empty state */
    for (int c = 0; c < nc; c++) {
        const int q = min(a.Q, a.T - c * a.Q);
        const float decay = __expf(a.cum[((size_t)b * a.T + (size_t)c * a.Q + q - 1) * a.H + h]);
        float *u = a.chunk_states + (((size_t)b * nc + c) * a.H + h) * PN + e;
        const float own = *u;
        *u = s; /* the state entering chunk c */
        s = decay * s + own;
    }
    a.S[(size_t)bh * PN + e] = s;
}

/* ---- 4. the outputs --------------------------------------------------------------------------------- */
/* One warp per 16 rows [t0, t0+16) of chunk c of head h; P/8 accumulator tiles of [16 x 8]. */
template <int P, bool ALIGNED>
static __global__ void __launch_bounds__(M2_WARPS * 32) m2_chunk_scan_kernel(const mamba2_ssd_args a) {
    const int nc = mamba2_n_chunks(a.T, a.Q), row_tiles = (a.Q + 15) / 16;
    const int warp_id = blockIdx.x * M2_WARPS + (threadIdx.x >> 5);
    const int rt = warp_id % row_tiles, h = warp_id / row_tiles % a.H, c = warp_id / row_tiles / a.H % nc;
    const int b = warp_id / row_tiles / a.H / nc;
    if (b >= a.B) return; /* whole warps only: the mma below needs all 32 lanes */
    const int g = h / (a.H / a.G), t0c = c * a.Q, q = min(a.Q, a.T - t0c), t0 = rt * 16;
    if (t0 >= q) return;
    const size_t row0 = (size_t)b * a.T + t0c; /* the chunk's first row */
    const bf16 *X = a.op + row0 * a.ld + h * P, *Bm = a.op + row0 * a.ld + a.offB + g * a.N;
    const bf16 *Cm = a.op + row0 * a.ld + a.offC + g * a.N;
    const float *Sin = a.chunk_states + (((size_t)b * nc + c) * a.H + h) * P * a.N;
    const m2_lane ln;
    const int ta = t0 + ln.r, tb = t0 + ln.r + 8; /* this lane's two rows */
    const bool va = ta < q, vb = tb < q;
    auto cfrag = [&](int k0, uint32_t (&f)[4]) {
        f[0] = m2_pair<ALIGNED>(Cm + (size_t)ta * a.ld + k0 + ln.c, va);
        f[1] = m2_pair<ALIGNED>(Cm + (size_t)tb * a.ld + k0 + ln.c, vb);
        f[2] = m2_pair<ALIGNED>(Cm + (size_t)ta * a.ld + k0 + ln.c + 8, va);
        f[3] = m2_pair<ALIGNED>(Cm + (size_t)tb * a.ld + k0 + ln.c + 8, vb);
    };
    float acc[P / 8][4];
#pragma unroll
    for (int j = 0; j < P / 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
    /* inter-chunk: (C S_in^T) scaled by exp(s_t) per row */
    for (int k0 = 0; k0 < a.N; k0 += 16) {
        uint32_t af[4];
        cfrag(k0, af);
#pragma unroll
        for (int j = 0; j < P / 8; j++) {
            const float *s = Sin + (size_t)(j * 8 + ln.r) * a.N + k0 + ln.c;
            m2_mma(acc[j], af, m2_pack(s[0], s[1]), m2_pack(s[8], s[9]));
        }
    }
    const float ca = va ? a.cum[(row0 + ta) * a.H + h] : 0.0f, cb = vb ? a.cum[(row0 + tb) * a.H + h] : 0.0f;
    const float ea = va ? __expf(ca) : 0.0f, eb = vb ? __expf(cb) : 0.0f;
#pragma unroll
    for (int j = 0; j < P / 8; j++) { acc[j][0] *= ea; acc[j][1] *= ea; acc[j][2] *= eb; acc[j][3] *= eb; }
    /* intra-chunk: key tiles of 16 up to the diagonal */
    for (int k0t = 0; k0t <= t0; k0t += 16) {
        float sc[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
        for (int k0 = 0; k0 < a.N; k0 += 16) {
            uint32_t af[4];
            cfrag(k0, af);
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                const int tau = k0t + jj * 8 + ln.r;
                const bf16 *bp = Bm + (size_t)tau * a.ld + k0 + ln.c;
                m2_mma(sc[jj], af, m2_pair<ALIGNED>(bp, tau < q), m2_pair<ALIGNED>(bp + 8, tau < q));
            }
        }
        /* weights exp(s_t - s_tau) delta_tau on the causal part, zero elsewhere */
#pragma unroll
        for (int jj = 0; jj < 2; jj++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int t = i < 2 ? ta : tb, tau = k0t + jj * 8 + ln.c + (i & 1);
                const bool on = tau <= t && tau < q && t < q;
                const size_t rtau = row0 + (on ? tau : 0);
                sc[jj][i] = on ? sc[jj][i] * __expf((i < 2 ? ca : cb) - a.cum[rtau * a.H + h]) * a.delta[rtau * a.H + h] : 0.0f;
            }
        const uint32_t pf[4] = {m2_pack(sc[0][0], sc[0][1]), m2_pack(sc[0][2], sc[0][3]), m2_pack(sc[1][0], sc[1][1]),
                                m2_pack(sc[1][2], sc[1][3])};
        auto xv = [&](int tau, int p) { return tau < q ? m2_bf(X[(size_t)tau * a.ld + p]) : 0.0f; };
        const int k = k0t + ln.c;
#pragma unroll
        for (int j = 0; j < P / 8; j++) {
            const int p = j * 8 + ln.r;
            m2_mma(acc[j], pf, m2_pack(xv(k, p), xv(k + 1, p)), m2_pack(xv(k + 8, p), xv(k + 9, p)));
        }
    }
    /* D skip and the store */
    const float Dh = a.Dskip[h];
#pragma unroll
    for (int j = 0; j < P / 8; j++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int t = i < 2 ? ta : tb, p = j * 8 + ln.c + (i & 1);
            if (t < q) {
                const size_t row = row0 + t;
                a.y[row * a.ldy + h * P + p] = __float2bfloat16_rn(acc[j][i] + Dh * m2_bf(X[(size_t)t * a.ld + p]));
            }
        }
}

/* ---- the decode step ------------------------------------------------------------------------------- */
constexpr int M2_STEP_THREADS = 256;

/* LANES lanes per state row (b, h, p); every lane runs to the shuffles. */
template <int LANES>
static __global__ void __launch_bounds__(M2_STEP_THREADS) m2_step_kernel(const mamba2_ssd_args a) {
    const long long gid = (long long)blockIdx.x * blockDim.x + threadIdx.x, rid = gid / LANES;
    const int lane = (int)(gid % LANES);
    const bool valid = rid < (long long)a.B * a.H * a.P;
    const int b = valid ? (int)(rid / ((long long)a.H * a.P)) : 0, h = valid ? (int)(rid / a.P % a.H) : 0;
    const int p = valid ? (int)(rid % a.P) : 0, g = h / (a.H / a.G);
    float acc = 0.0f, x = 0.0f;
    if (valid) {
        const bf16 *row = a.op + (size_t)b * a.ld;
        const float delta = m2_softplus(m2_bf(row[a.offdt + h]) + a.dt_bias[h]), dA = __expf(delta * a.A[h]);
        x = m2_bf(row[h * a.P + p]);
        const float dx = delta * x;
        const bf16 *Bt = row + a.offB + g * a.N, *Ct = row + a.offC + g * a.N;
        float *S = a.S + (size_t)rid * a.N;
        for (int n = lane; n < a.N; n += LANES) {
            const float s = fmaf(dA, S[n], dx * m2_bf(Bt[n]));
            S[n] = s;
            acc = fmaf(s, m2_bf(Ct[n]), acc);
        }
    }
#pragma unroll
    for (int m = LANES / 2; m >= 1; m /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, m);
    if (valid && lane == 0) a.y[(size_t)b * a.ldy + h * a.P + p] = __float2bfloat16_rn(acc + a.Dskip[h] * x);
}

/* ---- launchers ---------------------------------------------------------------------------------------- */
/* Rows whose bf16 pairs are 4-byte aligned (even stride and offsets): the chunk scan's fast loads. */
static bool m2_aligned(const mamba2_ssd_args *a) {
    return a->ld % 2 == 0 && a->offB % 2 == 0 && a->offC % 2 == 0 && ((uintptr_t)a->op & 3u) == 0;
}

int mamba2_ssd_supports(const mamba2_ssd_args *a) {
    if (a->B <= 0 || a->T <= 0 || a->H <= 0 || a->G <= 0 || a->H % a->G || a->Q <= 0) return 0;
    const bool p_ok = a->P == 16 || a->P == 32 || a->P == 64 || (a->P == 128 && m2_aligned(a));
    return p_ok && a->N % 16 == 0 && ((uintptr_t)a->op & 1u) == 0;
}

sb_status mamba2_ssd_prefill(const mamba2_ssd_args *a) {
    if (!mamba2_ssd_supports(a))
        return sb_fail(SB_ENOTSUP, "mamba2 cuda: the tensor-core scan needs headdim 16/32/64 (128 with an even op row), "
                                   "d_state %% 16 == 0 (headdim %d, d_state %d)", a->P, a->N);
    const int nc = mamba2_n_chunks(a->T, a->Q);
    const long long chunks = (long long)a->B * nc * a->H;
    if (chunks > 0x7fffffffLL / 8) return sb_fail(SB_EINVAL, "mamba2 cuda: %lld chunk-heads is too many", chunks);
    m2_dt_cumsum_kernel<<<sb_cdiv((size_t)chunks, 128), 128, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    m2_chunk_state_kernel<<<(unsigned)chunks, M2_WARPS * 32, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    m2_state_pass_kernel<<<dim3(sb_cdiv((size_t)a->P * a->N, 256), (unsigned)(a->B * a->H)), 256, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    const unsigned blocks = sb_cdiv((size_t)chunks * ((a->Q + 15) / 16), M2_WARPS);
    switch (a->P * 2 + m2_aligned(a)) { /* P 128 only aligned (mamba2_ssd_supports): unaligned, it spills */
    case 32: m2_chunk_scan_kernel<16, false><<<blocks, M2_WARPS * 32, 0, sb_stream()>>>(*a); break;
    case 33: m2_chunk_scan_kernel<16, true><<<blocks, M2_WARPS * 32, 0, sb_stream()>>>(*a); break;
    case 64: m2_chunk_scan_kernel<32, false><<<blocks, M2_WARPS * 32, 0, sb_stream()>>>(*a); break;
    case 65: m2_chunk_scan_kernel<32, true><<<blocks, M2_WARPS * 32, 0, sb_stream()>>>(*a); break;
    case 128: m2_chunk_scan_kernel<64, false><<<blocks, M2_WARPS * 32, 0, sb_stream()>>>(*a); break;
    case 129: m2_chunk_scan_kernel<64, true><<<blocks, M2_WARPS * 32, 0, sb_stream()>>>(*a); break;
    default: m2_chunk_scan_kernel<128, true><<<blocks, M2_WARPS * 32, 0, sb_stream()>>>(*a); break;
    }
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

template <int LANES>
static sb_status step_lanes(const mamba2_ssd_args *a) {
    const unsigned grid = sb_cdiv((size_t)a->B * a->H * a->P * LANES, M2_STEP_THREADS);
    m2_step_kernel<LANES><<<grid, M2_STEP_THREADS, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status mamba2_ssd_step(const mamba2_ssd_args *a) {
    if (a->B <= 0 || a->T != 1 || a->H <= 0 || a->G <= 0 || a->H % a->G || a->N <= 0)
        return sb_fail(SB_EINVAL, "mamba2 cuda step: bad shape (B %d, T %d, H %d, G %d, N %d)", a->B, a->T, a->H, a->G, a->N);
    /* as many lanes per row as N allows, up to a warp: N = 128 -> 32 lanes of 4 elements */
    if (a->N >= 128) return step_lanes<32>(a);
    if (a->N >= 64) return step_lanes<16>(a);
    if (a->N >= 32) return step_lanes<8>(a);
    return step_lanes<4>(a);
}
