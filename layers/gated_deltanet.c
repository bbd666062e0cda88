/* gated_deltanet.c: Gated DeltaNet (Yang, Kautz, Hatamizadeh, ICLR 2025; fla-org/flash-linear-attention
 * GatedDeltaNet at bc3b101d; contract ../shared/spec/gated_deltanet.md): parameters, the reference
 * math (token-by-token recurrence = the oracle, and the chunked WY/UT form beside it), analytic
 * counts and the descriptor (registry/registry.c lists it with its impls). Fast impls:
 * kernels/gated_deltanet_cpu.c, kernels/gated_deltanet_*.cu (kernels/gated_deltanet_impls.h).
 *
 *   Q~, K~, V~ = X q_proj^T, X k_proj^T, X v_proj^T        (no biases anywhere)
 *   q, k, v    = SiLU(causal depthwise conv(Q~, K~, V~))    own kernel each, W taps, no bias
 *   q, k       = x / sqrt(sum x^2 + 1e-6) per head; q *= K^-1/2 (inside the op)
 *   g          = -exp(A_log) softplus(X a_proj^T + dt_bias)  log decay per head, <= 0
 *   beta       = sigmoid(X b_proj^T)                        (allow_neg_eigval 0 only)
 *   per head, S [V,K], S_-1 = 0:  S <- e^g S;  u = beta (v - S k);  S <- S + u k^T;  o = S q
 *   o          <- o / sqrt(mean_V(o^2) + norm_eps) * o_norm.weight * SiLU(X g_proj^T)  per head
 *   y          = o o_proj^T
 *
 * Impls on ref: "sequential" (the recurrence above, token by token; the oracle) and "chunked"
 * (spec §4: chunks of C tokens, UT transform by forward substitution, naive loops); decode is the
 * one-token recurrence for both. Sums in double.
 */
#include "gated_deltanet.h"
#include "ref_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sb_status gdn_check_config(const sb_config *c, sb_level level) {
    if ((level != SB_OP && c->d_model <= 0) || c->heads <= 0 || c->head_dim <= 0 || c->head_v_dim <= 0 || c->d_conv < 1)
        return sb_fail(SB_EINVAL, "gated_deltanet: bad config (D %d, H %d, K %d, V %d, W %d)", c->d_model, c->heads,
                       c->head_dim, c->head_v_dim, c->d_conv);
    if ((long long)c->heads * (c->head_dim > c->head_v_dim ? c->head_dim : c->head_v_dim) > SB_MAX_WIDTH)
        return sb_fail(SB_EINVAL, "gated_deltanet: heads %d x head dims %d/%d above %d", c->heads, c->head_dim,
                       c->head_v_dim, SB_MAX_WIDTH);
    if (c->chunk_size < 1 || c->chunk_size > 64)
        return sb_fail(SB_EINVAL, "gated_deltanet: chunk_size %d outside 1..64", c->chunk_size);
    if (!(c->eps > 0)) return sb_fail(SB_EINVAL, "gated_deltanet: norm_eps must be positive");
    return SB_OK;
}

/* ---- parameters -------------------------------------------------------------------------- */
/* The op level reads no parameter (the gated delta rule takes its gates as inputs). */
static sb_status declare_params(const sb_layer_desc *d, const sb_config *c, sb_level level, sb_params *ps) {
    (void)d;
    sb_status st = gdn_check_config(c, level);
    if (st || level == SB_OP) return st;
    const int D = c->d_model, H = c->heads, HK = gdn_hk(c), HV = gdn_hv(c), W = c->d_conv;
    const sb_param_decl t[] = {
        SB_PARAM("q_proj.weight", 2, HK, D, 0), SB_PARAM("k_proj.weight", 2, HK, D, 0),
        SB_PARAM("v_proj.weight", 2, HV, D, 0), SB_PARAM("a_proj.weight", 2, H, D, 0),
        SB_PARAM("b_proj.weight", 2, H, D, 0), SB_PARAM("A_log", 1, H, 0, 0), SB_PARAM("dt_bias", 1, H, 0, 0),
        SB_PARAM("q_conv1d.weight", 3, HK, 1, W), SB_PARAM("k_conv1d.weight", 3, HK, 1, W),
        SB_PARAM("v_conv1d.weight", 3, HV, 1, W), SB_PARAM("g_proj.weight", 2, HV, D, 0),
        SB_PARAM("o_norm.weight", 1, c->head_v_dim, 0, 0), SB_PARAM("o_proj.weight", 2, D, HV, 0),
    };
    return sb_params_add_table(ps, t, sizeof t / sizeof *t);
}

/* fla's initialisation of A_log (log U(1,16)) and dt_bias (softplus^-1 of a log-uniform dt in
 * [1e-3, 0.1]); random projections, convs and a non-trivial o_norm weight. */
static void init_params(const sb_layer_desc *d, const sb_config *c, sb_params *ps, sb_rng *rng) {
    (void)d;
    if (!sb_params_find(ps, "q_proj.weight")) return; /* op level: nothing declared */
    const int D = c->d_model, H = c->heads, HK = gdn_hk(c), HV = gdn_hv(c), W = c->d_conv;
    const float sd = 1.0f / sqrtf((float)D), cw = 1.0f / sqrtf((float)W);
    sb_fill_normal(sb_params_find(ps, "q_proj.weight")->host, (size_t)HK * D, rng, 0, sd);
    sb_fill_normal(sb_params_find(ps, "k_proj.weight")->host, (size_t)HK * D, rng, 0, sd);
    sb_fill_normal(sb_params_find(ps, "v_proj.weight")->host, (size_t)HV * D, rng, 0, sd);
    sb_fill_normal(sb_params_find(ps, "g_proj.weight")->host, (size_t)HV * D, rng, 0, sd);
    sb_fill_normal(sb_params_find(ps, "a_proj.weight")->host, (size_t)H * D, rng, 0, sd);
    sb_fill_normal(sb_params_find(ps, "b_proj.weight")->host, (size_t)H * D, rng, 0, sd);
    sb_fill_uniform(sb_params_find(ps, "q_conv1d.weight")->host, (size_t)HK * W, rng, -cw, cw);
    sb_fill_uniform(sb_params_find(ps, "k_conv1d.weight")->host, (size_t)HK * W, rng, -cw, cw);
    sb_fill_uniform(sb_params_find(ps, "v_conv1d.weight")->host, (size_t)HV * W, rng, -cw, cw);
    float *alog = sb_params_find(ps, "A_log")->host, *dtb = sb_params_find(ps, "dt_bias")->host;
    for (int h = 0; h < H; h++) {
        alog[h] = logf(1.0f + 15.0f * sb_rng_uniform(rng));
        double dt = exp(log(1e-3) + sb_rng_uniform(rng) * (log(1e-1) - log(1e-3)));
        dtb[h] = (float)(dt + log(-expm1(-dt))); /* inverse softplus */
    }
    sb_fill_uniform(sb_params_find(ps, "o_norm.weight")->host, (size_t)c->head_v_dim, rng, 0.5f, 1.5f);
    sb_fill_normal(sb_params_find(ps, "o_proj.weight")->host, (size_t)D * HV, rng, 0, 1.0f / sqrtf((float)HV));
}

static int in_dim(const sb_config *c, sb_level l) { return l == SB_OP ? gdn_op_width(c) : c->d_model; }
static int out_dim(const sb_config *c, sb_level l) { return l == SB_OP ? gdn_hv(c) : c->d_model; }

/* x / sqrt(sum x^2 + 1e-6) over n values, in place */
static void l2_normalize(float *x, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const float r = (float)(1.0 / sqrt(ss + GDN_L2_EPS));
    for (int i = 0; i < n; i++) x[i] *= r;
}

/* Op inputs as the layer would give them: unit q, k per head, decays e^g in [0.3, 1), beta in
 * [0.05, 0.95]. */
static void make_input(const sb_config *c, sb_level l, float *x, int B, int T, sb_rng *rng) {
    const int w = in_dim(c, l), H = c->heads, K = c->head_dim;
    sb_fill_normal(x, (size_t)B * T * w, rng, 0.0f, 1.0f);
    if (l != SB_OP) return;
    for (size_t r = 0; r < (size_t)B * T; r++) {
        float *row = x + r * w;
        for (int h = 0; h < H; h++) {
            l2_normalize(row + gdn_off_q(c) + h * K, K);
            l2_normalize(row + gdn_off_k(c) + h * K, K);
            row[gdn_off_g(c) + h] = logf(0.3f + 0.7f * sb_rng_uniform(rng));
            row[gdn_off_beta(c) + h] = 0.05f + 0.9f * sb_rng_uniform(rng);
        }
    }
}

/* ---- analytic counts (spec §6) ------------------------------------------------------------ */
/* Impls of count_form GDN_FORM_CHUNKED count the chunked form in prefill; every other impl and
 * every decode the recurrence. */
static int counts_chunked(sb_mode m, int form) { return m == SB_PREFILL && form == GDN_FORM_CHUNKED; }

/* Per token and head. Chunked: full C x C tiles (no causal halving), as the kernels compute. */
static double op_flops_token_head(const sb_config *c, int chunked) {
    const double K = c->head_dim, V = c->head_v_dim, C = c->chunk_size;
    return chunked ? 6 * K * V + C * (6 * K + 4 * V) + C * C / 3 : 7 * K * V;
}
static double proj_weights(const sb_config *c) {
    return (double)c->d_model * (2.0 * gdn_hk(c) + 3.0 * gdn_hv(c) + 2.0 * c->heads);
}

static double flops(const sb_layer_desc *d, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T) {
    (void)d;
    const double tokens = m == SB_PREFILL ? (double)B * T : B;
    double f = tokens * c->heads * op_flops_token_head(c, counts_chunked(m, form));
    if (l == SB_LAYER) f += tokens * (2 * proj_weights(c) + 2.0 * c->d_conv * gdn_conv_channels(c));
    return f;
}

/* Op: q, k, v, g, beta read and o written per token; the chunked form also writes and reads the
 * per-chunk states (2 H K V fp32 per C tokens); decode reads and writes the fp32 state. Layer:
 * adds the weights (projections, convs, o_norm) and in decode the conv states read and written. */
static double bytes(const sb_layer_desc *d, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T, int s) {
    (void)d;
    const double H = c->heads, K = c->head_dim, V = c->head_v_dim, HKV4 = H * K * V * 4.0;
    const double tokens = m == SB_PREFILL ? (double)B * T : B;
    double b = tokens * H * (2 * K + 2 * V + 2) * s;
    if (counts_chunked(m, form)) b += (double)B * ((T + c->chunk_size - 1) / c->chunk_size) * 2 * HKV4;
    if (m == SB_DECODE) b += 2.0 * B * HKV4;
    if (l == SB_LAYER) {
        b += (proj_weights(c) + (double)c->d_conv * gdn_conv_channels(c) + V) * s;
        if (m == SB_DECODE) b += 2.0 * B * gdn_conv_floats(c) * s;
    }
    return b;
}

static double state_bytes(const sb_layer_desc *d, const sb_config *c, sb_level l, int B, int T, int s) {
    (void)d; (void)T;
    return (double)B * (gdn_state_floats(c) * 4.0 + (l == SB_LAYER ? (double)gdn_conv_floats(c) * s : 0));
}

/* ---- reference math ------------------------------------------------------------------------ */
void gdn_ref_token(float *S, const float *q, const float *k, const float *v, float g, float beta, float scale,
                   int K, int V, float *o) {
    const float decay = (float)exp((double)g);
    for (int r = 0; r < V; r++) {
        float *Sr = S + (size_t)r * K;
        double sk = 0;
        for (int c = 0; c < K; c++) {
            Sr[c] *= decay;
            sk += (double)Sr[c] * k[c];
        }
        const float u = (float)(beta * (v[r] - sk));
        double sq = 0;
        for (int c = 0; c < K; c++) {
            Sr[c] += u * k[c];
            sq += (double)Sr[c] * q[c];
        }
        o[r] = (float)(scale * sq);
    }
}

static double dot_f(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* spec §4 in S = h^T orientation: S [V,K], rows r = value channel, columns c = key channel. */
void gdn_ref_chunk(float *S, const float *q, const float *k, const float *v, size_t ld, const float *g,
                   const float *beta, size_t ldg, float scale, int K, int V, int n, float *o, size_t ldo) {
    if (n <= 0) return;
    double *gam = malloc(sizeof(double) * ((size_t)n + 2 * (size_t)n * n + (size_t)n * (2 * V + K)));
    double *A = gam + n, *X = A + (size_t)n * n, *U = X + (size_t)n * n, *Wk = U + (size_t)n * V, *Vn = Wk + (size_t)n * K;
    if (!gam) abort(); /* reference code: a few hundred KiB at most */
    double acc = 0;
    for (int i = 0; i < n; i++) gam[i] = acc += g[i * ldg];
    /* A = strict lower part of diag(beta) K K^T . Gamma; X = (I + A)^-1 by forward substitution */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            A[(size_t)i * n + j] = j < i ? beta[i * ldg] * dot_f(k + i * ld, k + j * ld, K) * exp(gam[i] - gam[j]) : 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double x = i == j;
            for (int m = j; j < i && m < i; m++) x -= A[(size_t)i * n + m] * X[(size_t)m * n + j];
            X[(size_t)i * n + j] = j <= i ? x : 0;
        }
    /* the WY pair: U = X diag(beta) V, Wk = X diag(beta e^gamma) K */
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < V; r++) {
            double s = 0;
            for (int j = 0; j <= i; j++) s += X[(size_t)i * n + j] * beta[j * ldg] * v[j * ld + r];
            U[(size_t)i * V + r] = s;
        }
        for (int c = 0; c < K; c++) {
            double s = 0;
            for (int j = 0; j <= i; j++) s += X[(size_t)i * n + j] * beta[j * ldg] * exp(gam[j]) * k[j * ld + c];
            Wk[(size_t)i * K + c] = s;
        }
    }
    /* V_new = U - Wk h   (Wk h)[i,r] = sum_c Wk[i,c] S[r,c] */
    for (int i = 0; i < n; i++)
        for (int r = 0; r < V; r++) {
            double s = U[(size_t)i * V + r];
            for (int c = 0; c < K; c++) s -= Wk[(size_t)i * K + c] * S[(size_t)r * K + c];
            Vn[(size_t)i * V + r] = s;
        }
    /* O = diag(e^gamma) (sQ) h + ((sQ K^T) . Gamma) V_new, Gamma with its diagonal */
    for (int i = 0; i < n; i++)
        for (int r = 0; r < V; r++) {
            double s = exp(gam[i]) * scale * dot_f(q + i * ld, S + (size_t)r * K, K);
            for (int j = 0; j <= i; j++)
                s += scale * dot_f(q + i * ld, k + j * ld, K) * exp(gam[i] - gam[j]) * Vn[(size_t)j * V + r];
            o[i * ldo + r] = (float)s;
        }
    /* h <- e^{gamma_last} h + (diag(e^{gamma_last - gamma}) K)^T V_new */
    const double last = acc; /* gamma_{n-1} */
    for (int r = 0; r < V; r++)
        for (int c = 0; c < K; c++) {
            double s = exp(last) * S[(size_t)r * K + c];
            for (int i = 0; i < n; i++) s += exp(last - gam[i]) * k[i * ld + c] * Vn[(size_t)i * V + r];
            S[(size_t)r * K + c] = (float)s;
        }
    free(gam);
}

/* ---- layer pre/post-processing ---------------------------------------------------------------- */
static const float *conv_weight_row(const sb_config *c, const sb_params *ps, int ch) {
    const int HK = gdn_hk(c), W = c->d_conv;
    if (ch < HK) return sb_params_get(ps, "q_conv1d.weight") + (size_t)ch * W;
    if (ch < 2 * HK) return sb_params_get(ps, "k_conv1d.weight") + (size_t)(ch - HK) * W;
    return sb_params_get(ps, "v_conv1d.weight") + (size_t)(ch - 2 * HK) * W;
}

void gdn_prepare_rows(const sb_config *c, const sb_params *ps, const float *P, float *op, float *conv, int T) {
    const int H = c->heads, K = c->head_dim, W = c->d_conv, pw = gdn_proj_width(c), ow = gdn_op_width(c);
    const int HK = gdn_hk(c), HV = gdn_hv(c);
    /* convs + SiLU: the op row's q | k | v columns are the projection row's first columns */
    for (int ch = 0; ch < gdn_conv_channels(c); ch++) {
        const float *w = conv_weight_row(c, ps, ch);
        float *st = conv + (size_t)ch * W; /* column W-1 = the token before t = 0 */
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int i = 0; i < W; i++) {
                int j = t - W + 1 + i;
                s += (double)w[i] * (j >= 0 ? P[(size_t)j * pw + ch] : st[W + j]);
            }
            op[(size_t)t * ow + ch] = ref_silu((float)s);
        }
        for (int i = 0; i < W; i++) { /* the last W pre-conv inputs, oldest first */
            int src = T - W + i;
            st[i] = src >= 0 ? P[(size_t)src * pw + ch] : st[i + T];
        }
    }
    const float *alog = sb_params_get(ps, "A_log"), *dtb = sb_params_get(ps, "dt_bias");
    for (int t = 0; t < T; t++) {
        float *row = op + (size_t)t * ow;
        const float *prow = P + (size_t)t * pw;
        for (int h = 0; h < H; h++) {
            l2_normalize(row + gdn_off_q(c) + h * K, K);
            l2_normalize(row + gdn_off_k(c) + h * K, K);
            const float a = prow[2 * HK + HV + h], b = prow[2 * HK + HV + H + h];
            row[gdn_off_g(c) + h] = (float)(-exp((double)alog[h]) * ref_softplus(a + dtb[h]));
            row[gdn_off_beta(c) + h] = ref_sigmoid(b);
        }
    }
}

void gdn_gated_norm(const sb_config *c, const float *norm_w, float *o, const float *G) {
    const int V = c->head_v_dim;
    for (int h = 0; h < c->heads; h++) {
        float *oh = o + (size_t)h * V;
        const float *gh = G + (size_t)h * V;
        const double r = 1.0 / sqrt(dot_f(oh, oh, V) / V + c->eps);
        for (int i = 0; i < V; i++) oh[i] = (float)(oh[i] * r * norm_w[i] * ref_silu(gh[i]));
    }
}

/* ---- host state --------------------------------------------------------------------------------- */
sb_status gdn_host_state_init(gdn_host_state *s, const sb_layer *L) {
    s->S = calloc((size_t)L->max_batch * gdn_state_floats(&L->cfg), sizeof(float));
    s->conv = calloc((size_t)L->max_batch * gdn_conv_floats(&L->cfg), sizeof(float));
    return s->S && s->conv ? SB_OK : sb_fail(SB_ENOMEM, "gated_deltanet: out of host memory for the state");
}

void gdn_host_state_free(gdn_host_state *s) {
    free(s->S); free(s->conv);
    s->S = s->conv = NULL;
}

void gdn_host_state_reset(gdn_host_state *s, const sb_layer *L, int B) {
    memset(s->S, 0, (size_t)B * gdn_state_floats(&L->cfg) * sizeof(float));
    memset(s->conv, 0, (size_t)B * gdn_conv_floats(&L->cfg) * sizeof(float));
}

void gdn_host_state_fill(gdn_host_state *s, const sb_layer *L, int B, uint64_t seed) {
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    sb_fill_normal(s->S, (size_t)B * gdn_state_floats(&L->cfg), &rng, 0.0f, 0.1f);
    sb_fill_normal(s->conv, (size_t)B * gdn_conv_floats(&L->cfg), &rng, 0.0f, 1.0f);
}

sb_status gdn_host_read_state(sb_layer *L, float *host) {
    memcpy(host, ((const gdn_host_state *)L->impl_state)->S, (size_t)L->batch * gdn_state_floats(&L->cfg) * sizeof(float));
    return SB_OK;
}

/* ---- reference backend -------------------------------------------------------------------------- */
static sb_status ref_setup(sb_layer *L) {
    gdn_host_state *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    return gdn_host_state_init(s, L);
}

static void ref_teardown(sb_layer *L) {
    gdn_host_state_free(L->impl_state);
    free(L->impl_state);
    L->impl_state = NULL;
}

/* The gated delta rule over T op rows of B sequences, continuing the state S. */
static void ref_op(const sb_config *c, float *S, const float *op, float *o, int B, int T, int chunked) {
    const int H = c->heads, K = c->head_dim, V = c->head_v_dim, ow = gdn_op_width(c), HV = gdn_hv(c);
    const float scale = gdn_scale(c);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *Sh = S + ((size_t)b * H + h) * V * K;
            const float *row = op + (size_t)b * T * ow;
            float *ob = o + (size_t)b * T * HV + (size_t)h * V;
            const float *q = row + gdn_off_q(c) + h * K, *k = row + gdn_off_k(c) + h * K, *v = row + gdn_off_v(c) + h * V;
            const float *g = row + gdn_off_g(c) + h, *beta = row + gdn_off_beta(c) + h;
            if (chunked)
                for (int t0 = 0; t0 < T; t0 += c->chunk_size) {
                    const size_t r = (size_t)t0 * ow;
                    int n = T - t0 < c->chunk_size ? T - t0 : c->chunk_size;
                    gdn_ref_chunk(Sh, q + r, k + r, v + r, ow, g + r, beta + r, ow, scale, K, V, n, ob + (size_t)t0 * HV, HV);
                }
            else
                for (int t = 0; t < T; t++) {
                    const size_t r = (size_t)t * ow;
                    gdn_ref_token(Sh, q + r, k + r, v + r, g[r], beta[r], scale, K, V, ob + (size_t)t * HV);
                }
        }
}

/* y[rows, N] columns col0.. of a wider row (stride ldy) = x W^T */
static void linear_into(const float *x, const float *W, float *y, int ldy, int rows, int Din, int N) {
    for (int m = 0; m < rows; m++)
        for (int n = 0; n < N; n++) y[(size_t)m * ldy + n] = (float)dot_f(x + (size_t)m * Din, W + (size_t)n * Din, Din);
}

static sb_status ref_forward(sb_layer *L, const float *x, float *y, int B, int T, int chunked) {
    gdn_host_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    if (L->level == SB_OP) {
        ref_op(c, s->S, x, y, B, T, chunked);
        return SB_OK;
    }
    const int D = c->d_model, H = c->heads, HK = gdn_hk(c), HV = gdn_hv(c), pw = gdn_proj_width(c), ow = gdn_op_width(c);
    const size_t rows = (size_t)B * T;
    float *P = malloc(rows * pw * sizeof(float)), *op = calloc(rows * ow, sizeof(float)), *o = malloc(rows * HV * sizeof(float));
    if (!P || !op || !o) { free(P); free(op); free(o); return sb_fail(SB_ENOMEM, "gated_deltanet ref: out of host memory"); }
    const sb_params *ps = &L->params;
    struct { const char *w; int col, n; } proj[] = {
        {"q_proj.weight", 0, HK}, {"k_proj.weight", HK, HK}, {"v_proj.weight", 2 * HK, HV},
        {"a_proj.weight", 2 * HK + HV, H}, {"b_proj.weight", 2 * HK + HV + H, H}, {"g_proj.weight", 2 * HK + HV + 2 * H, HV},
    };
    for (size_t i = 0; i < sizeof proj / sizeof *proj; i++)
        linear_into(x, sb_params_get(ps, proj[i].w), P + proj[i].col, pw, (int)rows, D, proj[i].n);
    for (int b = 0; b < B; b++)
        gdn_prepare_rows(c, ps, P + (size_t)b * T * pw, op + (size_t)b * T * ow, s->conv + (size_t)b * gdn_conv_floats(c), T);
    ref_op(c, s->S, op, o, B, T, chunked);
    for (size_t r = 0; r < rows; r++)
        gdn_gated_norm(c, sb_params_get(ps, "o_norm.weight"), o + r * HV, P + r * pw + 2 * HK + HV + 2 * H);
    ref_linear(o, sb_params_get(ps, "o_proj.weight"), y, (int)rows, HV, D);
    free(P); free(op); free(o);
    return SB_OK;
}

static sb_status ref_seq_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    gdn_host_state_reset(L->impl_state, L, B);
    return ref_forward(L, x, y, B, T, 0);
}
static sb_status ref_chunked_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    gdn_host_state_reset(L->impl_state, L, B);
    return ref_forward(L, x, y, B, T, 1);
}
static sb_status ref_decode(sb_layer *L, const void *x, void *y, int B) { return ref_forward(L, x, y, B, 1, 0); }
static sb_status ref_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    (void)T;
    gdn_host_state_fill(L->impl_state, L, B, seed);
    return SB_OK;
}

const sb_impl sb_gdn_ref_sequential = {
    .name = "sequential", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "token-by-token gated delta rule (the oracle), fp32 state, double sums, one thread",
    .setup = ref_setup, .prefill = ref_seq_prefill, .decode = ref_decode, .fill_state = ref_fill_state,
    .teardown = ref_teardown, .read_state = gdn_host_read_state,
};
const sb_impl sb_gdn_ref_chunked = {
    .name = "chunked", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "chunked WY/UT form (chunks of chunk_size, forward-substitution inverse), naive loops",
    .setup = ref_setup, .prefill = ref_chunked_prefill, .decode = ref_decode, .fill_state = ref_fill_state,
    .teardown = ref_teardown, .read_state = gdn_host_read_state, .count_form = GDN_FORM_CHUNKED,
};

/* spec §5: fla's 1.3B config (fla-org/flame configs/gated_deltanet_1B.json), the layer's sizing
 * rule H K = 0.75 D at SPEC's 125m width and depth, the golden shape at tiny; their norms (block and
 * o_norm) use norm_eps 1e-6. */
static int preset(const char *name, sb_config *c) {
    static const struct { const char *name; int H, K, V, L, I; } gdn[] = {
        {"tiny", 2, 16, 32, 2, 256}, {"125m", 9, 64, 128, 12, 2048}, {"1.3b", 6, 256, 512, 21, 5632},
    };
    if (!sb_config_base(name, c)) return 0;
    for (size_t i = 0; i < sizeof gdn / sizeof *gdn; i++)
        if (strcmp(c->name, gdn[i].name) == 0) {
            c->heads = gdn[i].H, c->head_dim = gdn[i].K, c->head_v_dim = gdn[i].V;
            c->n_layers = gdn[i].L, c->intermediate = gdn[i].I;
        }
    c->chunk_size = 64;
    c->d_conv = 4;
    c->eps = 1e-6f;
    return 1;
}

/* The config fields Gated DeltaNet reads (golden case.txt / fla GatedDeltaNet constructor names);
 * num_v_heads, expand_v, key_dim, value_dim, l2norm_eps, scale are derived or fixed (informative). */
static const sb_config_field fields[] = {
    SB_FIELD_I("d_model|hidden_size", d_model, 0),
    SB_FIELD_I("heads|num_heads", heads, 0),
    SB_FIELD_I("head_dim|head_k_dim", head_dim, 0),
    SB_FIELD_I("head_v_dim", head_v_dim, 0), /* 0: expand_v 2 (finish_config) */
    SB_FIELD_I("d_conv|conv_size", d_conv, 4),
    SB_FIELD_I("chunk_size", chunk_size, 64),
    SB_FIELD_F("norm_eps|eps", eps, 1e-5),
    SB_FIELD_FIX("use_gate", 1),
    SB_FIELD_FIX("use_short_conv", 1),
    SB_FIELD_FIX("conv_bias", 0),
    SB_FIELD_FIX("allow_neg_eigval", 0),
    SB_FIELD_END,
};

static sb_status finish_config(sb_config *c, sb_level level) {
    if (c->head_v_dim == 0) c->head_v_dim = 2 * c->head_dim;
    return gdn_check_config(c, level);
}

/* Op level as named arrays (golden op cases): q, k, v, g, beta in; o out. */
static int op_arrays(const sb_config *c, int outputs, sb_op_array *a) {
    if (outputs) {
        a[0] = (sb_op_array){"o", gdn_hv(c)};
        return 1;
    }
    const sb_op_array in[] = {{"q", gdn_hk(c)}, {"k", gdn_hk(c)}, {"v", gdn_hv(c)}, {"g", c->heads}, {"beta", c->heads}};
    memcpy(a, in, sizeof in);
    return 5;
}

/* The recurrent state S [B, H, V, K] (value rows first: fla's state_v_first). */
static int state_shape(const sb_config *c, int B, int *shape) {
    shape[0] = B, shape[1] = c->heads, shape[2] = c->head_v_dim, shape[3] = c->head_dim;
    return 4;
}

const sb_layer_desc sb_gated_deltanet = {
    .name = "gated_deltanet",
    .about = "Gated DeltaNet (fla GatedDeltaNet): gated delta rule, state S [V,K] per head",
    .default_config = "tiny", .preset = preset,
    .block = {.mlp = 1, .norm_eps = 1e-6f, .tied_embedding = 0}, /* GatedDeltaNetBlock: SwiGLU MLP, untied head */
    .fields = fields, .finish_config = finish_config,
    .op_arrays = op_arrays, .state_shape = state_shape, .final_state_after_decode = 1,
    .declare_params = declare_params, .init_params = init_params,
    .in_dim = in_dim, .out_dim = out_dim, .make_input = make_input,
    .flops = flops, .bytes = bytes, .state_bytes = state_bytes,
};
