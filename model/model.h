/* model.h: the model level (SPEC §3.4), composed from the layer interface: embedding, blocks of
 * norm + mixer (+ MLP where the descriptor's block says so) + residual, final norm, head. The
 * registry opens a model instance with the ops table of its backend; the instance then runs
 * through the generic sb_layer_* calls (its own runner). Counts of every level: model/counts.c. */
#ifndef SB_MODEL_H
#define SB_MODEL_H

#include "../layers/seqbench.h"
#include "../layers/model_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A model-level instance around mixers of descriptor d and impl im (their layer level), running
 * the stack with ops. o->level must be SB_MODEL. */
sb_status sb_model_open(const sb_layer_desc *d, const sb_impl *im, const sb_model_ops *ops, const sb_layer_opts *o,
                        sb_layer **out);

extern const sb_model_ops sb_model_ops_ref;  /* model/model.c: naive loops */

/* ---- counts (SPEC §6), every level: model/counts.c ------------------------------------------- */
typedef struct sb_counts {
    double flops;       /* multiply-add = 2 */
    double bytes;       /* compulsory traffic */
    double state_bytes; /* what the state holds after T tokens of B sequences */
} sb_counts;

/* The one count function: a pure function of (layer, impl, config, level, mode, batch, ctx,
 * dtype of the activations). Op and layer level come from the descriptor; the model level is the
 * sum of its parts (n_layers x (mixer + MLP where the block has one) + embedding rows + head). */
sb_counts sb_count(const sb_layer_desc *d, const sb_impl *im, const sb_config *c, sb_level level, sb_mode mode, int B,
                   int T, sb_dtype act);
/* The same for an instance (its descriptor, impl, config, level and backend's dtype). */
sb_counts sb_layer_counts(const sb_layer *L, sb_mode mode, int B, int T);
double sb_layer_flops(const sb_layer *L, sb_mode mode, int B, int T);
double sb_layer_bytes(const sb_layer *L, sb_mode mode, int B, int T);
double sb_layer_state_bytes(const sb_layer *L, int B, int T);

#ifdef __cplusplus
}
#endif
#endif
