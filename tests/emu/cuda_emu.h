/* cuda_emu.h: just enough of CUDA to run seqbench's kernels on the CPU, for logic checks on a
 * machine without a GPU (tests/emu/run.sh). Not a simulator of timing or of the memory model:
 *   - each CUDA thread is a fiber (ucontext); a block runs its fibers one after the other until each
 *     reaches __syncthreads(), in a new random order at every barrier, so a missing barrier between
 *     a shared-memory write and another thread's read shows up as a wrong result;
 *   - cp.async copies are queued and land only at the thread's wait, so a read before the wait
 *     sees stale data;
 *   - warp shuffles exchange through block-wide slots between two barriers (all threads of the
 *     block must reach them: true of kernels that never exit early around a shuffle);
 *   - "device" memory is host memory that ends at a PROT_NONE page and starts as NaN bytes.
 * Compiled with g++ -DSB_EMU; kernel launches `k<<<g, b, smem, stream>>>(args);` are rewritten by
 * run.sh into emu_launch(g, b, smem, stream, "k", [&] { k(args); }). */
#ifndef SB_CUDA_EMU_H
#define SB_CUDA_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>

#ifndef SB_EMU
#define SB_EMU 1
#endif

/* ---- qualifiers ------------------------------------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

/* ---- vector types ------------------------------------------------------------------------------ */
struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }

/* ---- bf16 (round to nearest even, NaN kept) ---------------------------------------------------- */
struct __nv_bfloat16 {
    unsigned short x;
    operator float() const {
        uint32_t u = (uint32_t)x << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
};
struct alignas(4) __nv_bfloat162 { __nv_bfloat16 x, y; };
static inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    __nv_bfloat16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) { r.x = (unsigned short)((u >> 16) | 0x40); return r; }
    u += 0x7fffu + ((u >> 16) & 1u);
    r.x = (unsigned short)(u >> 16);
    return r;
}
static inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
static inline float __bfloat162float(__nv_bfloat16 b) { return (float)b; }
static inline float2 __bfloat1622float2(__nv_bfloat162 v) { return float2{(float)v.x, (float)v.y}; }
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
    return __nv_bfloat162{__float2bfloat16_rn(a), __float2bfloat16_rn(b)};
}

/* ---- runtime API subset ------------------------------------------------------------------------ */
typedef enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidValue = 1 } cudaError_t;
typedef struct emu_stream *cudaStream_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16BF = 14 } cudaDataType_t;
static inline const char *cudaGetErrorName(cudaError_t e) { return e ? "cudaErrorEmu" : "cudaSuccess"; }
static inline const char *cudaGetErrorString(cudaError_t e) { return e ? "emulated error" : "no error"; }
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
template <class K>
static inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *n, K, int, size_t) {
    *n = 4; /* what the H100 gives the N = 16 scan (126 registers, 36 KB shared) */
    return cudaSuccess;
}
typedef struct emu_cublas *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_ALLOC_FAILED = 3 } cublasStatus_t;

/* ---- thread indices, barriers, shuffles ------------------------------------------------------- */
extern uint3 emu_threadIdx, emu_blockIdx;
extern dim3 emu_blockDim, emu_gridDim;
#define threadIdx emu_threadIdx
#define blockIdx emu_blockIdx
#define blockDim emu_blockDim
#define gridDim emu_gridDim

void emu_syncthreads(void);
#define __syncthreads() emu_syncthreads()
float emu_shfl_xor(float v, int lane_mask);
static inline float __shfl_xor_sync(unsigned, float v, int lane_mask) { return emu_shfl_xor(v, lane_mask); }

/* Runs fn once per thread of every block of the grid; EMU_TRACE=1 in the environment prints each
 * launch (kernel, grid, block) on stderr. */
void emu_run_grid(const char *name, dim3 grid, dim3 block, const std::function<void()> &fn);
template <class F>
static inline void emu_launch(dim3 grid, dim3 block, size_t smem, cudaStream_t, const char *name, F f) {
    (void)smem;
    emu_run_grid(name, grid, block, std::function<void()>(f));
}

#endif
