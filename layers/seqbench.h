/* seqbench.h: the common interface of every sequence-mixing layer (SPEC §2).
 *
 * A *layer descriptor* (sb_layer_desc, one per file in layers/) names the layer, declares its
 * parameters and gives the analytic FLOP/byte/state counts. An impl (sb_impl) is one way to run
 * the layer on one backend (ref, cpu, cuda): setup/prefill/decode. Which impls a layer has is
 * the registry's to say (registry/registry.c, the one file that names layers and impls).
 * A *layer instance* (sb_layer) is a descriptor + one impl + config + parameters + state.
 *
 * Data on the interface:
 *   prefill(x[B,T,in_dim]) -> y[B,T,out_dim]   (model level: y = logits of the last token, [B,vocab])
 *   decode (x[B,1,in_dim]) -> y[B,1,out_dim]
 * x and y live in the backend's memory and dtype (sb_backend_act_dtype): fp32 host arrays for
 * ref/cpu, bf16 device arrays for cuda; model-level inputs are int32 token ids everywhere.
 * Host code moves data in and out with sb_buf_upload/sb_buf_download (fp32 on the host side).
 *
 * Levels (what in_dim/out_dim mean):
 *   op    the sequence-mixing core alone, on inputs already projected. Each layer documents its
 *         packed op input (e.g. attention: q|k|v after RoPE, in_dim = 3D).
 *   layer the full layer: x[B,T,D] -> y[B,T,D].
 *   model the paper's stack (SPEC §3.4) with this layer as the mixer; model/model.c.
 *
 * Errors: functions return an sb_status (runtime/runtime.h); the message is in sb_last_error().
 */
#ifndef SEQBENCH_H
#define SEQBENCH_H

#include "../runtime/runtime.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration -------------------------------------------------------------------- */
/* One struct for all layers; each layer reads the fields it needs. */
typedef struct sb_config {
    char name[16];      /* "tiny", "125m", "1.3b", "golden", "custom" */
    int d_model;        /* D */
    int heads;          /* H (attention, TTT) */
    int head_dim;       /* d = D/H */
    int d_state;        /* N (Mamba) */
    int expand;         /* E = expand*D (Mamba) */
    int dt_rank;        /* R (Mamba) */
    int d_conv;         /* conv width (Mamba, TTT share_qk) */
    int mini_batch;     /* b (TTT) */
    float ttt_base_lr;  /* 1.0 TTT-Linear, 0.1 TTT-MLP */
    int share_qk;       /* TTT Mamba backbone: XQ, XK from convs of one projection */
    int use_gate;       /* TTT output gate g_proj */
    float rope_theta;
    float eps;          /* the layer's norm eps (TTT inner LN / post-norm 1e-6; a layer's own default) */
    int ngroups;        /* G: groups sharing B, C (Mamba-2) */
    int chunk_size;     /* Q: chunk length of a chunked scan (Mamba-2; results do not depend on it) */
    int head_v_dim;     /* V: value head width when it differs from head_dim (Gated DeltaNet) */
    int d_inner;        /* E given directly (op-level cases without d_model); 0: derived */
    /* model level */
    int n_layers;       /* L (L_m for Mamba) */
    int intermediate;   /* SwiGLU hidden I */
    int vocab;
} sb_config;

/* A config field a layer reads (sb_layer_desc.fields): the names golden case files and the
 * official constructors use for it, the sb_config member, its default. Golden case parsing, the
 * CSV's "not applicable" cells and the presets' defaults all read this table. */
typedef enum { SB_FIELD_INT = 0, SB_FIELD_FLOAT, SB_FIELD_FIXED } sb_field_kind;
typedef struct sb_config_field {
    const char *keys;    /* case.txt / official names, '|'-separated: "d_conv|conv_kernel|conv_size" */
    sb_field_kind kind;  /* an int or float member at offset; FIXED: no member, only `def` is supported */
    size_t offset;       /* offsetof(sb_config, member) */
    double def;          /* default (FIXED: the one accepted value) */
} sb_config_field;
#define SB_FIELD_I(keys, member, def) {keys, SB_FIELD_INT, offsetof(sb_config, member), def}
#define SB_FIELD_F(keys, member, def) {keys, SB_FIELD_FLOAT, offsetof(sb_config, member), def}
#define SB_FIELD_FIX(keys, value) {keys, SB_FIELD_FIXED, 0, value}
#define SB_FIELD_END {NULL, SB_FIELD_INT, 0, 0}

/* The config tables (layers/configs.c). */
struct sb_layer_desc;
/* d's field named key (any of its '|' names); NULL if the layer does not read it. */
const sb_config_field *sb_config_field_find(const struct sb_layer_desc *d, const char *key);
/* Sets f in c from text; SB_EINVAL for a malformed number or, for a FIXED field, another value. */
sb_status sb_config_field_set(const sb_config_field *f, sb_config *c, const char *text);
/* d_inner = expand * d_model, computed in 64 bits: SB_EINVAL (naming `layer`) if expand < 1 or it exceeds SB_MAX_WIDTH;
 * stored in *d_inner when that is not NULL. */
sb_status sb_config_d_inner(const char *layer, const sb_config *c, int *d_inner);
/* 1 if d reads the sb_config member at offset (offsetof(sb_config, member)). */
int sb_config_reads(const struct sb_layer_desc *d, size_t offset);
/* c = every field of d at its default, name "custom", nothing else set. */
void sb_config_defaults(const struct sb_layer_desc *d, sb_config *c);

/* The named configs' shared widths (SPEC §3.4: "tiny", "125m", "1.3b"), with every field at its
 * default; a layer's own presets (sb_layer_desc.preset) start from it. 0 for an unknown name.
 * By layer name: sb_config_preset (registry/registry.h). */
int sb_config_base(const char *name, sb_config *cfg);

/* ---- parameters ----------------------------------------------------------------------- */
#define SB_MAX_PARAMS 40
/* The widest derived width a config may give (d_inner = expand * d_model and the like): products
 * of widths are int arithmetic in every layer; 2^20 is 64x the widest released model's. */
#define SB_MAX_WIDTH (1 << 20)
#define SB_PARAM_NAME 48
typedef struct sb_param {
    char name[SB_PARAM_NAME]; /* PyTorch state_dict key, e.g. "q_proj.weight" */
    int ndim;
    int shape[4];
    size_t n;
    float *host;              /* fp32 master copy, always present */
} sb_param;

typedef struct sb_params {
    int count;
    sb_param p[SB_MAX_PARAMS];
} sb_params;

sb_status sb_params_add(sb_params *ps, const char *name, int ndim, const int *shape);
/* A layer's parameter table, one row per tensor (name, rank, shape), declared in order; a row whose
 * `present` is 0 is skipped (TTT's optional tensors). SB_PARAM / SB_PARAM_IF build the rows. */
typedef struct sb_param_decl {
    const char *name;
    int present, ndim, shape[3];
} sb_param_decl;
#define SB_PARAM_IF(cond, name, ndim, s0, s1, s2) {(name), (cond) ? 1 : 0, (ndim), {(s0), (s1), (s2)}}
#define SB_PARAM(name, ndim, s0, s1, s2) SB_PARAM_IF(1, name, ndim, s0, s1, s2)
sb_status sb_params_add_table(sb_params *ps, const sb_param_decl *t, size_t n);
sb_param *sb_params_find(sb_params *ps, const char *name); /* NULL if absent */
/* The host master of a declared parameter. An undeclared name is a bug of the calling layer
 * (its names are constants of its own file, and every impl runs in the tests): NULL, with the
 * message in sb_last_error(); the library never aborts. */
const float *sb_params_get(const sb_params *ps, const char *name);
void sb_params_free(sb_params *ps);
/* Fill every declared parameter from DIR/<name>.npy, checking shapes. */
sb_status sb_params_load_dir(sb_params *ps, const char *dir);

/* ---- descriptors ---------------------------------------------------------------------- */
typedef struct sb_layer sb_layer;

typedef struct sb_impl {
    const char *name;     /* "naive", "flash", "dual", "primal", "sequential", "chunked", ... */
    sb_backend backend;
    unsigned levels;      /* bit mask of (1u << sb_level) supported (op and/or layer) */
    const char *about;    /* one line: what this impl does */
    /* Allocate state (sized for L->max_batch, L->max_ctx) and device copies of parameters.
     * Workspace that depends on the call shape is better reserved lazily in prefill. */
    sb_status (*setup)(sb_layer *L);
    /* Start from an empty state, process T tokens of B sequences; leaves the state after T. */
    sb_status (*prefill)(sb_layer *L, const void *x, void *y, int B, int T);
    /* One token per sequence at position L->pos (state built by prefill of the same B). */
    sb_status (*decode)(sb_layer *L, const void *x, void *y, int B);
    /* Optional: set the state as after T tokens without running them (benchmarks of decode at
     * shapes whose prefill would not fit). Values are random but well-scaled. NULL: use prefill. */
    sb_status (*fill_state)(sb_layer *L, int B, int T, uint64_t seed);
    void (*teardown)(sb_layer *L); /* frees what setup/prefill allocated in L->impl_state */
    /* 1 for a simple version kept as an oracle and as documentation (llm.c's "version 1"): tests
     * compare it like any impl, but benchmark presets skip it unless --impl names it. */
    int oracle;
    /* Optional: the recurrent state after the last call, as fp32 host values in the layout of
     * the descriptor's state_shape (the spec's, e.g. Mamba-2 [B,H,P,N]); golden cases compare it
     * with their final_state.npy. NULL: the impl cannot show its state. */
    sb_status (*read_state)(sb_layer *L, float *host);
    /* Which of the layer's counting forms (its descriptor's flops/bytes) this impl's work
     * follows; 0 = the layer's usual one. A layer defines its others (TTT: TTT_FORM_PRIMAL). */
    int count_form;
    /* The impl's own data for functions several impls share (e.g. which variant and kernel
     * version a CUDA impl runs); NULL if none. */
    const void *ctx;
} sb_impl;

/* The block this layer forms at model level (SPEC §3.4): RMSNorm -> mixer -> +residual, then,
 * with mlp, RMSNorm -> SwiGLU MLP (hidden cfg.intermediate) -> +residual; a final RMSNorm and
 * the LM head close the stack. model/model.c and the model counts read only this. */
typedef struct sb_block {
    int mlp;             /* 1: a SwiGLU MLP after the mixer in every block */
    float norm_eps;      /* eps of every RMSNorm of the stack */
    int tied_embedding;  /* 1: the LM head is the embedding matrix (no head tensor) */
} sb_block;

/* One named array of the op level (golden op cases store each as <name>.npy [B,T,...], decode
 * tokens as <name>_decode.npy [B,S,...]): width = its elements per (sequence, token). */
typedef struct sb_op_array {
    const char *name;
    int width;
} sb_op_array;
#define SB_MAX_OP_ARRAYS 8

typedef struct sb_layer_desc {
    const char *name;     /* "attention", "mamba", "ttt_linear", "ttt_mlp" */
    const char *about;
    /* The layer's own data for functions two descriptors share (TTT-Linear and TTT-MLP: their
     * ttt_variant); the parameter and count functions get the descriptor to read it. */
    const void *ctx;
    const char *default_config; /* preset name used when none is given */
    sb_block block;       /* the model-level block around this mixer */
    /* The layer's named configs (SPEC §3.4): fills cfg, 0 for a name it does not know. */
    int (*preset)(const char *name, sb_config *cfg);
    /* The config fields this layer reads, their golden/official names and defaults; ends with
     * SB_FIELD_END. */
    const sb_config_field *fields;
    /* Optional: derive and check what the fields leave open (e.g. E from d_model), after a preset
     * or a golden case filled cfg; an error for a config the layer cannot run. */
    sb_status (*finish_config)(sb_config *cfg, sb_level level);
    /* Declare the parameters this config needs at a level (names and shapes), in ps. The op
     * level may hold other tensors than the layer (Mamba-2: A at op level, A_log in the layer). */
    sb_status (*declare_params)(const struct sb_layer_desc *d, const sb_config *cfg, sb_level level, sb_params *ps);
    /* Fill the parameters with deterministic random values suited to the layer. */
    void (*init_params)(const struct sb_layer_desc *d, const sb_config *cfg, sb_params *ps, sb_rng *rng);
    /* Widths of the packed input and output rows at a level (op or layer). */
    int (*in_dim)(const sb_config *cfg, sb_level level);
    int (*out_dim)(const sb_config *cfg, sb_level level);
    /* Fill a host fp32 input [B,T,in_dim] with valid random values (op inputs need ranges). */
    void (*make_input)(const sb_config *cfg, sb_level level, float *x, int B, int T, sb_rng *rng);
    /* Optional: the op level's named arrays. outputs = 0: the inputs, whose rows concatenated in
     * this order make the packed op input row (in_dim wide); 1: the outputs (out_dim wide).
     * Returns the count (<= SB_MAX_OP_ARRAYS). NULL: golden op cases cannot run. */
    int (*op_arrays)(const sb_config *cfg, int outputs, sb_op_array *a);
    /* Optional: the shape of the recurrent state of B sequences in the spec's layout (shape[0] =
     * B), for sb_impl.read_state; returns ndim (<= 4). */
    int (*state_shape)(const sb_config *cfg, int B, int *shape);
    /* Golden decode cases: 1 if their final_state is the state after the decode tokens too
     * (Gated DeltaNet), 0 after the prompt (Mamba-2, whose decode steps start from it). */
    int final_state_after_decode;
    /* Analytic counts (SPEC §6), level op or layer, at the counting form of the impl
     * (sb_impl.count_form). elem = bytes per activation element. Callers use model/counts.c's
     * sb_count, which also sums the model level from these. */
    double (*flops)(const struct sb_layer_desc *d, const sb_config *cfg, sb_level level, sb_mode mode, int form, int B,
                    int T);
    double (*bytes)(const struct sb_layer_desc *d, const sb_config *cfg, sb_level level, sb_mode mode, int form, int B,
                    int T, int elem);
    double (*state_bytes)(const struct sb_layer_desc *d, const sb_config *cfg, sb_level level, int B, int T, int elem);
} sb_layer_desc;

/* ---- the layer instance ---------------------------------------------------------------- */
/* How an instance runs. Op and layer level: layers/layer.c, straight to the impl. The model
 * level (model/model.c) composes layer instances and brings its own runner; the functions
 * below dispatch through it and never test the level. */
typedef struct sb_runner {
    sb_status (*prefill)(sb_layer *L, const void *x, void *y, int B, int T);
    sb_status (*decode)(sb_layer *L, const void *x, void *y, int B);
    sb_status (*fill_state)(sb_layer *L, int B, int T, uint64_t seed);
    void (*rewind)(sb_layer *L, int T);
    void (*teardown)(sb_layer *L);   /* frees what the instance owns besides params and L */
    int (*in_dim)(const sb_layer *L);
    int (*out_dim)(const sb_layer *L);
    sb_dtype (*in_dtype)(const sb_layer *L);
    size_t (*out_rows)(const sb_layer *L, sb_mode mode, int B, int T);
    void (*make_input)(const sb_layer *L, float *x, int B, int T, sb_rng *rng);
} sb_runner;

struct sb_layer {
    const sb_layer_desc *desc;
    const sb_impl *impl;  /* model level: the mixers' impl */
    const sb_runner *run;
    sb_config cfg;
    sb_level level;
    sb_backend backend;
    int max_batch, max_ctx;
    int pos;          /* tokens in the state (same for every sequence) */
    int batch;        /* B of the state (set by prefill) */
    sb_params params;
    void *impl_state; /* owned by the impl (model level: by the model) */
};

typedef struct sb_layer_opts {
    const char *layer, *impl; /* impl NULL: the backend's first impl for the level */
    sb_backend backend;
    sb_level level;
    const sb_config *cfg;     /* NULL: the layer's default preset */
    uint64_t seed;
    int max_batch, max_ctx;
    const char *weights_dir;  /* NULL: random weights from seed; else <name>.npy per param */
} sb_layer_opts;

/* Creating an instance by name (sb_layer_create) is the registry's (registry/registry.h): it
 * knows the layers and their impls. Here: an instance of a given descriptor and impl. */
/* Checks of the options that do not depend on the layer (backend, level, sizes, availability). */
sb_status sb_layer_check_opts(const sb_layer_opts *o);
/* An op- or layer-level instance: parameters declared and filled, impl set up. */
sb_status sb_layer_open(const sb_layer_desc *d, const sb_impl *im, const sb_layer_opts *o, sb_layer **out);
/* The bare instance (fields from o, config from o->cfg or the default preset, no parameters, no
 * setup) for code above the layers that composes its own level with its own runner. */
sb_status sb_layer_shell(const sb_layer_desc *d, const sb_impl *im, const sb_layer_opts *o, const sb_runner *run,
                         sb_layer **out);
void sb_layer_destroy(sb_layer *L);
sb_status sb_layer_prefill(sb_layer *L, const void *x, void *y, int B, int T);
sb_status sb_layer_decode(sb_layer *L, const void *x, void *y, int B);
sb_status sb_layer_fill_state(sb_layer *L, int B, int T, uint64_t seed);
void sb_layer_reset(sb_layer *L);
/* Benchmarks only: move the position back to T (the KV cache is truncated; recurrent states are
 * kept, their decode cost does not depend on the position). */
void sb_layer_rewind(sb_layer *L, int T);
int sb_layer_in_dim(const sb_layer *L);
int sb_layer_out_dim(const sb_layer *L);
sb_dtype sb_layer_in_dtype(const sb_layer *L);
/* Rows of y for a call: B*T (prefill) or B (decode); model-level prefill: B (last token). */
size_t sb_layer_out_rows(const sb_layer *L, sb_mode mode, int B, int T);
void sb_layer_make_input(const sb_layer *L, float *x, int B, int T, sb_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
