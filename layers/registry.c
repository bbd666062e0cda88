/* registry.c: every layer the driver knows. Adding a layer = one line here (and its files). */
#include "seqbench.h"
#include "attention.h"
#include "mamba.h"
#include "ttt.h"

const sb_layer_desc *const sb_registry[] = {
    &sb_attention,
    &sb_mamba,
    &sb_ttt_linear,
    &sb_ttt_mlp,
    NULL,
};
