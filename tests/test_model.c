/* test_model.c: the model level (SPEC §3.4) on the tiny config, as a table built from the
 * registry: every layer x fast backend (cpu, cuda) that has a layer-level impl, against the model
 * on the ref backend with the same seed (same stack weights, same mixer weights), prefill and
 * decode steps (SPEC §5 tolerances). Plus, per backend: decode after prefill equals the
 * last-token logits of the longer prefill, and the analytic counts add up. CUDA rows skip
 * without a device. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"
#include "../bench/golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char layer[24];
    sb_backend backend;
    int B, T, steps;
} model_case;

#define MAX_CASES 64

static const int shapes[][3] = {{2, 19, 3}, {1, 40, 2}}; /* B, T, decode steps */

ParameterizedTestParameters(model, matches_ref) {
    static model_case cs[MAX_CASES];
    static int n = 0;
    if (n) return cr_make_param_array(model_case, cs, n);
    for (int i = 0; sb_registry[i]; i++)
        for (int be = SB_CPU; be < SB_NBACKENDS; be++) {
            if (!sb_find_impl(sb_registry[i], (sb_backend)be, SB_MODEL, NULL)) continue; /* no impl: no row */
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes && n < MAX_CASES; s++) {
                model_case *c = &cs[n++];
                snprintf(c->layer, sizeof c->layer, "%s", sb_registry[i]->name);
                c->backend = (sb_backend)be;
                c->B = shapes[s][0];
                c->T = shapes[s][1];
                c->steps = shapes[s][2];
            }
        }
    return cr_make_param_array(model_case, cs, n);
}

static sb_layer_opts model_opts(const char *layer, sb_backend be, const sb_config *cfg, int B, int ctx) {
    sb_layer_opts o = {.layer = layer, .backend = be, .level = SB_MODEL, .cfg = cfg, .seed = 21, .max_batch = B,
                       .max_ctx = ctx};
    return o;
}

ParameterizedTest(model_case *p, model, matches_ref, .timeout = 120) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available here", sb_backend_name(p->backend));
    sb_config cfg = tu_config(p->layer, "tiny");
    sb_layer_opts o = model_opts(p->layer, p->backend, &cfg, p->B, p->T + p->steps);
    sb_layer_opts r = model_opts(p->layer, SB_REF, &cfg, p->B, p->T + p->steps);
    float *y, *yd, *yr, *ydr;
    size_t ny, nyd, nyr, nydr;
    cr_assert_eq(tu_run(&o, p->B, p->T, p->steps, 5, &y, &yd, &ny, &nyd), SB_OK, "%s", sb_last_error());
    cr_assert_eq(tu_run(&r, p->B, p->T, p->steps, 5, &yr, &ydr, &nyr, &nydr), SB_OK, "%s", sb_last_error());
    cr_assert_eq(ny, (size_t)p->B * cfg.vocab, "prefill returns the last token's logits [B, vocab]");
    double max_abs, max_ref;
    tu_max_err(y, yr, ny, &max_abs, &max_ref);
    cr_expect(max_abs <= sb_tolerance(p->backend, max_ref), "model %s %s B=%d T=%d prefill: max_abs %.3e (max|ref| %.3g)",
              p->layer, sb_backend_name(p->backend), p->B, p->T, max_abs, max_ref);
    tu_max_err(yd, ydr, nyd, &max_abs, &max_ref);
    cr_expect(max_abs <= sb_tolerance(p->backend, max_ref), "model %s %s B=%d T=%d decode x%d: max_abs %.3e (max|ref| %.3g)",
              p->layer, sb_backend_name(p->backend), p->B, p->T, p->steps, max_abs, max_ref);
    free(y); free(yd); free(yr); free(ydr);
}

/* Decode after prefill(T) equals the last-token logits of prefill(T + steps), on every backend
 * (ref included: it checks the stack's state handling itself). */
ParameterizedTestParameters(model, decode_equals_longer_prefill) {
    static model_case cs[MAX_CASES];
    static int n = 0;
    if (n) return cr_make_param_array(model_case, cs, n);
    for (int i = 0; sb_registry[i] && n < MAX_CASES; i++)
        for (int be = SB_REF; be < SB_NBACKENDS && n < MAX_CASES; be++)
            if (sb_find_impl(sb_registry[i], (sb_backend)be, SB_MODEL, NULL)) {
                model_case *c = &cs[n++];
                snprintf(c->layer, sizeof c->layer, "%s", sb_registry[i]->name);
                c->backend = (sb_backend)be;
                c->B = 2;
                c->T = 11;
                c->steps = 4;
            }
    return cr_make_param_array(model_case, cs, n);
}

ParameterizedTest(model_case *p, model, decode_equals_longer_prefill, .timeout = 120) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available here", sb_backend_name(p->backend));
    sb_config cfg = tu_config(p->layer, "tiny");
    sb_layer_opts o = model_opts(p->layer, p->backend, &cfg, p->B, p->T + p->steps);
    float *y1, *yd1, *y2, *yd2;
    size_t ny1, nyd1, ny2, nyd2;
    cr_assert_eq(tu_run(&o, p->B, p->T, p->steps, 8, &y1, &yd1, &ny1, &nyd1), SB_OK, "%s", sb_last_error());
    cr_assert_eq(tu_run(&o, p->B, p->T + p->steps, 0, 8, &y2, &yd2, &ny2, &nyd2), SB_OK, "%s", sb_last_error());
    const float *last_step = yd1 + (size_t)(p->steps - 1) * p->B * cfg.vocab;
    double max_abs, max_ref;
    tu_max_err(last_step, y2, ny2, &max_abs, &max_ref);
    cr_expect(max_abs <= sb_tolerance(p->backend, max_ref), "model %s %s: decode vs longer prefill max_abs %.3e", p->layer,
              sb_backend_name(p->backend), max_abs);
    free(y1); free(yd1); free(y2); free(yd2);
}

/* flops = L x (mixer layer + MLP 6*D*I per token) + head 2*D*vocab per output token; the state is
 * the mixers'. Checked by hand for the tiny attention model and the tiny Mamba model. */
Test(model, counts_add_up) {
    const char *layers[] = {"attention", "mamba"};
    for (int i = 0; i < 2; i++) {
        sb_config cfg = tu_config(layers[i], "tiny");
        sb_layer_opts o = model_opts(layers[i], SB_REF, &cfg, 2, 16);
        sb_layer *L;
        cr_assert_eq(sb_layer_create(&o, &L), SB_OK, "%s", sb_last_error());
        const sb_layer_desc *d = L->desc;
        const int B = 2, T = 8, D = cfg.d_model, I = cfg.intermediate, V = cfg.vocab, n = cfg.n_layers;
        const int mlp = d->block.mlp;
        for (int m = SB_PREFILL; m <= SB_DECODE; m++) {
            double tokens = m == SB_PREFILL ? B * T : B;
            double want = n * (d->flops(d, &cfg, SB_LAYER, (sb_mode)m, L->impl->count_form, B, T) + mlp * tokens * 6.0 * D * I) +
                          B * 2.0 * D * V;
            cr_expect_float_eq(sb_layer_flops(L, (sb_mode)m, B, T), want, 1e-9 * want, "%s %s", layers[i], sb_mode_name((sb_mode)m));
        }
        /* attention tiny, prefill B=2 T=8: mixer 16384 + 524288 (test_flops.c), MLP 16*6*64*128 = 786432,
         * x2 layers, head 2*2*64*256 = 65536 */
        if (mlp) cr_expect_float_eq(sb_layer_flops(L, SB_PREFILL, B, T), 2 * (16384 + 524288 + 786432.0) + 65536, 1e-3);
        cr_expect_float_eq(sb_layer_state_bytes(L, B, T), n * d->state_bytes(d, &cfg, SB_LAYER, B, T, 4), 1e-6);
        /* bytes, fp32, prefill B=2 T=8 (16 tokens): attention layer bytes (x, y: 16*2*64*4 = 8192;
         * 4 weights 4*64*64*4 = 65536; k, v written 16*2*64*4 = 8192) = 81920, + MLP weights
         * 3*64*128*4 = 98304, x2 layers; head 256*64*4 = 65536; embedding rows 16*64*4 = 4096 */
        if (mlp) cr_expect_float_eq(sb_layer_bytes(L, SB_PREFILL, B, T), 2 * (81920 + 98304.0) + 65536 + 4096, 1e-3);
        /* state: 2 layers x KV cache 2*B*T*D*4 = 8192 */
        if (mlp) cr_expect_float_eq(sb_layer_state_bytes(L, B, T), 2 * 8192.0, 1e-6);
        sb_layer_destroy(L);
    }
}

/* Bad token ids are refused on the host backends with a clear message. */
Test(model, rejects_token_ids_outside_the_vocabulary) {
    sb_config cfg = tu_config("attention", "tiny");
    for (int be = SB_REF; be <= SB_CPU; be++) {
        sb_layer_opts o = model_opts("attention", (sb_backend)be, &cfg, 1, 4);
        sb_layer *L;
        cr_assert_eq(sb_layer_create(&o, &L), SB_OK, "%s", sb_last_error());
        int32_t ids[2] = {3, cfg.vocab};
        float logits[256 * 2];
        cr_expect_eq(sb_layer_prefill(L, ids, logits, 1, 2), SB_EINVAL);
        cr_expect(strstr(sb_last_error(), "token id") != NULL, "message: %s", sb_last_error());
        sb_layer_destroy(L);
    }
}
