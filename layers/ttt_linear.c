/* ttt_linear.c: TTT-Linear (Sun et al. 2024; ttt-lm-pytorch ttt.py TTTLinear, SPEC §3.3): the
 * inner model, its reference step and dual form, counts and the descriptor. What both TTT variants
 * share (projections, convs, RoPE, lr gate, norms, driver) is in ttt_common.c. Fast impls:
 * kernels/ttt_cpu.c (cpu), kernels/ttt_*.cu (cuda); registry/registry.c lists them all.
 *
 * Inner model per head: f(k) = k W + b, W [d,d] (init W1[h]), b [1,d] (init b1[h]).
 * Inner loss per token: 1/2 || LN(f(k)) - (v - k) ||^2 (LN over d: ttt_norm_weight/bias[h]);
 * g = dLoss/dz at z = f(k) (ttt_ln_l2_bwd, no factor 2).
 * In a mini-batch of n <= b tokens (rows i, j), every gradient is taken at its start W, b:
 *   tau_i   = max(0, 1/(i+1) + learnable_token_idx[i]),  alpha_j = lr_j (op input),
 *   eta_ij  = tau_i alpha_j  (j <= i)
 *   primal: W_i = W - tau_i sum_{j<=i} alpha_j k_j^T g_j,  b_i = b - tau_i sum_{j<=i} alpha_j g_j,
 *           zbar_i = q_i W_i + b_i
 *   dual:   Z = K W + b;  G = rows g_j;  A = tril(Q K^T) (diagonal kept)
 *           Zbar = Q W - (eta . A) G + b - tril(eta) G
 *   out_i   = q_i + LN(zbar_i)
 *   end of the mini-batch: W <- W_{b-1}, b <- b_{b-1}.
 * State kept between calls: W, b of the open mini-batch's start and the accumulators
 * GW = sum_{j<i} alpha_j k_j^T g_j, Gb = sum_{j<i} alpha_j g_j (zero at a mini-batch start).
 *
 * Impls on ref: "dual" (dual form per mini-batch) and "primal" (token by token); decode is the
 * same one-token step for both.
 */
#include "ttt.h"

#include <stdlib.h>
#include <string.h>

static size_t inner_floats(int d) { return (size_t)d * d + d; }

/* step: 4 rows of d; dual: Q, K, V, Z/G, Zbar, target [b,d], A [b,b], tau, alpha [b] */
static size_t ws_floats(int d, int b) { return 6 * (size_t)b * d + (size_t)b * b + 2 * (size_t)b + 4 * (size_t)d; }

/* ---- one token (primal; decode) -------------------------------------------------------------- */
static void linear_step(const ttt_head *hd, const ttt_rows *r, int m, float *ws) {
    const int d = hd->d;
    const float *W = hd->w, *bias = hd->w + (size_t)d * d, *q = r->q, *k = r->k, *v = r->v;
    float *GW = hd->g, *Gb = hd->g + (size_t)d * d;
    float *z = ws, *target = ws + d, *g = ws + 2 * d, *zbar = ws + 3 * d;
    const float alpha = r->lr[0], tau = ttt_token_eta(hd->token_idx, m);
    for (int j = 0; j < d; j++) {
        double s = bias[j];
        for (int i = 0; i < d; i++) s += (double)k[i] * W[(size_t)i * d + j];
        z[j] = (float)s;
        target[j] = v[j] - k[j];
    }
    ttt_ln_l2_bwd(z, target, hd->gamma, hd->beta, d, hd->eps, g);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) GW[(size_t)i * d + j] += alpha * k[i] * g[j];
    for (int j = 0; j < d; j++) Gb[j] += alpha * g[j];
    for (int j = 0; j < d; j++) { /* q W_i + b_i with W_i = W - tau GW, b_i = b - tau Gb */
        double s = (double)bias[j] - (double)tau * Gb[j];
        for (int i = 0; i < d; i++) s += (double)q[i] * ((double)W[(size_t)i * d + j] - (double)tau * GW[(size_t)i * d + j]);
        zbar[j] = (float)s;
    }
    ttt_ln_fwd(zbar, hd->gamma, hd->beta, d, hd->eps, z);
    for (int j = 0; j < d; j++) r->o[j] = q[j] + z[j];
}

/* ---- dual form over one mini-batch (or its first n tokens) ----------------------------------------- */
void ttt_linear_dual_chunk_switched(const ttt_head *hd, const ttt_rows *r, int n, float *ws,
                                    const ttt_linear_switches *sw) {
    const int d = hd->d, b = hd->mini_batch;
    const float *W = hd->w, *bias = hd->w + (size_t)d * d;
    float *GW = hd->g, *Gb = hd->g + (size_t)d * d;
    float *Q = ws, *K = Q + (size_t)b * d, *V = K + (size_t)b * d, *Z = V + (size_t)b * d;
    float *Zbar = Z + (size_t)b * d, *target = Zbar + (size_t)b * d, *A = target + (size_t)b * d;
    float *tau = A + (size_t)b * b, *alpha = tau + b, *row = alpha + b;
    ttt_gather(r->q, r->ld, n, d, Q);
    ttt_gather(r->k, r->ld, n, d, K);
    ttt_gather(r->v, r->ld, n, d, V);
    for (int i = 0; i < n; i++) {
        tau[i] = ttt_token_eta(hd->token_idx, i);
        alpha[i] = r->lr[(size_t)i * r->ld];
    }
    /* Z = K W + b, then G = dLoss/dZ row by row (in place) */
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) {
            double s = bias[j];
            for (int c = 0; c < d; c++) s += (double)K[(size_t)i * d + c] * W[(size_t)c * d + j];
            Z[(size_t)i * d + j] = (float)s;
            target[(size_t)i * d + j] = sw->residual_target ? V[(size_t)i * d + j] - K[(size_t)i * d + j] : V[(size_t)i * d + j];
        }
        float *zi = Z + (size_t)i * d, *ti = target + (size_t)i * d;
        if (sw->inner_ln) {
            ttt_ln_l2_bwd(zi, ti, hd->gamma, hd->beta, d, hd->eps, row);
            memcpy(zi, row, (size_t)d * sizeof(float));
        } else {
            for (int j = 0; j < d; j++) zi[j] -= ti[j]; /* gradient of 1/2 ||z - t||^2 */
        }
    }
    float *G = Z;
    /* A = tril(Q K^T), diagonal kept */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int c = 0; j <= i && c < d; c++) s += (double)Q[(size_t)i * d + c] * K[(size_t)j * d + c];
            A[(size_t)i * n + j] = (float)s;
        }
    /* Zbar = Q W + b - (eta . A) G - tril(eta) G */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double s = bias[j];
            for (int c = 0; c < d; c++) s += (double)Q[(size_t)i * d + c] * W[(size_t)c * d + j];
            Zbar[(size_t)i * d + j] = (float)s;
        }
    ttt_sub_causal_mix(A, tau, alpha, G, n, d, Zbar);
    if (sw->update_bias) ttt_sub_causal_mix(NULL, tau, alpha, G, n, d, Zbar);
    for (int i = 0; i < n; i++) {
        float *o = r->o + (size_t)i * r->ldo, *zb = Zbar + (size_t)i * d;
        if (sw->inner_ln) ttt_ln_fwd(zb, hd->gamma, hd->beta, d, hd->eps, row);
        else memcpy(row, zb, (size_t)d * sizeof(float));
        for (int j = 0; j < d; j++) o[j] = (sw->residual_out ? Q[(size_t)i * d + j] : 0.0f) + row[j];
    }
    /* accumulators of this mini-batch: GW += sum_j alpha_j k_j^T g_j, Gb += sum_j alpha_j g_j */
    ttt_add_weighted_outer(K, G, alpha, n, d, d, GW);
    if (sw->update_bias) ttt_add_weighted_outer(NULL, G, alpha, n, 1, d, Gb);
}

static void linear_chunk(const ttt_head *hd, const ttt_rows *r, int n, float *ws) {
    static const ttt_linear_switches all_on = {.inner_ln = 1, .residual_target = 1, .update_bias = 1, .residual_out = 1};
    ttt_linear_dual_chunk_switched(hd, r, n, ws, &all_on);
}

const ttt_variant ttt_linear_variant = {
    .layer = "ttt_linear", .mlp = 0,
    .inner_floats = inner_floats, .ws_floats = ws_floats,
    .step = linear_step, .chunk = linear_chunk,
    /* dual: Z = K W, Q W, the update K^T G: 2bd^2 each per mini-batch -> 6d^2 per token;
     * A = Q K^T, (eta.A) G, tril(eta) G: 2b^2 d each -> 6bd per token.
     * primal/decode: k W, k^T g, W - tau G, q W_i: 2d^2 each -> 8d^2. */
    .dual_d2 = 6, .dual_bd = 6, .primal_d2 = 8,
};

/* ---- impls and descriptor (the functions both variants share read the variant from ctx) --------------- */
const sb_impl sb_ttt_linear_ref_dual = {
    .name = "dual", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "dual form per mini-batch (naive loops, double sums), one-token primal decode",
    .setup = ttt_ref_setup, .prefill = ttt_ref_prefill, .decode = ttt_ref_decode, .fill_state = ttt_ref_fill_state,
    .teardown = ttt_ref_teardown,
};
const sb_impl sb_ttt_linear_ref_primal = {
    .name = "primal", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "token by token: W_i = W - tau_i sum_{j<=i} lr_j k_j^T g_j (naive loops)",
    .setup = ttt_ref_setup, .prefill = ttt_ref_prefill, .decode = ttt_ref_decode, .fill_state = ttt_ref_fill_state,
    .teardown = ttt_ref_teardown, .count_form = TTT_FORM_PRIMAL,
};

static const sb_config_field fields[] = {TTT_CONFIG_FIELDS(1.0)};

const sb_layer_desc sb_ttt_linear = {
    .name = "ttt_linear",
    .ctx = &ttt_linear_variant,
    .about = "TTT-Linear (ttt-lm-pytorch TTTLinear): inner f(k) = kW + b trained at test time",
    .default_config = "tiny", .preset = sb_config_base,
    .block = {.mlp = 1, .norm_eps = 1e-6f, .tied_embedding = 0}, /* Llama-style transformer / TTT block */
    .fields = fields,
    .declare_params = ttt_declare_params, .init_params = ttt_init_params,
    .in_dim = ttt_in_dim, .out_dim = ttt_out_dim, .make_input = ttt_make_input,
    .flops = ttt_flops, .bytes = ttt_bytes, .state_bytes = ttt_state_bytes,
};
