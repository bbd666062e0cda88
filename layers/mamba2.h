/* mamba2.h: the Mamba-2 descriptor, its reference impls, and what the fast impls share
 * (kernels/mamba2_* include it; their impls are declared in kernels/mamba2_impls.h). Contract:
 * ../shared/spec/mamba2.md. Widths from the config:
 *   D d_model, E = expand*D (d_inner; op-level golden cases give d_inner without d_model),
 *   P = head_dim (headdim), H = E/P (nheads), N = d_state,
 *   G = ngroups, Q = chunk_size, K = d_conv, conv_dim = E + 2GN, in_proj rows = 2E + 2GN + H.
 * The op row of a token (level op, and what the layer builds after its conv) is
 *   x [E] | B [GN] | C [GN] | dt [H]        (dt raw, before dt_bias and softplus)
 * i.e. the post-conv xBC followed by dt, the order of in_proj's output; op output: y [E]. */
#ifndef SB_MAMBA2_H
#define SB_MAMBA2_H

#include "seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const sb_layer_desc sb_mamba2;
extern const sb_impl sb_mamba2_ref_sequential; /* the recurrence token by token: the oracle */
extern const sb_impl sb_mamba2_ref_chunked;    /* the chunked dual (SSD) form, naive loops */

static inline int mamba2_E(const sb_config *c) { return c->d_model > 0 ? c->expand * c->d_model : c->d_inner; }
static inline int mamba2_P(const sb_config *c) { return c->head_dim; }
static inline int mamba2_H(const sb_config *c) { return c->head_dim > 0 ? mamba2_E(c) / c->head_dim : 0; }
static inline int mamba2_N(const sb_config *c) { return c->d_state; }
static inline int mamba2_G(const sb_config *c) { return c->ngroups; }
static inline int mamba2_Q(const sb_config *c) { return c->chunk_size; }
static inline int mamba2_K(const sb_config *c) { return c->d_conv; }
static inline int mamba2_GN(const sb_config *c) { return c->ngroups * c->d_state; }
static inline int mamba2_conv_dim(const sb_config *c) { return mamba2_E(c) + 2 * mamba2_GN(c); }
static inline int mamba2_in_proj_rows(const sb_config *c) { return 2 * mamba2_E(c) + 2 * mamba2_GN(c) + mamba2_H(c); }
/* Offsets inside the op row x | B | C | dt. */
static inline int mamba2_op_width(const sb_config *c) { return mamba2_conv_dim(c) + mamba2_H(c); }
static inline int mamba2_off_B(const sb_config *c) { return mamba2_E(c); }
static inline int mamba2_off_C(const sb_config *c) { return mamba2_E(c) + mamba2_GN(c); }
static inline int mamba2_off_dt(const sb_config *c) { return mamba2_conv_dim(c); }
/* Offsets inside in_proj's output row z | xBC | dt. */
static inline int mamba2_zoff_xbc(const sb_config *c) { return mamba2_E(c); }
static inline int mamba2_zoff_dt(const sb_config *c) { return 2 * mamba2_E(c) + 2 * mamba2_GN(c); }
/* Head h reads B/C group h / (H/G). */
static inline int mamba2_group(const sb_config *c, int h) { return h / (mamba2_H(c) / mamba2_G(c)); }
/* Norm epsilon of the gated RMSNorm (spec §2.6). */
#define MAMBA2_NORM_EPS 1e-5f

/* SB_OK when the config is one seqbench supports (spec §1): positive widths (d_model from the
 * layer level up; the op needs E only), P | E, G | H. */
sb_status mamba2_check_config(const sb_config *c, sb_level level);

/* A[h] = -exp(A_log[h]) for every head, from the parameter "A" itself where the level declares it
 * (an op given A, as the official scan takes it), else from "A_log". */
void mamba2_head_A(const sb_layer *L, float *A);

/* The gated RMSNorm of spec §2.6 on one token, in place: y[E] <- RMSNorm_G(y * SiLU(z)) * w.
 * fp32 in, double sums; used by the ref impls (the oracle). */
void mamba2_ref_gated_norm(const sb_config *c, float *y, const float *z, const float *w);

#ifdef __cplusplus
}
#endif

#endif
