/* attention_cuda_plan.h: the host-side decisions of the CUDA attention kernels (grid shapes,
 * split counts, workspace sizes). Plain C so that the CPU build compiles and tests them
 * (tests/test_attention_cuda.c) without nvcc; kernels/attention_*.cu call them. */
#ifndef SB_ATTENTION_CUDA_PLAN_H
#define SB_ATTENTION_CUDA_PLAN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Split-KV decode (flash-decoding): blocks (b, h, split) each read a chunk of the cache.
 * ATTN_DECODE_BLOCKS_PER_SM: the grid aims at this many blocks per SM (a decode block is 128
 * threads with few registers: 16 fit on an SM), so that B*H*splits keeps every SM streaming.
 * ATTN_DECODE_MIN_KEYS: below this many keys per split the merge costs more than it saves.
 * ATTN_DECODE_MAX_SPLITS: caps the merge kernel's loop. */
#define ATTN_DECODE_BLOCKS_PER_SM 16
#define ATTN_DECODE_MIN_KEYS 256
#define ATTN_DECODE_MAX_SPLITS 64

typedef struct attn_decode_plan {
    int splits;         /* blocks per (b, h); every split holds at least one key */
    int keys_per_split; /* the last split may hold fewer */
} attn_decode_plan;

/* The split of kv_len >= 1 keys for B sequences of H heads on a GPU of num_sms SMs. */
attn_decode_plan attn_decode_make_plan(int B, int H, int kv_len, int num_sms);

/* Upper bound of B*H*splits over every B <= max_batch and every kv_len: the number of
 * partial results the decode workspace must hold (allocated once, at setup). */
size_t attn_decode_max_partials(int max_batch, int H, int num_sms);

/* Query tiles of the flash prefill: ceil(T / rows_per_block). */
int attn_prefill_query_blocks(int T, int rows_per_block);

/* Key tiles that query block qb (rows qb*br .. qb*br+br-1 of T, the first at absolute position
 * pos) visits under the causal mask, tiles of bc keys. */
int attn_prefill_key_tiles(int qb, int br, int bc, int T, int pos);

#ifdef __cplusplus
}
#endif
#endif
