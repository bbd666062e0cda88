/* gated_deltanet_cpu.c: the fast CPU impls of Gated DeltaNet (spec/gated_deltanet.md), levels op and
 * layer, fp32 throughout, OpenBLAS for every matrix product, OpenMP over heads (prefill) and over
 * sequences x heads (decode).
 *
 *   "chunked"     prefill by the WY/UT form of spec §4, one (sequence, head) per thread, chunks of
 *                 C tokens in order; per chunk: K K^T and Q K^T (sgemm), the UT inverse by forward
 *                 substitution (C^3/3, scalar), [beta V | beta e^gamma K] <- T . (strmm), V_new =
 *                 U - Wk S^T, O = e^gamma (Q S^T) + (QK^T . Gamma) V_new, S <- e^gamma_last S +
 *                 V_new^T (e^{gamma_last - gamma} K)  (sgemm each).
 *   "sequential"  prefill token by token with the fused step below (fla's fused_recurrent).
 *   decode        (both) one fused pass over each state row: S k with the decay folded in, the
 *                 delta, the rank-1 update and S q while the row is in L1: the fp32 state is read
 *                 and written once, so decode runs at memory bandwidth.
 *   layer         one sgemm for the six input projections (weights stacked q|k|v|a|b|g at setup),
 *                 convs + SiLU vectorised over channels (history [W, channels], newest last),
 *                 per-head L2 norms and gates, the op, the gated RMSNorm, o_proj by sgemm; prefill
 *                 walks each sequence in blocks of GDN_ROWS tokens (bounded workspace).
 * Internal layouts: S [B,H,V,K] as ref (read_state copies it), conv history [B, W, channels].
 * The reference (layers/gated_deltanet.c) is the oracle: tests/test_backends.c, test_decode.c,
 * test_gated_deltanet.c and the golden cases check this file against it.
 */
#include "gated_deltanet_impls.h"
#include "cpu_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Tokens of one sequence per layer-level block: sgemm is at speed from a few hundred rows, and a
 * multiple of every chunk size (64). */
#define GDN_ROWS 512

typedef struct {
    gdn_host_state hs;          /* first: gdn_host_read_state reads hs.S; hs.conv is [B, W, channels] here */
    float *Wcat;                /* [proj_width, D]: q|k|v|a|b|g projection weights stacked */
    float *cw;                  /* conv weights transposed to [W, channels] */
    float *ws; size_t ws_cap;   /* layer workspace: P [rows, pw] | OP [rows, ow] | O [rows, HV] */
    float *tws; size_t tws_cap; /* per-thread chunk workspace */
    size_t tws_each;
} gdn_cpu;

/* ---- setup ------------------------------------------------------------------------------------ */
static void cpu_teardown(sb_layer *L) {
    gdn_cpu *s = L->impl_state;
    if (!s) return;
    gdn_host_state_free(&s->hs);
    free(s->Wcat); free(s->cw); free(s->ws); free(s->tws);
    free(s);
    L->impl_state = NULL;
}

static size_t chunk_ws_floats(const sb_config *c) {
    const size_t C = (size_t)c->chunk_size, K = c->head_dim, V = c->head_v_dim;
    return 3 * C * C + C * (V + K) + C * K + 4 * C + 16;
}

static sb_status cpu_setup(sb_layer *L) {
    const sb_config *c = &L->cfg;
    gdn_cpu *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    sb_status st = gdn_host_state_init(&s->hs, L);
    if (st) return st;
    s->tws_each = chunk_ws_floats(c);
    st = cpu_reserve(&s->tws, &s->tws_cap, s->tws_each * (size_t)cpu_threads(), "gated_deltanet cpu: chunk workspace");
    if (st || L->level == SB_OP) return st;
    const int D = c->d_model, W = c->d_conv, HK = gdn_hk(c), HV = gdn_hv(c), H = c->heads, CH = gdn_conv_channels(c);
    if ((st = cpu_alloc(&s->Wcat, (size_t)gdn_proj_width(c) * D, "gated_deltanet cpu: weights"))) return st;
    if ((st = cpu_alloc(&s->cw, (size_t)W * CH, "gated_deltanet cpu: conv weights"))) return st;
    const char *names[] = {"q_proj.weight", "k_proj.weight", "v_proj.weight", "a_proj.weight", "b_proj.weight", "g_proj.weight"};
    const int rows[] = {HK, HK, HV, H, H, HV};
    float *dst = s->Wcat;
    for (int i = 0; i < 6; i++) {
        memcpy(dst, sb_params_get(&L->params, names[i]), (size_t)rows[i] * D * sizeof(float));
        dst += (size_t)rows[i] * D;
    }
    const char *cnames[] = {"q_conv1d.weight", "k_conv1d.weight", "v_conv1d.weight"};
    const int cch[] = {HK, HK, HV};
    for (int part = 0, ch0 = 0; part < 3; ch0 += cch[part++]) {
        const float *w = sb_params_get(&L->params, cnames[part]);
        for (int ch = 0; ch < cch[part]; ch++)
            for (int i = 0; i < W; i++) s->cw[(size_t)i * CH + ch0 + ch] = w[(size_t)ch * W + i];
    }
    return SB_OK;
}

/* ---- the op: one head ---------------------------------------------------------------------------- */
/* One token (fused step): S [V,K] <- e^g S; u = beta (v - S k); S += u k^T; o = scale S q. */
static void step_head(float *restrict S, const float *restrict q, const float *restrict k, const float *restrict v,
                      float g, float beta, float scale, int K, int V, float *restrict o) {
    const float decay = cpu_expf(g);
    for (int r = 0; r < V; r++) {
        float *restrict Sr = S + (size_t)r * K;
        float sk = 0;
#pragma omp simd reduction(+ : sk)
        for (int c = 0; c < K; c++) sk += Sr[c] * k[c];
        const float u = beta * (v[r] - decay * sk);
        float sq = 0;
#pragma omp simd reduction(+ : sq)
        for (int c = 0; c < K; c++) {
            float x = decay * Sr[c] + u * k[c];
            Sr[c] = x;
            sq += x * q[c];
        }
        o[r] = scale * sq;
    }
}

/* One chunk of n <= C tokens of one head (spec §4), rows of q, k, v with stride ld, g and beta
 * with stride ld too, o rows with stride ldo. ws: chunk_ws_floats. */
static void chunk_head(float *restrict S, const float *q, const float *k, const float *v, const float *g,
                       const float *beta, int ld, float scale, int K, int V, int n, float *o, int ldo, float *ws) {
    float *gam = ws, *eg = gam + n, *KK = eg + n, *M = KK + (size_t)n * n, *X = M + (size_t)n * n;
    float *R = X + (size_t)n * n, *Kd = R + (size_t)n * (V + K);
    const int ldr = V + K;
    float acc = 0;
    for (int i = 0; i < n; i++) {
        gam[i] = acc += g[(size_t)i * ld];
        eg[i] = cpu_expf(gam[i]);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, K, 1.0f, k, ld, k, ld, 0.0f, KK, n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, K, scale, q, ld, k, ld, 0.0f, M, n);
    /* X = (I + A)^-1, A = strict lower of beta_i (k_i.k_j) Gamma_ij: row i = -A_i. - sum_m A_im X_m. */
    for (int i = 0; i < n; i++) {
        float *Xi = X + (size_t)i * n;
        const float bi = beta[(size_t)i * ld];
        for (int j = 0; j < n; j++) Xi[j] = 0.0f;
        for (int m = 0; m < i; m++) {
            const float a = bi * KK[(size_t)i * n + m] * cpu_expf(gam[i] - gam[m]);
            const float *Xm = X + (size_t)m * n;
            Xi[m] -= a;
#pragma omp simd
            for (int j = 0; j < m; j++) Xi[j] -= a * Xm[j];
        }
        Xi[i] = 1.0f;
        /* M: (s Q K^T) . Gamma, lower with the diagonal */
        float *Mi = M + (size_t)i * n;
        for (int j = 0; j < n; j++) Mi[j] = j <= i ? Mi[j] * cpu_expf(gam[i] - gam[j]) : 0.0f;
    }
    /* R = [beta V | beta e^gamma K], then R <- X R: U | Wk */
    for (int i = 0; i < n; i++) {
        const float bi = beta[(size_t)i * ld], be = bi * eg[i], dl = cpu_expf(gam[n - 1] - gam[i]);
        float *Ri = R + (size_t)i * ldr;
        for (int r = 0; r < V; r++) Ri[r] = bi * v[(size_t)i * ld + r];
        for (int c = 0; c < K; c++) {
            Ri[V + c] = be * k[(size_t)i * ld + c];
            Kd[(size_t)i * K + c] = dl * k[(size_t)i * ld + c];
        }
    }
    cblas_strmm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, n, ldr, 1.0f, X, n, R, ldr);
    /* V_new = U - Wk S^T (in place over U) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, V, K, -1.0f, R + V, ldr, S, K, 1.0f, R, ldr);
    /* O = diag(e^gamma) (s Q S^T) + M V_new */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, V, K, scale, q, ld, S, K, 0.0f, o, ldo);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < V; r++) o[(size_t)i * ldo + r] *= eg[i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, V, n, 1.0f, M, n, R, ldr, 1.0f, o, ldo);
    /* S <- e^gamma_last S + V_new^T Kd */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, K, n, 1.0f, R, ldr, Kd, K, eg[n - 1], S, K);
}

/* T op rows of one sequence (row stride ow), head h, continuing S_h; o rows stride ldo. */
static void op_head(const sb_config *c, float *Sh, const float *op, int T, int h, float *o, int ldo, int chunked,
                    float *ws) {
    const int K = c->head_dim, V = c->head_v_dim, ow = gdn_op_width(c), C = c->chunk_size;
    const float scale = gdn_scale(c);
    const float *q = op + gdn_off_q(c) + h * K, *k = op + gdn_off_k(c) + h * K, *v = op + gdn_off_v(c) + h * V;
    const float *g = op + gdn_off_g(c) + h, *beta = op + gdn_off_beta(c) + h;
    float *oh = o + (size_t)h * V;
    if (chunked)
        for (int t0 = 0; t0 < T; t0 += C) {
            const size_t r = (size_t)t0 * ow;
            chunk_head(Sh, q + r, k + r, v + r, g + r, beta + r, ow, scale, K, V, T - t0 < C ? T - t0 : C,
                       oh + (size_t)t0 * ldo, ldo, ws);
        }
    else
        for (int t = 0; t < T; t++) {
            const size_t r = (size_t)t * ow;
            step_head(Sh, q + r, k + r, v + r, g[r], beta[r], scale, K, V, oh + (size_t)t * ldo);
        }
}

/* The op over B sequences of T rows each (prefill) or B single rows (decode, T = 1), OpenMP over
 * sequences x heads. */
static void op_rows(gdn_cpu *s, const sb_config *c, const float *op, float *o, int B, int T, int chunked) {
    const int H = c->heads, ow = gdn_op_width(c), HV = gdn_hv(c);
    const size_t SF = (size_t)c->head_v_dim * c->head_dim;
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        float *ws = s->tws + s->tws_each * (size_t)omp_get_thread_num();
        op_head(c, s->hs.S + (size_t)bh * SF, op + (size_t)b * T * ow, T, h, o + (size_t)b * T * HV, HV, chunked, ws);
    }
}

/* ---- layer pieces ---------------------------------------------------------------------------------- */
/* Causal conv + SiLU over n tokens of one sequence: P rows (stride pw) -> OP rows (stride ow),
 * history hist [W, CH] (row W-1 = the token before P's first), replaced by the last W inputs. */
static void conv_rows(const gdn_cpu *s, const sb_config *c, float *hist, const float *P, float *OP, int n) {
    const int W = c->d_conv, CH = gdn_conv_channels(c), pw = gdn_proj_width(c), ow = gdn_op_width(c);
    const float *cw = s->cw;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++) {
        float *out = OP + (size_t)t * ow;
        for (int ch = 0; ch < CH; ch++) out[ch] = 0.0f;
        for (int i = 0; i < W; i++) {
            const int j = t - W + 1 + i;
            const float *src = j >= 0 ? P + (size_t)j * pw : hist + (size_t)(W + j) * CH;
            const float *w = cw + (size_t)i * CH;
#pragma omp simd
            for (int ch = 0; ch < CH; ch++) out[ch] += w[ch] * src[ch];
        }
#pragma omp simd
        for (int ch = 0; ch < CH; ch++) out[ch] = cpu_silu(out[ch]);
    }
    /* new history: the last W pre-conv inputs, oldest first (shift when n < W) */
    if (n < W) memmove(hist, hist + (size_t)n * CH, (size_t)(W - n) * CH * sizeof(float));
    for (int i = W - (n < W ? n : W); i < W; i++) memcpy(hist + (size_t)i * CH, P + (size_t)(n - W + i) * pw, CH * sizeof(float));
}

/* Per token and head: L2 norms of q, k; g = -exp(A_log) softplus(a + dt_bias); beta. */
static void head_rows(const sb_layer *L, const float *P, float *OP, int n) {
    const sb_config *c = &L->cfg;
    const int H = c->heads, K = c->head_dim, pw = gdn_proj_width(c), ow = gdn_op_width(c), HK = gdn_hk(c), HV = gdn_hv(c);
    const float *alog = sb_params_get(&L->params, "A_log"), *dtb = sb_params_get(&L->params, "dt_bias");
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++) {
        float *row = OP + (size_t)t * ow;
        const float *prow = P + (size_t)t * pw;
        for (int h = 0; h < 2 * H; h++) { /* q heads then k heads: contiguous */
            float *x = row + (size_t)h * K, ss = 0;
#pragma omp simd reduction(+ : ss)
            for (int i = 0; i < K; i++) ss += x[i] * x[i];
            const float r = 1.0f / sqrtf(ss + GDN_L2_EPS);
            for (int i = 0; i < K; i++) x[i] *= r;
        }
        for (int h = 0; h < H; h++) {
            row[gdn_off_g(c) + h] = -expf(alog[h]) * cpu_softplusf(prow[2 * HK + HV + h] + dtb[h]);
            row[gdn_off_beta(c) + h] = 1.0f / (1.0f + expf(-prow[2 * HK + HV + H + h]));
        }
    }
}

/* o rows [n, HV] <- per-head RMSNorm * o_norm.weight * SiLU(G), G in the P rows. */
static void norm_rows(const sb_layer *L, const float *P, float *O, int n) {
    const sb_config *c = &L->cfg;
    const int H = c->heads, V = c->head_v_dim, pw = gdn_proj_width(c), HV = gdn_hv(c), offG = 2 * gdn_hk(c) + HV + 2 * H;
    const float *nw = sb_params_get(&L->params, "o_norm.weight"), eps = c->eps;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++)
        for (int h = 0; h < H; h++) {
            float *o = O + (size_t)t * HV + (size_t)h * V;
            const float *G = P + (size_t)t * pw + offG + (size_t)h * V;
            float ss = 0;
#pragma omp simd reduction(+ : ss)
            for (int i = 0; i < V; i++) ss += o[i] * o[i];
            const float r = 1.0f / sqrtf(ss / (float)V + eps);
#pragma omp simd
            for (int i = 0; i < V; i++) o[i] = o[i] * r * nw[i] * cpu_silu(G[i]);
        }
}

static sb_status reserve_layer_ws(gdn_cpu *s, const sb_config *c, int rows, float **P, float **OP, float **O) {
    const size_t pw = gdn_proj_width(c), ow = gdn_op_width(c), HV = gdn_hv(c);
    sb_status st = cpu_reserve(&s->ws, &s->ws_cap, (size_t)rows * (pw + ow + HV), "gated_deltanet cpu: layer workspace");
    if (st) return st;
    *P = s->ws;
    *OP = *P + (size_t)rows * pw;
    *O = *OP + (size_t)rows * ow;
    return SB_OK;
}

/* Layer prefill: each sequence in blocks of GDN_ROWS tokens. */
static sb_status layer_prefill(sb_layer *L, const float *x, float *y, int B, int T, int chunked) {
    gdn_cpu *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const int D = c->d_model, pw = gdn_proj_width(c), HV = gdn_hv(c), rows = T < GDN_ROWS ? T : GDN_ROWS;
    float *P, *OP, *O;
    sb_status st = reserve_layer_ws(s, c, rows, &P, &OP, &O);
    if (st) return st;
    for (int b = 0; b < B; b++) {
        float *S = s->hs.S + (size_t)b * gdn_state_floats(c), *hist = s->hs.conv + (size_t)b * gdn_conv_floats(c);
        for (int t0 = 0; t0 < T; t0 += rows) {
            const int n = T - t0 < rows ? T - t0 : rows;
            const size_t r0 = (size_t)b * T + t0;
            cpu_linear(x + r0 * D, D, s->Wcat, P, pw, n, D, pw);
            conv_rows(s, c, hist, P, OP, n);
            head_rows(L, P, OP, n);
#pragma omp parallel for schedule(dynamic, 1)
            for (int h = 0; h < c->heads; h++)
                op_head(c, S + (size_t)h * c->head_v_dim * c->head_dim, OP, n, h, O, HV, chunked,
                        s->tws + s->tws_each * (size_t)omp_get_thread_num());
            norm_rows(L, P, O, n);
            cpu_linear(O, HV, sb_params_get(&L->params, "o_proj.weight"), y + r0 * D, D, n, HV, D);
        }
    }
    return SB_OK;
}

/* Layer decode: one token of each of B sequences; the projections as one sgemm over B rows. */
static sb_status layer_decode(sb_layer *L, const float *x, float *y, int B) {
    gdn_cpu *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const int D = c->d_model, pw = gdn_proj_width(c), ow = gdn_op_width(c), HV = gdn_hv(c);
    float *P, *OP, *O;
    sb_status st = reserve_layer_ws(s, c, B, &P, &OP, &O);
    if (st) return st;
    cpu_linear(x, D, s->Wcat, P, pw, B, D, pw);
    /* conv_rows parallelises over tokens (one here): over sequences outside, the inner region nested (serial) */
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)
        conv_rows(s, c, s->hs.conv + (size_t)b * gdn_conv_floats(c), P + (size_t)b * pw, OP + (size_t)b * ow, 1);
    head_rows(L, P, OP, B);
    op_rows(s, c, OP, O, B, 1, 0);
    norm_rows(L, P, O, B);
    cpu_linear(O, HV, sb_params_get(&L->params, "o_proj.weight"), y, D, B, HV, D);
    return SB_OK;
}

/* ---- the impls --------------------------------------------------------------------------------- */
static sb_status prefill(sb_layer *L, const float *x, float *y, int B, int T, int chunked) {
    gdn_cpu *s = L->impl_state;
    gdn_host_state_reset(&s->hs, L, B);
    if (L->level == SB_LAYER) return layer_prefill(L, x, y, B, T, chunked);
    op_rows(s, &L->cfg, x, y, B, T, chunked);
    return SB_OK;
}
static sb_status chunked_prefill(sb_layer *L, const void *x, void *y, int B, int T) { return prefill(L, x, y, B, T, 1); }
static sb_status seq_prefill(sb_layer *L, const void *x, void *y, int B, int T) { return prefill(L, x, y, B, T, 0); }

static sb_status cpu_decode(sb_layer *L, const void *x, void *y, int B) {
    if (L->level == SB_LAYER) return layer_decode(L, x, y, B);
    op_rows(L->impl_state, &L->cfg, x, y, B, 1, 0);
    return SB_OK;
}

static sb_status cpu_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    (void)T;
    gdn_host_state_fill(&((gdn_cpu *)L->impl_state)->hs, L, B, seed);
    return SB_OK;
}

const sb_impl sb_gdn_cpu_chunked = {
    .name = "chunked", .backend = SB_CPU, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "chunked WY/UT form with OpenBLAS per chunk, OpenMP over sequences x heads; fused one-pass decode",
    .setup = cpu_setup, .prefill = chunked_prefill, .decode = cpu_decode, .fill_state = cpu_fill_state,
    .teardown = cpu_teardown, .read_state = gdn_host_read_state, .count_form = GDN_FORM_CHUNKED,
};
const sb_impl sb_gdn_cpu_sequential = {
    .name = "sequential", .backend = SB_CPU, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "fused recurrent form: token by token, one pass over each state row, OpenMP over sequences x heads",
    .setup = cpu_setup, .prefill = seq_prefill, .decode = cpu_decode, .fill_state = cpu_fill_state,
    .teardown = cpu_teardown, .read_state = gdn_host_read_state,
};
