/* configs.c: the named configurations of SPEC §3.4. One table; layer-specific fields (Mamba's
 * depth, TTT's base learning rate) are applied by sb_config_preset. */
#include "seqbench.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int D, H, L, I, L_mamba;
} preset;

static const preset presets[] = {
    /* name    D     H   L   I     L_m */
    {"tiny",   64,   4,  2,  128,  2},
    {"125m",   768,  12, 12, 2048, 24},
    {"1.3b",   2048, 32, 24, 5504, 48}, /* Mamba's "1.4b": D 2048, 48 layers, E 4096, R 128 */
};

int sb_config_preset(const char *layer, const char *name, sb_config *c) {
    const preset *p = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
        if (name && (strcmp(name, presets[i].name) == 0 || (strcmp(name, "1.4b") == 0 && i == 2))) p = &presets[i];
    if (!p) return 0;
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", p->name);
    int is_mamba = layer && strcmp(layer, "mamba") == 0;
    c->d_model = p->D;
    c->heads = p->H;
    c->head_dim = p->D / p->H;
    c->d_state = 16;
    c->expand = 2;
    c->dt_rank = (p->D + 15) / 16; /* ceil(D/16) */
    c->d_conv = 4;
    c->mini_batch = 16;
    c->ttt_base_lr = layer && strcmp(layer, "ttt_mlp") == 0 ? 0.1f : 1.0f;
    c->share_qk = 1; /* benchmarks use the Mamba backbone (SPEC §3.3) */
    c->use_gate = 1;
    c->rope_theta = 10000.0f;
    c->eps = 1e-6f;
    c->n_layers = is_mamba ? p->L_mamba : p->L;
    c->intermediate = p->I;
    c->vocab = strcmp(p->name, "tiny") == 0 ? 256 : 32000;
    if (is_mamba && strcmp(p->name, "1.3b") == 0) snprintf(c->name, sizeof c->name, "1.4b");
    return 1;
}
