/* model_cuda.cu: the cuda backend's ops for the model stack (model/model.c drives them, SPEC
 * §3.4). bf16 activations and weights, fp32 residual stream, fp32 accumulation everywhere:
 *   projections   sb_gemm_linear (cuBLAS, tensor cores); the MLP's down projection writes the
 *                 fp32 residual with beta = 1, so its residual add is free
 *   embed         gather of bf16 table rows into the fp32 residual (one block per token row)
 *   rmsnorm       one block per row: fp32 sum of squares (warp shuffles + shared), bf16 out
 *   silu_mul      g = SiLU(g) * u elementwise (grid-stride)
 *   residual      h += x (bf16 -> fp32), grid-stride
 * Version 1 (this one) is the simple one: scalar loads, no fusion beyond the GEMM epilogue. These
 * kernels move O(T*D) bytes next to the O(T*D*I) GEMMs, so they are not where the time goes.
 * Not run on this machine (no GPU): compiled with -Xptxas=--warn-on-spills, checked on the host
 * by the launch contracts, run by tests/test_model.c where a device exists.
 */
#include "../runtime/cuda_common.cuh"
#include "../layers/model_ops.h"

/* Threads per block of the row kernels: a row of D = 768..2048 is 3..8 elements a thread. */
#define MODEL_ROW_THREADS 256
/* Grid-stride kernels: enough blocks to fill any current GPU, few enough to stay cheap. */
#define MODEL_EW_THREADS 256
#define MODEL_EW_MAX_BLOCKS 4096

/* ---- kernels ------------------------------------------------------------------------------------ */
static __global__ void model_embed_kernel(const int32_t *ids, const bf16 *table, float *h, int D, int vocab) {
    const int r = blockIdx.x;
    int id = ids[r];
    id = id < 0 ? 0 : id >= vocab ? vocab - 1 : id; /* no error path on the device: clamp */
    const bf16 *src = table + (size_t)id * D;
    float *dst = h + (size_t)r * D;
    for (int c = threadIdx.x; c < D; c += blockDim.x) dst[c] = __bfloat162float(src[c]);
}

/* Sum over the block; every thread gets the total. blockDim.x is a multiple of 32, <= 1024. */
static __device__ float block_sum(float v) {
    __shared__ float part[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
    if (lane == 0) part[warp] = v;
    __syncthreads();
    v = lane < nwarps ? part[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads(); /* part may be reused by the caller's next call */
    return v;
}

static __global__ void model_rmsnorm_kernel(const float *h, size_t ldh, const float *w, bf16 *y, int D, float eps) {
    const float *x = h + blockIdx.x * ldh;
    bf16 *yr = y + (size_t)blockIdx.x * D;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < D; c += blockDim.x) ss += x[c] * x[c];
    const float inv = rsqrtf(block_sum(ss) / D + eps);
    for (int c = threadIdx.x; c < D; c += blockDim.x) yr[c] = __float2bfloat16_rn(x[c] * inv * w[c]);
}

static __global__ void model_silu_mul_kernel(bf16 *g, const bf16 *u, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float a = __bfloat162float(g[i]);
        g[i] = __float2bfloat16_rn(a / (1.0f + __expf(-a)) * __bfloat162float(u[i]));
    }
}

static __global__ void model_residual_kernel(float *h, const bf16 *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        h[i] += __bfloat162float(x[i]);
}

/* ---- launchers (the contract is checked here, before any launch) ------------------------------------ */
static unsigned ew_blocks(size_t n) {
    unsigned b = sb_cdiv(n, MODEL_EW_THREADS);
    return b < 1 ? 1 : b > MODEL_EW_MAX_BLOCKS ? MODEL_EW_MAX_BLOCKS : b;
}

static sb_status cuda_upload(const float *host, size_t n, int matrix, void **w) {
    *w = nullptr;
    if (matrix) return sb_upload_param_bf16(host, n, (bf16 **)w);
    return sb_upload_param_f32(host, n, (float **)w);
}

static void cuda_release(void *w) { sb_cuda_free(w); }
static sb_status cuda_alloc(void **p, size_t bytes) { return sb_cuda_malloc(p, bytes ? bytes : 1); }
static void cuda_free(void *p) { sb_cuda_free(p); }

static sb_status cuda_embed(const int32_t *ids, const void *table, float *h, int rows, int D, int vocab) {
    if (rows <= 0 || D <= 0 || vocab <= 0) return sb_fail(SB_EINVAL, "model cuda embed: rows %d, D %d, vocab %d", rows, D, vocab);
    model_embed_kernel<<<rows, MODEL_ROW_THREADS, 0, sb_stream()>>>(ids, (const bf16 *)table, h, D, vocab);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

static sb_status cuda_rmsnorm(const float *h, size_t ldh, const void *w, void *y, int rows, int D, float eps) {
    if (rows <= 0 || D <= 0 || ldh < (size_t)D) return sb_fail(SB_EINVAL, "model cuda rmsnorm: rows %d, D %d, ldh %zu", rows, D, ldh);
    model_rmsnorm_kernel<<<rows, MODEL_ROW_THREADS, 0, sb_stream()>>>(h, ldh, (const float *)w, (bf16 *)y, D, eps);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

static sb_status cuda_linear(const void *x, const void *W, void *y, int M, int K, int N) {
    return sb_gemm_linear((const bf16 *)x, K, (const bf16 *)W, K, y, CUDA_R_16BF, N, M, K, N, 1.0f, 0.0f);
}

static sb_status cuda_linear_residual(const void *x, const void *W, float *h, int M, int K, int N) {
    return sb_gemm_linear((const bf16 *)x, K, (const bf16 *)W, K, h, CUDA_R_32F, N, M, K, N, 1.0f, 1.0f);
}

static sb_status cuda_silu_mul(void *g, const void *u, size_t n) {
    if (!n) return SB_OK;
    model_silu_mul_kernel<<<ew_blocks(n), MODEL_EW_THREADS, 0, sb_stream()>>>((bf16 *)g, (const bf16 *)u, n);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

static sb_status cuda_residual(float *h, const void *x, size_t n) {
    if (!n) return SB_OK;
    model_residual_kernel<<<ew_blocks(n), MODEL_EW_THREADS, 0, sb_stream()>>>(h, (const bf16 *)x, n);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

/* Positional initialisation (C++17 has no designated initialisers): the order of sb_model_ops. */
extern "C" const sb_model_ops sb_model_ops_cuda = {
    cuda_upload, cuda_release, cuda_alloc, cuda_free, cuda_embed, cuda_rmsnorm,
    cuda_linear, cuda_linear_residual, cuda_silu_mul, cuda_residual,
};
