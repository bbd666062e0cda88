/* layer.c: the life of a layer instance at op or layer level, common to every layer and backend:
 * check the options, declare and fill the parameters (random from the seed, or .npy files), check
 * call shapes, dispatch through the instance's runner. An instance at another level (the model,
 * model/model.c) is built by its own code on sb_layer_shell and brings its own runner; nothing
 * here knows about it. */
#include "seqbench.h"

#include <stdlib.h>
#include <string.h>

sb_status sb_layer_check_opts(const sb_layer_opts *o) {
    if ((unsigned)o->backend >= SB_NBACKENDS) return sb_fail(SB_EINVAL, "unknown backend");
    if ((unsigned)o->level >= SB_NLEVELS) return sb_fail(SB_EINVAL, "unknown level");
    if (o->max_batch <= 0 || o->max_ctx <= 0)
        return sb_fail(SB_EINVAL, "max_batch and max_ctx must be positive (got %d, %d)", o->max_batch, o->max_ctx);
    if (!sb_backend_available(o->backend))
        return sb_fail(SB_ENOTSUP, "backend %s is not available here%s", sb_backend_name(o->backend),
                       o->backend == SB_CUDA ? " (no CUDA device)" : "");
    return SB_OK;
}

sb_status sb_layer_shell(const sb_layer_desc *d, const sb_impl *im, const sb_layer_opts *o, const sb_runner *run,
                         sb_layer **out) {
    *out = NULL;
    sb_layer *L = calloc(1, sizeof *L);
    if (!L) return sb_fail(SB_ENOMEM, "out of host memory");
    L->desc = d;
    L->impl = im;
    L->run = run;
    L->level = o->level;
    L->backend = o->backend;
    L->max_batch = o->max_batch;
    L->max_ctx = o->max_ctx;
    if (o->cfg) L->cfg = *o->cfg;
    else d->preset(d->default_config, &L->cfg);
    sb_status st = d->finish_config ? d->finish_config(&L->cfg, o->level) : SB_OK;
    if (st) { free(L); return st; }
    *out = L;
    return SB_OK;
}

/* ---- the runner of op and layer level: straight to the impl ------------------------------------ */
static sb_status impl_prefill(sb_layer *L, const void *x, void *y, int B, int T) { return L->impl->prefill(L, x, y, B, T); }
static sb_status impl_decode(sb_layer *L, const void *x, void *y, int B) { return L->impl->decode(L, x, y, B); }
static sb_status impl_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    if (!L->impl->fill_state) return sb_fail(SB_ENOTSUP, "impl %s cannot synthesize a state", L->impl->name);
    return L->impl->fill_state(L, B, T, seed);
}
static void impl_rewind(sb_layer *L, int T) { (void)L; (void)T; }
static void impl_teardown(sb_layer *L) {
    if (L->impl_state && L->impl->teardown) L->impl->teardown(L);
}
static int desc_in_dim(const sb_layer *L) { return L->desc->in_dim(&L->cfg, L->level); }
static int desc_out_dim(const sb_layer *L) { return L->desc->out_dim(&L->cfg, L->level); }
static sb_dtype act_dtype(const sb_layer *L) { return sb_backend_act_dtype(L->backend); }
static size_t rows_per_token(const sb_layer *L, sb_mode mode, int B, int T) {
    (void)L;
    return mode == SB_DECODE ? (size_t)B : (size_t)B * (size_t)T;
}
static void desc_make_input(const sb_layer *L, float *x, int B, int T, sb_rng *rng) {
    L->desc->make_input(&L->cfg, L->level, x, B, T, rng);
}

static const sb_runner layer_runner = {
    .prefill = impl_prefill, .decode = impl_decode, .fill_state = impl_fill_state, .rewind = impl_rewind,
    .teardown = impl_teardown, .in_dim = desc_in_dim, .out_dim = desc_out_dim, .in_dtype = act_dtype,
    .out_rows = rows_per_token, .make_input = desc_make_input,
};

sb_status sb_layer_open(const sb_layer_desc *d, const sb_impl *im, const sb_layer_opts *o, sb_layer **out) {
    *out = NULL;
    SB_TRY(sb_layer_check_opts(o));
    if (o->level != SB_OP && o->level != SB_LAYER)
        return sb_fail(SB_EINVAL, "sb_layer_open: level %s is not a layer's own", sb_level_name(o->level));
    sb_layer *L;
    SB_TRY(sb_layer_shell(d, im, o, &layer_runner, &L));
    sb_status st = d->declare_params(d, &L->cfg, o->level, &L->params);
    if (!st) {
        sb_rng rng;
        sb_rng_seed(&rng, o->seed);
        d->init_params(d, &L->cfg, &L->params, &rng);
        if (o->weights_dir) st = sb_params_load_dir(&L->params, o->weights_dir);
    }
    if (!st) st = im->setup(L);
    if (st) { sb_layer_destroy(L); return st; }
    *out = L;
    return SB_OK;
}

void sb_layer_destroy(sb_layer *L) {
    if (!L) return;
    L->run->teardown(L);
    sb_params_free(&L->params);
    free(L);
}

static sb_status check_batch(const sb_layer *L, int B) {
    if (B <= 0 || B > L->max_batch)
        return sb_fail(SB_EINVAL, "batch %d outside 1..%d", B, L->max_batch);
    return SB_OK;
}

sb_status sb_layer_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    SB_TRY(check_batch(L, B));
    if (T <= 0 || T > L->max_ctx) return sb_fail(SB_EINVAL, "ctx %d outside 1..%d", T, L->max_ctx);
    L->pos = 0;
    L->batch = B;
    sb_status st = L->run->prefill(L, x, y, B, T);
    if (!st) L->pos = T;
    return st;
}

sb_status sb_layer_decode(sb_layer *L, const void *x, void *y, int B) {
    SB_TRY(check_batch(L, B));
    if (B != L->batch && L->pos > 0) return sb_fail(SB_EINVAL, "decode batch %d differs from the state's %d", B, L->batch);
    if (L->pos >= L->max_ctx) return sb_fail(SB_EINVAL, "context full (%d tokens)", L->max_ctx);
    L->batch = B;
    sb_status st = L->run->decode(L, x, y, B);
    if (!st) L->pos++;
    return st;
}

sb_status sb_layer_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    SB_TRY(check_batch(L, B));
    if (T < 0 || T >= L->max_ctx) return sb_fail(SB_EINVAL, "ctx %d outside 0..%d", T, L->max_ctx - 1);
    sb_status st = L->run->fill_state(L, B, T, seed);
    if (!st) { L->pos = T; L->batch = B; }
    return st;
}

void sb_layer_reset(sb_layer *L) { L->pos = 0; }

void sb_layer_rewind(sb_layer *L, int T) {
    if (T >= 0 && T <= L->pos) {
        L->pos = T;
        L->run->rewind(L, T);
    }
}

int sb_layer_in_dim(const sb_layer *L) { return L->run->in_dim(L); }
int sb_layer_out_dim(const sb_layer *L) { return L->run->out_dim(L); }
sb_dtype sb_layer_in_dtype(const sb_layer *L) { return L->run->in_dtype(L); }
size_t sb_layer_out_rows(const sb_layer *L, sb_mode mode, int B, int T) { return L->run->out_rows(L, mode, B, T); }
void sb_layer_make_input(const sb_layer *L, float *x, int B, int T, sb_rng *rng) { L->run->make_input(L, x, B, T, rng); }
