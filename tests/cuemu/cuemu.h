/* cuemu.h: CUDA on the CPU, for running the .cu files of kernels/ on machines without a GPU (tests/cuemu/,
 * `make emu-test`). Force-included by tests/cuemu/nvcc before each .cu file, which tests/cuemu/prep.py
 * has rewritten into plain C++ (launches, inline PTX, __shared__ declarations); the headers
 * <cuda_runtime.h>, <cuda_bf16.h>, <cublas_v2.h> of tests/cuemu/include/ lead here too.
 *
 * Execution (cuemu.cpp): every thread of a block is a fiber; the blocks of a grid run one after
 * another; a fiber runs until it blocks in __syncthreads or a warp collective, and the order in which
 * runnable fibers run is random (or fixed, CUEMU_ORDER=fwd|rev). Warp collectives (shuffles,
 * __syncwarp, mma.sync, ldmatrix, movmatrix) wait for the 32 lanes and compute from all lanes'
 * registers following the PTX ISA fragment tables. Shared memory (dynamic and static) starts every
 * block as NaN bytes and has 32-bit addresses; cp.async copies land at the issuing thread's
 * cp.async.wait_group, or earlier (random). The runtime and cuBLAS (runtime.cpp): device memory is
 * host memory starting as NaN bytes and ending at a guard page; launches check their configuration;
 * streams are synchronous; graphs record and replay; cublasGemmEx is a plain fp32 loop. */
#ifndef CUEMU_H
#define CUEMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

/* ---- the CUDA C++ dialect ------------------------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
#define warpSize 32
/* Inserted by prep.py at the top of every kernel body: names the kernel (messages, launch log) and
 * checks the block size against __launch_bounds__ (a launch above it fails on a GPU). */
#define CUEMU_KERNEL(...) cuemu_kernel_entry(__PRETTY_FUNCTION__, cuemu_bounds(__VA_ARGS__))
inline int cuemu_bounds(int max_threads, int min_blocks = 0) { return (void)min_blocks, max_threads; }
void cuemu_kernel_entry(const char *name, int max_threads);

struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct __align__(8) float2 { float x, y; };
struct __align__(16) float4 { float x, y, z, w; };
struct __align__(8) uint2 { unsigned x, y; };
struct __align__(16) uint4 { unsigned x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

/* ---- bf16: round to nearest even, NaN kept ---------------------------------------------------- */
inline unsigned short cuemu_f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40);
    return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
struct __nv_bfloat16 {
    unsigned short x;
    __nv_bfloat16() = default;
    __nv_bfloat16(float f) : x(cuemu_f2bf(f)) {}
    operator float() const {
        uint32_t u = (uint32_t)x << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
};
struct __align__(4) __nv_bfloat162 { __nv_bfloat16 x, y; };
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 b) { return b; }
inline float __low2float(__nv_bfloat162 v) { return v.x; }
inline float __high2float(__nv_bfloat162 v) { return v.y; }
inline float2 __bfloat1622float2(__nv_bfloat162 v) { return {v.x, v.y}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__nv_bfloat16(a), __nv_bfloat16(b)}; }

/* ---- device math the host lacks (fast-math intrinsics = the accurate functions) --------------- */
inline float __expf(float x) { return expf(x); }
inline void __sincosf(float x, float *s, float *c) { *s = sinf(x), *c = cosf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __fdividef(float a, float b) { return a / b; }
template <class T> inline T __ldg(const T *p) { return *p; }
#define CUEMU_MINMAX(T)                                        \
    inline T min(T a, T b) { return a < b ? a : b; }          \
    inline T max(T a, T b) { return a > b ? a : b; }
CUEMU_MINMAX(int)
CUEMU_MINMAX(unsigned)
CUEMU_MINMAX(long)
CUEMU_MINMAX(unsigned long)
CUEMU_MINMAX(long long)
CUEMU_MINMAX(unsigned long long)
CUEMU_MINMAX(float)
CUEMU_MINMAX(double)
#undef CUEMU_MINMAX

/* ---- thread identity, barriers, warp collectives (cuemu.cpp) ---------------------------------- */
extern uint3 cuemu_thread_idx, cuemu_block_idx;
extern dim3 cuemu_block_dim, cuemu_grid_dim;
#define threadIdx cuemu_thread_idx
#define blockIdx cuemu_block_idx
#define blockDim cuemu_block_dim
#define gridDim cuemu_grid_dim

void cuemu_syncthreads(void);
/* Deposits `bytes` (<= 64) of this lane's data and returns the 32 lanes' deposits once every lane of
 * the warp arrived (mask must be the full warp: partial masks are not modelled). */
const unsigned char (*cuemu_warp_exchange(unsigned mask, const void *in, size_t bytes))[64];
int cuemu_lane(void);
#define __syncthreads() cuemu_syncthreads()
#define __syncwarp(...) ((void)cuemu_warp_exchange(0xffffffffu, nullptr, 0))

template <class T> inline T cuemu_shfl(unsigned mask, T v, int src) {
    static_assert(sizeof(T) <= 64 && std::is_trivially_copyable<T>::value, "shuffle of a large type");
    auto all = cuemu_warp_exchange(mask, &v, sizeof v);
    T r;
    memcpy(&r, all[src & 31], sizeof r);
    return r;
}
/* a source lane outside 0..31 (down past the end, up below 0) keeps the lane's own value */
template <class T> inline T __shfl_sync(unsigned m, T v, int src, int w = 32) { return cuemu_shfl(m, v, (cuemu_lane() & ~(w - 1)) + (src & (w - 1))); }
template <class T> inline T __shfl_xor_sync(unsigned m, T v, int o, int w = 32) { return cuemu_shfl(m, v, cuemu_lane() ^ (o & (w - 1))); }
template <class T> inline T __shfl_down_sync(unsigned m, T v, unsigned d, int w = 32) {
    const int l = cuemu_lane();
    return cuemu_shfl(m, v, (l & (w - 1)) + (int)d < w ? l + (int)d : l);
}
template <class T> inline T __shfl_up_sync(unsigned m, T v, unsigned d, int w = 32) {
    const int l = cuemu_lane();
    return cuemu_shfl(m, v, (l & (w - 1)) >= (int)d ? l - (int)d : l);
}

/* ---- shared memory: 32-bit addresses into the block's window (cuemu.cpp) ------------------------- */
unsigned char *cuemu_dyn_smem(void);               /* extern __shared__ x[] (prep.py) */
void cuemu_shared_var(void *p, size_t bytes);      /* registers a static __shared__ variable (prep.py) */
uint32_t cuemu_cvta_shared(const void *p);          /* aborts if p is not shared memory */
void *cuemu_shared_ptr(uint32_t addr, size_t bytes); /* aborts outside the window */
inline size_t __cvta_generic_to_shared(const void *p) { return cuemu_cvta_shared(p); }

/* ---- inline PTX: one function per instruction, operands in PTX order (prep.py) ------------------ */
template <class T> inline uint64_t cuemu_addr(T *p) { return (uint64_t)(uintptr_t)p; }
inline uint64_t cuemu_addr(uint64_t a) { return a; }
inline uint64_t cuemu_addr(unsigned a) { return a; }

void cuemu_mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);
void cuemu_ldmatrix_x4(uint32_t r[4], uint32_t addr, bool trans);
uint32_t cuemu_movmatrix_trans(uint32_t a);
void cuemu_cp_async(uint32_t dst, const void *src, int cp_size, int src_size);
void cuemu_cp_async_commit(void);
void cuemu_cp_async_wait(int n);

inline void ptx_mma_sync_aligned_m16n8k16_row_col_f32_bf16_bf16_f32(float &d0, float &d1, float &d2, float &d3, uint32_t a0,
                                                                     uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                                                     uint32_t b1, float c0, float c1, float c2, float c3) {
    const uint32_t a[4] = {a0, a1, a2, a3}, b[2] = {b0, b1};
    const float c[4] = {c0, c1, c2, c3};
    float d[4];
    cuemu_mma_m16n8k16_bf16(d, a, b, c);
    d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];
}
inline void cuemu_ldmatrix_regs(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3, uint64_t addr, bool trans) {
    uint32_t r[4];
    cuemu_ldmatrix_x4(r, (uint32_t)addr, trans);
    r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3];
}
inline void ptx_ldmatrix_sync_aligned_m8n8_x4_shared_b16(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3, uint64_t addr) {
    cuemu_ldmatrix_regs(r0, r1, r2, r3, addr, false);
}
inline void ptx_ldmatrix_sync_aligned_m8n8_x4_trans_shared_b16(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3, uint64_t addr) {
    cuemu_ldmatrix_regs(r0, r1, r2, r3, addr, true);
}
inline void ptx_movmatrix_sync_aligned_m8n8_trans_b16(uint32_t &d, uint32_t a) { d = cuemu_movmatrix_trans(a); }
/* cp-size bytes from global to shared; src_size < cp_size: only src_size read, the rest zero-filled */
inline void ptx_cp_async_cg_shared_global(uint64_t dst, uint64_t src, int cp_size, int src_size = -1) {
    cuemu_cp_async((uint32_t)dst, (const void *)(uintptr_t)src, cp_size, src_size < 0 ? cp_size : src_size);
}
inline void ptx_cp_async_ca_shared_global(uint64_t dst, uint64_t src, int cp_size, int src_size = -1) {
    ptx_cp_async_cg_shared_global(dst, src, cp_size, src_size);
}
inline void ptx_cp_async_commit_group() { cuemu_cp_async_commit(); }
inline void ptx_cp_async_wait_group(int n) { cuemu_cp_async_wait(n); }
/* .approx.ftz: the accurate function, subnormal inputs and results flushed to zero */
inline float cuemu_ftz(float x) { return fabsf(x) < 1.17549435e-38f ? copysignf(0.0f, x) : x; }
inline void ptx_ex2_approx_ftz_f32(float &y, float x) { y = cuemu_ftz(exp2f(cuemu_ftz(x))); }
inline void ptx_lg2_approx_ftz_f32(float &y, float x) { y = cuemu_ftz(log2f(cuemu_ftz(x))); }
inline void ptx_rcp_approx_ftz_f32(float &y, float x) { y = cuemu_ftz(1.0f / cuemu_ftz(x)); }

/* ---- the runtime API (runtime.cpp) -------------------------------------------------------------- */
typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorIllegalState = 401,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
} cudaError_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16BF = 14 } cudaDataType_t;
typedef enum { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice, cudaMemcpyDefault } cudaMemcpyKind;
typedef enum {
    cudaDevAttrMaxSharedMemoryPerBlockOptin,
    cudaDevAttrMultiProcessorCount,
    cudaDevAttrComputeCapabilityMajor,
    cudaDevAttrComputeCapabilityMinor,
    cudaDevAttrL2CacheSize,
    cudaDevAttrClockRate,
    cudaDevAttrMemoryClockRate,
} cudaDeviceAttr;
typedef enum { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 } cudaFuncAttribute;
typedef enum { cudaStreamCaptureModeGlobal, cudaStreamCaptureModeThreadLocal, cudaStreamCaptureModeRelaxed } cudaStreamCaptureMode;
#define cudaStreamNonBlocking 0x01
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int multiProcessorCount, major, minor, memoryBusWidth, l2CacheSize;
};
typedef struct cuemu_stream *cudaStream_t;
typedef struct cuemu_event *cudaEvent_t;
typedef struct cuemu_graph *cudaGraph_t, *cudaGraphExec_t;
typedef struct cuemu_graph_node *cudaGraphNode_t;

const char *cudaGetErrorName(cudaError_t e);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDevice(int *d);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr attr, int dev);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev);
cudaError_t cudaRuntimeGetVersion(int *v);
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
template <class T> inline cudaError_t cudaMalloc(T **p, size_t bytes) { return cudaMalloc((void **)p, bytes); }
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s);
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b);
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g);
cudaError_t cudaGraphGetNodes(cudaGraph_t g, cudaGraphNode_t *nodes, size_t *n);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e);
cudaError_t cudaGraphDestroy(cudaGraph_t g);
cudaError_t cuemu_func_set_attribute(const void *f, cudaFuncAttribute attr, int v);
int cuemu_occupancy(int block_threads, size_t smem);
template <class F> inline cudaError_t cudaFuncSetAttribute(F *f, cudaFuncAttribute attr, int v) {
    return cuemu_func_set_attribute((const void *)f, attr, v);
}
/* Registers are not modelled: the blocks that the threads and the shared memory allow. */
template <class F> inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *n, F *f, int threads, size_t smem) {
    return (void)f, *n = cuemu_occupancy(threads, smem), cudaSuccess;
}

/* ---- launches ---------------------------------------------------------------------------------- */
/* Runs `body` once per thread of every block, or records it while `st` is being captured; a bad
 * configuration (sizes, shared memory above the kernel's limit) is a launch error instead. */
void cuemu_launch_grid(const void *kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t st, std::function<void()> body);
/* k<<<grid, block, smem, st>>>(args): the arguments are converted to the kernel's parameter types
 * and copied at launch (a graph replays these copies). */
template <class... P, class... A>
inline void cuemu_launch(void (*k)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t st, A &&...args) {
    std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
    cuemu_launch_grid((const void *)k, grid, block, smem, st, [k, params]() { std::apply(k, params); });
}

/* ---- cuBLAS (runtime.cpp): column-major GEMMs as a plain fp32 loop ------------------------------- */
typedef struct cuemu_cublas *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_ALLOC_FAILED = 3, CUBLAS_STATUS_INVALID_VALUE = 7, CUBLAS_STATUS_NOT_SUPPORTED = 15 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_COMPUTE_32F = 68 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                          const void *alpha, const void *A, cudaDataType_t at, int lda, long long sa,
                                          const void *B, cudaDataType_t bt, int ldb, long long sb, const void *beta, void *C,
                                          cudaDataType_t ct, int ldc, long long sc, int batch, cublasComputeType_t ctype,
                                          cublasGemmAlgo_t algo);
inline cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const void *alpha, const void *A, cudaDataType_t at, int lda, const void *B,
                                   cudaDataType_t bt, int ldb, const void *beta, void *C, cudaDataType_t ct, int ldc,
                                   cublasComputeType_t ctype, cublasGemmAlgo_t algo) {
    return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1, ctype, algo);
}

/* ---- shared between cuemu.cpp and runtime.cpp ---------------------------------------------------- */
void cuemu_run_grid(dim3 grid, dim3 block, size_t smem, const std::function<void()> &body); /* runs it now */
bool cuemu_is_device(const void *p, size_t bytes); /* inside one live device allocation */
[[noreturn]] void cuemu_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
