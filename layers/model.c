/* model.c: the model level (SPEC §3.4). Not built yet: every entry reports "unsupported". */
#include "model.h"

sb_status sb_model_setup(sb_layer *L, const sb_layer_opts *o) { (void)L; (void)o; return sb_fail(SB_ENOTSUP, "model level: not implemented yet"); }
void sb_model_teardown(sb_layer *L) { (void)L; }
sb_status sb_model_prefill(sb_layer *L, const void *ids, void *logits, int B, int T) { (void)L; (void)ids; (void)logits; (void)B; (void)T; return SB_ENOTSUP; }
sb_status sb_model_decode(sb_layer *L, const void *ids, void *logits, int B) { (void)L; (void)ids; (void)logits; (void)B; return SB_ENOTSUP; }
sb_status sb_model_fill_state(sb_layer *L, int B, int T, uint64_t seed) { (void)L; (void)B; (void)T; (void)seed; return SB_ENOTSUP; }
void sb_model_rewind(sb_layer *L, int T) { (void)L; (void)T; }
double sb_model_flops(const sb_layer *L, sb_mode mode, int B, int T) { (void)L; (void)mode; (void)B; (void)T; return 0; }
double sb_model_bytes(const sb_layer *L, sb_mode mode, int B, int T) { (void)L; (void)mode; (void)B; (void)T; return 0; }
double sb_model_state_bytes(const sb_layer *L, int B, int T) { (void)L; (void)B; (void)T; return 0; }
