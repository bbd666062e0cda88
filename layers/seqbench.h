/* seqbench.h: the common interface of every sequence-mixing layer (SPEC §2).
 *
 * A *layer descriptor* (sb_layer_desc, one per file in layers/) names the layer, declares its
 * parameters, gives the analytic FLOP/byte/state counts and lists its *impls*. An impl
 * (sb_impl) is one way to run the layer on one backend (ref, cpu, cuda): setup/prefill/decode.
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
 *   model the paper's stack (SPEC §3.4) with this layer as the mixer; handled by layers/model.c.
 *
 * Errors: functions return an sb_status; the message is in sb_last_error(). No function exits.
 */
#ifndef SEQBENCH_H
#define SEQBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SB_OK = 0, SB_EINVAL, SB_ENOMEM, SB_EIO, SB_ENOTSUP, SB_EDEVICE } sb_status;
typedef enum { SB_REF = 0, SB_CPU, SB_CUDA, SB_NBACKENDS } sb_backend;
typedef enum { SB_OP = 0, SB_LAYER, SB_MODEL, SB_NLEVELS } sb_level;
typedef enum { SB_PREFILL = 0, SB_DECODE, SB_NMODES } sb_mode;
typedef enum { SB_F32 = 0, SB_BF16, SB_I32 } sb_dtype;

/* ---- errors --------------------------------------------------------------------------- */
const char *sb_last_error(void);
sb_status sb_fail(sb_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sb_status_name(sb_status st);

/* ---- names ---------------------------------------------------------------------------- */
const char *sb_backend_name(sb_backend b);
const char *sb_level_name(sb_level l);
const char *sb_mode_name(sb_mode m);
const char *sb_dtype_name(sb_dtype d);
int sb_parse_backend(const char *s, sb_backend *out); /* 1 on success */
int sb_parse_level(const char *s, sb_level *out);
int sb_parse_mode(const char *s, sb_mode *out);
size_t sb_dtype_size(sb_dtype d);

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
    float eps;          /* inner LN / post-norm eps (1e-6) */
    /* model level */
    int n_layers;       /* L (L_m for Mamba) */
    int intermediate;   /* SwiGLU hidden I */
    int vocab;
} sb_config;

/* Named configs (SPEC §3.4) for a layer; fills cfg. Returns 0 for an unknown name. */
int sb_config_preset(const char *layer, const char *name, sb_config *cfg);

/* ---- buffers -------------------------------------------------------------------------- */
typedef struct sb_buf {
    sb_backend backend; /* where it lives: SB_CUDA = device memory, else host */
    sb_dtype dtype;
    size_t n;           /* elements */
    void *p;
} sb_buf;

sb_status sb_buf_alloc(sb_buf *b, sb_backend be, sb_dtype dt, size_t n);
void sb_buf_free(sb_buf *b);
/* Grow-only: keeps the allocation if it already holds n elements. */
sb_status sb_buf_reserve(sb_buf *b, sb_backend be, sb_dtype dt, size_t n);
/* fp32 host <-> buffer, converting to/from the buffer's dtype (i32: values are token ids). */
sb_status sb_buf_upload(sb_buf *b, const float *src, size_t n);
sb_status sb_buf_download(const sb_buf *b, float *dst, size_t n);
/* The dtype of activations on the interface for a backend (f32 host, bf16 device). */
sb_dtype sb_backend_act_dtype(sb_backend be);
/* 1 if the backend can run here (cuda: built with nvcc and a device is present). */
int sb_backend_available(sb_backend be);

/* ---- parameters ----------------------------------------------------------------------- */
#define SB_MAX_PARAMS 40
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
sb_param *sb_params_find(sb_params *ps, const char *name); /* NULL if absent */
const float *sb_params_get(const sb_params *ps, const char *name); /* asserts presence */
void sb_params_free(sb_params *ps);

/* ---- deterministic random numbers ------------------------------------------------------ */
typedef struct { uint64_t s[4]; } sb_rng;
void sb_rng_seed(sb_rng *r, uint64_t seed);
uint64_t sb_rng_u64(sb_rng *r);
float sb_rng_uniform(sb_rng *r);          /* [0,1) */
float sb_rng_normal(sb_rng *r);           /* N(0,1) */
void sb_fill_normal(float *x, size_t n, sb_rng *r, float mean, float std);
void sb_fill_uniform(float *x, size_t n, sb_rng *r, float lo, float hi);

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
} sb_impl;

typedef struct sb_layer_desc {
    const char *name;     /* "attention", "mamba", "ttt_linear", "ttt_mlp" */
    const char *about;
    const char *default_config; /* preset name used when none is given */
    /* Declare the parameters this config needs (names and shapes), in ps. */
    sb_status (*declare_params)(const sb_config *cfg, sb_params *ps);
    /* Fill the parameters with deterministic random values suited to the layer. */
    void (*init_params)(const sb_config *cfg, sb_params *ps, sb_rng *rng);
    /* Widths of the packed input and output rows at a level (op or layer). */
    int (*in_dim)(const sb_config *cfg, sb_level level);
    int (*out_dim)(const sb_config *cfg, sb_level level);
    /* Fill a host fp32 input [B,T,in_dim] with valid random values (op inputs need ranges). */
    void (*make_input)(const sb_config *cfg, sb_level level, float *x, int B, int T, sb_rng *rng);
    /* Analytic counts (SPEC §6), level op or layer. elem = bytes per activation element. */
    double (*flops)(const sb_config *cfg, sb_level level, sb_mode mode, const char *impl, int B, int T);
    double (*bytes)(const sb_config *cfg, sb_level level, sb_mode mode, const char *impl, int B, int T, int elem);
    double (*state_bytes)(const sb_config *cfg, sb_level level, int B, int T, int elem);
    const sb_impl *const *impls; /* NULL-terminated */
} sb_layer_desc;

/* ---- the layer instance ---------------------------------------------------------------- */
struct sb_layer {
    const sb_layer_desc *desc;
    const sb_impl *impl;
    sb_config cfg;
    sb_level level;
    sb_backend backend;
    int max_batch, max_ctx;
    int pos;          /* tokens in the state (same for every sequence) */
    int batch;        /* B of the state (set by prefill) */
    sb_params params;
    void *impl_state; /* owned by the impl */
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

sb_status sb_layer_create(const sb_layer_opts *o, sb_layer **out);
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
double sb_layer_flops(const sb_layer *L, sb_mode mode, int B, int T);
double sb_layer_bytes(const sb_layer *L, sb_mode mode, int B, int T);
double sb_layer_state_bytes(const sb_layer *L, int B, int T);

/* ---- registry -------------------------------------------------------------------------- */
extern const sb_layer_desc *const sb_registry[]; /* NULL-terminated, layers/registry.c */
const sb_layer_desc *sb_find_layer(const char *name);
const sb_impl *sb_find_impl(const sb_layer_desc *d, sb_backend be, sb_level level, const char *name);

#ifdef __cplusplus
}
#endif
#endif
