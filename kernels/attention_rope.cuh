/* attention_rope.cuh: the KV-cache writers of the CUDA attention (attention_rope.cu). */
#ifndef SB_ATTENTION_ROPE_CUH
#define SB_ATTENTION_ROPE_CUH

#include "attention_common.cuh"

/* Rows r = b*T + t of qkv (row stride ld, q | k | v each H*d wide) at absolute positions
 * pos + t: with rope != 0, q and k are rotated (rotate-half, theta) and q is written back in
 * place (q_out = qkv) or not at all (q_out = NULL); k and v go to the caches at (b, h, pos + t).
 * Without rope the rows are only scattered (op level: q|k|v arrive rotated). Requires d % 16 == 0. */
sb_status attention_rope_scatter(const bf16 *qkv, bf16 *q_out, long ld, int B, int T, int H, int d, int pos,
                                 int rope, float theta, bf16 *k_cache, bf16 *v_cache, int ctx);

/* Random K and V (uniform with unit variance, from a hash of seed and the element index) for
 * positions 0..T-1 of sequences 0..B-1: a cache state without a prefill (decode benchmarks). */
sb_status attention_fill_kv_random(bf16 *k_cache, bf16 *v_cache, int B, int H, int T, int d, int ctx, uint64_t seed);

#endif
