/* mamba.h: the Mamba-1 descriptor, its reference impl, and what the fast impls share
 * (kernels/mamba_* include it; their impls are declared in kernels/mamba_impls.h). */
#ifndef SB_MAMBA_H
#define SB_MAMBA_H

#include "seqbench.h"

extern const sb_layer_desc sb_mamba;
extern const sb_impl sb_mamba_ref_sequential; /* the selective scan token by token, naive loops */

/* Widths derived from the config: E = expand*D, N, R, K (conv width). */
static inline int mamba_E(const sb_config *c) { return c->expand * c->d_model; }
/* Offsets inside the packed op row u | delta | B | C | z (width 3E + 2N). */
static inline int mamba_op_width(const sb_config *c) { return 3 * mamba_E(c) + 2 * c->d_state; }
static inline int mamba_off_delta(const sb_config *c) { return mamba_E(c); }
static inline int mamba_off_B(const sb_config *c) { return 2 * mamba_E(c); }
static inline int mamba_off_C(const sb_config *c) { return 2 * mamba_E(c) + c->d_state; }
static inline int mamba_off_z(const sb_config *c) { return 2 * mamba_E(c) + 2 * c->d_state; }

#endif
