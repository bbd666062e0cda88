/* test_flops.c: the analytic FLOP/byte/state counts (SPEC §6) against counts done by hand on
 * small shapes (tiny config: D 64, H 4, d 16; Mamba E 128, N 16, R 4, K 4). */
#include <criterion/criterion.h>

#include "test_util.h"

typedef struct {
    const char *layer;
    sb_level level;
    sb_mode mode;
    int B, T;
    double flops;     /* by hand, see the comment of each row */
} flop_case;

static const flop_case flop_cases[] = {
    /* attention prefill core: 4*B*H*T^2*d/2 = 4*2*4*64*16/2 */
    {"attention", SB_OP, SB_PREFILL, 2, 8, 16384},
    /* + 4 projections * 2*D^2 per token * B*T tokens = 4*2*64*64*16 */
    {"attention", SB_LAYER, SB_PREFILL, 2, 8, 16384 + 524288},
    /* decode core at context 8: 4*B*H*T*d = 4*2*4*8*16 */
    {"attention", SB_OP, SB_DECODE, 2, 8, 4096},
    {"attention", SB_LAYER, SB_DECODE, 2, 8, 4096 + 4 * 2.0 * 64 * 64 * 2},
    /* scan: B*T*(9*E*N + 2*E) = 16*(18432 + 256) */
    {"mamba", SB_OP, SB_PREFILL, 2, 8, 299008},
    /* + per token 2*(D*2E + E*(R+2N) + R*E + E*D) = 2*(16384+4608+512+8192) = 59392, x16 */
    {"mamba", SB_LAYER, SB_PREFILL, 2, 8, 299008 + 950272},
    /* decode: one token per sequence, independent of the context */
    {"mamba", SB_OP, SB_DECODE, 2, 1000, 2 * 18688},
};

Test(counts, flops_match_hand_counts) {
    for (size_t i = 0; i < sizeof flop_cases / sizeof *flop_cases; i++) {
        const flop_case *c = &flop_cases[i];
        const sb_layer_desc *d = sb_find_layer(c->layer);
        cr_assert_not_null(d, "%s not registered", c->layer);
        sb_config cfg = tu_config(c->layer, "tiny");
        double f = d->flops(d, &cfg, c->level, c->mode, 0, c->B, c->T);
        cr_expect_float_eq(f, c->flops, 1e-9 * c->flops, "%s %s %s B=%d T=%d: %.0f, by hand %.0f", c->layer,
                           sb_level_name(c->level), sb_mode_name(c->mode), c->B, c->T, f, c->flops);
    }
}

Test(counts, bytes_match_hand_counts) {
    sb_config cfg = tu_config("attention", "tiny");
    const sb_layer_desc *a = sb_find_layer("attention");
    /* op decode B=2, T=8, fp32: q,k,v read + o written 2*4*64*4 = 2048; k,v appended 2*2*64*4 =
     * 1024; cache read 2*B*T*D*4 = 8192 */
    cr_expect_float_eq(a->bytes(a, &cfg, SB_OP, SB_DECODE, 0, 2, 8, 4), 2048 + 1024 + 8192, 1e-6);
    /* KV cache: 2*B*T*D*s = 2*2*8*64*2 (bf16) */
    cr_expect_float_eq(a->state_bytes(a, &cfg, SB_LAYER, 2, 8, 2), 4096, 1e-6);
    sb_config mc = tu_config("mamba", "tiny");
    const sb_layer_desc *m = sb_find_layer("mamba");
    /* op prefill bf16, B*T = 16 tokens: (4E + 2N)*2 = (512 + 32)*2 = 1088 per token */
    cr_expect_float_eq(m->bytes(m, &mc, SB_OP, SB_PREFILL, 0, 2, 8, 2), 16 * 1088.0, 1e-6);
    /* op decode adds the fp32 state read+written: 2*B*E*N*4 = 2*2*128*16*4 = 32768 */
    cr_expect_float_eq(m->bytes(m, &mc, SB_OP, SB_DECODE, 0, 2, 8, 2), 2 * 1088.0 + 32768, 1e-6);
    /* state: B*E*N*4 (+ conv B*E*3*4 at layer level) */
    cr_expect_float_eq(m->state_bytes(m, &mc, SB_OP, 2, 8, 2), 16384, 1e-6);
    cr_expect_float_eq(m->state_bytes(m, &mc, SB_LAYER, 2, 8, 2), 16384 + 3072, 1e-6);
}
