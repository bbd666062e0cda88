/* attention_cuda_plan.c: see attention_cuda_plan.h. */
#include "attention_cuda_plan.h"

static int cdiv(long a, long b) { return (int)((a + b - 1) / b); }
static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

attn_decode_plan attn_decode_make_plan(int B, int H, int kv_len, int num_sms) {
    attn_decode_plan p;
    long pairs = (long)B * H, target = (long)ATTN_DECODE_BLOCKS_PER_SM * imax(num_sms, 1);
    int want = cdiv(target, pairs);                        /* fill the GPU ... */
    int most = imax(1, kv_len / ATTN_DECODE_MIN_KEYS);     /* ... with splits that are not tiny */
    int splits = imax(1, imin(imin(want, most), ATTN_DECODE_MAX_SPLITS));
    p.keys_per_split = cdiv(kv_len, splits);
    p.splits = cdiv(kv_len, p.keys_per_split);            /* no empty split */
    return p;
}

size_t attn_decode_max_partials(int max_batch, int H, int num_sms) {
    /* splits <= ceil(target / (B*H)) <= target / (B*H) + 1, so B*H*splits <= target + B*H */
    return (size_t)ATTN_DECODE_BLOCKS_PER_SM * (size_t)imax(num_sms, 1) + (size_t)max_batch * H;
}

int attn_prefill_query_blocks(int T, int rows_per_block) { return cdiv(T, rows_per_block); }

int attn_prefill_key_tiles(int qb, int br, int bc, int T, int pos) {
    int last_row = imin((qb + 1) * br, T) - 1;
    return cdiv((long)pos + last_row + 1, bc); /* keys 0 .. pos + last_row */
}
