/* gated_deltanet.h: the Gated DeltaNet descriptor, its reference impls, and what the fast impls
 * (kernels/gated_deltanet_*, declared in kernels/gated_deltanet_impls.h) share: shapes, the packed op row, the state layout, the reference
 * math of one token and of one chunk, and the layer's pre/post-processing on the host.
 * Contract: ../shared/spec/gated_deltanet.md (fla-org/flash-linear-attention GatedDeltaNet).
 *
 * Shapes (sb_config): D = d_model, H = heads, K = head_dim, V = head_v_dim, W = d_conv,
 * C = chunk_size, norm_eps = eps. Fixed (the field table accepts only these): use_gate 1,
 * use_short_conv 1, conv_bias 0, allow_neg_eigval 0.
 *
 * Op level (the gated delta rule alone, spec §4), one row per token:
 *   input  = q | k | v | g | beta      widths HK, HK, HV, H, H
 *            q, k already L2-normalised per head (the op scales q by K^-1/2 itself), g the log
 *            decay (<= 0), beta the write strength.
 *   output = o                          HV wide (head h at h*V)
 * Layer level: x [B,T,D] -> y [B,T,D].
 *
 * State per sequence (spec §3), fp32 on every backend:
 *   S       [H, V, K]  the recurrent state (row = value channel: fla's state_v_first layout)
 *   conv_q  [HK, W], conv_k [HK, W], conv_v [HV, W]   the last W pre-conv projections,
 *           oldest in column 0 (layer level only)
 */
#ifndef SB_GATED_DELTANET_H
#define SB_GATED_DELTANET_H

#include "seqbench.h"

#include <math.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_layer_desc sb_gated_deltanet;
extern const sb_impl sb_gdn_ref_sequential; /* the recurrence token by token: the oracle */
extern const sb_impl sb_gdn_ref_chunked;    /* the chunked WY/UT form, naive loops */

/* sb_impl.count_form of impls whose prefill follows the chunked form (0: the recurrence). */
#define GDN_FORM_CHUNKED 1

#define GDN_L2_EPS 1e-6f /* q, k: x / sqrt(sum x^2 + 1e-6), the kernels' form */

static inline int gdn_hk(const sb_config *c) { return c->heads * c->head_dim; }
static inline int gdn_hv(const sb_config *c) { return c->heads * c->head_v_dim; }
static inline float gdn_scale(const sb_config *c) { return 1.0f / sqrtf((float)c->head_dim); }

/* ---- packed op row ---------------------------------------------------------------------- */
static inline int gdn_op_width(const sb_config *c) { return 2 * gdn_hk(c) + gdn_hv(c) + 2 * c->heads; }
static inline int gdn_off_q(const sb_config *c) { (void)c; return 0; }
static inline int gdn_off_k(const sb_config *c) { return gdn_hk(c); }
static inline int gdn_off_v(const sb_config *c) { return 2 * gdn_hk(c); }
static inline int gdn_off_g(const sb_config *c) { return 2 * gdn_hk(c) + gdn_hv(c); }
static inline int gdn_off_beta(const sb_config *c) { return 2 * gdn_hk(c) + gdn_hv(c) + c->heads; }

/* Projection row of the layer (one GEMM with the weights stacked in this order):
 * Q~ | K~ | V~ | a | b | G   widths HK, HK, HV, H, H, HV. The first three go through the convs. */
static inline int gdn_proj_width(const sb_config *c) { return 2 * gdn_hk(c) + 2 * gdn_hv(c) + 2 * c->heads; }
static inline int gdn_conv_channels(const sb_config *c) { return 2 * gdn_hk(c) + gdn_hv(c); }

/* Floats of state per sequence. */
static inline size_t gdn_state_floats(const sb_config *c) {
    return (size_t)c->heads * c->head_v_dim * c->head_dim;
}
static inline size_t gdn_conv_floats(const sb_config *c) { return (size_t)gdn_conv_channels(c) * c->d_conv; }

/* Checks the config is one seqbench supports at a level (positive sizes, chunk 1..64). */
sb_status gdn_check_config(const sb_config *c, sb_level level);

/* ---- reference math (gated_deltanet.c) ---------------------------------------------------- */
/* One token of one head (spec §2 step 6): S [V,K] <- exp(g) S; u = beta (v - S k);
 * S += u k^T; o = S (scale q). */
void gdn_ref_token(float *S, const float *q, const float *k, const float *v, float g, float beta, float scale,
                   int K, int V, float *o);
/* One chunk of n <= C tokens of one head in the WY/UT form (spec §4). Row i of q, k, v at
 * q + i*ld (same ld for all); g, beta at g + i*ldg; o row i at o + i*ldo. S [V,K] in/out. */
void gdn_ref_chunk(float *S, const float *q, const float *k, const float *v, size_t ld, const float *g,
                   const float *beta, size_t ldg, float scale, int K, int V, int n, float *o, size_t ldo);

/* ---- layer pre/post-processing (host, fp32; shared by ref and cpu) ------------------------ */
/* One sequence: projected rows P [T, proj_width] (Q~|K~|V~|a|b|G) -> op rows [T, op_width]:
 * causal convs + SiLU over Q~, K~, V~ with the W columns of conv state [conv_channels, W]
 * (conv_q | conv_k | conv_v stacked by channel; read, then replaced by the last W inputs),
 * L2 norms of q and k, g = -exp(A_log) softplus(a + dt_bias), beta = sigmoid(b). Naive loops (the reference); kernels/gated_deltanet_cpu.c has its own. */
void gdn_prepare_rows(const sb_config *c, const sb_params *ps, const float *P, float *op, float *conv, int T);
/* One token: o [HV] (op output), G [HV] -> o <- RMSNorm_per_head(o) * o_norm.weight * SiLU(G). */
void gdn_gated_norm(const sb_config *c, const float *norm_w, float *o, const float *G);

/* ---- host state of the ref and cpu impls (their impl_state starts with it) ---------------- */
typedef struct gdn_host_state {
    float *S;    /* [max_batch, H, V, K] */
    float *conv; /* [max_batch, conv_channels, W]: conv_q | conv_k | conv_v by channel */
} gdn_host_state;
sb_status gdn_host_state_init(gdn_host_state *s, const sb_layer *L);
void gdn_host_state_free(gdn_host_state *s);
void gdn_host_state_reset(gdn_host_state *s, const sb_layer *L, int B);
/* A well-scaled random state as after T tokens (benchmarks of decode at long contexts). */
void gdn_host_state_fill(gdn_host_state *s, const sb_layer *L, int B, uint64_t seed);
/* sb_impl.read_state of every host impl: S of the L->batch sequences, [B, H, V, K]. */
sb_status gdn_host_read_state(sb_layer *L, float *host);

#ifdef __cplusplus
}
#endif
#endif
