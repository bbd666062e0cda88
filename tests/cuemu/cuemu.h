/* cuemu.h: a CPU model of the CUDA features seqbench's TTT kernels use, to run them without a
 * GPU (this project's machines have none). Force-included (g++ -include) when compiling a .cu
 * file as host C++ with -DSB_CUEMU; launches `k<<<g, b, s, st>>>(args)` are rewritten to
 * cuemu_launch(k, g, b, s, st, args) by tests/cuemu/prep.py.
 *
 * Each CUDA thread of a block is a fiber (ucontext); the blocks of a grid run one after another.
 * __syncthreads waits for every live thread of the block; warp collectives (shuffles,
 * __syncwarp, mma.sync, ldmatrix) wait for the 32 lanes of the warp and then compute from all
 * lanes' inputs, following the fragment tables of the PTX ISA (mma.m16n8k16 with floating point
 * type; ldmatrix .m8n8 .x4 with and without .trans). cp.async copies are deferred until the
 * matching cp.async.wait_group, dynamic shared memory starts as NaN bytes, and the order in
 * which threads run between barriers is forward, reverse or random (CUEMU_ORDER=fwd|rev|rand),
 * so that a missing barrier or wait shows as a wrong or NaN result. A deadlock (a barrier or a
 * collective that not every thread reaches) aborts with a message.
 *
 * What it does not model: memory-ordering subtleties beyond barriers, bank conflicts, timing,
 * the exact fp32 summation order of the tensor cores (it sums the products in double). */
#ifndef CUEMU_H
#define CUEMU_H

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <functional>
#include <tuple>
#include <utility>

#define __launch_bounds__(...)
#undef __shared__
#define __shared__ static

/* ---- thread identity ---------------------------------------------------------------------- */
extern uint3 cuemu_thread_idx, cuemu_block_idx;
extern dim3 cuemu_block_dim, cuemu_grid_dim;
#define threadIdx cuemu_thread_idx
#define blockIdx cuemu_block_idx
#define blockDim cuemu_block_dim
#define gridDim cuemu_grid_dim

unsigned char *cuemu_dyn_smem(void);

/* ---- synchronisation and warp collectives -------------------------------------------------- */
void cuemu_syncthreads(void);
/* Deposits `bytes` (<= 64) of this lane; returns all 32 lanes' deposits once the warp arrived. */
const unsigned char (*cuemu_warp_exchange(const void *in, size_t bytes))[64];
int cuemu_lane(void);

#define __syncthreads() cuemu_syncthreads()
#define __syncwarp(...) ((void)cuemu_warp_exchange(nullptr, 0))

template <class T>
inline T cuemu_shfl_xor(unsigned mask, T v, int off) {
    (void)mask;
    static_assert(sizeof(T) <= 64, "shuffle of a large type");
    auto all = cuemu_warp_exchange(&v, sizeof v);
    T r;
    memcpy(&r, all[cuemu_lane() ^ off], sizeof r);
    return r;
}
template <class T>
inline T cuemu_shfl(unsigned mask, T v, int src) {
    (void)mask;
    auto all = cuemu_warp_exchange(&v, sizeof v);
    T r;
    memcpy(&r, all[src & 31], sizeof r);
    return r;
}
#define __shfl_xor_sync(m, v, o) cuemu_shfl_xor(m, v, o)
#define __shfl_sync(m, v, s) cuemu_shfl(m, v, s)

/* ---- what the host side of the runtime would do -------------------------------------------- */
inline cudaError_t cuemu_get_device(int *d) { *d = 0; return cudaSuccess; }
inline cudaError_t cuemu_device_attribute(int *v, cudaDeviceAttr attr, int dev) {
    (void)dev;
    *v = attr == cudaDevAttrMaxSharedMemoryPerBlockOptin ? 227 * 1024 : attr == cudaDevAttrMultiProcessorCount ? 132 : 0;
    return cudaSuccess;
}
#define cudaFuncSetAttribute(...) cudaSuccess
#define cudaGetLastError() cudaSuccess
#define cudaGetDevice(d) cuemu_get_device(d)
#define cudaDeviceGetAttribute(v, a, d) cuemu_device_attribute(v, a, d)

/* ---- device math the host headers lack ------------------------------------------------------ */
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }

/* ---- tensor-core and copy primitives (the SB_CUEMU branch of ttt_kernels.cuh) ---------------- */
void mma_bf16_16816(float c[4], const uint32_t a[4], const uint32_t b[2]);
void cuemu_ldsm_x4(uint32_t r[4], const void *row, bool trans);
inline void ldsm_x4(uint32_t r[4], const void *row) { cuemu_ldsm_x4(r, row, false); }
inline void ldsm_x4_trans(uint32_t r[4], const void *row) { cuemu_ldsm_x4(r, row, true); }
uint32_t movmatrix_trans(uint32_t a);
void cuemu_cp_async(void *dst, const void *src, int bytes, int src_bytes);
void cuemu_cp_async_commit(void);
void cuemu_cp_async_wait(int n);
template <int BYTES>
inline void cp_async(void *dst, const void *src, int src_bytes) { cuemu_cp_async(dst, src, BYTES, src_bytes); }
inline void cp_async_commit() { cuemu_cp_async_commit(); }
template <int N>
inline void cp_async_wait() { cuemu_cp_async_wait(N); }

/* ---- launch ------------------------------------------------------------------------------ */
void cuemu_run_grid(dim3 grid, dim3 block, size_t smem, const std::function<void()> &body);

template <class... KArgs, class... Args>
inline void cuemu_launch(void (*k)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t st, Args &&...args) {
    (void)st;
    std::tuple<std::decay_t<KArgs>...> targs(std::forward<Args>(args)...);
    cuemu_run_grid(grid, block, smem, [&]() { std::apply(k, targs); });
}

#endif
