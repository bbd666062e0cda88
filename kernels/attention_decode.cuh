/* attention_decode.cuh: one new query per sequence against the KV cache (attention_decode.cu). */
#ifndef SB_ATTENTION_DECODE_CUH
#define SB_ATTENTION_DECODE_CUH

#include "attention_common.cuh"

/* o = softmax(q k^T / sqrt(d)) v over keys 0 .. pos of each (b, h), a->T == 1 (attention_common.cuh
 * for the layouts; the key at pos is already in the cache).
 *   version 1: one block per (b, h) over all keys (no split), then the same merge
 *   version 2: split-KV (flash-decoding): blocks (b, h, split), splits from attn_decode_make_plan
 * ws: fp32 workspace of ws_floats (attention_decode_workspace_floats); d in {16, 32, 64, 128}.
 * No allocation, no host synchronisation: a decode step can be captured in a CUDA graph. */
sb_status attention_decode(int version, const attn_fwd_args *a, float *ws, size_t ws_floats);

/* Workspace that attention_decode needs for any B <= max_batch and any context. */
size_t attention_decode_workspace_floats(int max_batch, int H, int d);

int attention_decode_supports(int d);

#endif
