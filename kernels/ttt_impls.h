/* ttt_impls.h: the fast impls of TTT-Linear and TTT-MLP (registry/registry.c lists them).
 *
 * cpu (kernels/ttt_cpu.c): "dual" and "primal" of each variant.
 * cuda (kernels/ttt_cuda.cu): "dual" of each variant, and its oracle "dual_simple" (the version-1
 * prefill kernels): prefill = dual form per mini-batch, decode
 * = the one-token update of SPEC §3.3, levels op and layer, fill_state. Kernels: ttt_linear_dual.cu,
 * ttt_mlp_dual.cu (prefill cores), ttt_decode.cu (one-token cores), ttt_glue.cu (layer glue). */
#ifndef SB_TTT_IMPLS_H
#define SB_TTT_IMPLS_H

#include "../layers/ttt.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_impl sb_ttt_linear_cpu_dual, sb_ttt_linear_cpu_primal;
extern const sb_impl sb_ttt_mlp_cpu_dual, sb_ttt_mlp_cpu_primal;

#ifdef SB_HAVE_CUDA
extern const sb_impl ttt_linear_cuda_dual, ttt_mlp_cuda_dual;
/* oracles: the same with the version-1 prefill kernels */
extern const sb_impl ttt_linear_cuda_dual_simple, ttt_mlp_cuda_dual_simple;
#endif

#ifdef __cplusplus
}
#endif
#endif
