/* mamba_step.cu: one decode step of the Mamba-1 selective scan (the state update of Mamba.step):
 *   delta = softplus(dt_raw + bias) (layer; op level: given), h = exp(delta A) h + delta B x,
 *   y = (C.h + D x) . SiLU(z).
 * The conv step (shift + conv + SiLU) runs before the x_proj GEMM (kernels/mamba_conv.cu); the
 * GEMMs sit between the two kernels. Decode moves the fp32 state (2*B*E*N*4 bytes per step: 256 MB
 * at 1.4b, B 512), so the layout of the state loads is what matters.
 *
 * version 1: one thread per (b, e) with the N states in registers; a warp's state loads are 32
 *            channels x N floats, each thread reading its own 64-byte row (scattered per instruction).
 * version 2: N/4 consecutive lanes per channel, each with 4 states: every state load and store is a
 *            float4 and a warp touches one contiguous 512-byte span per instruction (N = 16);
 *            C.h is reduced with xor shuffles over the N/4 lanes; the per-channel scalars (u, delta,
 *            z) are read by every lane of the channel (broadcast), the output by the first.
 * measured speed: not yet measured on a GPU (roofline at 1.4b, B 512: 256 MB of state per step ->
 * ~85 us at 3.0 TB/s, ~0.17 us per sequence).
 */
#include "mamba_step.cuh"

/* ---- version 1 ------------------------------------------------------------------------------- */
template <int NMAX>
static __global__ void __launch_bounds__(128) mamba_step_kernel1(const mamba_scan_args a) {
    const long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)a.B * a.E) return;
    const int b = (int)(idx / a.E), e = (int)(idx % a.E), N = a.N;
    const size_t row = (size_t)b; /* T = 1 */
    const float u = bf2f(a.u[row * a.ldu + e]);
    const float delta = a.layer ? softplus_ref(((const float *)a.dt)[row * a.lddt + e] + a.dt_bias[e])
                                : bf2f(((const bf16 *)a.dt)[row * a.lddt + e]);
    const float *A2 = a.A2 + (size_t)e * N;
    const bf16 *Bt = a.bc + row * a.ldbc, *Ct = Bt + N;
    float *h = a.h + ((size_t)b * a.E + e) * N;
    float acc = 0.0f;
#pragma unroll
    for (int n = 0; n < NMAX; n++)
        if (n < N) {
            const float hn = exp2f(delta * A2[n]) * h[n] + delta * bf2f(Bt[n]) * u;
            h[n] = hn;
            acc += bf2f(Ct[n]) * hn;
        }
    a.y[row * a.ldy + e] = f2bf((acc + a.Dskip[e] * u) * silu_ref(bf2f(a.z[row * a.ldz + e])));
}

/* ---- version 2 ------------------------------------------------------------------------------- */
constexpr int STEP_THREADS = 256;

/* Four consecutive bf16 (8 bytes, aligned) -> fp32. */
__device__ __forceinline__ float4 load_bf16x4(const bf16 *p) {
    const uint2 raw = *(const uint2 *)p;
    const __nv_bfloat162 lo = *(const __nv_bfloat162 *)&raw.x, hi = *(const __nv_bfloat162 *)&raw.y;
    const float2 a = __bfloat1622float2(lo), b = __bfloat1622float2(hi);
    return make_float4(a.x, a.y, b.x, b.y);
}

/* All lanes run to the shuffles (no early exit): lanes past B*E carry zeros and store nothing. */
template <int N, bool LAYER>
static __global__ void __launch_bounds__(STEP_THREADS) mamba_step_kernel2(const mamba_scan_args a) {
    constexpr int LANES = N / 4; /* lanes per channel, 4 states each */
    static_assert(N % 4 == 0 && 32 % LANES == 0, "N in {4, 8, 16, 32}");
    const long long gid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long ch = gid / LANES;
    const int q = (int)(gid % LANES);
    const bool valid = ch < (long long)a.B * a.E;
    const int b = valid ? (int)(ch / a.E) : 0, e = valid ? (int)(ch % a.E) : 0;
    const size_t row = (size_t)b;
    float acc = 0.0f, u = 0.0f, z = 0.0f;
    if (valid) {
        u = bf2f(a.u[row * a.ldu + e]);
        z = bf2f(a.z[row * a.ldz + e]);
        float delta;
        if constexpr (LAYER) delta = softplus_fast(((const float *)a.dt)[row * a.lddt + e] + a.dt_bias[e]);
        else delta = bf2f(((const bf16 *)a.dt)[row * a.lddt + e]);
        const float du = delta * u;
        float4 *hp = (float4 *)(a.h + (size_t)ch * N) + q;
        const float4 h = *hp, A = ((const float4 *)(a.A2 + (size_t)e * N))[q];
        const float4 B = load_bf16x4(a.bc + row * a.ldbc + 4 * q), C = load_bf16x4(a.bc + row * a.ldbc + N + 4 * q);
        float4 hn;
        hn.x = fmaf(fast_exp2(delta * A.x), h.x, du * B.x);
        hn.y = fmaf(fast_exp2(delta * A.y), h.y, du * B.y);
        hn.z = fmaf(fast_exp2(delta * A.z), h.z, du * B.z);
        hn.w = fmaf(fast_exp2(delta * A.w), h.w, du * B.w);
        *hp = hn;
        acc = (C.x * hn.x + C.y * hn.y) + (C.z * hn.z + C.w * hn.w);
    }
#pragma unroll
    for (int m = LANES / 2; m >= 1; m /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, m);
    if (valid && q == 0) a.y[row * a.ldy + e] = f2bf((acc + a.Dskip[e] * u) * silu_fast(z));
}

/* ---- launchers --------------------------------------------------------------------------------- */
int mamba_step_supports(int version, const mamba_scan_args *a) {
    if (a->B <= 0 || a->T != 1 || a->E <= 0 || a->N <= 0) return 0;
    if (a->layer && !a->dt_bias) return 0;
    if (version == 1) return a->N <= 64;
    if (version != 2) return 0;
    const bool n_ok = a->N == 4 || a->N == 8 || a->N == 16 || a->N == 32;
    /* B_t, C_t: 8-byte loads at bc + row*ldbc + 4q and + N + 4q */
    const bool bc_ok = ((uintptr_t)a->bc & 7u) == 0 && a->ldbc % 4 == 0;
    return n_ok && bc_ok && sb_aligned16(a->h) && sb_aligned16(a->A2);
}

template <int N>
static sb_status step2_n(const mamba_scan_args *a) {
    const unsigned grid = sb_cdiv((size_t)a->B * a->E * (N / 4), STEP_THREADS);
    if (a->layer) mamba_step_kernel2<N, true><<<grid, STEP_THREADS, 0, sb_stream()>>>(*a);
    else mamba_step_kernel2<N, false><<<grid, STEP_THREADS, 0, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

sb_status mamba_step(int version, const mamba_scan_args *a) {
    if (!mamba_step_supports(version, a))
        return sb_fail(SB_EINVAL, "mamba_step v%d: unsupported shape or alignment (B %d, T %d, E %d, N %d)", version, a->B,
                       a->T, a->E, a->N);
    if (version == 1) {
        const unsigned grid = sb_cdiv((size_t)a->B * a->E, 128);
        if (a->N <= 16) mamba_step_kernel1<16><<<grid, 128, 0, sb_stream()>>>(*a);
        else mamba_step_kernel1<64><<<grid, 128, 0, sb_stream()>>>(*a);
        CUDA_LAUNCH_CHECK();
        return SB_OK;
    }
    switch (a->N) {
    case 4: return step2_n<4>(a);
    case 8: return step2_n<8>(a);
    case 16: return step2_n<16>(a);
    case 32: return step2_n<32>(a);
    default: return sb_fail(SB_EINVAL, "mamba_step v2: N = %d", a->N);
    }
}
