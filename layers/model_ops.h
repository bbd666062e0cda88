/* model_ops.h: the small table of primitive ops that each backend provides to run the model stack
 * (SPEC §3.4) around the mixers. The interface lives here, below the kernels that implement it
 * (kernels/model_cpu.c, kernels/model_cuda.cu) and the model that drives it (model/model.c; its
 * ref table is there too); the registry hands the model the table of the instance's backend. */
#ifndef SB_MODEL_OPS_H
#define SB_MODEL_OPS_H

#include "seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a backend provides to the model stack; model/model.c drives it (one forward for every
 * backend). "act" is the backend's activation dtype (fp32 on the host, bf16 on the device); the
 * residual stream h is fp32 everywhere. Weights are handles made by upload: a matrix in the act
 * dtype, a vector (norm weights) in fp32; on host backends the handle is the fp32 host array.
 * All arrays live in the backend's memory; every function returns an sb_status. */
typedef struct sb_model_ops {
    sb_status (*upload)(const float *host, size_t n, int matrix, void **w);
    void (*release)(void *w);
    sb_status (*alloc)(void **p, size_t bytes);
    void (*free)(void *p);
    /* h[r,:] = table[ids[r],:] for r < rows (ids int32; outside [0, vocab): SB_EINVAL on the
     * host, clamped on the device where no error can be returned cheaply) */
    sb_status (*embed)(const int32_t *ids, const void *table, float *h, int rows, int D, int vocab);
    /* y[r,:] (act, rows contiguous) = h[r*ldh + :] / sqrt(mean(h^2) + eps) * w */
    sb_status (*rmsnorm)(const float *h, size_t ldh, const void *w, void *y, int rows, int D, float eps);
    /* y[M,N] (act) = x[M,K] (act) . W[N,K]^T */
    sb_status (*linear)(const void *x, const void *W, void *y, int M, int K, int N);
    /* h[M,N] (fp32) += x[M,K] (act) . W[N,K]^T   (the MLP's down projection and its residual) */
    sb_status (*linear_residual)(const void *x, const void *W, float *h, int M, int K, int N);
    /* g = SiLU(g) * u over n act elements (SwiGLU) */
    sb_status (*silu_mul)(void *g, const void *u, size_t n);
    /* h += x over n elements (h fp32, x act): the mixer's residual */
    sb_status (*residual)(float *h, const void *x, size_t n);
} sb_model_ops;

extern const sb_model_ops sb_model_ops_cpu;  /* kernels/model_cpu.c: OpenBLAS + OpenMP */
#ifdef SB_HAVE_CUDA
extern const sb_model_ops sb_model_ops_cuda; /* kernels/model_cuda.cu: cuBLAS + small kernels */
#endif

#ifdef __cplusplus
}
#endif
#endif
