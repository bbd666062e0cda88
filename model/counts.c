/* counts.c: the one count function (SPEC §6) for every level, used by the instances
 * (sb_layer_flops ...), the CSV rows and the sweep's budget predictor alike.
 *
 * Op and layer level: the descriptor's own formulas (layers/<layer>.c), at the impl's counting
 * form (sb_impl.count_form). Model level, the sum of its parts (SPEC §3.4):
 *   flops  n_layers x (mixer at layer level + SwiGLU MLP 3 x 2*D*I per token where the block has
 *          one) + head 2*D*vocab per output token (B of them: prefill returns the last token's
 *          logits only). Norms (O(D) per token) and the embedding gather are not counted.
 *   bytes  n_layers x (mixer + MLP weights 3*D*I) + head weights vocab*D (the embedding when
 *          tied) + embedding rows gathered tokens*D, all at the activation element size.
 *   state  n_layers x the mixer's state.
 */
#include "model.h"

static sb_counts descriptor_counts(const sb_layer_desc *d, const sb_impl *im, const sb_config *c, sb_level level,
                                   sb_mode mode, int B, int T, int elem) {
    const int form = im ? im->count_form : 0;
    sb_counts k = {
        .flops = d->flops(d, c, level, mode, form, B, T),
        .bytes = d->bytes(d, c, level, mode, form, B, T, elem),
        .state_bytes = d->state_bytes(d, c, level, B, T, elem),
    };
    return k;
}

static sb_counts model_counts(const sb_layer_desc *d, const sb_impl *im, const sb_config *c, sb_mode mode, int B,
                              int T, int elem) {
    const sb_counts mix = descriptor_counts(d, im, c, SB_LAYER, mode, B, T, elem);
    const double D = c->d_model, I = c->intermediate, V = c->vocab, n = c->n_layers;
    const double tokens = mode == SB_PREFILL ? (double)B * T : B, mlp = d->block.mlp;
    sb_counts k = {
        .flops = n * (mix.flops + mlp * tokens * 3 * 2 * D * I) + B * 2 * D * V,
        .bytes = n * (mix.bytes + mlp * 3 * D * I * elem) + V * D * elem + tokens * D * elem,
        .state_bytes = n * mix.state_bytes,
    };
    return k;
}

sb_counts sb_count(const sb_layer_desc *d, const sb_impl *im, const sb_config *c, sb_level level, sb_mode mode, int B,
                   int T, sb_dtype act) {
    const int elem = (int)sb_dtype_size(act);
    if (level == SB_MODEL) return model_counts(d, im, c, mode, B, T, elem);
    return descriptor_counts(d, im, c, level, mode, B, T, elem);
}

sb_counts sb_layer_counts(const sb_layer *L, sb_mode mode, int B, int T) {
    return sb_count(L->desc, L->impl, &L->cfg, L->level, mode, B, T, sb_backend_act_dtype(L->backend));
}
double sb_layer_flops(const sb_layer *L, sb_mode mode, int B, int T) { return sb_layer_counts(L, mode, B, T).flops; }
double sb_layer_bytes(const sb_layer *L, sb_mode mode, int B, int T) { return sb_layer_counts(L, mode, B, T).bytes; }
double sb_layer_state_bytes(const sb_layer *L, int B, int T) { return sb_layer_counts(L, SB_PREFILL, B, T).state_bytes; }
