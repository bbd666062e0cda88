/* ttt_mlp.c: TTT-MLP (Sun et al. 2024; ttt-lm-pytorch ttt.py TTTMLP, SPEC §3.3): the inner
 * two-layer MLP, its reference step and dual form, counts and the descriptor. What both TTT
 * variants share is in ttt_common.c. Fast impls: kernels/ttt_cpu.c (cpu), kernels/ttt_*.cu (cuda);
 * registry/registry.c lists them all.
 *
 * Inner model per head, hidden h = 4d, gelu = tanh approximation (gelu' exact, ttt.py constants):
 *   Z1 = k W1 + b1 [h],  X2 = gelu(Z1),  f(k) = Z2 = X2 W2 + b2 [d]
 *   W1 [d,4d], b1 [1,4d], W2 [4d,d], b2 [1,d] (init: the parameters of head h)
 * Loss 1/2 || LN(Z2) - (v - k) ||^2; g2 = dLoss/dZ2 (ttt_ln_l2_bwd), g1 = (g2 W2^T) . gelu'(Z1).
 * In a mini-batch (rows i, j; eta_ij = tau_i alpha_j as in ttt_linear.c), all gradients at the
 * start parameters:
 *   primal: W1_i = W1 - tau_i sum_{j<=i} alpha_j k_j^T g1_j,  b1_i likewise with g1_j,
 *           W2_i = W2 - tau_i sum_{j<=i} alpha_j X2_j^T g2_j, b2_i likewise with g2_j,
 *           zbar_i = gelu(q_i W1_i + b1_i) W2_i + b2_i
 *   dual:   Zbar1 = Q W1 - (eta . tril(Q K^T)) G1 + b1 - tril(eta) G1,  Xbar2 = gelu(Zbar1)
 *           Zbar2 = Xbar2 W2 - (eta . tril(Xbar2 X2^T)) G2 + b2 - tril(eta) G2
 *   out_i   = q_i + LN(zbar2_i); at the end of the mini-batch all four take their last value.
 * State: W1 | b1 | W2 | b2 of the open mini-batch's start plus accumulators of the same layout.
 *
 * Impls on ref: "dual" and "primal"; decode is the same one-token step for both.
 */
#include "ttt.h"
#include "ref_ops.h"

#include <stdlib.h>
#include <string.h>

static size_t inner_floats(int d) { return 8 * (size_t)d * d + 5 * (size_t)d; }

/* dual: Q, K, V, Z2/G2, Zbar2, target [b,d]; Z1, X2, G1, Zbar1, Xbar2 [b,4d]; A1, A2 [b,b];
 * tau, alpha [b]; step rows: 5 of 4d and 5 of d */
static size_t ws_floats(int d, int b) {
    size_t h = 4 * (size_t)d;
    return 6 * (size_t)b * d + 5 * (size_t)b * h + 2 * (size_t)b * b + 2 * (size_t)b + 5 * h + 5 * (size_t)d;
}

/* ---- one token (primal; decode) -------------------------------------------------------------- */
static void mlp_step(const ttt_head *hd, const ttt_rows *r, int m, float *ws) {
    const int d = hd->d, h = 4 * d;
    const ttt_mlp_params W = ttt_mlp_view(hd->w, d), G = ttt_mlp_view(hd->g, d);
    const float *q = r->q, *k = r->k, *v = r->v;
    const float alpha = r->lr[0], tau = ttt_token_eta(hd->token_idx, m);
    float *z1 = ws, *x2 = z1 + h, *g1 = x2 + h, *zb1 = g1 + h, *xb2 = zb1 + h;
    float *z2 = xb2 + h, *target = z2 + d, *g2 = target + d, *zb2 = g2 + d, *ln = zb2 + d;
    for (int c = 0; c < h; c++) {
        double s = W.b1[c];
        for (int i = 0; i < d; i++) s += (double)k[i] * W.W1[(size_t)i * h + c];
        z1[c] = (float)s;
        x2[c] = ref_gelu_tanh(z1[c]);
    }
    for (int j = 0; j < d; j++) {
        double s = W.b2[j];
        for (int c = 0; c < h; c++) s += (double)x2[c] * W.W2[(size_t)c * d + j];
        z2[j] = (float)s;
        target[j] = v[j] - k[j];
    }
    ttt_ln_l2_bwd(z2, target, hd->gamma, hd->beta, d, hd->eps, g2);
    for (int c = 0; c < h; c++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)g2[j] * W.W2[(size_t)c * d + j];
        g1[c] = (float)s * ref_gelu_tanh_grad(z1[c]);
    }
    /* accumulate alpha * gradient of all four parameters */
    for (int i = 0; i < d; i++)
        for (int c = 0; c < h; c++) G.W1[(size_t)i * h + c] += alpha * k[i] * g1[c];
    for (int c = 0; c < h; c++) G.b1[c] += alpha * g1[c];
    for (int c = 0; c < h; c++)
        for (int j = 0; j < d; j++) G.W2[(size_t)c * d + j] += alpha * x2[c] * g2[j];
    for (int j = 0; j < d; j++) G.b2[j] += alpha * g2[j];
    /* forward with the parameters of token i: P_i = P - tau G */
    for (int c = 0; c < h; c++) {
        double s = (double)W.b1[c] - (double)tau * G.b1[c];
        for (int i = 0; i < d; i++)
            s += (double)q[i] * ((double)W.W1[(size_t)i * h + c] - (double)tau * G.W1[(size_t)i * h + c]);
        zb1[c] = (float)s;
        xb2[c] = ref_gelu_tanh(zb1[c]);
    }
    for (int j = 0; j < d; j++) {
        double s = (double)W.b2[j] - (double)tau * G.b2[j];
        for (int c = 0; c < h; c++)
            s += (double)xb2[c] * ((double)W.W2[(size_t)c * d + j] - (double)tau * G.W2[(size_t)c * d + j]);
        zb2[j] = (float)s;
    }
    ttt_ln_fwd(zb2, hd->gamma, hd->beta, d, hd->eps, ln);
    for (int j = 0; j < d; j++) r->o[j] = q[j] + ln[j];
}

/* ---- dual form over one mini-batch (or its first n tokens) ----------------------------------------- */
static void add_bias_rows(float *X, const float *bias, int n, int w) {
    for (int i = 0; i < n; i++)
        for (int c = 0; c < w; c++) X[(size_t)i * w + c] += bias[c];
}

/* A[i,j] = X_i . Y_j for j <= i, 0 above the diagonal (X, Y [n,w]) */
static void tril_gram(const float *X, const float *Y, int n, int w, float *A) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int c = 0; j <= i && c < w; c++) s += (double)X[(size_t)i * w + c] * Y[(size_t)j * w + c];
            A[(size_t)i * n + j] = (float)s;
        }
}

static void mlp_chunk(const ttt_head *hd, const ttt_rows *r, int n, float *ws) {
    const int d = hd->d, h = 4 * d, b = hd->mini_batch;
    const ttt_mlp_params W = ttt_mlp_view(hd->w, d), Gacc = ttt_mlp_view(hd->g, d);
    float *Q = ws, *K = Q + (size_t)b * d, *V = K + (size_t)b * d, *Z2 = V + (size_t)b * d;
    float *Zb2 = Z2 + (size_t)b * d, *target = Zb2 + (size_t)b * d, *Z1 = target + (size_t)b * d;
    float *X2 = Z1 + (size_t)b * h, *G1 = X2 + (size_t)b * h, *Zb1 = G1 + (size_t)b * h, *Xb2 = Zb1 + (size_t)b * h;
    float *A1 = Xb2 + (size_t)b * h, *A2 = A1 + (size_t)b * b, *tau = A2 + (size_t)b * b, *alpha = tau + b;
    float *row = alpha + b;
    ttt_gather(r->q, r->ld, n, d, Q);
    ttt_gather(r->k, r->ld, n, d, K);
    ttt_gather(r->v, r->ld, n, d, V);
    for (int i = 0; i < n; i++) {
        tau[i] = ttt_token_eta(hd->token_idx, i);
        alpha[i] = r->lr[(size_t)i * r->ld];
    }
    /* forward at the start parameters and the gradients G2, G1 */
    ref_matmul(K, W.W1, Z1, n, d, h);
    add_bias_rows(Z1, W.b1, n, h);
    for (size_t i = 0; i < (size_t)n * h; i++) X2[i] = ref_gelu_tanh(Z1[i]);
    ref_matmul(X2, W.W2, Z2, n, h, d);
    add_bias_rows(Z2, W.b2, n, d);
    for (size_t i = 0; i < (size_t)n * d; i++) target[i] = V[i] - K[i];
    for (int i = 0; i < n; i++) {
        ttt_ln_l2_bwd(Z2 + (size_t)i * d, target + (size_t)i * d, hd->gamma, hd->beta, d, hd->eps, row);
        memcpy(Z2 + (size_t)i * d, row, (size_t)d * sizeof(float));
    }
    float *G2 = Z2;
    ref_linear(G2, W.W2, G1, n, d, h); /* G2 W2^T */
    for (size_t i = 0; i < (size_t)n * h; i++) G1[i] *= ref_gelu_tanh_grad(Z1[i]);
    /* first layer: Zbar1 = Q W1 + b1 - (eta . tril(Q K^T)) G1 - tril(eta) G1 */
    tril_gram(Q, K, n, d, A1);
    ref_matmul(Q, W.W1, Zb1, n, d, h);
    add_bias_rows(Zb1, W.b1, n, h);
    ttt_sub_causal_mix(A1, tau, alpha, G1, n, h, Zb1);
    ttt_sub_causal_mix(NULL, tau, alpha, G1, n, h, Zb1);
    for (size_t i = 0; i < (size_t)n * h; i++) Xb2[i] = ref_gelu_tanh(Zb1[i]);
    /* second layer: Zbar2 = Xbar2 W2 + b2 - (eta . tril(Xbar2 X2^T)) G2 - tril(eta) G2 */
    tril_gram(Xb2, X2, n, h, A2);
    ref_matmul(Xb2, W.W2, Zb2, n, h, d);
    add_bias_rows(Zb2, W.b2, n, d);
    ttt_sub_causal_mix(A2, tau, alpha, G2, n, d, Zb2);
    ttt_sub_causal_mix(NULL, tau, alpha, G2, n, d, Zb2);
    for (int i = 0; i < n; i++) {
        float *o = r->o + (size_t)i * r->ldo;
        ttt_ln_fwd(Zb2 + (size_t)i * d, hd->gamma, hd->beta, d, hd->eps, row);
        for (int j = 0; j < d; j++) o[j] = Q[(size_t)i * d + j] + row[j];
    }
    /* accumulators of this mini-batch */
    ttt_add_weighted_outer(K, G1, alpha, n, d, h, Gacc.W1);
    ttt_add_weighted_outer(NULL, G1, alpha, n, 1, h, Gacc.b1);
    ttt_add_weighted_outer(X2, G2, alpha, n, h, d, Gacc.W2);
    ttt_add_weighted_outer(NULL, G2, alpha, n, 1, d, Gacc.b2);
}

const ttt_variant ttt_mlp_variant = {
    .layer = "ttt_mlp", .mlp = 1,
    .inner_floats = inner_floats, .ws_floats = ws_floats,
    .step = mlp_step, .chunk = mlp_chunk,
    /* dual, per mini-batch: K W1, X2 W2, G2 W2^T, Q W1, Xbar2 W2, K^T G1, X2^T G2: 2*b*d*4d each
     * -> 7*8 = 56 d^2 per token; Q K^T (2b^2 d), (eta.A1) G1 (8b^2 d), tril(eta) G1 (8b^2 d),
     * Xbar2 X2^T (8b^2 d), (eta.A2) G2 (2b^2 d), tril(eta) G2 (2b^2 d) -> 30bd per token.
     * primal/decode: the seven products above as matrix-vector work plus the two parameter
     * updates W1 - tau G1, W2 - tau G2: 9 * 8d^2 = 72d^2. */
    .dual_d2 = 56, .dual_bd = 30, .primal_d2 = 72,
};

/* ---- impls and descriptor (the functions both variants share read the variant from ctx) --------------- */
const sb_impl sb_ttt_mlp_ref_dual = {
    .name = "dual", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "dual form per mini-batch (naive loops, double sums), one-token primal decode",
    .setup = ttt_ref_setup, .prefill = ttt_ref_prefill, .decode = ttt_ref_decode, .fill_state = ttt_ref_fill_state,
    .teardown = ttt_ref_teardown,
};
const sb_impl sb_ttt_mlp_ref_primal = {
    .name = "primal", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "token by token: P_i = P - tau_i sum_{j<=i} lr_j grad_j for W1, b1, W2, b2 (naive loops)",
    .setup = ttt_ref_setup, .prefill = ttt_ref_prefill, .decode = ttt_ref_decode, .fill_state = ttt_ref_fill_state,
    .teardown = ttt_ref_teardown, .count_form = TTT_FORM_PRIMAL,
};

static const sb_config_field fields[] = {TTT_CONFIG_FIELDS(0.1)};

/* The shared widths with TTT-MLP's base learning rate (0.1; TTT-Linear keeps 1.0). */
static int preset(const char *name, sb_config *c) {
    if (!sb_config_base(name, c)) return 0;
    c->ttt_base_lr = 0.1f;
    return 1;
}

const sb_layer_desc sb_ttt_mlp = {
    .name = "ttt_mlp",
    .ctx = &ttt_mlp_variant,
    .about = "TTT-MLP (ttt-lm-pytorch TTTMLP): inner two-layer MLP (hidden 4d) trained at test time",
    .default_config = "tiny", .preset = preset,
    .block = {.mlp = 1, .norm_eps = 1e-6f, .tied_embedding = 0}, /* Llama-style transformer / TTT block */
    .fields = fields,
    .declare_params = ttt_declare_params, .init_params = ttt_init_params,
    .in_dim = ttt_in_dim, .out_dim = ttt_out_dim, .make_input = ttt_make_input,
    .flops = ttt_flops, .bytes = ttt_bytes, .state_bytes = ttt_state_bytes,
};
