/* gated_deltanet_impls.h: the fast impls of Gated DeltaNet (registry/registry.c lists them). */
#ifndef SB_GATED_DELTANET_IMPLS_H
#define SB_GATED_DELTANET_IMPLS_H

#include "../layers/gated_deltanet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* kernels/gated_deltanet_cpu.c */
extern const sb_impl sb_gdn_cpu_chunked;    /* chunked WY/UT form, OpenBLAS per chunk */
extern const sb_impl sb_gdn_cpu_sequential; /* fused recurrent step token by token */

#ifdef SB_HAVE_CUDA
/* kernels/gated_deltanet_cuda.cu */
extern const sb_impl sb_gdn_cuda_chunked;    /* chunked form on tensor cores, fused decode step */
extern const sb_impl sb_gdn_cuda_sequential; /* fused recurrent kernel token by token */
#endif

#ifdef __cplusplus
}
#endif
#endif
