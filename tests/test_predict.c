/* test_predict.c: the budget predictor of bench/predict.c on hand-made histories: set-up from the
 * measured set-ups (none, one point, a line through two, shared by the impls of a layer, another
 * layer's as a fallback), a decode state by fill_state costs no prefill at layer or model level
 * while an impl without fill_state pays one, and the CUDA energy window is counted. */
#include <criterion/criterion.h>

#include "../bench/predict.h"

#include <math.h>

static const sb_sample_rule rule = {.warmup = 1, .min_samples = 3, .max_samples = 1000, .target_noise = 0,
                                    .soft_s = 0.1, .hard_s = 1};

static sb_point point(const char *layer, sb_backend be, const char *impl, sb_level level, sb_mode mode, int B, int T) {
    const sb_layer_desc *d = sb_find_layer(layer);
    cr_assert_not_null(d, "%s", layer);
    sb_point p = {.desc = d, .impl = sb_find_impl(d, be, SB_LAYER, impl), .backend = be, .level = level, .mode = mode,
                  .batch = B, .ctx = T};
    cr_assert_not_null(p.impl, "%s/%s", layer, impl);
    cr_assert(sb_config_preset(layer, "tiny", &p.cfg));
    return p;
}

Test(predict, setup_from_measured_points) {
    sb_history h = {0};
    sb_point p64 = point("ttt_linear", SB_CPU, "dual", SB_LAYER, SB_PREFILL, 2, 64);
    sb_point p128 = point("ttt_linear", SB_CPU, "dual", SB_LAYER, SB_PREFILL, 2, 128);
    sb_point q256 = point("ttt_linear", SB_CPU, "primal", SB_LAYER, SB_PREFILL, 2, 256);
    int found = 1;
    cr_expect_float_eq(sb_predict_setup_s(&h, &q256, &found), 0.0, 0, "nothing measured: no set-up known");
    cr_expect_eq(found, 0);
    sb_history_add(&h, &p64, 0.01, 1.0);
    cr_expect_float_eq(sb_predict_setup_s(&h, &q256, &found), 1.0, 1e-12, "one point: constant");
    cr_expect_eq(found, 1, "another impl of the same layer, level and mode shares the set-up");
    sb_history_add(&h, &p128, 0.02, 1.5);
    /* through (B*T = 128, 1.0) and (256, 1.5): at 512, 1.5 + 0.5/128 * 256 = 2.5 */
    cr_expect_float_eq(sb_predict_setup_s(&h, &q256, &found), 2.5, 1e-12, "a line through the two nearest points");
    /* a point between them uses the nearest below it and the next: the same line */
    sb_point p96 = point("ttt_linear", SB_CPU, "dual", SB_LAYER, SB_PREFILL, 2, 96);
    cr_expect_float_eq(sb_predict_setup_s(&h, &p96, &found), 1.25, 1e-12);
    /* another mode is another group; another layer at the same backend and level is the fallback */
    sb_point dec = point("ttt_linear", SB_CPU, "dual", SB_LAYER, SB_DECODE, 2, 256);
    cr_expect_float_eq(sb_predict_setup_s(&h, &dec, &found), 1.5, 1e-12, "the last set-up at cpu/layer, constant");
    cr_expect_eq(found, 0);
    sb_point mdl = point("ttt_linear", SB_CPU, "dual", SB_MODEL, SB_PREFILL, 2, 256);
    cr_expect_float_eq(sb_predict_setup_s(&h, &mdl, &found), 0.0, 0, "nothing at model level yet");
    sb_history_free(&h);
}

/* A set-up that shrank between two points (noise) does not predict a negative one. */
Test(predict, setup_never_shrinks_below_the_nearest) {
    sb_history h = {0};
    sb_point a = point("attention", SB_CPU, "flash", SB_LAYER, SB_PREFILL, 2, 64);
    sb_point b = point("attention", SB_CPU, "flash", SB_LAYER, SB_PREFILL, 2, 128);
    sb_point c = point("attention", SB_CPU, "flash", SB_LAYER, SB_PREFILL, 2, 4096);
    sb_history_add(&h, &a, 0.01, 2.0);
    sb_history_add(&h, &b, 0.02, 1.0);
    int found;
    cr_expect_float_eq(sb_predict_setup_s(&h, &c, &found), 1.0, 1e-12);
    sb_history_free(&h);
}

/* Decode: fill_state builds the state (no prefill in the budget), at layer and at model level;
 * an impl without it (ref attention) pays a prefill until a set-up of its group is measured. */
Test(predict, decode_state_by_fill_state) {
    sb_history h = {0};
    double call, setup;
    sb_point pre[SB_NLEVELS]; /* the history keeps pointers: the points outlive the loop */
    for (int level = SB_LAYER; level <= SB_MODEL; level++) {
        pre[level] = point("attention", SB_CPU, "flash", (sb_level)level, SB_PREFILL, 2, 128);
        sb_history_add(&h, &pre[level], 5.0, 0.0);
        sb_point dec = point("attention", SB_CPU, "flash", (sb_level)level, SB_DECODE, 512, 128);
        cr_assert_not_null(dec.impl->fill_state);
        sb_predict_point_s(&h, &dec, &rule, &call, &setup);
        cr_expect_float_eq(setup, 0.0, 0, "level %s: fill_state, no prefill budgeted", sb_level_name((sb_level)level));
    }
    sb_point rpre = point("attention", SB_REF, "naive", SB_LAYER, SB_PREFILL, 2, 128);
    sb_history_add(&h, &rpre, 3.0, 0.0);
    sb_point rdec = point("attention", SB_REF, "naive", SB_LAYER, SB_DECODE, 2, 128);
    cr_assert_null(rdec.impl->fill_state);
    sb_predict_point_s(&h, &rdec, &rule, &call, &setup);
    cr_expect_float_eq(setup, 3.0, 1e-9, "the untimed prefill of the same shape");
    sb_history_add(&h, &rdec, 0.001, 3.2);
    sb_point rdec2 = point("attention", SB_REF, "naive", SB_LAYER, SB_DECODE, 2, 128);
    sb_predict_point_s(&h, &rdec2, &rule, &call, &setup);
    cr_expect_float_eq(setup, 3.2, 1e-9, "once measured, the set-up (which includes the prefill) alone");
    sb_history_free(&h);
}

/* CUDA points pay the energy window (rule.energy_s, or one call when longer). */
Test(predict, energy_window_counted) {
    sb_history h = {0};
    sb_point p = point("mamba", SB_CPU, "chunked", SB_LAYER, SB_PREFILL, 2, 128);
    p.backend = SB_CUDA;
    sb_history_add(&h, &p, 0.001, 0.5);
    sb_sample_rule with = rule;
    with.energy_s = 1;
    double call, setup, a = sb_predict_point_s(&h, &p, &rule, &call, &setup), b = sb_predict_point_s(&h, &p, &with, &call, &setup);
    cr_expect_float_eq(b - a, 1.0, 1e-9, "%g vs %g", a, b);
    cr_expect_float_eq(setup, 0.5, 1e-12);
    p.backend = SB_CPU;
    sb_history_add(&h, &p, 0.001, 0.5);
    cr_expect_float_eq(sb_predict_point_s(&h, &p, &with, &call, &setup), sb_predict_point_s(&h, &p, &rule, &call, &setup), 0,
                       "no energy window on the host");
    sb_history_free(&h);
}
