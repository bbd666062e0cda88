/* test_model_block.c: the model level reads its block from the descriptor's traits (sb_block), not
 * from the layer's name: around one mixer (attention, tiny), each variant of the block — MLP or
 * not, norm eps, LM head tied to the embedding — runs on cpu as on ref, changes the logits (so the
 * trait is read), and counts what it has (the MLP's FLOPs only with an MLP). */
#include "test_util.h"
#include "../layers/attention.h"
#include "../kernels/attention_impls.h"
#include "../bench/golden.h" /* sb_tolerance */

#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define B_ 2
#define T_ 9

/* Logits [B, vocab] of the last token after a prefill of fixed ids, on one backend. */
static float *logits(const sb_layer_desc *d, const sb_impl *im, const sb_model_ops *ops, sb_backend be) {
    sb_config cfg = tu_config("attention", "tiny");
    sb_layer_opts o = {.layer = d->name, .backend = be, .level = SB_MODEL, .cfg = &cfg, .seed = 3, .max_batch = B_,
                       .max_ctx = T_};
    sb_layer *L;
    cr_assert_eq(sb_model_open(d, im, ops, &o, &L), SB_OK, "%s", sb_last_error());
    float ids[B_ * T_];
    for (int i = 0; i < B_ * T_; i++) ids[i] = (float)((i * 37 + 11) % cfg.vocab);
    sb_buf x = {0}, y = {0};
    cr_assert_eq(sb_buf_alloc(&x, be, SB_I32, B_ * T_), SB_OK);
    cr_assert_eq(sb_buf_alloc(&y, be, sb_backend_act_dtype(be), (size_t)B_ * cfg.vocab), SB_OK);
    cr_assert_eq(sb_buf_upload(&x, ids, B_ * T_), SB_OK);
    cr_assert_eq(sb_layer_prefill(L, x.p, y.p, B_, T_), SB_OK, "%s", sb_last_error());
    float *out = malloc((size_t)B_ * cfg.vocab * sizeof(float));
    cr_assert_eq(sb_buf_download(&y, out, (size_t)B_ * cfg.vocab), SB_OK);
    sb_buf_free(&x);
    sb_buf_free(&y);
    sb_layer_destroy(L);
    return out;
}

static double max_diff(const float *a, const float *b, size_t n, double *max_ref) {
    double m = 0;
    *max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m)) m = e;
        if (fabs(b[i]) > *max_ref) *max_ref = fabs(b[i]);
    }
    return m;
}

Test(model_block, every_block_trait_is_read_and_cpu_matches_ref) {
    const sb_block blocks[] = {
        {.mlp = 1, .norm_eps = 1e-6f, .tied_embedding = 0}, /* attention's own block: the baseline */
        {.mlp = 0, .norm_eps = 1e-6f, .tied_embedding = 0},
        {.mlp = 1, .norm_eps = 1e-1f, .tied_embedding = 0}, /* a large eps, so that it shows */
        {.mlp = 1, .norm_eps = 1e-6f, .tied_embedding = 1},
        {.mlp = 0, .norm_eps = 1e-5f, .tied_embedding = 1}, /* Mamba-2's block */
    };
    const int vocab = tu_config("attention", "tiny").vocab;
    const size_t n = (size_t)B_ * vocab;
    float *base = NULL;
    for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) {
        sb_layer_desc d = sb_attention; /* the same mixer with another block */
        d.block = blocks[i];
        float *ref = logits(&d, &sb_attention_ref_naive, &sb_model_ops_ref, SB_REF);
        float *cpu = logits(&d, &sb_attention_cpu_flash, &sb_model_ops_cpu, SB_CPU);
        double max_ref, e = max_diff(cpu, ref, n, &max_ref);
        cr_expect(e <= sb_tolerance(SB_CPU, max_ref), "block %zu: cpu vs ref %.3e (max|ref| %.3g)", i, e, max_ref);
        if (!base) {
            base = ref;
        } else {
            cr_expect(max_diff(ref, base, n, &max_ref) > 1e-3, "block %zu: the logits do not change", i);
            free(ref);
        }
        free(cpu);
        sb_config cfg = tu_config("attention", "tiny");
        const double D = cfg.d_model, I = cfg.intermediate, tokens = B_ * T_;
        const double mixer = sb_count(&d, &sb_attention_ref_naive, &cfg, SB_LAYER, SB_PREFILL, B_, T_, SB_F32).flops;
        const double want = cfg.n_layers * (mixer + blocks[i].mlp * tokens * 6 * D * I) + B_ * 2 * D * vocab;
        const double got = sb_count(&d, &sb_attention_ref_naive, &cfg, SB_MODEL, SB_PREFILL, B_, T_, SB_F32).flops;
        cr_expect_float_eq(got, want, 1e-9 * want, "block %zu: model flops %.0f, by hand %.0f", i, got, want);
    }
    free(base);
}
