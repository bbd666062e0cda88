/* attention_prefill_wgmma.cuh: version 3 of attention_prefill, FlashAttention on Hopper warpgroup
 * MMAs (wgmma, sm_90a). A draft kept for the record and for dev/attention_bench.cu, which includes
 * it after kernels/attention_prefill.cu: correct (the version-2 tests passed with it on an H100)
 * but slower than version 2, so no impl uses it and the library does not build it (see the
 * header of kernels/attention_prefill.cu for the measurements). */
#ifndef SB_ATTENTION_PREFILL_WGMMA_CUH
#define SB_ATTENTION_PREFILL_WGMMA_CUH

/* ---- version 3: FlashAttention on Hopper warpgroup MMAs (wgmma, sm_90a) ----------------------- */
/* Compiled only in the sm_90a pass (wgmma needs the arch-specific target); elsewhere the kernel
 * is an empty shell and the launcher refuses devices other than compute capability 9.0. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ATTN_WGMMA 1
#endif

/* A warpgroup (4 consecutive warps) owns 64 query rows; NWG warpgroups share each K/V tile of BC
 * keys. Shared tiles use the no-swizzle "core matrix" layout of wgmma: 8 rows x 16 bytes stored
 * as one contiguous 128-byte block, the blocks of an 8-row group along the head dim next to each
 * other (element (r, c) at ((r/8)*(HD/8) + c/8)*64 + (r%8)*8 + c%8). An ldmatrix or a tensor-core
 * read of one core matrix touches 128 contiguous bytes: no bank conflicts, no padding. */
template <int HD_, int NWG_, int BC_, int MINB_> struct wg_cfg {
    static constexpr int HD = HD_, NWG = NWG_, BC = BC_, MINB = MINB_;
    static constexpr int THREADS = NWG * 128;
    static constexpr int BR = NWG * 64;
    static constexpr int SMEM = (BR + 4 * BC) * HD * (int)sizeof(bf16); /* Q + 2 stages of K and V */
    static_assert((HD == 64 || HD == 128) && (BC == 64 || BC == 128), "wgmma shapes n64 / n128");
    static_assert(BR * HD / 8 % THREADS == 0 && BC * HD / 8 % THREADS == 0, "whole 16-byte copies per thread");
};
typedef wg_cfg<64, 2, 64, 2> wg_hd64;
typedef wg_cfg<128, 2, 64, 1> wg_hd128;

/* cp.async of `rows` rows of HD elements into the core-matrix layout. Thread index i copies the
 * 16-byte chunk that lands at element 8*i: consecutive threads fill consecutive shared bytes. */
template <class C, int ROWS>
__device__ __forceinline__ void load_core_async(bf16 *s, const bf16 *g, long ld, int valid, int tid) {
#pragma unroll
    for (int i = 0; i < ROWS * C::HD / 8 / C::THREADS; i++) {
        const int idx = tid + i * C::THREADS;
        const int r = idx / C::HD * 8 + (idx & 7), c = (idx >> 3) & (C::HD / 8 - 1);
        const bool ok = r < valid;
        cp_async16(s + idx * 8, g + (ok ? (long)r * ld + c * 8 : 0), ok);
    }
}

#ifdef ATTN_WGMMA
/* Shared-memory matrix descriptor, no swizzle: start address, leading-dimension byte offset
 * (K-major: to the next 8 columns of K; N-major: to the next 8 rows of K) and stride-dimension
 * byte offset (K-major: to the next 8 rows of M/N; N-major: to the next 8 columns of N). */
__device__ __forceinline__ uint64_t wg_desc(const bf16 *smem, uint32_t lbo, uint32_t sbo) {
    const uint32_t addr = (uint32_t)__cvta_generic_to_shared(smem);
    return (uint64_t)((addr & 0x3FFFF) >> 4) | (uint64_t)(lbo >> 4) << 16 | (uint64_t)(sbo >> 4) << 32;
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* Pins accumulator registers in program order around the asynchronous MMAs (the compiler does
 * not know that wgmma.wait_group is what makes them valid). */
template <int N> __device__ __forceinline__ void wg_fence_regs(float (&r)[N]) {
#pragma unroll
    for (int i = 0; i < N; i++) asm volatile("" : "+f"(r[i])::"memory");
}
/* cp.async wrote the tiles through the generic proxy; wgmma reads them through the async proxy. */
__device__ __forceinline__ void fence_proxy_async_smem() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

/* The wgmma shapes used here (generated: one operand per accumulator register). */
__device__ __forceinline__ void wgmma_ss_n64(float (&d)[32], uint64_t da, uint64_t db, int scale_d) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_rs_n64(float (&d)[32], const uint32_t (&a)[4], uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(1));
}
__device__ __forceinline__ void wgmma_ss_n128(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "l"(da), "l"(db), "r"(scale_d));
}
__device__ __forceinline__ void wgmma_rs_n128(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "n"(1));
}

template <int N> __device__ __forceinline__ void wgmma_ss(float (&d)[N / 2], uint64_t da, uint64_t db, int scale_d);
template <> __device__ __forceinline__ void wgmma_ss<64>(float (&d)[32], uint64_t da, uint64_t db, int scale_d) {
    wgmma_ss_n64(d, da, db, scale_d);
}
template <> __device__ __forceinline__ void wgmma_ss<128>(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
    wgmma_ss_n128(d, da, db, scale_d);
}
template <int N> __device__ __forceinline__ void wgmma_rs(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t db);
template <> __device__ __forceinline__ void wgmma_rs<64>(float (&d)[32], const uint32_t (&a)[4], uint64_t db) {
    wgmma_rs_n64(d, a, db);
}
template <> __device__ __forceinline__ void wgmma_rs<128>(float (&d)[64], const uint32_t (&a)[4], uint64_t db) {
    wgmma_rs_n128(d, a, db);
}
#endif /* ATTN_WGMMA */

/* Online softmax of one warp's 16 rows (rows g and g+8 of each thread) over the BC scores of a
 * tile in the wgmma accumulator layout (s[4*nt + e], as mma.sync's per 8-column tile); rescales
 * the output accumulators o[4*dt + e] the same way. */
template <int BC, int HD>
__device__ __forceinline__ void wg_softmax(float (&s)[BC / 2], float (&o)[HD / 2], float (&m)[2], float (&l)[2],
                                           float scale_log2) {
#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        float mx = m[hf];
#pragma unroll
        for (int nt = 0; nt < BC / 8; nt++) mx = fmaxf(mx, fmaxf(s[4 * nt + 2 * hf], s[4 * nt + 2 * hf + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_scaled = mx == -INFINITY ? 0.0f : mx * scale_log2;
        const float alpha = m[hf] == -INFINITY ? 0.0f : exp2f(m[hf] * scale_log2 - m_scaled);
        m[hf] = mx;
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < BC / 8; nt++)
#pragma unroll
            for (int e = 2 * hf; e < 2 * hf + 2; e++) {
                s[4 * nt + e] = exp2f(s[4 * nt + e] * scale_log2 - m_scaled);
                sum += s[4 * nt + e];
            }
        l[hf] = l[hf] * alpha + sum;
#pragma unroll
        for (int dt = 0; dt < HD / 8; dt++) {
            o[4 * dt + 2 * hf] *= alpha;
            o[4 * dt + 2 * hf + 1] *= alpha;
        }
    }
}

template <class C>
__global__ void __launch_bounds__(C::THREADS, C::MINB) attention_prefill_kernel3(attn_fwd_args a, float scale_log2) {
#ifdef ATTN_WGMMA
    constexpr int HD = C::HD, BC = C::BC;
    extern __shared__ __align__(128) unsigned char smem_wg[];
    bf16 *sQ = reinterpret_cast<bf16 *>(smem_wg);
    bf16 *sK = sQ + C::BR * HD; /* stage st at sK + st * BC * HD */
    bf16 *sV = sK + 2 * BC * HD;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, wg = warp / 4;
    const int qb = gridDim.x - 1 - blockIdx.x; /* the longest rows first */
    const int h = blockIdx.y, b = blockIdx.z, q0 = qb * C::BR;
    const int kv_len = a.pos + a.T;
    const int ntiles = (a.pos + min(q0 + C::BR, a.T) + BC - 1) / BC;
    const long bh = (long)b * a.H + h;
    const bf16 *kg = a.k + bh * a.ctx * HD, *vg = a.v + bh * a.ctx * HD;

    load_core_async<C, C::BR>(sQ, a.q + ((long)b * a.T + q0) * a.ldq + (long)h * HD, a.ldq, a.T - q0, tid);
    cp_async_commit();
    load_core_async<C, BC>(sK, kg, HD, kv_len, tid);
    load_core_async<C, BC>(sV, vg, HD, kv_len, tid);
    cp_async_commit();

    const int row0 = warp * 16;                    /* the warp's first row in the block */
    const int row0_pos = a.pos + q0 + row0;
    const int wg_last_pos = a.pos + q0 + wg * 64 + 63;
    const bool wg_has_rows = q0 + wg * 64 < a.T;
    float o[HD / 2], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < HD / 2; i++) o[i] = 0.0f;
    /* K-major Q and K: next 8 head dims +128 bytes, next 8 rows +HD*16 bytes */
    const uint32_t k_lbo = 128, k_sbo = HD * 16;
    /* N-major V (keys x dims, dims contiguous): next 8 keys +HD*16 bytes, next 8 dims +128 bytes */
    const uint32_t v_lbo = HD * 16, v_sbo = 128; /* (swapped, the MMA reads out of bounds) */
    const bf16 *sQ_wg = sQ + wg * 64 * HD;

    for (int j = 0; j < ntiles; j++) {
        const int st = j & 1, kv0 = j * BC;
        if (j + 1 < ntiles) {
            const int nx = kv0 + BC;
            load_core_async<C, BC>(sK + (st ^ 1) * BC * HD, kg + (long)nx * HD, HD, kv_len - nx, tid);
            load_core_async<C, BC>(sV + (st ^ 1) * BC * HD, vg + (long)nx * HD, HD, kv_len - nx, tid);
        }
        cp_async_commit();
        cp_async_wait<1>(); /* Q and tile j have landed (this thread's copies) */
        fence_proxy_async_smem();
        __syncthreads();
        if (wg_has_rows && kv0 <= wg_last_pos) { /* warpgroup-uniform */
            const bf16 *k_st = sK + st * BC * HD, *v_st = sV + st * BC * HD;
            float s[BC / 2];
            wgmma_fence();
#pragma unroll
            for (int ks = 0; ks < HD / 16; ks++) /* 16 head dims = 2 core matrices = 256 bytes */
                wgmma_ss<BC>(s, wg_desc(sQ_wg + ks * 16 * 8, k_lbo, k_sbo), wg_desc(k_st + ks * 16 * 8, k_lbo, k_sbo),
                             ks);
            wgmma_commit();
            wgmma_wait<0>();
            wg_fence_regs<BC / 2>(s);
            if (kv0 + BC - 1 > row0_pos || kv0 + BC > kv_len) {
#pragma unroll
                for (int nt = 0; nt < BC / 8; nt++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int qpos = row0_pos + (lane >> 2) + (e >= 2 ? 8 : 0);
                        const int key = kv0 + nt * 8 + 2 * (lane & 3) + (e & 1);
                        if (key > qpos || key >= kv_len) s[4 * nt + e] = -INFINITY;
                    }
            }
            wg_softmax<BC, HD>(s, o, m, l, scale_log2);
            uint32_t p[BC / 16][4]; /* P as the A operand: the accumulator layout of S */
#pragma unroll
            for (int kk = 0; kk < BC / 16; kk++) {
                p[kk][0] = pack_bf16x2(s[8 * kk + 0], s[8 * kk + 1]);
                p[kk][1] = pack_bf16x2(s[8 * kk + 2], s[8 * kk + 3]);
                p[kk][2] = pack_bf16x2(s[8 * kk + 4], s[8 * kk + 5]);
                p[kk][3] = pack_bf16x2(s[8 * kk + 6], s[8 * kk + 7]);
            }
            wg_fence_regs<HD / 2>(o);
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < BC / 16; kk++) /* 16 keys = 2 core-matrix rows of V */
                wgmma_rs<HD>(o, p[kk], wg_desc(v_st + kk * 16 * HD, v_lbo, v_sbo));
            wgmma_commit();
            wgmma_wait<0>();
            wg_fence_regs<HD / 2>(o);
        }
        __syncthreads(); /* stage st is overwritten by the prefetch of iteration j+1 */
    }

#pragma unroll
    for (int hf = 0; hf < 2; hf++) {
        float lt = l[hf];
        lt += __shfl_xor_sync(0xffffffffu, lt, 1);
        lt += __shfl_xor_sync(0xffffffffu, lt, 2);
        const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
        const int row = q0 + row0 + (lane >> 2) + hf * 8;
        if (row < a.T) {
            bf16 *op = a.o + ((long)b * a.T + row) * a.ldo + (long)h * HD + 2 * (lane & 3);
#pragma unroll
            for (int dt = 0; dt < HD / 8; dt++)
                *reinterpret_cast<uint32_t *>(op + dt * 8) = pack_bf16x2(o[4 * dt + 2 * hf] * inv, o[4 * dt + 2 * hf + 1] * inv);
        }
    }
#endif /* ATTN_WGMMA */
}

/* Version 3 runs on compute capability 9.0 only (its code exists for sm_90a alone). */
static int device_is_sm90(void) {
    int dev = 0, major = 0, minor = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev)) {
        cudaGetLastError();
        return 0;
    }
    return major == 9 && minor == 0;
}

template <class C> static sb_status launch_v3(const attn_fwd_args *a) {
    void (*kernel)(attn_fwd_args, float) = attention_prefill_kernel3<C>;
    CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM));
    dim3 grid(attn_prefill_query_blocks(a->T, C::BR), a->H, a->B);
    kernel<<<grid, C::THREADS, C::SMEM, sb_stream()>>>(*a, attn_scale_log2(C::HD));
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

/* attention_prefill(3, a) of the library before the move. */
static sb_status attention_prefill_v3(const attn_fwd_args *a) {
    if (!((a->d == 64 || a->d == 128) && device_is_sm90()))
        return sb_fail(SB_EINVAL, "attention_prefill_v3: head dim %d or device unsupported", a->d);
    return a->d == 64 ? launch_v3<wg_hd64>(a) : launch_v3<wg_hd128>(a);
}

#endif
