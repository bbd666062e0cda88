/* model.h: the model level (SPEC §3.4), called by layer.c when level == SB_MODEL. */
#ifndef SB_MODEL_H
#define SB_MODEL_H

#include "seqbench.h"

sb_status sb_model_setup(sb_layer *L, const sb_layer_opts *o);
void sb_model_teardown(sb_layer *L);
sb_status sb_model_prefill(sb_layer *L, const void *ids, void *logits, int B, int T);
sb_status sb_model_decode(sb_layer *L, const void *ids, void *logits, int B);
sb_status sb_model_fill_state(sb_layer *L, int B, int T, uint64_t seed);
void sb_model_rewind(sb_layer *L, int T);
double sb_model_flops(const sb_layer *L, sb_mode mode, int B, int T);
double sb_model_bytes(const sb_layer *L, sb_mode mode, int B, int T);
double sb_model_state_bytes(const sb_layer *L, int B, int T);

#endif
