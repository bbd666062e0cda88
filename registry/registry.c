/* registry.c: every layer the driver knows and, per layer and backend, its impls: ref first, then
 * cpu, then cuda (inside SB_HAVE_CUDA). Adding a layer = its files + one entry here. Also the one
 * place that picks the model level's ops table per backend. */
#include "registry.h"
#include "../layers/attention.h"
#include "../layers/gated_deltanet.h"
#include "../layers/mamba.h"
#include "../layers/mamba2.h"
#include "../layers/ttt.h"
#include "../kernels/attention_impls.h"
#include "../kernels/gated_deltanet_impls.h"
#include "../kernels/mamba_impls.h"
#include "../kernels/mamba2_impls.h"
#include "../kernels/ttt_impls.h"

#include <string.h>

static const sb_impl *const attention_impls[] = {
    &sb_attention_ref_naive, &sb_attention_cpu_flash,
#ifdef SB_HAVE_CUDA
    &attention_cuda_flash, &attention_cuda_naive,
#endif
    NULL,
};
static const sb_impl *const mamba_impls[] = {
    &sb_mamba_ref_sequential, &sb_mamba_cpu_chunked,
#ifdef SB_HAVE_CUDA
    &mamba_cuda_chunked, &mamba_cuda_sequential,
#endif
    NULL,
};
static const sb_impl *const mamba2_impls[] = {
    &sb_mamba2_ref_sequential, &sb_mamba2_ref_chunked, &sb_mamba2_cpu_chunked,
#ifdef SB_HAVE_CUDA
    &mamba2_cuda_chunked,
#endif
    NULL,
};
static const sb_impl *const ttt_linear_impls[] = {
    &sb_ttt_linear_ref_dual, &sb_ttt_linear_ref_primal, &sb_ttt_linear_cpu_dual, &sb_ttt_linear_cpu_primal,
#ifdef SB_HAVE_CUDA
    &ttt_linear_cuda_dual, &ttt_linear_cuda_dual_simple,
#endif
    NULL,
};
static const sb_impl *const ttt_mlp_impls[] = {
    &sb_ttt_mlp_ref_dual, &sb_ttt_mlp_ref_primal, &sb_ttt_mlp_cpu_dual, &sb_ttt_mlp_cpu_primal,
#ifdef SB_HAVE_CUDA
    &ttt_mlp_cuda_dual, &ttt_mlp_cuda_dual_simple,
#endif
    NULL,
};

static const sb_impl *const gated_deltanet_impls[] = {
    &sb_gdn_ref_sequential, &sb_gdn_ref_chunked, &sb_gdn_cpu_chunked, &sb_gdn_cpu_sequential,
#ifdef SB_HAVE_CUDA
    &sb_gdn_cuda_chunked, &sb_gdn_cuda_sequential,
#endif
    NULL,
};

/* The layers, one line each: descriptor and impl list. */
#define SB_LAYERS(X)                      \
    X(sb_attention, attention_impls)      \
    X(sb_mamba, mamba_impls)              \
    X(sb_mamba2, mamba2_impls)            \
    X(sb_ttt_linear, ttt_linear_impls)    \
    X(sb_ttt_mlp, ttt_mlp_impls)          \
    X(sb_gated_deltanet, gated_deltanet_impls)

typedef struct {
    const sb_layer_desc *desc;
    const sb_impl *const *impls;
} entry;

#define ENTRY(desc, impls) {&desc, impls},
#define DESC(desc, impls) &desc,
static const entry entries[] = {SB_LAYERS(ENTRY)};
const sb_layer_desc *const sb_registry[] = {SB_LAYERS(DESC) NULL};

/* ---- lookups ------------------------------------------------------------------------------------ */
const sb_impl *const *sb_impls(const sb_layer_desc *d) {
    static const sb_impl *const none[] = {NULL};
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
        if (entries[i].desc == d) return entries[i].impls;
    return none;
}

const sb_layer_desc *sb_find_layer(const char *name) {
    for (int i = 0; name && sb_registry[i]; i++)
        if (strcmp(sb_registry[i]->name, name) == 0) return sb_registry[i];
    return NULL;
}

const sb_impl *sb_find_impl(const sb_layer_desc *d, sb_backend be, sb_level level, const char *name) {
    sb_level want = level == SB_MODEL ? SB_LAYER : level; /* the model runs its mixers at layer level */
    const sb_impl *const *impls = sb_impls(d);
    for (int i = 0; impls[i]; i++) {
        const sb_impl *im = impls[i];
        if (im->backend != be || !(im->levels & (1u << want))) continue;
        if (!name || strcmp(im->name, name) == 0) return im;
    }
    return NULL;
}

int sb_config_preset(const char *layer, const char *name, sb_config *cfg) {
    const sb_layer_desc *d = sb_find_layer(layer);
    return d && name ? d->preset(name, cfg) : 0;
}

/* ---- instances ---------------------------------------------------------------------------------- */
static const sb_model_ops *model_ops(sb_backend be) {
    switch (be) {
    case SB_REF: return &sb_model_ops_ref;
    case SB_CPU: return &sb_model_ops_cpu;
#ifdef SB_HAVE_CUDA
    case SB_CUDA: return &sb_model_ops_cuda;
#endif
    default: return NULL;
    }
}

sb_status sb_layer_create(const sb_layer_opts *o, sb_layer **out) {
    *out = NULL;
    const sb_layer_desc *d = sb_find_layer(o->layer);
    if (!d) return sb_fail(SB_EINVAL, "unknown layer '%s'", o->layer ? o->layer : "(null)");
    SB_TRY(sb_layer_check_opts(o));
    const sb_impl *im = sb_find_impl(d, o->backend, o->level, o->impl);
    if (!im)
        return sb_fail(SB_EINVAL, "layer %s has no impl '%s' on backend %s at level %s", d->name,
                       o->impl ? o->impl : "(any)", sb_backend_name(o->backend), sb_level_name(o->level));
    if (o->level == SB_MODEL) return sb_model_open(d, im, model_ops(o->backend), o, out);
    return sb_layer_open(d, im, o, out);
}
