/* test_mamba2.c: what the generic tables (backends, decode, golden) do not reach for Mamba-2
 * (../shared/spec/mamba2.md):
 *   - the worked check of the counts (spec §6);
 *   - every mamba2 golden case of tests/golden and tests/golden_more (layer and op level, y,
 *     y_decode, final_state) on every impl of every available backend;
 *   - shapes other than the tiny config (G 2/3/4, P 16/32/64/128, N 16/32/64/128, Q 8/12/16/32/64, T not a
 *     multiple of Q and T < Q, B 1/2/3): the ref chunked form against the sequential recurrence for
 *     several chunk sizes; every cpu/cuda impl against ref (prefill, decode steps and the final
 *     ssm state); prefill(T) + decode(S) against prefill(T+S) on every impl.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"
#include "../bench/golden.h"
#include "../layers/mamba2.h"

#include <dirent.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------------------------------- */
typedef struct {
    int D, expand, P, N, G, Q, B, T, steps;
} m2_shape;

static sb_config shape_config(const m2_shape *s) {
    sb_config c = tu_config("mamba2", "tiny");
    c.d_model = s->D;
    c.expand = s->expand;
    c.head_dim = s->P;
    c.d_state = s->N;
    c.ngroups = s->G;
    c.chunk_size = s->Q;
    return c;
}

static size_t state_len(const sb_config *c, int B) { return (size_t)B * mamba2_H(c) * mamba2_P(c) * mamba2_N(c); }

typedef struct {
    float *y, *yd, *state; /* prefill outputs, decode outputs [steps][B][out], ssm state at the end */
    size_t ny, nyd, ns;
} m2_run;

static void run_free(m2_run *r) { free(r->y); free(r->yd); free(r->state); memset(r, 0, sizeof *r); }

/* Creates the layer, prefill of T tokens then `steps` decode steps on inputs from input_seed (the
 * same for every impl), then reads the ssm state. */
static sb_status run_impl(const sb_layer_opts *o, int B, int T, int steps, uint64_t input_seed, m2_run *r) {
    memset(r, 0, sizeof *r);
    sb_status st = tu_run(o, B, T, steps, input_seed, &r->y, &r->yd, &r->ny, &r->nyd);
    if (st) return st;
    /* tu_run destroys its layer: run the same calls again for the state (deterministic) */
    sb_layer *L;
    if ((st = sb_layer_create(o, &L))) return st;
    const int in = sb_layer_in_dim(L), out = sb_layer_out_dim(L);
    float *x = malloc((size_t)B * (T + steps) * in * sizeof(float)), *xt = malloc((size_t)B * (T + steps) * in * sizeof(float));
    sb_buf bx = {0}, by = {0};
    r->ns = state_len(&L->cfg, B);
    r->state = malloc(r->ns * sizeof(float));
    sb_rng rng;
    sb_rng_seed(&rng, input_seed);
    sb_layer_make_input(L, x, B, T + steps, &rng);
    for (int b = 0; b < B; b++)
        memcpy(xt + (size_t)b * T * in, x + (size_t)b * (T + steps) * in, (size_t)T * in * sizeof(float));
    st = sb_buf_alloc(&bx, o->backend, sb_layer_in_dtype(L), (size_t)B * T * in);
    if (!st) st = sb_buf_alloc(&by, o->backend, sb_backend_act_dtype(o->backend), (size_t)B * T * out);
    if (!st) st = sb_buf_upload(&bx, xt, (size_t)B * T * in);
    if (!st) st = sb_layer_prefill(L, bx.p, by.p, B, T);
    for (int s = 0; !st && s < steps; s++) {
        for (int b = 0; b < B; b++)
            memcpy(xt + (size_t)b * in, x + ((size_t)b * (T + steps) + T + s) * in, (size_t)in * sizeof(float));
        st = sb_buf_upload(&bx, xt, (size_t)B * in);
        if (!st) st = sb_layer_decode(L, bx.p, by.p, B);
    }
    if (!st) st = L->impl->read_state(L, r->state);
    sb_buf_free(&bx); sb_buf_free(&by);
    free(x); free(xt);
    sb_layer_destroy(L);
    if (st) run_free(r);
    return st;
}

/* Expects out within the tolerance of `be` of ref (SPEC §5, per tensor); returns the error. */
static double expect_close(const float *out, const float *ref, size_t n, sb_backend be, const char *what, const char *tensor) {
    double max_abs = 0, max_ref = 0;
    tu_max_err(out, ref, n, &max_abs, &max_ref);
    const double tol = sb_tolerance(be, max_ref);
    cr_expect(max_abs <= tol, "%s: %s max_abs %.3e > tol %.3e (max|ref| %.3g)", what, tensor, max_abs, tol, max_ref);
    return max_abs;
}

static void expect_runs_match(const m2_run *a, const m2_run *ref, sb_backend be, const char *what) {
    cr_assert_eq(a->ny, ref->ny, "%s: %zu vs %zu outputs", what, a->ny, ref->ny);
    cr_assert_eq(a->nyd, ref->nyd, "%s: decode sizes", what);
    expect_close(a->y, ref->y, a->ny, be, what, "y");
    if (a->nyd) expect_close(a->yd, ref->yd, a->nyd, be, what, "y_decode");
    expect_close(a->state, ref->state, a->ns, be, what, "final ssm state");
}

/* ---- counts: the worked check of spec §6 ---------------------------------------------------------- */
Test(mamba2, counts_worked_check) {
    const m2_shape s = {.D = 64, .expand = 2, .P = 16, .N = 16, .G = 1, .Q = 16};
    sb_config c = shape_config(&s);
    c.d_conv = 4;
    const sb_layer_desc *d = sb_find_layer("mamba2");
    cr_assert_not_null(d);
    cr_expect_eq(mamba2_H(&c), 8);
    cr_expect_float_eq(d->flops(d, &c, SB_OP, SB_PREFILL, 0, 1, 45), 496992.0, 0.5);
    cr_expect_float_eq(d->flops(d, &c, SB_LAYER, SB_PREFILL, 0, 1, 45), 3025632.0, 0.5);
    cr_expect_float_eq(d->flops(d, &c, SB_OP, SB_DECODE, 0, 1, 45), 10624.0, 0.5);
    cr_expect_float_eq(d->flops(d, &c, SB_LAYER, SB_DECODE, 0, 1, 45), 66816.0, 0.5);
    cr_expect_float_eq(d->state_bytes(d, &c, SB_LAYER, 1, 45, 4), 10752.0, 0.5);
    cr_expect_float_eq(d->bytes(d, &c, SB_OP, SB_PREFILL, 0, 1, 45, 4), 53280.0, 0.5);
    cr_expect_float_eq(d->bytes(d, &c, SB_LAYER, SB_DECODE, 0, 1, 45, 4), 134368.0, 0.5);
    /* layer prefill bytes = s (W + 2 B T D) with W = 28,088 */
    cr_expect_float_eq(d->bytes(d, &c, SB_LAYER, SB_PREFILL, 0, 1, 45, 4), 4.0 * (28088 + 2 * 45 * 64), 0.5);
    /* B multiplies everything */
    cr_expect_float_eq(d->flops(d, &c, SB_OP, SB_PREFILL, 0, 3, 45), 3 * 496992.0, 0.5);
}

/* At 1.3b a token costs ~54.9 MFLOP per layer in prefill (Q = 256) and ~54.3 MFLOP in decode. */
Test(mamba2, counts_at_1_3b) {
    sb_config c;
    cr_assert(sb_config_preset("mamba2", "1.3b", &c));
    const sb_layer_desc *d = sb_find_layer("mamba2");
    cr_expect_eq(mamba2_H(&c), 64);
    cr_expect_eq(mamba2_N(&c), 128);
    cr_expect_eq(mamba2_Q(&c), 256);
    cr_expect_eq(c.n_layers, 48);
    const double pre = d->flops(d, &c, SB_LAYER, SB_PREFILL, 0, 1, 4096) / 4096 / 1e6;
    const double dec = d->flops(d, &c, SB_LAYER, SB_DECODE, 0, 1, 4096) / 1e6;
    cr_expect(fabs(pre - 54.9) < 0.1, "prefill %.2f MFLOP per token", pre);
    cr_expect(fabs(dec - 54.3) < 0.1, "decode %.2f MFLOP per token", dec);
}

/* ---- golden cases on every impl --------------------------------------------------------------- */
/* tests/test_golden.c runs each case on the first impl of each backend; here every mamba2 case
 * (layer and op level, with final_state) runs on every mamba2 impl, the ref chunked form included. */
typedef struct {
    char dir[96], impl[24];
    sb_backend backend;
} golden_param;

ParameterizedTestParameters(mamba2, golden_on_every_impl) {
    static golden_param ps[256];
    static int n = 0;
    if (n) return cr_make_param_array(golden_param, ps, n);
    const char *roots[] = {"tests/golden", "tests/golden_more"};
    const sb_impl *const *impls = sb_impls(&sb_mamba2);
    for (size_t r = 0; r < 2; r++) {
        DIR *d = opendir(roots[r]);
        struct dirent *e;
        while (d && (e = readdir(d)))
            for (int j = 0; !strncmp(e->d_name, "mamba2_", 7) && impls[j] && n < 256; j++) {
                snprintf(ps[n].dir, sizeof ps[n].dir, "%s/%s", roots[r], e->d_name);
                snprintf(ps[n].impl, sizeof ps[n].impl, "%s", impls[j]->name);
                ps[n++].backend = impls[j]->backend;
            }
        if (d) closedir(d);
    }
    return cr_make_param_array(golden_param, ps, n);
}

ParameterizedTest(golden_param *p, mamba2, golden_on_every_impl) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available", sb_backend_name(p->backend));
    sb_golden_result r;
    cr_assert_eq(sb_golden_run(p->dir, p->backend, p->impl, &r), SB_OK, "%s on %s/%s: %s", p->dir, sb_backend_name(p->backend),
                 p->impl, sb_last_error());
    cr_expect(r.y.max_abs <= r.y.tol, "%s on %s/%s: y %.3e > %.3e", p->dir, sb_backend_name(p->backend), p->impl, r.y.max_abs, r.y.tol);
    if (r.decode_steps)
        cr_expect(r.dec.max_abs <= r.dec.tol, "%s on %s/%s: y_decode %.3e > %.3e", p->dir, sb_backend_name(p->backend), p->impl,
                  r.dec.max_abs, r.dec.tol);
    if (r.level == SB_OP) cr_expect(r.state_checked, "%s: op case without its final_state compared", p->dir);
    if (r.state_checked)
        cr_expect(r.state.max_abs <= r.state.tol, "%s on %s/%s: final_state %.3e > %.3e", p->dir, sb_backend_name(p->backend),
                  p->impl, r.state.max_abs, r.state.tol);
    cr_expect(r.pass);
}

/* ---- other shapes ------------------------------------------------------------------------------------ */
static const m2_shape shapes[] = {
    /* D  ex  P   N  G   Q  B   T steps */
    {64, 2, 32, 64, 2, 16, 3, 50, 5},  /* G = 2, P 32, N 64, T % Q != 0, B 3 */
    {64, 2, 16, 16, 4, 8, 1, 37, 12},  /* G = 4 (2 heads per group), small chunks */
    {128, 2, 64, 32, 1, 32, 2, 70, 3}, /* P 64 */
    {96, 2, 32, 16, 3, 12, 1, 29, 4},  /* G = 3, Q not a multiple of 16 */
    {64, 2, 16, 32, 2, 64, 2, 20, 6},  /* T < Q: one partial chunk */
    {128, 2, 128, 128, 1, 32, 1, 40, 3}, /* P 128, N 128 (the benchmark's d_state: a full warp per state row) */
    {48, 2, 32, 16, 1, 16, 2, 33, 4},   /* H = 3: op rows of odd width (unaligned bf16 pairs on cuda) */
};
#define NSHAPES ((int)(sizeof shapes / sizeof *shapes))

typedef struct {
    int shape;
    sb_level level;
} shape_param;

static shape_param *shape_params(int *n) {
    static shape_param ps[2 * NSHAPES];
    *n = 0;
    for (int s = 0; s < NSHAPES; s++)
        for (int lv = SB_OP; lv <= SB_LAYER; lv++) ps[(*n)++] = (shape_param){s, (sb_level)lv};
    return ps;
}

ParameterizedTestParameters(mamba2, chunked_equals_sequential) {
    int n;
    shape_param *ps = shape_params(&n);
    return cr_make_param_array(shape_param, ps, n);
}

/* The chunked (SSD) form equals the recurrence for every chunk size (spec §3, §7). */
ParameterizedTest(shape_param *p, mamba2, chunked_equals_sequential) {
    const m2_shape *s = &shapes[p->shape];
    sb_config cfg = shape_config(s);
    sb_layer_opts o = {.layer = "mamba2", .impl = 0, .backend = SB_REF, .level = p->level, .cfg = &cfg,
                       .seed = 11, .max_batch = s->B, .max_ctx = s->T + s->steps};
    m2_run ref, got;
    cr_assert_eq(run_impl(&o, s->B, s->T, 0, 5, &ref), SB_OK, "%s", sb_last_error());
    const int qs[] = {1, 4, 7, s->Q, 64};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        cfg.chunk_size = qs[i];
        o.impl = "chunked";
        cr_assert_eq(run_impl(&o, s->B, s->T, 0, 5, &got), SB_OK, "%s", sb_last_error());
        char what[128];
        snprintf(what, sizeof what, "shape %d %s Q=%d: chunked vs sequential", p->shape, sb_level_name(p->level), qs[i]);
        expect_runs_match(&got, &ref, SB_REF, what);
        run_free(&got);
    }
    run_free(&ref);
}

typedef struct {
    int shape;
    sb_level level;
    char impl[24];
    sb_backend backend;
} impl_param;

ParameterizedTestParameters(mamba2, impls_match_ref_other_shapes) {
    static impl_param ps[64];
    static int n = 0;
    if (n) return cr_make_param_array(impl_param, ps, n);
    const sb_impl *const *impls = sb_impls(&sb_mamba2);
    for (int j = 0; impls[j]; j++) {
        if (impls[j]->backend == SB_REF) continue;
        for (int s = 0; s < NSHAPES; s++)
            for (int lv = SB_OP; lv <= SB_LAYER && n < 64; lv++) {
                ps[n] = (impl_param){.shape = s, .level = (sb_level)lv, .backend = impls[j]->backend};
                snprintf(ps[n++].impl, sizeof ps[0].impl, "%s", impls[j]->name);
            }
    }
    return cr_make_param_array(impl_param, ps, n);
}

/* Prefill, decode steps and the final ssm state of every fast impl against the oracle. */
ParameterizedTest(impl_param *p, mamba2, impls_match_ref_other_shapes) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available", sb_backend_name(p->backend));
    const m2_shape *s = &shapes[p->shape];
    sb_config cfg = shape_config(s);
    sb_layer_opts o = {.layer = "mamba2", .impl = p->impl, .backend = p->backend, .level = p->level, .cfg = &cfg,
                       .seed = 21, .max_batch = s->B, .max_ctx = s->T + s->steps};
    sb_layer_opts r = o;
    r.impl = "sequential";
    r.backend = SB_REF;
    m2_run got, ref;
    cr_assert_eq(run_impl(&o, s->B, s->T, s->steps, 9, &got), SB_OK, "%s", sb_last_error());
    cr_assert_eq(run_impl(&r, s->B, s->T, s->steps, 9, &ref), SB_OK, "%s", sb_last_error());
    char what[128];
    snprintf(what, sizeof what, "shape %d %s %s/%s vs ref", p->shape, sb_level_name(p->level), sb_backend_name(p->backend), p->impl);
    expect_runs_match(&got, &ref, p->backend, what);
    run_free(&got);
    run_free(&ref);
}

ParameterizedTestParameters(mamba2, decode_equals_longer_prefill) {
    static impl_param ps[64];
    static int n = 0;
    if (n) return cr_make_param_array(impl_param, ps, n);
    const sb_impl *const *impls = sb_impls(&sb_mamba2);
    for (int j = 0; impls[j]; j++)
        for (int s = 0; s < NSHAPES; s += 2)
            for (int lv = SB_OP; lv <= SB_LAYER && n < 64; lv++) {
                ps[n] = (impl_param){.shape = s, .level = (sb_level)lv, .backend = impls[j]->backend};
                snprintf(ps[n++].impl, sizeof ps[0].impl, "%s", impls[j]->name);
            }
    return cr_make_param_array(impl_param, ps, n);
}

/* prefill(T) + decode(S) == prefill(T + S): outputs of the steps and the final state (spec §2). */
ParameterizedTest(impl_param *p, mamba2, decode_equals_longer_prefill) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available", sb_backend_name(p->backend));
    const m2_shape *s = &shapes[p->shape];
    sb_config cfg = shape_config(s);
    sb_layer_opts o = {.layer = "mamba2", .impl = p->impl, .backend = p->backend, .level = p->level, .cfg = &cfg,
                       .seed = 31, .max_batch = s->B, .max_ctx = s->T + s->steps};
    m2_run a, b;
    cr_assert_eq(run_impl(&o, s->B, s->T, s->steps, 13, &a), SB_OK, "%s", sb_last_error());
    cr_assert_eq(run_impl(&o, s->B, s->T + s->steps, 0, 13, &b), SB_OK, "%s", sb_last_error());
    const size_t W = b.ny / ((size_t)s->B * (s->T + s->steps));
    float *want = malloc(a.nyd * sizeof(float));
    for (int k = 0; k < s->steps; k++)
        for (int q = 0; q < s->B; q++)
            memcpy(want + ((size_t)k * s->B + q) * W, b.y + ((size_t)q * (s->T + s->steps) + s->T + k) * W, W * sizeof(float));
    char what[128];
    snprintf(what, sizeof what, "shape %d %s %s/%s", p->shape, sb_level_name(p->level), sb_backend_name(p->backend), p->impl);
    expect_close(a.yd, want, a.nyd, p->backend, what, "decode vs longer prefill");
    expect_close(a.state, b.state, a.ns, p->backend, what, "final state after decode vs after longer prefill");
    free(want);
    run_free(&a);
    run_free(&b);
}
