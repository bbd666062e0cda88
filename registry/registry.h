/* registry.h: the top of the library: the layers the driver knows and, per layer and backend,
 * their impls (registry/registry.c is the one file that names them), creating an instance by
 * name at any level, named configs by layer name. bench/ reaches the rest through this header,
 * the interface (layers/seqbench.h, included) and runtime/. The counts of every level
 * (sb_count, sb_layer_flops ...) come with model/model.h, included here. */
#ifndef SB_REGISTRY_H
#define SB_REGISTRY_H

#include "../layers/seqbench.h"
#include "../model/model.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_layer_desc *const sb_registry[]; /* NULL-terminated */
const sb_layer_desc *sb_find_layer(const char *name);
/* The impls of a registered layer, NULL-terminated (ref first, then cpu, then cuda). */
const sb_impl *const *sb_impls(const sb_layer_desc *d);
/* The impl of d named name (NULL: the first) on backend be that runs at level (model level: the
 * mixers' layer level); NULL if none. */
const sb_impl *sb_find_impl(const sb_layer_desc *d, sb_backend be, sb_level level, const char *name);
/* An instance of o->layer at any level (the model level composes layer instances, model/). */
sb_status sb_layer_create(const sb_layer_opts *o, sb_layer **out);
/* Named configs (SPEC §3.4) of a layer by name: the layer's own presets. 0 for an unknown
 * layer or name. */
int sb_config_preset(const char *layer, const char *name, sb_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
