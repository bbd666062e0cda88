/* test_gated_deltanet.c: Gated DeltaNet beyond the generic tables (spec/gated_deltanet.md):
 *  - every golden case (layer; op: o, o_decode and final_state) on every impl of every backend
 *    available here;
 *  - shapes the golden cases do not have (K 32/64/128/256, V = 2K, H 1/3, B 1/3, T not a multiple
 *    of the chunk, chunk 16/32/64): every impl, op and layer level, against the ref oracle (sequential);
 *  - decode after a prefill that crosses chunk boundaries equals the longer prefill;
 *  - the counts of spec §6 at the 1.3b shape. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"
#include "../bench/golden.h"
#include "../layers/gated_deltanet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- golden cases on every impl (test_golden.c runs each backend's first impl) ------------------ */
typedef struct {
    char dir[96], impl[24];
    sb_backend backend;
} golden_case;

static const char *const golden_dirs[] = {
    "tests/golden/gated_deltanet_prefill_T64",      "tests/golden/gated_deltanet_prefill_T45",
    "tests/golden/gated_deltanet_decode_T32_S20",   "tests/golden/gated_deltanet_decode_T37_S20",
    "tests/golden/gated_deltanet_op_prefill_T150",  "tests/golden/gated_deltanet_op_decode_T37_S20",
};

ParameterizedTestParameters(gated_deltanet, golden_every_impl) {
    static golden_case ps[96];
    static int n = 0;
    if (n) return cr_make_param_array(golden_case, ps, n);
    const sb_impl *const *im = sb_impls(&sb_gated_deltanet);
    for (size_t d = 0; d < sizeof golden_dirs / sizeof *golden_dirs; d++)
        for (int j = 0; im[j] && n < 96; j++) {
            snprintf(ps[n].dir, sizeof ps[n].dir, "%s", golden_dirs[d]);
            snprintf(ps[n].impl, sizeof ps[n].impl, "%s", im[j]->name);
            ps[n++].backend = im[j]->backend;
        }
    return cr_make_param_array(golden_case, ps, n);
}

ParameterizedTest(golden_case *p, gated_deltanet, golden_every_impl) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available", sb_backend_name(p->backend));
    sb_golden_result r;
    cr_assert_eq(sb_golden_run(p->dir, p->backend, p->impl, &r), SB_OK, "%s: %s", p->dir, sb_last_error());
    const char *what = sb_backend_name(p->backend);
    cr_expect(r.y.max_abs <= r.y.tol, "%s %s/%s outputs: max_abs %.3e > tol %.3e", p->dir, what, p->impl, r.y.max_abs, r.y.tol);
    if (r.decode_steps)
        cr_expect(r.dec.max_abs <= r.dec.tol, "%s %s/%s decode outputs: max_abs %.3e > tol %.3e", p->dir, what, p->impl,
                  r.dec.max_abs, r.dec.tol);
    if (strstr(p->dir, "_op_")) /* op cases check the state left after the last token */
        cr_expect(r.state_checked && r.state.max_abs <= r.state.tol, "%s %s/%s final_state: max_abs %.3e > tol %.3e", p->dir,
                  what, p->impl, r.state.max_abs, r.state.tol);
    cr_expect(r.pass, "%s %s/%s: not passed", p->dir, what, p->impl);
}

static void expect_close(const float *out, const float *ref, size_t n, sb_backend be, const char *what) {
    double max_abs, max_ref;
    tu_max_err(out, ref, n, &max_abs, &max_ref);
    double tol = sb_tolerance(be, max_ref);
    cr_expect(max_abs <= tol, "%s: max_abs %.3e > tol %.3e (max|ref| %.3g)", what, max_abs, tol, max_ref);
}

/* ---- other shapes: every impl vs the oracle ----------------------------------------------------- */
typedef struct {
    char impl[24];
    sb_backend backend;
    sb_level level;
    int D, H, K, V, C, B, T, S;
} shape_case;

static const struct { int D, H, K, V, C, B, T, S; } shapes[] = {
    {64, 1, 32, 64, 16, 1, 50, 5},   /* one head, chunk 16: three full chunks + 2 */
    {96, 3, 32, 64, 32, 3, 70, 4},   /* three heads and sequences, chunk 32 */
    {64, 1, 64, 128, 64, 3, 130, 3}, /* K 64, V 128: two chunks of 64 + 2 */
    {96, 3, 64, 128, 16, 1, 37, 6},  /* K 64, chunk 16, B 1 */
    {64, 1, 128, 256, 64, 1, 70, 2}, /* the benchmark head sizes: 125m-like K 128 ... */
    {64, 1, 256, 512, 32, 1, 40, 2}, /* ... and 1.3b's K 256, V 512 (cuda: 32-row state tiles) */
};

ParameterizedTestParameters(gated_deltanet, shapes_match_oracle) {
    static shape_case ps[256];
    static int n = 0;
    if (n) return cr_make_param_array(shape_case, ps, n);
    const sb_impl *const *im = sb_impls(&sb_gated_deltanet);
    for (int j = 1; im[j]; j++) /* impls[0] is the oracle */
        for (int lv = SB_OP; lv <= SB_LAYER; lv++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes && n < 256; s++) {
                shape_case *p = &ps[n++];
                snprintf(p->impl, sizeof p->impl, "%s", im[j]->name);
                p->backend = im[j]->backend;
                p->level = (sb_level)lv;
                p->D = shapes[s].D; p->H = shapes[s].H; p->K = shapes[s].K; p->V = shapes[s].V;
                p->C = shapes[s].C; p->B = shapes[s].B; p->T = shapes[s].T; p->S = shapes[s].S;
            }
    return cr_make_param_array(shape_case, ps, n);
}

static sb_config shape_config(const shape_case *p) {
    sb_config c = tu_config("gated_deltanet", "tiny");
    c.d_model = p->D; c.heads = p->H; c.head_dim = p->K; c.head_v_dim = p->V; c.chunk_size = p->C;
    return c;
}

ParameterizedTest(shape_case *p, gated_deltanet, shapes_match_oracle, .timeout = 120) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available", sb_backend_name(p->backend));
    sb_config c = shape_config(p);
    sb_layer_opts o = {.layer = "gated_deltanet", .impl = p->impl, .backend = p->backend, .level = p->level, .cfg = &c,
                       .seed = 31 + (uint64_t)p->T, .max_batch = p->B, .max_ctx = p->T + p->S};
    char what[160];
    snprintf(what, sizeof what, "%s/%s %s D%d H%d K%d V%d C%d B%d T%d", sb_backend_name(p->backend), p->impl,
             sb_level_name(p->level), p->D, p->H, p->K, p->V, p->C, p->B, p->T);
    tu_expect_matches_ref(&o, p->B, p->T, p->S, 77 + (uint64_t)p->T, what);
}

/* Prefill(T) + decode(S) == prefill(T+S) where T crosses chunk boundaries (test_decode.c's tiny
 * shapes stay inside one chunk of 64). */
ParameterizedTestParameters(gated_deltanet, decode_equals_longer_prefill) {
    return gated_deltanet_shapes_match_oracle_param();
}

ParameterizedTest(shape_case *p, gated_deltanet, decode_equals_longer_prefill, .timeout = 120) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available", sb_backend_name(p->backend));
    sb_config c = shape_config(p);
    sb_layer_opts o = {.layer = "gated_deltanet", .impl = p->impl, .backend = p->backend, .level = p->level, .cfg = &c,
                       .seed = 5, .max_batch = p->B, .max_ctx = p->T + p->S};
    float *y1, *yd1, *y2, *yd2;
    size_t ny1, nyd1, ny2, nyd2;
    cr_assert_eq(tu_run(&o, p->B, p->T, p->S, 9, &y1, &yd1, &ny1, &nyd1), SB_OK, "%s", sb_last_error());
    cr_assert_eq(tu_run(&o, p->B, p->T + p->S, 0, 9, &y2, &yd2, &ny2, &nyd2), SB_OK, "%s", sb_last_error());
    const size_t W = ny2 / ((size_t)p->B * (p->T + p->S));
    float *want = malloc(nyd1 * sizeof(float));
    for (int s = 0; s < p->S; s++)
        for (int b = 0; b < p->B; b++)
            memcpy(want + ((size_t)s * p->B + b) * W, y2 + ((size_t)b * (p->T + p->S) + p->T + s) * W, W * sizeof(float));
    char what[160];
    snprintf(what, sizeof what, "%s/%s %s C%d T%d+%d: decode vs longer prefill", sb_backend_name(p->backend), p->impl,
             sb_level_name(p->level), p->C, p->T, p->S);
    expect_close(yd1, want, nyd1, p->backend, what);
    free(want); free(y1); free(yd1); free(y2); free(yd2);
}

/* ---- counts (spec §6) --------------------------------------------------------------------------- */
Test(gated_deltanet, counts_at_1_3b) {
    sb_config c;
    cr_assert(sb_config_preset("gated_deltanet", "1.3b", &c));
    cr_expect_eq(c.heads, 6); cr_expect_eq(c.head_dim, 256); cr_expect_eq(c.head_v_dim, 512);
    cr_expect_eq(c.n_layers, 21); cr_expect_eq(c.intermediate, 5632);
    const sb_layer_desc *d = &sb_gated_deltanet;
    const double per_tok_head = 786432.0 + 229376.0 + 64.0 * 64.0 / 3; /* spec §6 at C 64, K 256, V 512 */
    cr_expect_float_eq(d->flops(d, &c, SB_OP, SB_PREFILL, GDN_FORM_CHUNKED, 2, 128) / (2 * 128 * 6), per_tok_head, 1e-6);
    cr_expect_float_eq(d->flops(d, &c, SB_OP, SB_PREFILL, 0, 2, 128) / (2 * 128 * 6), 7.0 * 256 * 512, 1e-6);
    cr_expect_float_eq(d->flops(d, &c, SB_OP, SB_DECODE, GDN_FORM_CHUNKED, 4, 128) / (4 * 6), 7.0 * 256 * 512, 1e-6);
    /* layer adds the projections 2D(2HK + 3HV + 2H) and the convs 2W(2HK + HV) per token */
    const double proj = 2.0 * 2048 * (2 * 1536 + 3 * 3072 + 12), conv = 2.0 * 4 * (2 * 1536 + 3072);
    cr_expect_float_eq(d->flops(d, &c, SB_LAYER, SB_DECODE, GDN_FORM_CHUNKED, 1, 1) - d->flops(d, &c, SB_OP, SB_DECODE, GDN_FORM_CHUNKED, 1, 1),
                       proj + conv, 1e-3);
    /* state: 3 MiB fp32 + 48 KiB bf16 conv states per sequence and layer */
    cr_expect_float_eq(d->state_bytes(d, &c, SB_LAYER, 1, 4096, 2), 3.0 * 1024 * 1024 + 48 * 1024, 1e-6);
    /* decode op bytes: state read + write (fp32) + q, k, v, g, beta, o */
    cr_expect_float_eq(d->bytes(d, &c, SB_OP, SB_DECODE, GDN_FORM_CHUNKED, 8, 100, 2),
                       2.0 * 8 * 6 * 256 * 512 * 4 + 8.0 * 6 * (2 * 256 + 2 * 512 + 2) * 2, 1e-3);
}
