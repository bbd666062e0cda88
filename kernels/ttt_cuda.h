/* ttt_cuda.h: the CUDA impls of TTT-Linear and TTT-MLP (kernels/ttt_cuda.cu). They are listed in
 * the impl lists of layers/ttt_linear.c and layers/ttt_mlp.c inside #ifdef SB_HAVE_CUDA.
 *
 * Both are named "dual" (prefill = dual form per mini-batch, decode = the one-token update of
 * SPEC §3.3), run at levels op and layer, and offer fill_state. Kernels: ttt_linear_dual.cu,
 * ttt_mlp_dual.cu (prefill cores), ttt_decode.cu (one-token cores), ttt_glue.cu (layer glue). */
#ifndef SB_TTT_CUDA_H
#define SB_TTT_CUDA_H

#include "../layers/seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_impl ttt_linear_cuda_dual, ttt_mlp_cuda_dual;

#ifdef __cplusplus
}
#endif
#endif
