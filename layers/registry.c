/* registry.c: every layer the driver knows. Adding a layer = one line here (and its files). */
#include "seqbench.h"
#include "attention.h"
#include "mamba.h"

const sb_layer_desc *const sb_registry[] = {
    &sb_attention,
    &sb_mamba,
    NULL,
};
