/* mamba2_impls.h: the fast impls of Mamba-2 (registry/registry.c lists them). */
#ifndef SB_MAMBA2_IMPLS_H
#define SB_MAMBA2_IMPLS_H

#include "../layers/mamba2.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_impl sb_mamba2_cpu_chunked; /* kernels/mamba2_cpu.c: SSD on sgemm + OpenMP, fused decode step */

#ifdef SB_HAVE_CUDA
extern const sb_impl mamba2_cuda_chunked; /* kernels/mamba2_cuda.cu: SSD on mma.sync, fused decode step */
#endif

#ifdef __cplusplus
}
#endif
#endif
