/* test_ttt.c: TTT-Linear and TTT-MLP beyond the shared tables (golden, backends, decode):
 *   - dual form == primal form (prefill, ref, fp32), op and layer level, both backbones;
 *   - decode across several mini-batch boundaries == prefill of the longer sequence;
 *   - the paper's theorem: TTT-Linear with W0 = 0, plain squared loss and one mini-batch is
 *     causal linear attention;
 *   - the analytic counts (SPEC §6) against hand counts;
 *   - fill_state leaves a state that decodes to finite outputs. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"
#include "../bench/golden.h"
#include "../layers/ttt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char layer[16];
    sb_level level;
    int B, T, steps;
    int share_qk, use_gate, mini_batch;
} ttt_case;

/* Shapes: T = 45 ends in a partial mini-batch of 13, T = 7 is shorter than one, T = 32 is two
 * whole ones; mini_batch 4 puts many boundaries into a short sequence. */
static const struct { int B, T, share_qk, use_gate, mini_batch; } prefill_shapes[] = {
    {2, 45, 0, 0, 16}, {1, 45, 1, 1, 16}, {2, 7, 1, 0, 16}, {1, 32, 0, 1, 16}, {2, 19, 1, 1, 4},
};

static int fill_cases(ttt_case *cs, int max, int steps) {
    const char *layers[] = {"ttt_linear", "ttt_mlp"};
    int n = 0;
    for (int l = 0; l < 2; l++)
        for (int lv = SB_OP; lv <= SB_LAYER; lv++)
            for (size_t s = 0; s < sizeof prefill_shapes / sizeof *prefill_shapes && n < max; s++) {
                ttt_case *c = &cs[n++];
                snprintf(c->layer, sizeof c->layer, "%s", layers[l]);
                c->level = (sb_level)lv;
                c->B = prefill_shapes[s].B;
                c->T = prefill_shapes[s].T;
                c->steps = steps;
                c->share_qk = prefill_shapes[s].share_qk;
                c->use_gate = prefill_shapes[s].use_gate;
                c->mini_batch = prefill_shapes[s].mini_batch;
            }
    return n;
}

static sb_config case_config(const ttt_case *c) {
    sb_config cfg = tu_config(c->layer, "tiny");
    cfg.share_qk = c->share_qk;
    cfg.use_gate = c->use_gate;
    cfg.mini_batch = c->mini_batch;
    return cfg;
}

/* ---- dual == primal ------------------------------------------------------------------------- */
ParameterizedTestParameters(ttt, dual_equals_primal) {
    static ttt_case cs[64];
    int n = fill_cases(cs, 64, 0);
    return cr_make_param_array(ttt_case, cs, n);
}

ParameterizedTest(ttt_case *c, ttt, dual_equals_primal) {
    sb_config cfg = case_config(c);
    sb_layer_opts o = {.layer = c->layer, .impl = "dual", .backend = SB_REF, .level = c->level, .cfg = &cfg,
                       .seed = 11, .max_batch = c->B, .max_ctx = c->T};
    float *yd, *yp, *unused;
    size_t nd, np, nu;
    cr_assert_eq(tu_run(&o, c->B, c->T, 0, 12, &yd, &unused, &nd, &nu), SB_OK, "%s", sb_last_error());
    o.impl = "primal";
    cr_assert_eq(tu_run(&o, c->B, c->T, 0, 12, &yp, &unused, &np, &nu), SB_OK, "%s", sb_last_error());
    double max_abs, max_ref;
    tu_max_err(yd, yp, nd, &max_abs, &max_ref);
    cr_expect(max_abs <= 1e-5 * max_ref, "%s %s B=%d T=%d b=%d share_qk=%d gate=%d: dual vs primal %.3e (max|ref| %.3g)",
              c->layer, sb_level_name(c->level), c->B, c->T, c->mini_batch, c->share_qk, c->use_gate, max_abs, max_ref);
    free(yd); free(yp);
}

/* ---- decode across several mini-batch boundaries ------------------------------------------------- */
ParameterizedTestParameters(ttt, long_decode_equals_prefill) {
    static ttt_case cs[64];
    int n = fill_cases(cs, 64, 40); /* T + 40 crosses 2..10 boundaries */
    return cr_make_param_array(ttt_case, cs, n);
}

ParameterizedTest(ttt_case *c, ttt, long_decode_equals_prefill) {
    sb_config cfg = case_config(c);
    const int impls = 2;
    const char *names[2] = {"dual", "primal"};
    for (int k = 0; k < impls; k++) {
        sb_layer_opts o = {.layer = c->layer, .impl = names[k], .backend = SB_REF, .level = c->level, .cfg = &cfg,
                           .seed = 21, .max_batch = c->B, .max_ctx = c->T + c->steps};
        float *y, *yd, *yl, *unused;
        size_t ny, nyd, nyl, nu;
        cr_assert_eq(tu_run(&o, c->B, c->T, c->steps, 22, &y, &yd, &ny, &nyd), SB_OK, "%s", sb_last_error());
        cr_assert_eq(tu_run(&o, c->B, c->T + c->steps, 0, 22, &yl, &unused, &nyl, &nu), SB_OK, "%s", sb_last_error());
        const int D = cfg.d_model, L = c->T + c->steps;
        double worst = 0, max_ref = 0;
        for (int s = 0; s < c->steps; s++)
            for (int b = 0; b < c->B; b++) {
                double e, r;
                tu_max_err(yd + ((size_t)s * c->B + b) * D, yl + ((size_t)b * L + c->T + s) * D, D, &e, &r);
                if (!(e <= worst)) worst = e;
                if (r > max_ref) max_ref = r;
            }
        cr_expect(worst <= 1e-5 * max_ref, "%s/%s %s B=%d T=%d+%d b=%d: decode vs prefill %.3e (max|ref| %.3g)", c->layer,
                  names[k], sb_level_name(c->level), c->B, c->T, c->steps, c->mini_batch, worst, max_ref);
        free(y); free(yd); free(yl);
    }
}

/* ---- the paper's theorem: TTT-Linear = linear attention --------------------------------------- */
/* z_t = sum_{s<=t} v_s (k_s . q_t), one head, rows of d. */
static void causal_linear_attention(const float *q, const float *k, const float *v, int T, int d, float *z) {
    for (int t = 0; t < T; t++)
        for (int c = 0; c < d; c++) {
            double s = 0;
            for (int j = 0; j <= t; j++) {
                double dot = 0;
                for (int i = 0; i < d; i++) dot += (double)k[j * d + i] * q[t * d + i];
                s += dot * v[j * d + c];
            }
            z[t * d + c] = (float)s;
        }
}

/* Theorem 1 of the paper: inner model f(x) = x W, W0 = 0, loss ||x_k W - x_v||^2, batch GD with
 * rate 1/2 over the whole sequence => z_t = sum_s v_s (k_s . q_t). Our inner loss is
 * 1/2 ||k W - v||^2 (as ttt.py, gradient z - target with no factor 2), so the same step is rate
 * 1: tau_i * lr_j = 1, made exact by token_idx[i] = 1 - 1/(i+1) (tau_i = 1) and lr_j = 1.
 * Then g_j = k_j W0 - v_j = -v_j, W_t = sum_{j<=t} k_j^T v_j and z_t = q_t W_t. The switches
 * turn off what the theorem does not have: the inner LN, the residual target v - k, the bias
 * update and the residual output q + ... . */
Test(ttt, theorem_linear_attention) {
    const int T = 12, d = 8;
    sb_rng rng;
    sb_rng_seed(&rng, 3);
    /* q, k, v: [T,d] arrays (row stride d); lr is read at lr[i*ld], so it gets the same stride */
    float qkv[3][12 * 8], lr[12 * 8] = {0}, token_idx[12], gamma[8], beta[8], out[12 * 8], want[12 * 8];
    for (int m = 0; m < 3; m++) sb_fill_normal(qkv[m], (size_t)T * d, &rng, 0.0f, 1.0f);
    for (int i = 0; i < T; i++) {
        token_idx[i] = 1.0f - 1.0f / (float)(i + 1); /* tau_i = 1 */
        lr[i * d] = 1.0f;
    }
    for (int i = 0; i < d; i++) { gamma[i] = 1.0f; beta[i] = 0.0f; } /* unused with inner_ln off */
    float *w = calloc(ttt_linear_variant.inner_floats(d), sizeof(float)); /* W0 = 0, b0 = 0 */
    float *g = calloc(ttt_linear_variant.inner_floats(d), sizeof(float));
    float *ws = malloc(ttt_linear_variant.ws_floats(d, T) * sizeof(float));
    cr_assert(w && g && ws);
    ttt_head hd = {.d = d, .mini_batch = T, .eps = 1e-6f, .gamma = gamma, .beta = beta, .token_idx = token_idx, .w = w, .g = g};
    ttt_rows r = {.q = qkv[0], .k = qkv[1], .v = qkv[2], .lr = lr, .ld = (size_t)d, .o = out, .ldo = (size_t)d};
    ttt_linear_switches sw = {.inner_ln = 0, .residual_target = 0, .update_bias = 0, .residual_out = 0};
    ttt_linear_dual_chunk_switched(&hd, &r, T, ws, &sw);
    causal_linear_attention(qkv[0], qkv[1], qkv[2], T, d, want);
    double max_abs, max_ref;
    tu_max_err(out, want, (size_t)T * d, &max_abs, &max_ref);
    cr_expect(max_abs <= 1e-5 * max_ref, "TTT-Linear (switched) vs linear attention: %.3e (max|ref| %.3g)", max_abs, max_ref);
    /* and the accumulated update is -sum_j k_j^T v_j (the bias frozen: its accumulator stays 0) */
    double gerr = 0;
    for (int i = 0; i < d; i++)
        for (int c = 0; c < d; c++) {
            double s = 0;
            for (int j = 0; j < T; j++) s += (double)qkv[1][j * d + i] * qkv[2][j * d + c];
            gerr = fmax(gerr, fabs(g[i * d + c] + s));
        }
    for (int c = 0; c < d; c++) gerr = fmax(gerr, fabs(g[d * d + c]));
    cr_expect(gerr <= 1e-4, "accumulated gradient differs from -sum k^T v by %.3e", gerr);
    free(w); free(g); free(ws);
}

/* ---- analytic counts ------------------------------------------------------------------------ */
typedef struct {
    const char *layer, *impl;
    sb_level level;
    sb_mode mode;
    int B, T, share_qk, use_gate;
    double flops;
} count_case;

/* tiny: D 64, H 4, d 16, b 16. Inner per token per head: Linear dual 6*256 + 6*16*16 = 3072,
 * primal 8*256 = 2048; MLP dual 56*256 + 30*16*16 = 22016, primal 72*256 = 18432.
 * Layer projections (MACs per token): share_qk + gate: q, v, o, g = 4*64*64 = 16384, plus the lr
 * gate 64*4 = 256 -> 16640, FLOPs 33280; no share_qk + gate: 5*4096 + 256 = 20736 -> 41472. */
static const count_case count_cases[] = {
    /* B*T = 16 tokens x H 4 x 3072 */
    {"ttt_linear", "dual", SB_OP, SB_PREFILL, 2, 8, 1, 1, 16 * 4 * 3072.0},
    /* 16 x 4 x 2048 */
    {"ttt_linear", "primal", SB_OP, SB_PREFILL, 2, 8, 1, 1, 16 * 4 * 2048.0},
    /* decode: B = 2 tokens x 4 x 2048, whatever the context */
    {"ttt_linear", "dual", SB_OP, SB_DECODE, 2, 100, 1, 1, 2 * 4 * 2048.0},
    /* 196608 + 16 x 33280 */
    {"ttt_linear", "dual", SB_LAYER, SB_PREFILL, 2, 8, 1, 1, 196608.0 + 532480.0},
    /* 196608 + 16 x 41472 */
    {"ttt_linear", "dual", SB_LAYER, SB_PREFILL, 2, 8, 0, 1, 196608.0 + 663552.0},
    /* 16 x 4 x 22016 */
    {"ttt_mlp", "dual", SB_OP, SB_PREFILL, 2, 8, 1, 1, 16 * 4 * 22016.0},
    /* 16 x 4 x 18432 */
    {"ttt_mlp", "primal", SB_OP, SB_PREFILL, 2, 8, 1, 1, 16 * 4 * 18432.0},
    /* 2 x 4 x 18432 + 2 x 33280 */
    {"ttt_mlp", "dual", SB_LAYER, SB_DECODE, 2, 50, 1, 1, 147456.0 + 66560.0},
};

Test(ttt, flops_match_hand_counts) {
    for (size_t i = 0; i < sizeof count_cases / sizeof *count_cases; i++) {
        const count_case *k = &count_cases[i];
        sb_config cfg = tu_config(k->layer, "tiny");
        cfg.share_qk = k->share_qk;
        cfg.use_gate = k->use_gate;
        const sb_layer_desc *d = sb_find_layer(k->layer);
        const sb_impl *im = sb_find_impl(d, SB_REF, k->level, k->impl); /* its counting form */
        cr_assert(im, "%s has no ref impl %s", k->layer, k->impl);
        double f = sb_count(d, im, &cfg, k->level, k->mode, k->B, k->T, SB_F32).flops;
        cr_expect(fabs(f - k->flops) <= 1e-9 * k->flops, "%s/%s %s %s B=%d T=%d: %.0f, by hand %.0f", k->layer, k->impl,
                  sb_level_name(k->level), sb_mode_name(k->mode), k->B, k->T, f, k->flops);
    }
}

/* Inner state per head P: Linear d^2 + d = 272, MLP 8d^2 + 5d = 2048 + 80 = 2128 floats. */
Test(ttt, bytes_and_state_match_hand_counts) {
    sb_config lc = tu_config("ttt_linear", "tiny"), mc = tu_config("ttt_mlp", "tiny");
    const sb_layer_desc *lin = sb_find_layer("ttt_linear"), *mlp = sb_find_layer("ttt_mlp");
    /* op prefill B=2, T=8, fp32: 16 rows x (4D + H = 260) x 4 = 16640; weights read H*P*4 = 4352,
     * state written B*H*P*4 = 8704 */
    cr_expect_float_eq(lin->bytes(lin, &lc, SB_OP, SB_PREFILL, 0, 2, 8, 4), 16640 + 4352 + 8704, 1e-6);
    /* op decode B=2, bf16: 2 x 260 x 2 = 1040; W and accumulators read, accumulators written:
     * 3 x B*H*P x 4 = 3 x 2176 x 4 = 26112 */
    cr_expect_float_eq(lin->bytes(lin, &lc, SB_OP, SB_DECODE, 0, 2, 8, 2), 1040 + 26112, 1e-6);
    /* MLP layer decode B=2, bf16, share_qk + gate: x, y 2 x 2D x 2 = 512; projection weights
     * 16640 x 2 = 33280; state 3 x 2*4*2128 x 4 = 204288; conv history r+w 2 x 2*64*3 x 4 = 3072 */
    cr_expect_float_eq(mlp->bytes(mlp, &mc, SB_LAYER, SB_DECODE, 0, 2, 8, 2), 512 + 33280 + 204288 + 3072, 1e-6);
    /* state: B*H*2P*4 = 2*4*544*4 = 17408, + conv history B*D*(K-1)*4 = 2*64*3*4 = 1536 */
    cr_expect_float_eq(lin->state_bytes(lin, &lc, SB_LAYER, 2, 100, 2), 17408 + 1536, 1e-6);
    cr_expect_float_eq(lin->state_bytes(lin, &lc, SB_OP, 2, 100, 2), 17408, 1e-6);
    /* MLP op, B=1: 4 * 2 * 2128 * 4 = 68096 */
    cr_expect_float_eq(mlp->state_bytes(mlp, &mc, SB_OP, 1, 100, 2), 68096, 1e-6);
    /* without share_qk there is no conv history */
    lc.share_qk = 0;
    cr_expect_float_eq(lin->state_bytes(lin, &lc, SB_LAYER, 2, 100, 2), 17408, 1e-6);
}

/* ---- fill_state --------------------------------------------------------------------------- */
Test(ttt, fill_state_decodes_to_finite_values) {
    const char *layers[] = {"ttt_linear", "ttt_mlp"};
    const int Ts[] = {32, 37};
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 2; k++) {
            sb_config cfg = tu_config(layers[l], "tiny");
            sb_layer_opts o = {.layer = layers[l], .impl = "dual", .backend = SB_REF, .level = SB_LAYER, .cfg = &cfg,
                               .seed = 1, .max_batch = 2, .max_ctx = 64};
            sb_layer *L;
            cr_assert_eq(sb_layer_create(&o, &L), SB_OK, "%s", sb_last_error());
            cr_assert_eq(sb_layer_fill_state(L, 2, Ts[k], 5), SB_OK, "%s", sb_last_error());
            cr_expect_eq(L->pos, Ts[k]);
            float x[2 * 64], y[2 * 64];
            sb_rng rng;
            sb_rng_seed(&rng, 9);
            for (int s = 0; s < 20; s++) { /* crosses the boundary at 48 */
                sb_layer_make_input(L, x, 2, 1, &rng);
                cr_assert_eq(sb_layer_decode(L, x, y, 2), SB_OK, "%s", sb_last_error());
                for (int i = 0; i < 2 * 64; i++) cr_assert(isfinite(y[i]), "%s T=%d step %d: y[%d] = %g", layers[l], Ts[k], s, i, y[i]);
            }
            sb_layer_destroy(L);
        }
}
