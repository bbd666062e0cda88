/* configs.c: the widths every layer's named configs share (SPEC §3.4). Each layer's own preset
 * function (sb_layer_desc.preset, in layers/<layer>.c) starts from sb_config_base and sets what
 * differs for it (Mamba's depth, TTT-MLP's base learning rate). */
#include "seqbench.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int D, H, L, I, vocab;
} preset;

static const preset presets[] = {
    /* name    D     H   L   I     vocab */
    {"tiny",   64,   4,  2,  128,  256},
    {"125m",   768,  12, 12, 2048, 32000},
    {"1.3b",   2048, 32, 24, 5504, 32000},
};

int sb_config_base(const char *name, sb_config *c) {
    const preset *p = NULL;
    for (size_t i = 0; name && i < sizeof presets / sizeof *presets; i++)
        if (strcmp(name, presets[i].name) == 0) p = &presets[i];
    if (name && strcmp(name, "1.4b") == 0) p = &presets[2]; /* Mamba's name of the 1.3b widths */
    if (!p) return 0;
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", p->name);
    c->d_model = p->D;
    c->heads = p->H;
    c->head_dim = p->D / p->H;
    c->d_state = 16;
    c->expand = 2;
    c->dt_rank = (p->D + 15) / 16; /* ceil(D/16) */
    c->d_conv = 4;
    c->mini_batch = 16;
    c->ttt_base_lr = 1.0f;
    c->share_qk = 1; /* benchmarks use the Mamba backbone (SPEC §3.3) */
    c->use_gate = 1;
    c->rope_theta = 10000.0f;
    c->eps = 1e-6f;
    c->n_layers = p->L;
    c->intermediate = p->I;
    c->vocab = p->vocab;
    return 1;
}

/* ---- the field tables of the descriptors ------------------------------------------------------- */
static int key_matches(const char *keys, const char *key) {
    const size_t n = strlen(key);
    for (const char *p = keys; p && *p;) {
        const char *bar = strchr(p, '|');
        const size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, key, n) == 0) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

const sb_config_field *sb_config_field_find(const sb_layer_desc *d, const char *key) {
    for (const sb_config_field *f = d->fields; f && f->keys; f++)
        if (key_matches(f->keys, key)) return f;
    return NULL;
}

sb_status sb_config_field_set(const sb_config_field *f, sb_config *c, const char *text) {
    char *end;
    double v = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || !(fabs(v) <= FLT_MAX)) return sb_fail(SB_EINVAL, "bad value '%s'", text);
    char *member = (char *)c + f->offset;
    switch (f->kind) {
    case SB_FIELD_INT:
        if (v < INT_MIN || v > INT_MAX || v != (double)(int)v) return sb_fail(SB_EINVAL, "bad value '%s' (an integer)", text);
        /* widths, counts and sizes: bounded so that twice one or a sum of a few stays an int */
        if (v > SB_MAX_WIDTH) return sb_fail(SB_EINVAL, "value '%s' above %d", text, SB_MAX_WIDTH);
        memcpy(member, &(int){(int)v}, sizeof(int));
        return SB_OK;
    case SB_FIELD_FLOAT:
        memcpy(member, &(float){(float)v}, sizeof(float));
        return SB_OK;
    case SB_FIELD_FIXED:
        if (v != f->def) return sb_fail(SB_EINVAL, "value '%s' not supported (only %g)", text, f->def);
        return SB_OK;
    }
    return sb_fail(SB_EINVAL, "bad field kind");
}

sb_status sb_config_d_inner(const char *layer, const sb_config *c, int *d_inner) {
    long long E = (long long)c->expand * c->d_model; /* an int product would wrap */
    if (c->expand < 1 || E > SB_MAX_WIDTH)
        return sb_fail(SB_EINVAL, "%s: expand %d x d_model %d: d_inner must be 1..%d", layer, c->expand, c->d_model,
                       SB_MAX_WIDTH);
    if (d_inner) *d_inner = (int)E;
    return SB_OK;
}

int sb_config_reads(const sb_layer_desc *d, size_t offset) {
    for (const sb_config_field *f = d->fields; f && f->keys; f++)
        if (f->kind != SB_FIELD_FIXED && f->offset == offset) return 1;
    return 0;
}

void sb_config_defaults(const sb_layer_desc *d, sb_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "custom");
    for (const sb_config_field *f = d->fields; f && f->keys; f++) {
        char *member = (char *)c + f->offset;
        if (f->kind == SB_FIELD_INT) memcpy(member, &(int){(int)f->def}, sizeof(int));
        if (f->kind == SB_FIELD_FLOAT) memcpy(member, &(float){(float)f->def}, sizeof(float));
    }
}
