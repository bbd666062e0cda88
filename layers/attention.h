/* attention.h: what the attention impls share (kernels/attention_* include it). */
#ifndef SB_ATTENTION_H
#define SB_ATTENTION_H

#include "seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_layer_desc sb_attention;
extern const sb_impl sb_attention_cpu_flash; /* kernels/attention_cpu.c */
double attention_core_flops(const sb_config *c, sb_mode m, int B, int T);

#ifdef SB_HAVE_CUDA
/* kernels/attention_cuda.cu */
extern const sb_impl attention_cuda_flash; /* flash prefill (tensor cores) + split-KV decode */
extern const sb_impl attention_cuda_naive; /* one warp per query row, prefill and decode */
#endif

#ifdef __cplusplus
}
#endif

#endif
