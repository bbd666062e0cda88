/* attention_decode.cu: one query per sequence (decode step) against the bf16 KV cache
 * [B, H, ctx, d]: memory-bound, the whole cache of each (b, h) is read once.
 *
 * version 1: one block per (b, h) reads all keys (the split kernel with one split), then the
 *            merge. Measured (H100 80GB HBM3, dev/attention_bench.cu, H 32, d 64; a device-to-
 *            device copy moves 3024 GB/s read + write): B 16 T 32k 3060 GB/s (1.40 ms),
 *            B 16 T 4k 2462 GB/s (81% of copy), B 512 T 4k/8k 3104/3109 GB/s.
 * version 2: split-KV (flash-decoding): blocks (b, h, split) each stream a chunk of keys with
 *            16-byte loads (d/8 lanes per key, 4 keys per lane in flight for K and V), keep a
 *            partial max, sum and output in fp32 (base-2 online softmax); a second small kernel
 *            merges the splits with log-sum-exp weights. The split count (attn_decode_make_plan)
 *            makes B*H*splits ~ 16 blocks per SM. Target: >= 70% of copy bandwidth at T 32k.
 *            Measured (same machine): B 16 T 32k 3033 GB/s (1.42 ms, 100% of copy, 5 splits),
 *            B 16 T 4k 2882 GB/s (95%), B 512 T 4k/8k 3103/3109 GB/s (1 split).
 *
 * Workspace per partial (b, h, split): o[d], m, l (fp32), in three arrays.
 */
#include "attention_decode.cuh"
#include "attention_cuda_plan.h"

#define ATTN_DEC_WARPS 4  /* warps per split block */
#define ATTN_DEC_UNROLL 4 /* keys per lane per iteration: 2*4 16-byte loads in flight per lane */

/* ---- kernels -------------------------------------------------------------------------------- */
/* Keys k0 .. k1-1 of (b, h) = (blockIdx.z, blockIdx.y), split blockIdx.x. A group of LPK = d/8
 * lanes holds one key row (16 bytes each); a warp takes KPW = 32/LPK consecutive keys per load. */
template <int HD>
__global__ void __launch_bounds__(ATTN_DEC_WARPS * 32)
    attention_decode_split_kernel(attn_fwd_args a, int keys_per_split, float scale_log2, float *__restrict__ o_part,
                                  float *__restrict__ m_part, float *__restrict__ l_part) {
    constexpr int LPK = HD / 8, KPW = 32 / LPK, STRIDE = ATTN_DEC_WARPS * KPW;
    static_assert(32 % LPK == 0, "a key row spans a power of two of lanes <= 32");
    __shared__ float sm_o[ATTN_DEC_WARPS][HD], sm_m[ATTN_DEC_WARPS], sm_l[ATTN_DEC_WARPS];
    const int split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, sub = lane % LPK, grp = lane / LPK;
    const int k0 = split * keys_per_split, k1 = min(k0 + keys_per_split, a.pos + 1);
    const long bh = (long)b * a.H + h;
    const bf16 *kc = a.k + bh * a.ctx * HD + sub * 8, *vc = a.v + bh * a.ctx * HD + sub * 8;

    float q[8], acc[8];
    bf16x8_to_float(__ldg(reinterpret_cast<const uint4 *>(a.q + (long)b * a.ldq + (long)h * HD + sub * 8)), q);
#pragma unroll
    for (int i = 0; i < 8; i++) {
        q[i] *= scale_log2;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    /* warp-uniform trip count (the shuffles need the whole warp); keys past k1 score -inf */
    for (int base = k0 + warp * KPW; base < k1; base += ATTN_DEC_UNROLL * STRIDE) {
        uint4 kr[ATTN_DEC_UNROLL], vr[ATTN_DEC_UNROLL];
#pragma unroll
        for (int u = 0; u < ATTN_DEC_UNROLL; u++) {
            const int key = base + u * STRIDE + grp;
            kr[u] = vr[u] = make_uint4(0, 0, 0, 0);
            if (key < k1) {
                kr[u] = __ldg(reinterpret_cast<const uint4 *>(kc + (long)key * HD));
                vr[u] = __ldg(reinterpret_cast<const uint4 *>(vc + (long)key * HD));
            }
        }
        float s[ATTN_DEC_UNROLL], mx = m;
#pragma unroll
        for (int u = 0; u < ATTN_DEC_UNROLL; u++) {
            float kf[8], dot = 0.0f;
            bf16x8_to_float(kr[u], kf);
#pragma unroll
            for (int i = 0; i < 8; i++) dot += q[i] * kf[i];
#pragma unroll
            for (int off = LPK / 2; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
            s[u] = base + u * STRIDE + grp < k1 ? dot : -INFINITY;
            mx = fmaxf(mx, s[u]);
        }
        const float alpha = attn_rescale(m, mx), m_sub = mx == -INFINITY ? 0.0f : mx;
        l *= alpha;
#pragma unroll
        for (int i = 0; i < 8; i++) acc[i] *= alpha;
#pragma unroll
        for (int u = 0; u < ATTN_DEC_UNROLL; u++) {
            const float p = exp2f(s[u] - m_sub);
            float vf[8];
            bf16x8_to_float(vr[u], vf);
            l += p;
#pragma unroll
            for (int i = 0; i < 8; i++) acc[i] += p * vf[i];
        }
        m = mx;
    }
    /* merge the KPW key groups of the warp (lanes with the same sub) ... */
#pragma unroll
    for (int off = LPK; off < 32; off *= 2) {
        const float mo = __shfl_xor_sync(0xffffffffu, m, off), lo = __shfl_xor_sync(0xffffffffu, l, off);
        const float mn = fmaxf(m, mo), w1 = attn_rescale(m, mn), w2 = attn_rescale(mo, mn);
        l = l * w1 + lo * w2;
#pragma unroll
        for (int i = 0; i < 8; i++) acc[i] = acc[i] * w1 + __shfl_xor_sync(0xffffffffu, acc[i], off) * w2;
        m = mn;
    }
    /* ... then the warps of the block, through shared memory */
    if (grp == 0)
#pragma unroll
        for (int i = 0; i < 8; i++) sm_o[warp][sub * 8 + i] = acc[i];
    if (lane == 0) {
        sm_m[warp] = m;
        sm_l[warp] = l;
    }
    __syncthreads();
    const long part = bh * gridDim.x + split;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < ATTN_DEC_WARPS; w++) M = fmaxf(M, sm_m[w]);
    for (int i = threadIdx.x; i < HD; i += blockDim.x) {
        float o = 0.0f;
#pragma unroll
        for (int w = 0; w < ATTN_DEC_WARPS; w++) o += sm_o[w][i] * attn_rescale(sm_m[w], M);
        o_part[part * HD + i] = o;
    }
    if (threadIdx.x == 0) {
        float L = 0.0f;
#pragma unroll
        for (int w = 0; w < ATTN_DEC_WARPS; w++) L += sm_l[w] * attn_rescale(sm_m[w], M);
        m_part[part] = M;
        l_part[part] = L;
    }
}

/* One block per (b, h): o = sum_s o_s 2^(m_s - M) / sum_s l_s 2^(m_s - M). */
__global__ void attention_decode_merge_kernel(const float *__restrict__ o_part, const float *__restrict__ m_part,
                                              const float *__restrict__ l_part, int splits, int H, int d,
                                              bf16 *__restrict__ o, long ldo) {
    const long bh = blockIdx.x;
    const int b = (int)(bh / H), h = (int)(bh % H);
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) M = fmaxf(M, m_part[bh * splits + s]);
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float L = 0.0f, acc = 0.0f;
        for (int s = 0; s < splits; s++) {
            const long p = bh * splits + s;
            const float w = attn_rescale(m_part[p], M);
            L += l_part[p] * w;
            acc += o_part[p * d + i] * w;
        }
        o[(long)b * ldo + (long)h * d + i] = __float2bfloat16_rn(acc / L);
    }
}

/* ---- launchers -------------------------------------------------------------------------------- */
int attention_decode_supports(int d) { return d == 16 || d == 32 || d == 64 || d == 128; }

size_t attention_decode_workspace_floats(int max_batch, int H, int d) {
    return attn_decode_max_partials(max_batch, H, sb_num_sms()) * (size_t)(d + 2);
}

template <int HD>
static void launch_split(const attn_fwd_args *a, attn_decode_plan p, float *o_part, float *m_part, float *l_part) {
    dim3 grid(p.splits, a->H, a->B);
    attention_decode_split_kernel<HD><<<grid, ATTN_DEC_WARPS * 32, 0, sb_stream()>>>(
        *a, p.keys_per_split, attn_scale_log2(HD), o_part, m_part, l_part);
}

sb_status attention_decode(int version, const attn_fwd_args *a, float *ws, size_t ws_floats) {
    SB_TRY(attn_check_args(a, "attention_decode"));
    if (a->T != 1) return sb_fail(SB_EINVAL, "attention_decode: one query per sequence (T = %d)", a->T);
    if (!attention_decode_supports(a->d)) return sb_fail(SB_EINVAL, "attention_decode: head dim %d unsupported", a->d);
    if (a->B > 65535 || a->H > 65535) return sb_fail(SB_EINVAL, "attention_decode: B %d or H %d > 65535", a->B, a->H);
    const int kv_len = a->pos + 1;
    attn_decode_plan p;
    if (version == 1) {
        p.splits = 1;
        p.keys_per_split = kv_len;
    } else if (version == 2) {
        p = attn_decode_make_plan(a->B, a->H, kv_len, sb_num_sms());
    } else {
        return sb_fail(SB_EINVAL, "attention_decode: unknown version %d", version);
    }
    const size_t parts = (size_t)a->B * a->H * p.splits;
    if (!ws || parts * (a->d + 2) > ws_floats)
        return sb_fail(SB_EINVAL, "attention_decode: workspace of %zu floats < %zu", ws_floats, parts * (a->d + 2));
    float *o_part = ws, *m_part = ws + parts * a->d, *l_part = m_part + parts;
    switch (a->d) {
    case 16: launch_split<16>(a, p, o_part, m_part, l_part); break;
    case 32: launch_split<32>(a, p, o_part, m_part, l_part); break;
    case 64: launch_split<64>(a, p, o_part, m_part, l_part); break;
    default: launch_split<128>(a, p, o_part, m_part, l_part); break;
    }
    CUDA_LAUNCH_CHECK();
    const int threads = a->d < 32 ? 32 : a->d;
    attention_decode_merge_kernel<<<(unsigned)(a->B * a->H), threads, 0, sb_stream()>>>(o_part, m_part, l_part,
                                                                                      p.splits, a->H, a->d, a->o, a->ldo);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}
