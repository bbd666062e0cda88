/* model.h: the model level (SPEC §3.4), called by layer.c when level == SB_MODEL, and the small
 * table of primitive ops that each backend provides to run the stack around the mixers. */
#ifndef SB_MODEL_H
#define SB_MODEL_H

#include "seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

sb_status sb_model_setup(sb_layer *L, const sb_layer_opts *o);
void sb_model_teardown(sb_layer *L);
sb_status sb_model_prefill(sb_layer *L, const void *ids, void *logits, int B, int T);
sb_status sb_model_decode(sb_layer *L, const void *ids, void *logits, int B);
sb_status sb_model_fill_state(sb_layer *L, int B, int T, uint64_t seed);
void sb_model_rewind(sb_layer *L, int T);
double sb_model_flops(const sb_layer *L, sb_mode mode, int B, int T);
double sb_model_bytes(const sb_layer *L, sb_mode mode, int B, int T);
double sb_model_state_bytes(const sb_layer *L, int B, int T);

/* What a backend provides to the model stack; layers/model.c drives it (one forward for every
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

extern const sb_model_ops sb_model_ops_ref;  /* layers/model.c: naive loops */
extern const sb_model_ops sb_model_ops_cpu;  /* kernels/model_cpu.c: OpenBLAS + OpenMP */
#ifdef SB_HAVE_CUDA
extern const sb_model_ops sb_model_ops_cuda; /* kernels/model_cuda.cu: cuBLAS + small kernels */
#endif

#ifdef __cplusplus
}
#endif
#endif
