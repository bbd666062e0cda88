/* ttt.h: what TTT-Linear and TTT-MLP share (layers/ttt_common.c) and what their fast impls
 * (kernels/ttt_*) build on: the packed op row, the inner-parameter layout, the per-variant
 * table used by the reference driver, and the analytic counts.
 *
 * Op level (the inner loop alone), one row per token:
 *   input  = XQ | XK | XV | lr        widths D, D, D, H
 *            XQ, XK after the share_qk convs (if any) and the interleaved RoPE at position
 *            t mod b; lr[h] = ttt_base_lr * sigmoid(x . w_h + c_h) / d already computed.
 *   output = concat_h( XQ_h + LN_h(Zbar_h) )   D wide, before post_norm.
 * Parameters read at op level: learnable_token_idx, ttt_norm_weight/bias and the inner model
 * (W1, b1, and W2, b2 for MLP); the others are declared but unused there.
 *
 * Inner state of one (sequence, head), fp32, flat, in parameter order:
 *   TTT-Linear  W1 [d,d] | b1 [d]                              d^2 + d floats
 *   TTT-MLP     W1 [d,4d] | b1 [4d] | W2 [4d,d] | b2 [d]       8d^2 + 5d floats
 * plus accumulators G of the same size: G = sum_{j<i} lr_j grad_j of the open mini-batch
 * (zero at a mini-batch start). The weights W are those of the open mini-batch's start.
 */
#ifndef SB_TTT_H
#define SB_TTT_H

#include "seqbench.h"

extern const sb_layer_desc sb_ttt_linear;
extern const sb_layer_desc sb_ttt_mlp;

/* ---- packed op row ---------------------------------------------------------------------- */
static inline int ttt_op_width(const sb_config *c) { return 3 * c->d_model + c->heads; }
static inline int ttt_off_xq(const sb_config *c) { (void)c; return 0; }
static inline int ttt_off_xk(const sb_config *c) { return c->d_model; }
static inline int ttt_off_xv(const sb_config *c) { return 2 * c->d_model; }
static inline int ttt_off_lr(const sb_config *c) { return 3 * c->d_model; }

/* token_eta[i] = max(0, 1/(i+1) + learnable_token_idx[i]), i = position inside the mini-batch */
static inline float ttt_token_eta(const float *learnable_token_idx, int i) {
    float t = 1.0f / (float)(i + 1) + learnable_token_idx[i];
    return t > 0.0f ? t : 0.0f;
}

/* TTT-MLP: one head's flat inner state (or accumulators) as its four parameters, in the order
 * above (the reference in layers/ttt_mlp.c and the fast CPU impl in kernels/ttt_cpu.c). */
typedef struct ttt_mlp_params {
    float *W1, *b1, *W2, *b2;
} ttt_mlp_params;
static inline ttt_mlp_params ttt_mlp_view(float *p, int d) {
    const size_t h = 4 * (size_t)d;
    return (ttt_mlp_params){p, p + d * h, p + d * h + h, p + 2 * d * h + h};
}

/* ---- one head's view of the data (reference code) ---------------------------------------- */
typedef struct ttt_head {
    int d, mini_batch;            /* head dim, b */
    float eps;                    /* inner LN eps */
    const float *gamma, *beta;    /* ttt_norm_weight[h], ttt_norm_bias[h] */
    const float *token_idx;       /* learnable_token_idx [b] */
    float *w, *g;                 /* inner state (W at the mini-batch start) and accumulators */
} ttt_head;

/* Token rows of one head: row i of q is q + i*ld; lr is one float per row (stride ld too). */
typedef struct ttt_rows {
    const float *q, *k, *v, *lr;
    size_t ld;
    float *o;                     /* output row i at o + i*ldo */
    size_t ldo;
} ttt_rows;

/* What the reference driver needs to know about an inner model. */
typedef struct ttt_variant {
    const char *layer;            /* "ttt_linear", "ttt_mlp" */
    int mlp;                      /* 0: f(k) = k W1 + b1; 1: f(k) = gelu(k W1 + b1) W2 + b2, hidden 4d */
    size_t (*inner_floats)(int d);/* floats of inner state per head */
    size_t (*ws_floats)(int d, int b);
    /* One token at mini-batch position m: G += lr*grad at W, output with W - tau_m*G.
     * Does not commit; the driver commits (W -= tau_{b-1} G, G = 0) when m = b-1. */
    void (*step)(const ttt_head *hd, const ttt_rows *r, int m, float *ws);
    /* Dual form over n <= b tokens starting a mini-batch (G = 0 on entry): outputs, and
     * G += sum_j lr_j grad_j. The driver commits when the chunk completes the mini-batch. */
    void (*chunk)(const ttt_head *hd, const ttt_rows *r, int n, float *ws);
    /* FLOPs per token per head (SPEC §6): dual = dual_d2*d^2 + dual_bd*b*d; primal/decode =
     * primal_d2*d^2. */
    double dual_d2, dual_bd, primal_d2;
} ttt_variant;

extern const ttt_variant ttt_linear_variant;
extern const ttt_variant ttt_mlp_variant;

/* Reference impls (layers/ttt_linear.c, ttt_mlp.c); the fast ones are declared in
 * kernels/ttt_impls.h. */
extern const sb_impl sb_ttt_linear_ref_dual, sb_ttt_linear_ref_primal;
extern const sb_impl sb_ttt_mlp_ref_dual, sb_ttt_mlp_ref_primal;

/* The config fields both TTT variants read (golden case.txt / ttt.py TTTConfig names), with the
 * variant's default base learning rate; pre_conv is a block option of the TTT model that the
 * layer does not have (only 0 is accepted). */
#define TTT_CONFIG_FIELDS(base_lr)                                                                  \
    SB_FIELD_I("d_model|hidden_size", d_model, 0), SB_FIELD_I("heads|num_attention_heads", heads, 0), \
    SB_FIELD_I("head_dim", head_dim, 0), SB_FIELD_I("mini_batch|mini_batch_size", mini_batch, 16),    \
    SB_FIELD_F("ttt_base_lr", ttt_base_lr, base_lr), SB_FIELD_I("use_gate", use_gate, 0),            \
    SB_FIELD_I("share_qk", share_qk, 0), SB_FIELD_FIX("pre_conv", 0),                                \
    SB_FIELD_I("d_conv|conv_kernel", d_conv, 4), SB_FIELD_F("rope_theta", rope_theta, 10000.0),      \
    SB_FIELD_F("eps", eps, 1e-6), SB_FIELD_END

/* Inner hidden width: d (Linear), 4d (MLP). */
static inline int ttt_hidden(const ttt_variant *v, int d) { return v->mlp ? 4 * d : d; }

/* ---- shared math (ttt_common.c), one row of d --------------------------------------------- */
/* y = gamma*(z - mu)/sqrt(var + eps) + beta (biased variance) */
void ttt_ln_fwd(const float *z, const float *gamma, const float *beta, int d, float eps, float *y);
/* Gradient of 1/2 ||LN(z) - target||^2 with respect to z (no factor 2, as ttt.py). */
void ttt_ln_l2_bwd(const float *z, const float *target, const float *gamma, const float *beta, int d, float eps,
                   float *g);
/* Small dense helpers of the reference dual forms (double accumulation):
 * dst[n,w] = rows of src (row stride ld) */
void ttt_gather(const float *src, size_t ld, int n, int w, float *dst);
/* out[i,:] -= sum_{j<=i} tau_i alpha_j (A ? A[i,j] : 1) G[j,:]   (A [n,n], G [n,w]) */
void ttt_sub_causal_mix(const float *A, const float *tau, const float *alpha, const float *G, int n, int w, float *out);
/* acc[r,c] += sum_j alpha_j X[j,r] G[j,c]   (X [n,rows], G [n,cols]; X NULL: all ones, rows 1) */
void ttt_add_weighted_outer(const float *X, const float *G, const float *alpha, int n, int rows, int cols, float *acc);

/* ---- descriptor pieces shared by both variants (ttt_common.c) ----------------------------- */
/* The descriptor functions both variants share read their ttt_variant from desc->ctx. */
sb_status ttt_declare_params(const sb_layer_desc *desc, const sb_config *c, sb_level level, sb_params *ps);
void ttt_init_params(const sb_layer_desc *desc, const sb_config *c, sb_params *ps, sb_rng *rng);
int ttt_in_dim(const sb_config *c, sb_level l);
int ttt_out_dim(const sb_config *c, sb_level l);
void ttt_make_input(const sb_config *c, sb_level l, float *x, int B, int T, sb_rng *rng);
/* Counts: impls of count_form TTT_FORM_PRIMAL count the primal form in prefill; every other
 * impl the dual form. Decode is the one-token primal update for every impl. */
enum { TTT_FORM_DUAL = 0, TTT_FORM_PRIMAL = 1 };
double ttt_flops(const sb_layer_desc *desc, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T);
double ttt_bytes(const sb_layer_desc *desc, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T, int s);
double ttt_state_bytes(const sb_layer_desc *desc, const sb_config *c, sb_level l, int B, int T, int s);
/* Projections of the layer level (q, k unless share_qk, v, o, g if use_gate) and the lr gate:
 * multiply-adds per token. */
double ttt_proj_macs_per_token(const sb_config *c);

/* Load the initial inner state of head h (W1, b1[, W2, b2] slices) into w. */
void ttt_load_inner(const ttt_variant *v, const sb_params *ps, const sb_config *c, int h, float *w);

/* ---- layer level on the host, reference (ttt_common.c) ------------------------------------ */
/* x[B,T,D] at positions pos..pos+T-1 -> op rows [B,T,op_width]: projections, share_qk convs
 * (conv_hist [B, D, K-1] pre-conv history, oldest first, read and updated), interleaved RoPE at
 * (pos+t) mod b, lr gate. */
sb_status ttt_ref_layer_in(const sb_layer *L, const float *x, float *op, int B, int T, int pos, float *conv_hist);
/* o rows [rows, D] (op output) -> y: post_norm, gate gelu(x Wg^T) if use_gate, o_proj. */
sb_status ttt_ref_layer_out(const sb_layer *L, const float *x, const float *o, float *y, size_t rows);

/* ---- the reference backend, shared driver ------------------------------------------------- */
/* sb_impl functions of both variants' ref impls: the variant is L->desc->ctx; prefill runs the
 * dual form per mini-batch, or token by token for an impl of count_form TTT_FORM_PRIMAL. */
sb_status ttt_ref_setup(sb_layer *L);
void ttt_ref_teardown(sb_layer *L);
sb_status ttt_ref_prefill(sb_layer *L, const void *x, void *y, int B, int T);
sb_status ttt_ref_decode(sb_layer *L, const void *x, void *y, int B);
sb_status ttt_ref_fill_state(sb_layer *L, int B, int T, uint64_t seed);

/* ---- test only: the TTT-Linear dual form with parts switched off -------------------------- */
/* Used by tests/test_ttt.c to check the paper's theorem (TTT-Linear with W0 = 0 and plain
 * squared loss is causal linear attention). The benchmark path always uses all switches on. */
typedef struct ttt_linear_switches {
    int inner_ln;         /* LN in the loss and on the output */
    int residual_target;  /* target v - k (else v) */
    int update_bias;      /* b takes part in the update (else frozen) */
    int residual_out;     /* output q + ... (else just the inner output) */
} ttt_linear_switches;
void ttt_linear_dual_chunk_switched(const ttt_head *hd, const ttt_rows *r, int n, float *ws,
                                    const ttt_linear_switches *sw);

#endif
