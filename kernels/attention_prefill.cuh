/* attention_prefill.cuh: causal attention over T queries per sequence (attention_prefill.cu). */
#ifndef SB_ATTENTION_PREFILL_CUH
#define SB_ATTENTION_PREFILL_CUH

#include "attention_common.cuh"

/* o = softmax(q k^T / sqrt(d) + causal mask) v for every (b, t, h) of a (attention_common.cuh
 * for the layouts). The keys 0 .. pos+T-1 must be in the cache.
 *   version 1: one warp per query row, fp32, any d <= 128 (d % 8 == 0)
 *   version 2: FlashAttention-2 on tensor cores (mma.sync bf16), d in {16, 64, 128}
 *   (version 3, the same on Hopper warpgroup MMAs, is a draft in dev/attention_prefill_wgmma.cuh)
 * Returns SB_EINVAL for a shape the version does not support. */
sb_status attention_prefill(int version, const attn_fwd_args *a);

/* 1 if version supports head dim d on the current device. */
int attention_prefill_supports(int version, int d);

#endif
