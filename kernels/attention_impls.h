/* attention_impls.h: the fast impls of attention (registry/registry.c lists them). */
#ifndef SB_ATTENTION_IMPLS_H
#define SB_ATTENTION_IMPLS_H

#include "../layers/attention.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_impl sb_attention_cpu_flash; /* kernels/attention_cpu.c */

#ifdef SB_HAVE_CUDA
/* kernels/attention_cuda.cu */
extern const sb_impl attention_cuda_flash; /* flash prefill (tensor cores) + split-KV decode */
extern const sb_impl attention_cuda_naive; /* one warp per query row, prefill and decode */
#endif

#ifdef __cplusplus
}
#endif
#endif
