/* layer.c: the life of a layer instance, common to every layer and backend: pick the impl,
 * declare and fill the parameters (random from the seed, or .npy files), check call shapes,
 * dispatch to the impl. Model level (SPEC §3.4) is delegated to model.c. */
#include "seqbench.h"
#include "model.h"
#include "npy.h"

#include <stdlib.h>
#include <string.h>

const sb_layer_desc *sb_find_layer(const char *name) {
    for (int i = 0; name && sb_registry[i]; i++)
        if (strcmp(sb_registry[i]->name, name) == 0) return sb_registry[i];
    return NULL;
}

const sb_impl *sb_find_impl(const sb_layer_desc *d, sb_backend be, sb_level level, const char *name) {
    sb_level want = level == SB_MODEL ? SB_LAYER : level; /* the model runs its mixers at layer level */
    for (int i = 0; d->impls[i]; i++) {
        const sb_impl *im = d->impls[i];
        if (im->backend != be || !(im->levels & (1u << want))) continue;
        if (!name || strcmp(im->name, name) == 0) return im;
    }
    return NULL;
}

static sb_status check_opts(const sb_layer_opts *o, const sb_layer_desc **desc) {
    *desc = sb_find_layer(o->layer);
    if (!*desc) return sb_fail(SB_EINVAL, "unknown layer '%s'", o->layer ? o->layer : "(null)");
    if ((unsigned)o->backend >= SB_NBACKENDS) return sb_fail(SB_EINVAL, "unknown backend");
    if ((unsigned)o->level >= SB_NLEVELS) return sb_fail(SB_EINVAL, "unknown level");
    if (o->max_batch <= 0 || o->max_ctx <= 0)
        return sb_fail(SB_EINVAL, "max_batch and max_ctx must be positive (got %d, %d)", o->max_batch, o->max_ctx);
    if (!sb_backend_available(o->backend))
        return sb_fail(SB_ENOTSUP, "backend %s is not available here%s", sb_backend_name(o->backend),
                       o->backend == SB_CUDA ? " (no CUDA device)" : "");
    return SB_OK;
}

sb_status sb_layer_create(const sb_layer_opts *o, sb_layer **out) {
    *out = NULL;
    const sb_layer_desc *d;
    sb_status st = check_opts(o, &d);
    if (st) return st;
    const sb_impl *im = sb_find_impl(d, o->backend, o->level, o->impl);
    if (!im)
        return sb_fail(SB_EINVAL, "layer %s has no impl '%s' on backend %s at level %s", d->name,
                       o->impl ? o->impl : "(any)", sb_backend_name(o->backend), sb_level_name(o->level));
    sb_layer *L = calloc(1, sizeof *L);
    if (!L) return sb_fail(SB_ENOMEM, "out of host memory");
    L->desc = d;
    L->impl = im;
    L->level = o->level;
    L->backend = o->backend;
    L->max_batch = o->max_batch;
    L->max_ctx = o->max_ctx;
    if (o->cfg) L->cfg = *o->cfg;
    else sb_config_preset(d->name, d->default_config, &L->cfg);

    if (o->level == SB_MODEL) {
        st = sb_model_setup(L, o);
    } else {
        st = d->declare_params(&L->cfg, &L->params);
        if (!st) {
            sb_rng rng;
            sb_rng_seed(&rng, o->seed);
            d->init_params(&L->cfg, &L->params, &rng);
            if (o->weights_dir) st = sb_params_load_dir(&L->params, o->weights_dir);
        }
        if (!st) st = im->setup(L);
    }
    if (st) { sb_layer_destroy(L); return st; }
    *out = L;
    return SB_OK;
}

void sb_layer_destroy(sb_layer *L) {
    if (!L) return;
    if (L->level == SB_MODEL) sb_model_teardown(L);
    else if (L->impl_state && L->impl->teardown) L->impl->teardown(L);
    sb_params_free(&L->params);
    free(L);
}

static sb_status check_batch(const sb_layer *L, int B) {
    if (B <= 0 || B > L->max_batch)
        return sb_fail(SB_EINVAL, "batch %d outside 1..%d", B, L->max_batch);
    return SB_OK;
}

sb_status sb_layer_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    sb_status st = check_batch(L, B);
    if (st) return st;
    if (T <= 0 || T > L->max_ctx) return sb_fail(SB_EINVAL, "ctx %d outside 1..%d", T, L->max_ctx);
    L->pos = 0;
    L->batch = B;
    st = L->level == SB_MODEL ? sb_model_prefill(L, x, y, B, T) : L->impl->prefill(L, x, y, B, T);
    if (!st) L->pos = T;
    return st;
}

sb_status sb_layer_decode(sb_layer *L, const void *x, void *y, int B) {
    sb_status st = check_batch(L, B);
    if (st) return st;
    if (B != L->batch && L->pos > 0) return sb_fail(SB_EINVAL, "decode batch %d differs from the state's %d", B, L->batch);
    if (L->pos >= L->max_ctx) return sb_fail(SB_EINVAL, "context full (%d tokens)", L->max_ctx);
    L->batch = B;
    st = L->level == SB_MODEL ? sb_model_decode(L, x, y, B) : L->impl->decode(L, x, y, B);
    if (!st) L->pos++;
    return st;
}

sb_status sb_layer_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    sb_status st = check_batch(L, B);
    if (st) return st;
    if (T < 0 || T >= L->max_ctx) return sb_fail(SB_EINVAL, "ctx %d outside 0..%d", T, L->max_ctx - 1);
    if (L->level == SB_MODEL) st = sb_model_fill_state(L, B, T, seed);
    else if (!L->impl->fill_state) return sb_fail(SB_ENOTSUP, "impl %s cannot synthesize a state", L->impl->name);
    else st = L->impl->fill_state(L, B, T, seed);
    if (!st) { L->pos = T; L->batch = B; }
    return st;
}

void sb_layer_reset(sb_layer *L) { L->pos = 0; }

void sb_layer_rewind(sb_layer *L, int T) {
    if (T >= 0 && T <= L->pos) {
        L->pos = T;
        if (L->level == SB_MODEL) sb_model_rewind(L, T);
    }
}

int sb_layer_in_dim(const sb_layer *L) {
    return L->level == SB_MODEL ? 1 : L->desc->in_dim(&L->cfg, L->level);
}
int sb_layer_out_dim(const sb_layer *L) {
    return L->level == SB_MODEL ? L->cfg.vocab : L->desc->out_dim(&L->cfg, L->level);
}
sb_dtype sb_layer_in_dtype(const sb_layer *L) {
    return L->level == SB_MODEL ? SB_I32 : sb_backend_act_dtype(L->backend);
}
size_t sb_layer_out_rows(const sb_layer *L, sb_mode mode, int B, int T) {
    if (mode == SB_DECODE || L->level == SB_MODEL) return (size_t)B;
    return (size_t)B * (size_t)T;
}

void sb_layer_make_input(const sb_layer *L, float *x, int B, int T, sb_rng *rng) {
    if (L->level == SB_MODEL) {
        for (size_t i = 0; i < (size_t)B * T; i++) x[i] = (float)(sb_rng_u64(rng) % (uint64_t)L->cfg.vocab);
        return;
    }
    L->desc->make_input(&L->cfg, L->level, x, B, T, rng);
}

static int elem_size(const sb_layer *L) { return (int)sb_dtype_size(sb_backend_act_dtype(L->backend)); }

double sb_layer_flops(const sb_layer *L, sb_mode mode, int B, int T) {
    if (L->level == SB_MODEL) return sb_model_flops(L, mode, B, T);
    return L->desc->flops(&L->cfg, L->level, mode, L->impl->name, B, T);
}
double sb_layer_bytes(const sb_layer *L, sb_mode mode, int B, int T) {
    if (L->level == SB_MODEL) return sb_model_bytes(L, mode, B, T);
    return L->desc->bytes(&L->cfg, L->level, mode, L->impl->name, B, T, elem_size(L));
}
double sb_layer_state_bytes(const sb_layer *L, int B, int T) {
    if (L->level == SB_MODEL) return sb_model_state_bytes(L, B, T);
    return L->desc->state_bytes(&L->cfg, L->level, B, T, elem_size(L));
}
