/* attention_prefill.cu: causal softmax attention over T queries (SPEC §3.1), q/k/v in bf16,
 * fp32 softmax and accumulation, output bf16. Keys and values come from the KV cache
 * [B, H, ctx, d] (attention_rope.cu wrote them), queries from strided q|k|v rows.
 *
 * version 1: one warp per query row, lanes over the head dim, online softmax in fp32, keys one
 *            at a time (a warp reduction per key). Any d <= 128. The oracle for version 2 and the
 *            "naive" impl. Measured (H100 80GB HBM3, dev/attention_bench.cu): 2.7 TFLOP/s at
 *            B 16, T 1k, H 32, d 64 (25.5 ms; the time grows as T^2: ~26 s at T 32k).
 * version 2: FlashAttention-2 on tensor cores: a block takes BR query rows of one (b, h)
 *            (16*MT rows per warp), keeps its Q fragments in registers, streams K/V tiles of BC
 *            keys through shared memory (cp.async, two stages, padded rows so that ldmatrix has
 *            no bank conflicts), S = QK^T and O += PV with mma.sync m16n8k16 bf16 (fp32
 *            accumulators), online softmax in registers in base 2 (1/sqrt(d) and log2(e) folded
 *            into one multiply), tiles above the diagonal skipped per warp, the diagonal tiles
 *            masked, heaviest query blocks launched first. d in {16, 64, 128}.
 *            Measured (H100 80GB HBM3, 132 SMs, dev/attention_bench.cu, H 32, d 64, B 16):
 *            T 1k 221, 2k 261, 4k 287 (3.83 ms), 8k 300 (14.6 ms), 16k 306, 32k 303 TFLOP/s;
 *            B 8, T 8k: 301 TFLOP/s (7.32 ms). d 128 (H 16, B 16, T 4k): 262 TFLOP/s.
 *            Tile variants at d 64, B 16, T 4k: 4 warps x 32 rows 290, 4 warps x 16 rows 265,
 *            8 warps x 16 rows 217, 4 warps x 32 rows with BC 32: 252 TFLOP/s.
 * version 3 (dev/attention_prefill_wgmma.cuh, not built into the library; dev/attention_bench.cu
 *            measures it): version 2 on Hopper warpgroup MMAs (wgmma, sm_90a, guarded by the arch
 *            feature macro): a warpgroup of 4 warps owns 64 query rows, S = QK^T with Q and K from
 *            shared memory (descriptors, no-swizzle core-matrix layout filled by cp.async),
 *            O += PV with P from registers and V from shared memory (N-major operand); online
 *            softmax in registers as in version 2. d in {64, 128}, compute capability 9.0.
 *            Correct (the same tests as version 2 passed with it on an H100) but SLOWER than
 *            version 2, so the impls do not use it: measured (H100, B 16, H 32, d 64) T 1k 176,
 *            4k 234, 8k 238, 32k 251 TFLOP/s; B 8 T 8k 241; d 128 (H 16, T 4k) 220. Each
 *            warpgroup waits for its MMAs before the softmax and the softmax before the next
 *            MMAs: nothing overlaps inside a warpgroup. The next step would be FlashAttention-3's
 *            ping-pong (S of tile j+1 issued before the softmax of tile j, three K/V stages),
 *            with 128-byte swizzled tiles. Variants at T 4k: 2 warpgroups x BC 128 183,
 *            1 warpgroup x BC 64 142, x BC 128 131 TFLOP/s.
 *
 * Notes: roofline of the 1.3b prefill (H 32, d 64; FLOPs = 4*B*H*T^2*d/2, causal halved)
 *   B 16, T 4k: 1.10 TFLOP; compulsory bytes (q, k, v read, o written) 4*B*T*D*2 = 1.07 GB
 *               -> 1024 FLOP/byte, far above the H100 ridge (~990 TFLOP/s / 3.35 TB/s ~ 300):
 *               compute-bound. At 400-600 TFLOP/s: 2.7-1.8 ms (memory floor 0.32 ms).
 *   B 16, T 8k: 4.40 TFLOP, 2.1 GB -> 11.0-7.3 ms at 400-600 TFLOP/s (floor 0.64 ms).
 *   B 8,  T 8k (64k tokens, the issue's target shape): 2.20 TFLOP -> 5.5-3.7 ms; >= 250 TFLOP/s
 *               means <= 8.8 ms.
 *   The K/V re-reads of version 2 (each query block of BR rows reads all keys before it:
 *   ~T/(2*BR) passes, 8.6 GB at B 16, T 4k, BR 128) are served mostly by L2: the K and V of
 *   one head are 1 MB at T 4k and its query blocks run side by side.
 *   mma.sync peaks at ~2/3 of the H100's wgmma rate, hence the 16*MT rows per warp: with MT 2
 *   each K/V fragment read by ldmatrix feeds two MMAs, halving shared-memory traffic per FLOP.
 *   Measured: 287 TFLOP/s at B 16, T 4k (3.83 ms) and 300 at T 8k (14.6 ms): version 2 sits at
 *   ~30% of the dense bf16 peak, about what FlashAttention-2 reaches on Hopper.
 */
#include "attention_prefill.cuh"
#include "attention_cuda_plan.h"

/* ---- version 1: one warp per query row ------------------------------------------------------ */
#define ATTN_V1_WARPS 4   /* query rows per block */
#define ATTN_V1_MAX_D 128 /* head dims per lane: ATTN_V1_MAX_D / 32 */

__global__ void __launch_bounds__(ATTN_V1_WARPS * 32) attention_prefill_kernel1(attn_fwd_args a, float scale_log2) {
    constexpr int NDL = ATTN_V1_MAX_D / 32;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int t = blockIdx.x * ATTN_V1_WARPS + warp, h = blockIdx.y, b = blockIdx.z, d = a.d;
    if (t >= a.T) return;
    const bf16 *q = a.q + ((long)b * a.T + t) * a.ldq + (long)h * d;
    const bf16 *kc = a.k + ((long)b * a.H + h) * a.ctx * d, *vc = a.v + ((long)b * a.H + h) * a.ctx * d;
    float qf[NDL], acc[NDL];
#pragma unroll
    for (int i = 0; i < NDL; i++) {
        const int dim = lane + 32 * i;
        qf[i] = dim < d ? __bfloat162float(q[dim]) * scale_log2 : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const int nkeys = a.pos + t + 1; /* causal: keys 0 .. pos+t */
    for (int j = 0; j < nkeys; j++) {
        const bf16 *kr = kc + (long)j * d, *vr = vc + (long)j * d;
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < NDL; i++)
            if (lane + 32 * i < d) s += qf[i] * __bfloat162float(kr[lane + 32 * i]);
#pragma unroll
        for (int off = 16; off > 0; off /= 2) s += __shfl_xor_sync(0xffffffffu, s, off);
        const float m_new = fmaxf(m, s), alpha = attn_rescale(m, m_new), p = exp2f(s - m_new);
        l = l * alpha + p;
#pragma unroll
        for (int i = 0; i < NDL; i++)
            if (lane + 32 * i < d) acc[i] = acc[i] * alpha + p * __bfloat162float(vr[lane + 32 * i]);
        m = m_new;
    }
    bf16 *o = a.o + ((long)b * a.T + t) * a.ldo + (long)h * d;
#pragma unroll
    for (int i = 0; i < NDL; i++)
        if (lane + 32 * i < d) o[lane + 32 * i] = __float2bfloat16_rn(acc[i] / l);
}

/* ---- version 2: FlashAttention-2 on tensor cores ------------------------------------------------ */
/* PTX wrappers. The "memory" clobbers keep shared-memory reads and async copies in program order
 * with respect to __syncthreads and the cp.async waits. */
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool pred) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    const int bytes = pred ? 16 : 0; /* 0: the 16 bytes are zero-filled, nothing is read */
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const bf16 *smem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s)
                 : "memory");
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const bf16 *smem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s)
                 : "memory");
}
/* d[16x8] += a[16x16] . b[16x8], bf16 inputs, fp32 accumulators. */
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* Tile shapes of version 2. A warp owns 16*MT consecutive query rows; BR = rows per block,
 * BC = keys per tile; shared-memory rows are padded by 8 elements (16 bytes): the 8 rows an
 * ldmatrix reads then start in 8 different 16-byte bank groups. */
template <int HD_, int NWARPS_, int MT_, int BC_, int MINB_> struct flash_cfg {
    static constexpr int HD = HD_, NWARPS = NWARPS_, MT = MT_, BC = BC_, MINB = MINB_;
    static constexpr int THREADS = NWARPS * 32;
    static constexpr int BR = NWARPS * MT * 16;
    static constexpr int LDS = HD + 8;
    static constexpr int SMEM = (BR + 4 * BC) * LDS * (int)sizeof(bf16); /* Q + 2 stages of K and V */
    static_assert(HD % 16 == 0 && BC % 16 == 0, "tiles are made of 16x16 MMA operands");
    static_assert(BR * HD / 8 % THREADS == 0 && BC * HD / 8 % THREADS == 0, "whole 16-byte copies per thread");
};
/* hd64: 4 warps x 32 rows (BR 128); two blocks per SM. hd128: 8 warps x 16 rows (the O
 * accumulators of 32 rows would not fit in registers next to Q). hd16: the test shapes. */
typedef flash_cfg<16, 4, 1, 64, 4> flash_hd16;
typedef flash_cfg<64, 4, 2, 64, 2> flash_hd64;
typedef flash_cfg<128, 8, 1, 64, 1> flash_hd128;

/* cp.async of `rows` rows of HD elements (row stride ld in global memory) into padded shared
 * rows; rows >= valid are zero-filled (partial tiles: no reads past the sequence, and zeros
 * rather than stale memory under the masked scores). */
template <class C, int ROWS>
__device__ __forceinline__ void load_rows_async(bf16 *s, const bf16 *g, long ld, int valid, int tid) {
    constexpr int CH = C::HD / 8;
#pragma unroll
    for (int i = 0; i < ROWS * CH / C::THREADS; i++) {
        const int idx = tid + i * C::THREADS, r = idx / CH, c = idx % CH;
        const bool ok = r < valid;
        cp_async16(s + r * C::LDS + c * 8, g + (ok ? (long)r * ld + c * 8 : 0), ok);
    }
}

/* The per-warp state of version 2 (registers): Q fragments, O accumulators, row max and sum of
 * the rows g and g+8 (g = lane/4) of each of the MT 16-row tiles. */
template <class C> struct flash_warp_state {
    uint32_t q[C::MT][C::HD / 16][4];
    float o[C::MT][C::HD / 8][4];
    float m[C::MT][2], l[C::MT][2];
};

/* S = Q K^T for the warp's rows and BC keys of the tile in shared memory. */
template <class C>
__device__ __forceinline__ void flash_scores(const flash_warp_state<C> &w, const bf16 *sk, int lane,
                                             float (&s)[C::MT][C::BC / 8][4]) {
#pragma unroll
    for (int mt = 0; mt < C::MT; mt++)
#pragma unroll
        for (int nt = 0; nt < C::BC / 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[mt][nt][e] = 0.0f;
    const int mtx = lane >> 3; /* which 8x8 matrix this lane addresses */
    /* matrices: (keys +0..7, dims +0..7), (keys +0..7, dims +8..15), (keys +8..15, ...), ... =
     * b0, b1 of key tile 2np, then b0, b1 of key tile 2np+1 */
    const bf16 *base = sk + ((lane & 7) + (mtx >> 1) * 8) * C::LDS + (mtx & 1) * 8;
#pragma unroll
    for (int ks = 0; ks < C::HD / 16; ks++)
#pragma unroll
        for (int np = 0; np < C::BC / 16; np++) {
            uint32_t kb[4];
            ldsm_x4(kb, base + np * 16 * C::LDS + ks * 16);
#pragma unroll
            for (int mt = 0; mt < C::MT; mt++) {
                mma_16816(s[mt][2 * np], w.q[mt][ks], kb[0], kb[1]);
                mma_16816(s[mt][2 * np + 1], w.q[mt][ks], kb[2], kb[3]);
            }
        }
}

/* Causal and length mask on a diagonal or partial tile: key > query position or key >= kv_len
 * -> -inf. row0_pos = absolute position of the warp's first row. */
template <class C>
__device__ __forceinline__ void flash_mask(float (&s)[C::MT][C::BC / 8][4], int row0_pos, int kv0, int kv_len,
                                           int lane) {
#pragma unroll
    for (int mt = 0; mt < C::MT; mt++)
#pragma unroll
        for (int nt = 0; nt < C::BC / 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int qpos = row0_pos + mt * 16 + (lane >> 2) + (e >= 2 ? 8 : 0);
                const int key = kv0 + nt * 8 + 2 * (lane & 3) + (e & 1);
                if (key > qpos || key >= kv_len) s[mt][nt][e] = -INFINITY;
            }
}

/* Online softmax: new row max, rescale O and l, scores -> probabilities (in place). */
template <class C>
__device__ __forceinline__ void flash_softmax(flash_warp_state<C> &w, float (&s)[C::MT][C::BC / 8][4],
                                              float scale_log2) {
#pragma unroll
    for (int mt = 0; mt < C::MT; mt++)
#pragma unroll
        for (int hf = 0; hf < 2; hf++) { /* row g (elements 0,1) and row g+8 (elements 2,3) */
            float mx = w.m[mt][hf];
#pragma unroll
            for (int nt = 0; nt < C::BC / 8; nt++) mx = fmaxf(mx, fmaxf(s[mt][nt][2 * hf], s[mt][nt][2 * hf + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1)); /* the 4 lanes of a row */
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float m_scaled = mx == -INFINITY ? 0.0f : mx * scale_log2;
            const float alpha = w.m[mt][hf] == -INFINITY ? 0.0f : exp2f(w.m[mt][hf] * scale_log2 - m_scaled);
            w.m[mt][hf] = mx;
            float sum = 0.0f;
#pragma unroll
            for (int nt = 0; nt < C::BC / 8; nt++)
#pragma unroll
                for (int e = 2 * hf; e < 2 * hf + 2; e++) {
                    s[mt][nt][e] = exp2f(s[mt][nt][e] * scale_log2 - m_scaled);
                    sum += s[mt][nt][e];
                }
            w.l[mt][hf] = w.l[mt][hf] * alpha + sum; /* this lane's columns; summed over the row at the end */
#pragma unroll
            for (int dt = 0; dt < C::HD / 8; dt++) {
                w.o[mt][dt][2 * hf] *= alpha;
                w.o[mt][dt][2 * hf + 1] *= alpha;
            }
        }
}

/* O += P V: P from the score registers (the accumulator layout of S is the A-operand layout of
 * P), V from shared memory through ldmatrix.trans. */
template <class C>
__device__ __forceinline__ void flash_pv(flash_warp_state<C> &w, const float (&p)[C::MT][C::BC / 8][4],
                                         const bf16 *sv, int lane) {
    const int mtx = lane >> 3;
    /* matrices: (keys +0..7, dims +0..7), (keys +8..15, dims +0..7), (keys +0..7, dims +8..15),
     * (keys +8..15, dims +8..15) = b0, b1 of dim tile 2dp, then b0, b1 of dim tile 2dp+1 */
    const bf16 *base = sv + ((lane & 7) + (mtx & 1) * 8) * C::LDS + (mtx >> 1) * 8;
#pragma unroll
    for (int kk = 0; kk < C::BC / 16; kk++) {
        uint32_t pa[C::MT][4];
#pragma unroll
        for (int mt = 0; mt < C::MT; mt++) {
            pa[mt][0] = pack_bf16x2(p[mt][2 * kk][0], p[mt][2 * kk][1]);
            pa[mt][1] = pack_bf16x2(p[mt][2 * kk][2], p[mt][2 * kk][3]);
            pa[mt][2] = pack_bf16x2(p[mt][2 * kk + 1][0], p[mt][2 * kk + 1][1]);
            pa[mt][3] = pack_bf16x2(p[mt][2 * kk + 1][2], p[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dp = 0; dp < C::HD / 16; dp++) {
            uint32_t vb[4];
            ldsm_x4_trans(vb, base + kk * 16 * C::LDS + dp * 16);
#pragma unroll
            for (int mt = 0; mt < C::MT; mt++) {
                mma_16816(w.o[mt][2 * dp], pa[mt], vb[0], vb[1]);
                mma_16816(w.o[mt][2 * dp + 1], pa[mt], vb[2], vb[3]);
            }
        }
    }
}

template <class C>
__global__ void __launch_bounds__(C::THREADS, C::MINB) attention_prefill_kernel2(attn_fwd_args a, float scale_log2) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *sQ = reinterpret_cast<bf16 *>(smem_raw);
    bf16 *sK = sQ + C::BR * C::LDS; /* stage st at sK + st * BC * LDS */
    bf16 *sV = sK + 2 * C::BC * C::LDS;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int qb = gridDim.x - 1 - blockIdx.x; /* the longest rows first: a shorter tail */
    const int h = blockIdx.y, b = blockIdx.z, q0 = qb * C::BR;
    const int kv_len = a.pos + a.T;
    const int ntiles = (a.pos + min(q0 + C::BR, a.T) + C::BC - 1) / C::BC;
    const long bh = (long)b * a.H + h;
    const bf16 *kg = a.k + bh * a.ctx * C::HD, *vg = a.v + bh * a.ctx * C::HD;

    /* group 0: Q; group 1: K/V tile 0 */
    load_rows_async<C, C::BR>(sQ, a.q + ((long)b * a.T + q0) * a.ldq + (long)h * C::HD, a.ldq, a.T - q0, tid);
    cp_async_commit();
    load_rows_async<C, C::BC>(sK, kg, C::HD, kv_len, tid);
    load_rows_async<C, C::BC>(sV, vg, C::HD, kv_len, tid);
    cp_async_commit();

    flash_warp_state<C> w;
    const int row0 = warp * C::MT * 16;                 /* the warp's first row in the block */
    const int row0_pos = a.pos + q0 + row0;             /* and its absolute position */
    const int last_pos = row0_pos + C::MT * 16 - 1;
    const bool has_rows = q0 + row0 < a.T;
    cp_async_wait<1>();
    __syncthreads();
#pragma unroll
    for (int mt = 0; mt < C::MT; mt++) {
#pragma unroll
        for (int ks = 0; ks < C::HD / 16; ks++) /* a0..a3 = (rows 0-7 | 8-15) x (dims 0-7 | 8-15) */
            ldsm_x4(w.q[mt][ks], sQ + (row0 + mt * 16 + (lane & 15)) * C::LDS + ks * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int dt = 0; dt < C::HD / 8; dt++)
#pragma unroll
            for (int e = 0; e < 4; e++) w.o[mt][dt][e] = 0.0f;
        w.m[mt][0] = w.m[mt][1] = -INFINITY;
        w.l[mt][0] = w.l[mt][1] = 0.0f;
    }

    for (int j = 0; j < ntiles; j++) {
        const int st = j & 1, kv0 = j * C::BC;
        if (j + 1 < ntiles) { /* prefetch tile j+1 into the other stage */
            const int nx = kv0 + C::BC;
            load_rows_async<C, C::BC>(sK + (st ^ 1) * C::BC * C::LDS, kg + (long)nx * C::HD, C::HD, kv_len - nx, tid);
            load_rows_async<C, C::BC>(sV + (st ^ 1) * C::BC * C::LDS, vg + (long)nx * C::HD, C::HD, kv_len - nx, tid);
        }
        cp_async_commit(); /* possibly empty: keeps the group count uniform */
        cp_async_wait<1>(); /* tile j has landed */
        __syncthreads();
        if (has_rows && kv0 <= last_pos) { /* warp-uniform: tiles wholly above the diagonal skipped */
            float s[C::MT][C::BC / 8][4];
            flash_scores<C>(w, sK + st * C::BC * C::LDS, lane, s);
            if (kv0 + C::BC - 1 > row0_pos || kv0 + C::BC > kv_len) flash_mask<C>(s, row0_pos, kv0, kv_len, lane);
            flash_softmax<C>(w, s, scale_log2);
            flash_pv<C>(w, s, sV + st * C::BC * C::LDS, lane);
        }
        __syncthreads(); /* stage st is overwritten by the prefetch of iteration j+1 */
    }

#pragma unroll
    for (int mt = 0; mt < C::MT; mt++)
#pragma unroll
        for (int hf = 0; hf < 2; hf++) {
            float l = w.l[mt][hf];
            l += __shfl_xor_sync(0xffffffffu, l, 1);
            l += __shfl_xor_sync(0xffffffffu, l, 2);
            const float inv = l > 0.0f ? 1.0f / l : 0.0f;
            const int row = q0 + row0 + mt * 16 + (lane >> 2) + hf * 8;
            if (row < a.T) {
                bf16 *o = a.o + ((long)b * a.T + row) * a.ldo + (long)h * C::HD + 2 * (lane & 3);
#pragma unroll
                for (int dt = 0; dt < C::HD / 8; dt++)
                    *reinterpret_cast<uint32_t *>(o + dt * 8) =
                        pack_bf16x2(w.o[mt][dt][2 * hf] * inv, w.o[mt][dt][2 * hf + 1] * inv);
            }
        }
}

/* ---- launchers -------------------------------------------------------------------------------- */
static sb_status launch_v1(const attn_fwd_args *a) {
    if (a->d > ATTN_V1_MAX_D) return sb_fail(SB_EINVAL, "attention prefill v1: head dim %d > %d", a->d, ATTN_V1_MAX_D);
    dim3 grid(sb_cdiv(a->T, ATTN_V1_WARPS), a->H, a->B);
    attention_prefill_kernel1<<<grid, ATTN_V1_WARPS * 32, 0, sb_stream()>>>(*a, attn_scale_log2(a->d));
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

template <class C> static sb_status launch_v2(const attn_fwd_args *a) {
    void (*kernel)(attn_fwd_args, float) = attention_prefill_kernel2<C>;
    CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM));
    dim3 grid(attn_prefill_query_blocks(a->T, C::BR), a->H, a->B);
    kernel<<<grid, C::THREADS, C::SMEM, sb_stream()>>>(*a, attn_scale_log2(C::HD));
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

int attention_prefill_supports(int version, int d) {
    switch (version) {
    case 1: return d > 0 && d % 8 == 0 && d <= ATTN_V1_MAX_D;
    case 2: return d == 16 || d == 64 || d == 128;
    default: return 0;
    }
}

sb_status attention_prefill(int version, const attn_fwd_args *a) {
    SB_TRY(attn_check_args(a, "attention_prefill"));
    if (a->H > 65535 || a->B > 65535) return sb_fail(SB_EINVAL, "attention_prefill: B %d or H %d > 65535", a->B, a->H);
    if (!attention_prefill_supports(version, a->d))
        return sb_fail(SB_EINVAL, "attention_prefill: version %d does not support head dim %d", version, a->d);
    switch (version) {
    case 1: return launch_v1(a);
    case 2:
        if (a->d == 16) return launch_v2<flash_hd16>(a);
        if (a->d == 64) return launch_v2<flash_hd64>(a);
        return launch_v2<flash_hd128>(a);
    default: return sb_fail(SB_EINVAL, "attention_prefill: unknown version %d", version);
    }
}
