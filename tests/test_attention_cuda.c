/* test_attention_cuda.c: the CUDA attention beyond the generic tables.
 *   suite attention_plan: host-side decisions of the kernels (split counts, workspace bound, tile
 *                     counts): run everywhere, no GPU needed.
 *   suite attention_cuda: (skip without a device) the head dims of the benchmarks (64, 128) and
 *                     contexts long enough for several decode splits and many key tiles, which
 *                     the generic tests (tiny: d 16, T <= 64) do not reach; every cuda impl vs ref.
 */
#include <criterion/criterion.h>

#include "test_util.h"
#include "../bench/golden.h"
#include "../kernels/attention_cuda_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- host-side plan ------------------------------------------------------------------------------ */
Test(attention_plan, decode_splits_fill_the_gpu_and_cover_every_key) {
    const int Bs[] = {1, 2, 16, 64, 512}, Hs[] = {4, 32}, Ts[] = {1, 2, 255, 256, 257, 1000, 4096, 32768, 100000};
    const int sms = 132;
    for (size_t i = 0; i < sizeof Bs / sizeof *Bs; i++)
        for (size_t j = 0; j < sizeof Hs / sizeof *Hs; j++)
            for (size_t k = 0; k < sizeof Ts / sizeof *Ts; k++) {
                const int B = Bs[i], H = Hs[j], T = Ts[k];
                attn_decode_plan p = attn_decode_make_plan(B, H, T, sms);
                cr_assert(p.splits >= 1 && p.splits <= ATTN_DECODE_MAX_SPLITS, "B %d H %d T %d: %d splits", B, H, T, p.splits);
                /* the splits cover the keys exactly, none empty */
                cr_assert_geq((long)p.splits * p.keys_per_split, T);
                cr_assert_lt((long)(p.splits - 1) * p.keys_per_split, T, "B %d H %d T %d: empty split", B, H, T);
                /* not tiny, unless there is one split */
                cr_assert(p.splits == 1 || p.keys_per_split >= ATTN_DECODE_MIN_KEYS / 2, "B %d T %d: %d keys/split", B, T,
                          p.keys_per_split);
                /* the workspace bound holds */
                cr_assert_leq((size_t)B * H * p.splits, attn_decode_max_partials(B, H, sms));
                cr_assert_leq((size_t)B * H * p.splits, attn_decode_max_partials(512, H, sms));
            }
}

Test(attention_plan, decode_splits_at_benchmark_shapes) {
    /* 1.3b (H 32), H100 (132 SMs): B 16 at 32k splits ~5 ways (2560 blocks); B 512 needs none */
    attn_decode_plan p = attn_decode_make_plan(16, 32, 32768, 132);
    cr_expect_eq(p.splits, 5);
    cr_expect_geq(16L * 32 * p.splits, ATTN_DECODE_BLOCKS_PER_SM * 132L);
    p = attn_decode_make_plan(512, 32, 16384, 132);
    cr_expect_eq(p.splits, 1);
    p = attn_decode_make_plan(1, 4, 1100, 132); /* the long test case below: 4 splits */
    cr_expect_eq(p.splits, 4);
}

Test(attention_plan, prefill_tiles) {
    cr_expect_eq(attn_prefill_query_blocks(1, 128), 1);
    cr_expect_eq(attn_prefill_query_blocks(128, 128), 1);
    cr_expect_eq(attn_prefill_query_blocks(129, 128), 2);
    /* query block 0 of T 4096: rows 0..127 need keys 0..127 = 2 tiles of 64 */
    cr_expect_eq(attn_prefill_key_tiles(0, 128, 64, 4096, 0), 2);
    cr_expect_eq(attn_prefill_key_tiles(31, 128, 64, 4096, 0), 64);
    /* a partial last block: rows 128..199 of T 200 need keys 0..199 = 4 tiles */
    cr_expect_eq(attn_prefill_key_tiles(1, 128, 64, 200, 0), 4);
    /* queries after a prefix of 10: rows 0..15 at positions 10..25 need keys 0..25 */
    cr_expect_eq(attn_prefill_key_tiles(0, 16, 64, 16, 10), 1);
    cr_expect_eq(attn_prefill_key_tiles(0, 64, 64, 64, 10), 2);
}

/* ---- every cuda impl vs ref at the benchmark head dims -------------------------------------------- */
typedef struct {
    int D, H;         /* head dim D/H */
    sb_level level;
    int B, T, steps;
} cuda_case;

static const cuda_case cases[] = {
    {256, 4, SB_OP, 2, 200, 3},     /* d 64: partial query block and key tile */
    {256, 4, SB_LAYER, 1, 129, 2},  /* d 64: one row into the second 128-row block */
    {256, 4, SB_OP, 1, 1100, 2},    /* d 64: 18 key tiles, decode over 4 splits */
    {256, 2, SB_OP, 2, 150, 3},     /* d 128 */
    {256, 2, SB_LAYER, 3, 65, 1},   /* d 128 */
    {64, 4, SB_LAYER, 1, 1100, 2},  /* d 16 (tiny): decode over 4 splits */
    {256, 4, SB_LAYER, 2, 1, 2},    /* one token */
};

static sb_config config_of(const cuda_case *c) {
    sb_config cfg = tu_config("attention", "tiny");
    cfg.d_model = c->D;
    cfg.heads = c->H;
    cfg.head_dim = c->D / c->H;
    snprintf(cfg.name, sizeof cfg.name, "custom");
    return cfg;
}

static void compare_impl(const char *impl, const cuda_case *c) {
    sb_config cfg = config_of(c);
    sb_layer_opts o = {.layer = "attention", .impl = impl, .backend = SB_CUDA, .level = c->level, .cfg = &cfg,
                       .seed = 11, .max_batch = c->B, .max_ctx = c->T + c->steps};
    char what[128];
    snprintf(what, sizeof what, "cuda/%s d %d %s B %d T %d", impl, cfg.head_dim, sb_level_name(c->level), c->B, c->T);
    tu_expect_matches_ref(&o, c->B, c->T, c->steps, 21, what);
}

Test(attention_cuda, impls_match_ref_at_benchmark_head_dims, .timeout = 300) {
    if (!sb_backend_available(SB_CUDA)) cr_skip_test("no CUDA device");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        compare_impl("flash", &cases[i]);
        compare_impl("naive", &cases[i]);
    }
}

/* One decode step (op level) on a cache from fill_state: flash (split-KV) against naive (one warp
 * per query, no split) on the same random cache, at a context with many splits. */
static sb_status decode_after_fill(const char *impl, const sb_config *cfg, int B, int T, const float *xin, float *out) {
    sb_layer_opts o = {.layer = "attention", .impl = impl, .backend = SB_CUDA, .level = SB_OP, .cfg = cfg,
                       .seed = 3, .max_batch = B, .max_ctx = T + 1};
    sb_layer *L;
    sb_status st = sb_layer_create(&o, &L);
    if (st) return st;
    const int in = sb_layer_in_dim(L), outd = sb_layer_out_dim(L);
    sb_buf bx = {0}, by = {0};
    st = sb_layer_fill_state(L, B, T, 1234);
    if (!st) st = sb_buf_alloc(&bx, SB_CUDA, SB_BF16, (size_t)B * in);
    if (!st) st = sb_buf_alloc(&by, SB_CUDA, SB_BF16, (size_t)B * outd);
    if (!st) st = sb_buf_upload(&bx, xin, (size_t)B * in);
    if (!st) st = tu_poison(&by);
    if (!st) st = sb_layer_decode(L, bx.p, by.p, B);
    if (!st) st = sb_buf_download(&by, out, (size_t)B * outd);
    sb_buf_free(&bx);
    sb_buf_free(&by);
    sb_layer_destroy(L);
    return st;
}

Test(attention_cuda, split_decode_matches_naive_on_filled_state, .timeout = 120) {
    if (!sb_backend_available(SB_CUDA)) cr_skip_test("no CUDA device");
    const int dims[][2] = {{256, 4}, {256, 2}, {64, 4}}; /* d 64, 128, 16 */
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        cuda_case c = {dims[i][0], dims[i][1], SB_OP, 3, 9000, 1};
        sb_config cfg = config_of(&c);
        const int in = 3 * cfg.d_model, outd = cfg.d_model;
        float *x = malloc((size_t)c.B * in * sizeof(float)), *a = malloc((size_t)c.B * outd * sizeof(float)),
              *b = malloc((size_t)c.B * outd * sizeof(float));
        sb_rng rng;
        sb_rng_seed(&rng, 77);
        sb_fill_normal(x, (size_t)c.B * in, &rng, 0.0f, 1.0f);
        cr_assert_eq(decode_after_fill("flash", &cfg, c.B, c.T, x, a), SB_OK, "%s", sb_last_error());
        cr_assert_eq(decode_after_fill("naive", &cfg, c.B, c.T, x, b), SB_OK, "%s", sb_last_error());
        double max_abs, max_ref;
        tu_max_err(a, b, (size_t)c.B * outd, &max_abs, &max_ref);
        cr_expect(max_abs <= sb_tolerance(SB_CUDA, max_ref), "d %d: flash vs naive after fill_state: %.3e (max %.3g)",
                  cfg.head_dim, max_abs, max_ref);
        free(x); free(a); free(b);
    }
}
