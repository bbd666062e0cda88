/* ttt_common.c: what TTT-Linear and TTT-MLP share (ttt-lm-pytorch ttt.py TTTBase, SPEC §3.3):
 * parameters, inputs, analytic counts, the inner LN and its fused L2 backward, the layer-level
 * glue (projections, share_qk convs, interleaved RoPE at t mod b, lr gate, post_norm, gate,
 * o_proj) and the reference driver that walks mini-batches. The inner models themselves (step
 * and dual form) are in ttt_linear.c and ttt_mlp.c.
 *
 * Layer level, per token t (absolute position) and head h (channels h*d .. h*d+d-1):
 *   XQ, XK, XV = x Wq^T, x Wk^T, x Wv^T                  (transformer backbone)
 *   P = x Wq^T, XQ = conv_q(P), XK = conv_k(P), XV = x Wv^T   (share_qk: causal depthwise, bias)
 *   XQ_h, XK_h <- RoPE interleaved pairs (2j, 2j+1), position t mod b
 *   lr[t,h]  = ttt_base_lr * sigmoid(x . learnable_ttt_lr_weight[h] + learnable_ttt_lr_bias[h]) / d
 *   o        = inner loop (op level) -> concat_h(XQ_h + LN_h(Zbar_h))
 *   o        = post_norm(o);  o = gelu_tanh(x Wg^T) * o if use_gate;  y = o Wo^T
 *
 * Reference driver: per (sequence, head), tokens are walked in order; at a mini-batch start the
 * dual impl hands up to b tokens to the variant's dual form, otherwise (primal impl, decode, or
 * inside an open mini-batch) the one-token step runs. When a mini-batch completes, the driver
 * commits W <- W - token_eta[b-1] * G and zeroes G, so a state left inside a mini-batch is
 * "W of its start + partial sums", exactly the reference's TTTCache.
 */
#include "ttt.h"
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- inner LayerNorm and its fused L2 backward ---------------------------------------------- */
typedef struct { double mu, sigma; } ln_stats;

static ln_stats row_stats(const float *z, int d, float eps) {
    double mu = 0, var = 0;
    for (int i = 0; i < d; i++) mu += z[i];
    mu /= d;
    for (int i = 0; i < d; i++) var += (z[i] - mu) * (z[i] - mu);
    var /= d;
    return (ln_stats){mu, sqrt(var + eps)};
}

void ttt_ln_fwd(const float *z, const float *gamma, const float *beta, int d, float eps, float *y) {
    ln_stats st = row_stats(z, d, eps);
    for (int i = 0; i < d; i++) y[i] = (float)(gamma[i] * ((z[i] - st.mu) / st.sigma) + beta[i]);
}

/* With zh = (z - mu)/sigma, y = gamma*zh + beta, gh = gamma*(y - target):
 * dL/dz = (d*gh - sum(gh) - zh*sum(gh*zh)) / (d*sigma). */
void ttt_ln_l2_bwd(const float *z, const float *target, const float *gamma, const float *beta, int d, float eps,
                   float *g) {
    ln_stats st = row_stats(z, d, eps);
    double sum_gh = 0, sum_ghzh = 0;
    for (int i = 0; i < d; i++) {
        double zh = (z[i] - st.mu) / st.sigma, gh = gamma[i] * (gamma[i] * zh + beta[i] - target[i]);
        sum_gh += gh;
        sum_ghzh += gh * zh;
    }
    for (int i = 0; i < d; i++) {
        double zh = (z[i] - st.mu) / st.sigma, gh = gamma[i] * (gamma[i] * zh + beta[i] - target[i]);
        g[i] = (float)((d * gh - sum_gh - zh * sum_ghzh) / (d * st.sigma));
    }
}

/* ---- small dense helpers of the dual forms ---------------------------------------------------- */
void ttt_gather(const float *src, size_t ld, int n, int w, float *dst) {
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * w, src + (size_t)i * ld, (size_t)w * sizeof(float));
}

void ttt_sub_causal_mix(const float *A, const float *tau, const float *alpha, const float *G, int n, int w, float *out) {
    for (int i = 0; i < n; i++)
        for (int c = 0; c < w; c++) {
            double s = 0;
            for (int j = 0; j <= i; j++) s += (double)alpha[j] * (A ? A[(size_t)i * n + j] : 1.0f) * G[(size_t)j * w + c];
            out[(size_t)i * w + c] -= (float)(tau[i] * s);
        }
}

void ttt_add_weighted_outer(const float *X, const float *G, const float *alpha, int n, int rows, int cols, float *acc) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double s = 0;
            for (int j = 0; j < n; j++) s += (double)alpha[j] * (X ? X[(size_t)j * rows + r] : 1.0f) * G[(size_t)j * cols + c];
            acc[(size_t)r * cols + c] += (float)s;
        }
}

/* ---- parameters and shapes ---------------------------------------------------------------- */
sb_status ttt_declare_params(const sb_layer_desc *desc, const sb_config *c, sb_level level, sb_params *ps) {
    (void)level; /* one set of tensors for both levels */
    const ttt_variant *v = desc->ctx;
    const int D = c->d_model, H = c->heads, d = c->head_dim, b = c->mini_batch, K = c->d_conv;
    const int dh = ttt_hidden(v, d);
    if (H <= 0 || d <= 0 || (long long)H * d != D || d % 2)
        return sb_fail(SB_EINVAL, "%s: heads*head_dim must equal d_model and head_dim be even (H %d, d %d, D %d)",
                       v->layer, H, d, D);
    if (b <= 0 || (c->share_qk && K < 2) || !(c->eps > 0))
        return sb_fail(SB_EINVAL, "%s: bad config (mini_batch %d, d_conv %d, eps %g)", v->layer, b, K, c->eps);
    const sb_param_decl t[] = {
        SB_PARAM("q_proj.weight", 2, D, D, 0),
        SB_PARAM_IF(!c->share_qk, "k_proj.weight", 2, D, D, 0),
        SB_PARAM("v_proj.weight", 2, D, D, 0),
        SB_PARAM("o_proj.weight", 2, D, D, 0),
        SB_PARAM_IF(c->use_gate, "g_proj.weight", 2, D, D, 0),
        SB_PARAM_IF(c->share_qk, "conv_q.weight", 3, D, 1, K),
        SB_PARAM_IF(c->share_qk, "conv_q.bias", 1, D, 0, 0),
        SB_PARAM_IF(c->share_qk, "conv_k.weight", 3, D, 1, K),
        SB_PARAM_IF(c->share_qk, "conv_k.bias", 1, D, 0, 0),
        SB_PARAM("learnable_ttt_lr_weight", 3, H, 1, D),
        SB_PARAM("learnable_ttt_lr_bias", 2, H, 1, 0),
        SB_PARAM("learnable_token_idx", 1, b, 0, 0),
        SB_PARAM("ttt_norm_weight", 2, H, d, 0),
        SB_PARAM("ttt_norm_bias", 2, H, d, 0),
        SB_PARAM("post_norm.weight", 1, D, 0, 0),
        SB_PARAM("post_norm.bias", 1, D, 0, 0),
        SB_PARAM("W1", 3, H, d, dh), /* used as k @ W1: [in, out] */
        SB_PARAM("b1", 3, H, 1, dh),
        SB_PARAM_IF(v->mlp, "W2", 3, H, dh, d),
        SB_PARAM_IF(v->mlp, "b2", 3, H, 1, d),
    };
    return sb_params_add_table(ps, t, sizeof t / sizeof *t);
}

static void fill_if_present(sb_params *ps, const char *name, sb_rng *rng, float mean, float std) {
    sb_param *p = sb_params_find(ps, name);
    if (p) sb_fill_normal(p->host, p->n, rng, mean, std);
}

/* Close to the reference's init (inner W normal(0, 0.02), lr gate normal(0, 0.02), norms at
 * identity), with two changes: projections use std 1/sqrt(D) so that activations stay O(1) at
 * any width, and every bias / norm gets a little noise so that an impl that drops one of them
 * fails the cpu/cuda-vs-ref tests (the reference's zero biases would hide it). */
void ttt_init_params(const sb_layer_desc *desc, const sb_config *c, sb_params *ps, sb_rng *rng) {
    const ttt_variant *v = desc->ctx;
    const float proj_std = 1.0f / sqrtf((float)c->d_model);
    const char *proj[] = {"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight", "g_proj.weight"};
    for (size_t i = 0; i < sizeof proj / sizeof *proj; i++) fill_if_present(ps, proj[i], rng, 0.0f, proj_std);
    sb_param *cw;
    const char *convs[] = {"conv_q.weight", "conv_k.weight"};
    for (int i = 0; i < 2; i++)
        if ((cw = sb_params_find(ps, convs[i])))
            sb_fill_uniform(cw->host, cw->n, rng, -1.0f / sqrtf((float)c->d_conv), 1.0f / sqrtf((float)c->d_conv));
    fill_if_present(ps, "conv_q.bias", rng, 0.0f, 0.1f);
    fill_if_present(ps, "conv_k.bias", rng, 0.0f, 0.1f);
    fill_if_present(ps, "learnable_ttt_lr_weight", rng, 0.0f, 0.02f);
    fill_if_present(ps, "learnable_ttt_lr_bias", rng, 0.0f, 0.1f);
    fill_if_present(ps, "learnable_token_idx", rng, 0.0f, 0.02f);
    fill_if_present(ps, "ttt_norm_weight", rng, 1.0f, 0.1f);
    fill_if_present(ps, "ttt_norm_bias", rng, 0.0f, 0.1f);
    fill_if_present(ps, "post_norm.weight", rng, 1.0f, 0.1f);
    fill_if_present(ps, "post_norm.bias", rng, 0.0f, 0.1f);
    fill_if_present(ps, "W1", rng, 0.0f, 0.02f);
    fill_if_present(ps, "b1", rng, 0.0f, 0.02f);
    if (v->mlp) {
        fill_if_present(ps, "W2", rng, 0.0f, 0.02f);
        fill_if_present(ps, "b2", rng, 0.0f, 0.02f);
    }
}

int ttt_in_dim(const sb_config *c, sb_level l) { return l == SB_OP ? ttt_op_width(c) : c->d_model; }
int ttt_out_dim(const sb_config *c, sb_level l) { (void)l; return c->d_model; }

/* Op rows: XQ, XK, XV ~ N(0,1); lr = base_lr * sigmoid(N(0,1)) / d, as the lr gate makes it. */
void ttt_make_input(const sb_config *c, sb_level l, float *x, int B, int T, sb_rng *rng) {
    const int w = ttt_in_dim(c, l);
    sb_fill_normal(x, (size_t)B * T * w, rng, 0.0f, 1.0f);
    if (l != SB_OP) return;
    for (size_t r = 0; r < (size_t)B * T; r++)
        for (int h = 0; h < c->heads; h++) {
            float *lr = x + r * w + ttt_off_lr(c) + h;
            *lr = c->ttt_base_lr * ref_sigmoid(*lr) / (float)c->head_dim;
        }
}

void ttt_load_inner(const ttt_variant *v, const sb_params *ps, const sb_config *c, int h, float *w) {
    const char *names[] = {"W1", "b1", "W2", "b2"};
    const int n = v->mlp ? 4 : 2;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const sb_param *p = sb_params_find((sb_params *)ps, names[i]);
        size_t per_head = p->n / (size_t)c->heads;
        memcpy(w + off, p->host + (size_t)h * per_head, per_head * sizeof(float));
        off += per_head;
    }
}

/* ---- analytic counts (SPEC §6) ----------------------------------------------------------------- */
double ttt_proj_macs_per_token(const sb_config *c) {
    double D = c->d_model, H = c->heads;
    int n = (c->share_qk ? 1 : 2) + 1 /* v */ + 1 /* o */ + (c->use_gate ? 1 : 0);
    return n * D * D + D * H; /* + the lr gate, [D] -> [H] */
}


/* Inner loop: per token per head dual_d2*d^2 + dual_bd*b*d (dual prefill) or primal_d2*d^2
 * (primal prefill, decode); the LNs, RoPE, convs and activations (O(d) per token) are not
 * counted. Layer level adds 2 FLOPs per projection multiply-add. */
double ttt_flops(const sb_layer_desc *desc, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T) {
    const ttt_variant *v = desc->ctx;
    double tokens = m == SB_PREFILL ? (double)B * T : B, d = c->head_dim, b = c->mini_batch;
    double per_head = (m == SB_PREFILL && form != TTT_FORM_PRIMAL) ? v->dual_d2 * d * d + v->dual_bd * b * d
                                                             : v->primal_d2 * d * d;
    double f = tokens * c->heads * per_head;
    if (l == SB_LAYER) f += tokens * 2.0 * ttt_proj_macs_per_token(c);
    return f;
}

/* Compulsory traffic. Op: each op row read (3D + H) and output row written (D), elem size s.
 * Layer: x read and y written (2D per token) plus every projection weight once (their element
 * count equals the MACs per token). Inner state, fp32, P floats per head: prefill reads the
 * initial weights once (H*P) and writes the final state (B*H*P); a decode step reads W and the
 * accumulators and writes the accumulators (3*B*H*P; the commit every b tokens is amortised
 * away), and with share_qk at layer level reads and writes the conv history (2*B*D*(K-1)). */
double ttt_bytes(const sb_layer_desc *desc, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T, int s) {
    const ttt_variant *v = desc->ctx;
    (void)form;
    double tokens = m == SB_PREFILL ? (double)B * T : B, D = c->d_model, H = c->heads;
    double P = (double)v->inner_floats(c->head_dim);
    double b = l == SB_OP ? tokens * (4 * D + H) * s : tokens * 2 * D * s + ttt_proj_macs_per_token(c) * s;
    if (m == SB_PREFILL) b += (H * P + B * H * P) * 4.0;
    else b += 3.0 * B * H * P * 4.0 + (l == SB_LAYER && c->share_qk ? 2.0 * B * D * (c->d_conv - 1) * 4.0 : 0);
    return b;
}

/* The state held between calls, fp32: W and the accumulators (2*P per head), plus the conv
 * history of P = x Wq^T with share_qk at layer level (one [D, K-1] history serves both convs). */
double ttt_state_bytes(const sb_layer_desc *desc, const sb_config *c, sb_level l, int B, int T, int s) {
    const ttt_variant *v = desc->ctx;
    (void)T; (void)s;
    double P = (double)v->inner_floats(c->head_dim);
    double st = (double)B * c->heads * 2.0 * P * 4.0;
    if (l == SB_LAYER && c->share_qk) st += (double)B * c->d_model * (c->d_conv - 1) * 4.0;
    return st;
}

/* ---- layer level, reference ------------------------------------------------------------------ */
static void scatter_cols(const float *src, int w, float *dst, int ldd, size_t rows) {
    for (size_t r = 0; r < rows; r++) memcpy(dst + r * ldd, src + r * w, (size_t)w * sizeof(float));
}

/* New history after T inputs: the last K-1 pre-conv values (older ones from the old history). */
static void update_conv_hist(float *hist, const float *P, int T, int D, int K) {
    for (int ch = 0; ch < D; ch++)
        for (int j = 0; j < K - 1; j++) {
            int src = T - (K - 1) + j;
            hist[(size_t)ch * (K - 1) + j] = src >= 0 ? P[(size_t)src * D + ch] : hist[(size_t)ch * (K - 1) + j + T];
        }
}

sb_status ttt_ref_layer_in(const sb_layer *L, const float *x, float *op, int B, int T, int pos, float *conv_hist) {
    const sb_config *c = &L->cfg;
    const sb_params *ps = &L->params;
    const int D = c->d_model, H = c->heads, d = c->head_dim, K = c->d_conv, w = ttt_op_width(c);
    const size_t rows = (size_t)B * T;
    float *tmp = malloc(rows * D * sizeof(float));
    if (!tmp) return sb_fail(SB_ENOMEM, "ttt ref: out of host memory");
    ref_linear(x, sb_params_get(ps, "q_proj.weight"), tmp, (int)rows, D, D);
    if (c->share_qk) {
        for (int b = 0; b < B; b++) {
            const float *P = tmp + (size_t)b * T * D;
            float *ob = op + (size_t)b * T * w, *hist = conv_hist + (size_t)b * D * (K - 1);
            ref_causal_conv(P, D, sb_params_get(ps, "conv_q.weight"), sb_params_get(ps, "conv_q.bias"),
                            ob + ttt_off_xq(c), w, T, D, K, hist);
            ref_causal_conv(P, D, sb_params_get(ps, "conv_k.weight"), sb_params_get(ps, "conv_k.bias"),
                            ob + ttt_off_xk(c), w, T, D, K, hist);
            update_conv_hist(hist, P, T, D, K);
        }
    } else {
        scatter_cols(tmp, D, op + ttt_off_xq(c), w, rows);
        ref_linear(x, sb_params_get(ps, "k_proj.weight"), tmp, (int)rows, D, D);
        scatter_cols(tmp, D, op + ttt_off_xk(c), w, rows);
    }
    ref_linear(x, sb_params_get(ps, "v_proj.weight"), tmp, (int)rows, D, D);
    scatter_cols(tmp, D, op + ttt_off_xv(c), w, rows);
    free(tmp);

    const float *lrw = sb_params_get(ps, "learnable_ttt_lr_weight"), *lrb = sb_params_get(ps, "learnable_ttt_lr_bias");
    for (size_t r = 0; r < rows; r++) {
        float *row = op + r * w;
        int p = (pos + (int)(r % (size_t)T)) % c->mini_batch; /* RoPE restarts in every mini-batch */
        for (int h = 0; h < H; h++) {
            ref_rope_interleaved(row + ttt_off_xq(c) + h * d, d, p, c->rope_theta);
            ref_rope_interleaved(row + ttt_off_xk(c) + h * d, d, p, c->rope_theta);
            double s = lrb[h];
            for (int i = 0; i < D; i++) s += (double)x[r * D + i] * lrw[(size_t)h * D + i];
            row[ttt_off_lr(c) + h] = c->ttt_base_lr * ref_sigmoid((float)s) / (float)d;
        }
    }
    return SB_OK;
}

sb_status ttt_ref_layer_out(const sb_layer *L, const float *x, const float *o, float *y, size_t rows) {
    const sb_config *c = &L->cfg;
    const sb_params *ps = &L->params;
    const int D = c->d_model;
    float *n = malloc(rows * D * sizeof(float)), *g = c->use_gate ? malloc(rows * D * sizeof(float)) : NULL;
    if (!n || (c->use_gate && !g)) { free(n); free(g); return sb_fail(SB_ENOMEM, "ttt ref: out of host memory"); }
    ref_layernorm(o, sb_params_get(ps, "post_norm.weight"), sb_params_get(ps, "post_norm.bias"), n, rows, D, c->eps);
    if (c->use_gate) {
        ref_linear(x, sb_params_get(ps, "g_proj.weight"), g, (int)rows, D, D);
        for (size_t i = 0; i < rows * D; i++) n[i] *= ref_gelu_tanh(g[i]);
    }
    ref_linear(n, sb_params_get(ps, "o_proj.weight"), y, (int)rows, D, D);
    free(n); free(g);
    return SB_OK;
}

/* ---- reference backend: the driver --------------------------------------------------------------- */
typedef struct {
    float *w, *g;   /* inner state and accumulators [max_batch, H, P] */
    float *conv;    /* pre-conv history of P = x Wq^T [max_batch, D, K-1] (share_qk) */
} ref_state;

sb_status ttt_ref_setup(sb_layer *L) {
    const ttt_variant *v = L->desc->ctx;
    ref_state *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    const sb_config *c = &L->cfg;
    size_t n = (size_t)L->max_batch * c->heads * v->inner_floats(c->head_dim);
    s->w = calloc(n, sizeof(float));
    s->g = calloc(n, sizeof(float));
    s->conv = calloc((size_t)L->max_batch * c->d_model * (c->d_conv > 1 ? c->d_conv - 1 : 1), sizeof(float));
    return s->w && s->g && s->conv ? SB_OK : sb_fail(SB_ENOMEM, "%s ref: state does not fit in host memory", v->layer);
}

void ttt_ref_teardown(sb_layer *L) {
    ref_state *s = L->impl_state;
    free(s->w); free(s->g); free(s->conv); free(s);
    L->impl_state = NULL;
}

/* W <- W - tau_{b-1} G, G <- 0: the end of a mini-batch. */
static void commit(const ttt_head *hd, size_t P) {
    float tau = ttt_token_eta(hd->token_idx, hd->mini_batch - 1);
    for (size_t i = 0; i < P; i++) {
        hd->w[i] -= tau * hd->g[i];
        hd->g[i] = 0.0f;
    }
}

/* The inner loop over T op rows at positions pos.. of B sequences, continuing the state. */
static void run_inner(sb_layer *L, const ttt_variant *v, int dual, const float *op, float *o, int B, int T, float *ws) {
    ref_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const int H = c->heads, d = c->head_dim, D = c->d_model, mb = c->mini_batch, w = ttt_op_width(c);
    const size_t P = v->inner_floats(d);
    const float *gamma = sb_params_get(&L->params, "ttt_norm_weight"), *beta = sb_params_get(&L->params, "ttt_norm_bias");
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            ttt_head hd = {.d = d, .mini_batch = mb, .eps = c->eps, .gamma = gamma + (size_t)h * d,
                           .beta = beta + (size_t)h * d, .token_idx = sb_params_get(&L->params, "learnable_token_idx"),
                           .w = s->w + ((size_t)b * H + h) * P, .g = s->g + ((size_t)b * H + h) * P};
            for (int t = 0; t < T;) {
                const float *row = op + ((size_t)b * T + t) * w;
                ttt_rows r = {.q = row + ttt_off_xq(c) + h * d, .k = row + ttt_off_xk(c) + h * d,
                              .v = row + ttt_off_xv(c) + h * d, .lr = row + ttt_off_lr(c) + h, .ld = (size_t)w,
                              .o = o + ((size_t)b * T + t) * D + h * d, .ldo = (size_t)D};
                int m = (L->pos + t) % mb, n;
                if (dual && m == 0) {
                    n = T - t < mb ? T - t : mb;
                    v->chunk(&hd, &r, n, ws);
                } else {
                    n = 1;
                    v->step(&hd, &r, m, ws);
                }
                if (m + n == mb) commit(&hd, P);
                t += n;
            }
        }
}

static sb_status forward(sb_layer *L, const ttt_variant *v, int dual, const float *x, float *y, int B, int T) {
    ref_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const size_t rows = (size_t)B * T;
    float *ws = malloc(v->ws_floats(c->head_dim, c->mini_batch) * sizeof(float));
    float *op = NULL, *o = NULL;
    sb_status st = SB_OK;
    if (!ws) return sb_fail(SB_ENOMEM, "%s ref: out of host memory", v->layer);
    if (L->level == SB_OP) {
        run_inner(L, v, dual, x, y, B, T, ws);
    } else {
        op = malloc(rows * ttt_op_width(c) * sizeof(float));
        o = malloc(rows * c->d_model * sizeof(float));
        if (!op || !o) st = sb_fail(SB_ENOMEM, "%s ref: out of host memory", v->layer);
        if (!st) st = ttt_ref_layer_in(L, x, op, B, T, L->pos, s->conv);
        if (!st) run_inner(L, v, dual, op, o, B, T, ws);
        if (!st) st = ttt_ref_layer_out(L, x, o, y, rows);
    }
    free(ws); free(op); free(o);
    return st;
}

/* Every sequence starts from the layer's W1, b1 (W2, b2), empty accumulators and conv history. */
static void reset_state(sb_layer *L, const ttt_variant *v, int B) {
    ref_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const size_t P = v->inner_floats(c->head_dim);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < c->heads; h++) ttt_load_inner(v, &L->params, c, h, s->w + ((size_t)b * c->heads + h) * P);
    memset(s->g, 0, (size_t)B * c->heads * P * sizeof(float));
    memset(s->conv, 0, (size_t)B * c->d_model * (c->d_conv > 1 ? c->d_conv - 1 : 1) * sizeof(float));
}

/* The impl's counting form is the form it runs: the dual form per mini-batch, or primal. */
sb_status ttt_ref_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    const ttt_variant *v = L->desc->ctx;
    reset_state(L, v, B);
    return forward(L, v, L->impl->count_form != TTT_FORM_PRIMAL, x, y, B, T);
}

sb_status ttt_ref_decode(sb_layer *L, const void *x, void *y, int B) { return forward(L, L->desc->ctx, 0, x, y, B, 1); }

/* A plausible state after T tokens: W = init + small noise, accumulators zero at a mini-batch
 * boundary and small otherwise, conv history O(1) like P = x Wq^T. */
sb_status ttt_ref_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    const ttt_variant *v = L->desc->ctx;
    ref_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const size_t P = v->inner_floats(c->head_dim), n = (size_t)B * c->heads * P;
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    reset_state(L, v, B);
    for (size_t i = 0; i < n; i++) s->w[i] += 0.005f * sb_rng_normal(&rng);
    if (T % c->mini_batch) sb_fill_normal(s->g, n, &rng, 0.0f, 1e-3f);
    if (c->share_qk) sb_fill_normal(s->conv, (size_t)B * c->d_model * (c->d_conv - 1), &rng, 0.0f, 1.0f);
    return SB_OK;
}
