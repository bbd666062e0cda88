/* mamba_impls.h: the fast impls of Mamba-1 (registry/registry.c lists them). */
#ifndef SB_MAMBA_IMPLS_H
#define SB_MAMBA_IMPLS_H

#include "../layers/mamba.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_impl sb_mamba_cpu_chunked; /* kernels/mamba_cpu.c */

#ifdef SB_HAVE_CUDA
/* kernels/mamba_cuda.cu */
extern const sb_impl mamba_cuda_chunked;    /* chunked scan (+ time split), fused decode step */
extern const sb_impl mamba_cuda_sequential; /* one thread per channel: the simple kernels */
#endif

#ifdef __cplusplus
}
#endif
#endif
