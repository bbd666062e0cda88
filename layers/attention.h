/* attention.h: what the attention impls share (kernels/attention_* include it). */
#ifndef SB_ATTENTION_H
#define SB_ATTENTION_H

#include "seqbench.h"

extern const sb_layer_desc sb_attention;
extern const sb_impl sb_attention_cpu_flash; /* kernels/attention_cpu.c */
double attention_core_flops(const sb_config *c, sb_mode m, int B, int T);

#endif
