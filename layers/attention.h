/* attention.h: the attention descriptor, its reference impl, and what the fast impls share
 * (kernels/attention_* include it; their impls are declared in kernels/attention_impls.h). */
#ifndef SB_ATTENTION_H
#define SB_ATTENTION_H

#include "seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_layer_desc sb_attention;
extern const sb_impl sb_attention_ref_naive; /* naive softmax per query, double */
double attention_core_flops(const sb_config *c, sb_mode m, int B, int T);

#ifdef __cplusplus
}
#endif

#endif
