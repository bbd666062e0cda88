/* cuda_common.cuh (runtime/): what every CUDA file of seqbench shares: check macros that turn a CUDA or
 * cuBLAS error into an sb_status with file and line, the one stream, the one cuBLAS handle,
 * bf16 helpers and the bf16 GEMM wrapper used for every projection. */
#ifndef SB_CUDA_COMMON_CUH
#define SB_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>

#include "cuda_api.h"

typedef __nv_bfloat16 bf16;

/* Return an sb_status from the enclosing function on error (llm.c's cudaCheck, as a status). */
#define CUDA_TRY(call)                                                                          \
    do {                                                                                        \
        cudaError_t err_ = (call);                                                              \
        if (err_ != cudaSuccess)                                                                \
            return sb_fail(err_ == cudaErrorMemoryAllocation ? SB_ENOMEM : SB_EDEVICE,          \
                           "CUDA error %s at %s:%d: %s", cudaGetErrorName(err_), __FILE__,      \
                           __LINE__, cudaGetErrorString(err_));                                 \
    } while (0)
#define CUBLAS_TRY(call)                                                                        \
    do {                                                                                        \
        cublasStatus_t st_ = (call);                                                            \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                       \
            return sb_fail(st_ == CUBLAS_STATUS_ALLOC_FAILED ? SB_ENOMEM : SB_EDEVICE,          \
                           "cuBLAS error %d at %s:%d", (int)st_, __FILE__, __LINE__);           \
    } while (0)
/* After a kernel launch: launch-configuration errors surface here. */
#define CUDA_LAUNCH_CHECK() CUDA_TRY(cudaGetLastError())
/* SB_TRY (propagate an sb_status) is in runtime.h. */

/* The stream every seqbench kernel and cuBLAS call runs on (created on first use). */
cudaStream_t sb_stream(void);
/* The cuBLAS handle, bound to sb_stream(), created once. */
sb_status sb_cublas(cublasHandle_t *h);
int sb_num_sms(void);

static inline unsigned sb_cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

/* Row-major bf16 GEMMs on tensor cores, fp32 accumulation (cublasGemmEx):
 *   y[M,N] = alpha * x[M,K] . W[N,K]^T + beta * y      (nn.Linear; ld = row strides)
 * y may be bf16 or fp32 (ydt). */
sb_status sb_gemm_linear(const bf16 *x, int ldx, const bf16 *W, int ldw, void *y, cudaDataType_t ydt, int ldy,
                         int M, int K, int N, float alpha, float beta);
/* Strided-batched variant: batch b uses x + b*sx, W + b*sw, y + b*sy (elements). */
sb_status sb_gemm_linear_batched(const bf16 *x, int ldx, long long sx, const bf16 *W, int ldw, long long sw,
                                 void *y, cudaDataType_t ydt, int ldy, long long sy,
                                 int M, int K, int N, int batch, float alpha, float beta);

/* The prefill scratch: ONE grow-only device buffer shared by every layer instance (all kernels run
 * on one stream, one layer call at a time). A model stacks 24-48 layers; per-instance prefill
 * workspaces (~40 KB per token row each) would not fit at B 16, T 32k. Carves n parts of the given
 * byte sizes (each 256-byte aligned) and stores their addresses in ptrs[i]. The parts are valid
 * until the next sb_cuda_scratch_parts call by anyone: use them only for values that die with
 * the prefill call, never for state, never in decode (a CUDA graph would keep stale pointers). */
sb_status sb_cuda_scratch_parts(void **ptrs[], const size_t bytes[], int n);

/* fp32 host array -> new device bf16/fp32 array (for parameters at setup). */
sb_status sb_upload_param_bf16(const float *host, size_t n, bf16 **dev);
sb_status sb_upload_param_f32(const float *host, size_t n, float **dev);

#endif
