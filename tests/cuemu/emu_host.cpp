/* emu_host.cpp: kernels/cuda_common.cu's API for the CPU model: "device" memory is host memory,
 * sb_gemm_linear is a plain loop (bf16 inputs, fp32 accumulation, output rounded like cuBLAS). */
#include "cuemu.h"
#include "../../kernels/cuda_common.cuh"

#include <stdio.h>
#include <stdlib.h>

extern "C" int sb_cuda_compiled(void) { return 1; }
extern "C" int sb_cuda_device_count(void) { return 1; }
extern "C" sb_status sb_cuda_malloc(void **p, size_t bytes) {
    *p = aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (!*p) return sb_fail(SB_ENOMEM, "emu: out of memory");
    memset(*p, 0xff, (bytes + 255) / 256 * 256); /* NaN bytes: unwritten reads show */
    return SB_OK;
}
extern "C" void sb_cuda_free(void *p) { free(p); }
extern "C" sb_status sb_cuda_memset0(void *p, size_t bytes) {
    memset(p, 0, bytes);
    return SB_OK;
}
extern "C" sb_status sb_cuda_upload_f32(void *dst, sb_dtype dt, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (dt == SB_BF16) ((bf16 *)dst)[i] = __float2bfloat16_rn(src[i]);
        else if (dt == SB_I32) ((int *)dst)[i] = (int)src[i];
        else ((float *)dst)[i] = src[i];
    }
    return SB_OK;
}
extern "C" sb_status sb_cuda_download_f32(float *dst, const void *src, sb_dtype dt, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = dt == SB_BF16 ? __bfloat162float(((const bf16 *)src)[i]) : dt == SB_I32 ? (float)((const int *)src)[i] : ((const float *)src)[i];
    return SB_OK;
}
extern "C" sb_status sb_cuda_sync(void) { return SB_OK; }

cudaStream_t sb_stream(void) { return nullptr; }
int sb_num_sms(void) { return 132; }

sb_status sb_gemm_linear(const bf16 *x, int ldx, const bf16 *W, int ldw, void *y, cudaDataType_t ydt, int ldy, int M,
                         int K, int N, float alpha, float beta) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            float s = 0.f;
            for (int k = 0; k < K; k++) s += __bfloat162float(x[(size_t)m * ldx + k]) * __bfloat162float(W[(size_t)n * ldw + k]);
            if (ydt == CUDA_R_16BF) {
                bf16 *yp = (bf16 *)y + (size_t)m * ldy + n;
                *yp = __float2bfloat16_rn(alpha * s + (beta != 0.f ? beta * __bfloat162float(*yp) : 0.f));
            } else {
                float *yp = (float *)y + (size_t)m * ldy + n;
                *yp = alpha * s + (beta != 0.f ? beta * *yp : 0.f);
            }
        }
    return SB_OK;
}

sb_status sb_gemm_linear_batched(const bf16 *x, int ldx, long long sx, const bf16 *W, int ldw, long long sw, void *y,
                                 cudaDataType_t ydt, int ldy, long long sy, int M, int K, int N, int batch, float alpha,
                                 float beta) {
    const size_t es = ydt == CUDA_R_16BF ? 2 : 4;
    for (int b = 0; b < batch; b++)
        SB_TRY(sb_gemm_linear(x + b * sx, ldx, W + b * sw, ldw, (char *)y + b * sy * es, ydt, ldy, M, K, N, alpha, beta));
    return SB_OK;
}

sb_status sb_upload_param_bf16(const float *host, size_t n, bf16 **dev) {
    SB_TRY(sb_cuda_malloc((void **)dev, n * sizeof(bf16)));
    return sb_cuda_upload_f32(*dev, SB_BF16, host, n);
}
sb_status sb_upload_param_f32(const float *host, size_t n, float **dev) {
    SB_TRY(sb_cuda_malloc((void **)dev, n * sizeof(float)));
    return sb_cuda_upload_f32(*dev, SB_F32, host, n);
}
