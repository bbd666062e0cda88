/* mamba2_cpu.c: the fast CPU impl of Mamba-2 (../shared/spec/mamba2.md), impl "chunked", levels op
 * and layer. fp32 throughout, OpenBLAS for every matrix product, OpenMP over sequences x heads.
 *
 *   layer    rows of one sequence in blocks of M2_ROWS (the workspace does not grow with T):
 *            in_proj by sgemm -> causal depthwise conv + SiLU on the xBC channels (vectorised over
 *            channels, history carried between blocks) -> delta = softplus(dt + dt_bias) -> the
 *            SSD below -> gated RMSNorm (vectorised per row) -> out_proj by sgemm.
 *   SSD      the chunked dual form (spec §3), chunks of Q tokens: per (chunk, group) CB = C B^T by
 *            sgemm, shared by the H/G heads of the group; then per (sequence, head), chunk after
 *            chunk:  Y  = (CB . exp(s_t - s_tau) . delta_tau, causal) X          (sgemm q x q x P)
 *                    Y += diag(exp(s_t)) C S^T                                 (sgemm q x N x P)
 *                    S  = exp(s_e) S + (exp(s_e - s_tau) delta_tau X)^T B      (sgemm P x q x N)
 *            plus the D skip; s = the fp32 inclusive cumulative sum of delta*A in the chunk, every
 *            exponential taken of a difference.
 *   decode   one token: in_proj / out_proj by sgemm on B rows; the scan is the fused step (decay,
 *            outer-product update, C contraction, D skip in one pass over each head's [P, N]
 *            state, vectorised over N), OpenMP over sequences x heads: it streams the state once,
 *            which is what bounds it (memory bandwidth).
 * Internal layouts: S [B, H, P, N] (as the contract's ssm_state), conv history [B, K-1, conv_dim]
 * (channels innermost). The reference (layers/mamba2.c) is the oracle: tests/test_backends.c,
 * test_decode.c, test_mamba2.c and the golden cases check this file against it.
 */
#include "mamba2_impls.h"
#include "cpu_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Rows of one sequence per layer-level block: sgemm runs at full speed from a few hundred rows
 * and the block's intermediates (~3E floats per row) stay in the L3 cache. */
#define M2_ROWS 512

typedef struct {
    float *S;          /* ssm state [max_batch, H, P, N] */
    float *hist;       /* conv history [max_batch, K-1, conv_dim], pre-conv xBC, oldest first */
    float *cw;         /* conv1d.weight transposed to [K, conv_dim] */
    float *A;          /* -exp(A_log) [H] */
    float *ws; size_t ws_cap; /* row-block workspace */
} m2_cpu;

/* ---- setup and teardown ----------------------------------------------------------------------- */
static void m2_teardown(sb_layer *L) {
    m2_cpu *s = L->impl_state;
    if (!s) return;
    free(s->S); free(s->hist); free(s->cw); free(s->A); free(s->ws);
    free(s);
    L->impl_state = NULL;
}

static size_t state_floats(const sb_config *c) { return (size_t)mamba2_H(c) * mamba2_P(c) * mamba2_N(c); }

static sb_status m2_setup(sb_layer *L) {
    const sb_config *c = &L->cfg;
    sb_status st = mamba2_check_config(c, L->level);
    if (st) return st;
    const int K = mamba2_K(c), CD = mamba2_conv_dim(c);
    m2_cpu *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    st = cpu_alloc(&s->S, (size_t)L->max_batch * state_floats(c), "mamba2 cpu: ssm state");
    if (!st) st = cpu_alloc(&s->hist, (size_t)L->max_batch * (K - 1) * CD, "mamba2 cpu: conv state");
    if (!st) st = cpu_alloc(&s->cw, (size_t)K * CD, "mamba2 cpu: conv weight");
    if (!st) st = cpu_alloc(&s->A, mamba2_H(c), "mamba2 cpu: A");
    if (st) return st;
    mamba2_head_A(L, s->A);
    if (L->level != SB_LAYER) return SB_OK; /* the op has no conv */
    const float *w = sb_params_get(&L->params, "conv1d.weight");
    for (int ch = 0; ch < CD; ch++)
        for (int i = 0; i < K; i++) s->cw[(size_t)i * CD + ch] = w[(size_t)ch * K + i];
    return SB_OK;
}

/* ---- the SSD over rows -------------------------------------------------------------------------- */
/* nseq sequences (b0 + j) of T op rows each (row stride w: x | B | C | ...), delta [rows, H]
 * already softplus-ed, y [rows, E]. */
typedef struct {
    const float *op;
    int w;
    const float *delta;
    float *y;
    float *cb;         /* [nseq, n_chunks, G, Q, Q] */
    float *scratch;    /* per thread: scratch_floats() */
} ssd_rows;

static size_t scratch_floats(const sb_config *c) {
    const size_t Q = mamba2_Q(c);
    return Q * Q + Q * mamba2_N(c) + Q * mamba2_P(c) + 2 * Q;
}
static int n_chunks(const sb_config *c, int T) { return (T + mamba2_Q(c) - 1) / mamba2_Q(c); }

/* CB = C B^T per (sequence, chunk, group): the q x q scores every head of the group reads. */
static void chunk_scores(const sb_config *c, const ssd_rows *r, int nseq, int T) {
    const int Q = mamba2_Q(c), G = mamba2_G(c), N = mamba2_N(c), nc = n_chunks(c, T);
#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < (long)nseq * nc * G; i++) {
        const int g = (int)(i % G), ch = (int)(i / G % nc), j = (int)(i / G / nc), q = T - ch * Q < Q ? T - ch * Q : Q;
        const float *rows = r->op + ((size_t)j * T + (size_t)ch * Q) * r->w;
        cpu_linear_ex(rows + mamba2_off_C(c) + g * N, r->w, rows + mamba2_off_B(c) + g * N, r->w, r->cb + (size_t)i * Q * Q, Q, q,
                      N, q, 0.0f);
    }
}

/* One chunk of q rows of head h; S is the head's state [P, N]; cb the chunk's group scores. */
static void ssd_chunk(const sb_config *c, const m2_cpu *s, const float *Dp, int h, float *S, const float *op, int w,
                      const float *delta, float *y, const float *cb, int q, float *scr) {
    const int E = mamba2_E(c), H = mamba2_H(c), P = mamba2_P(c), N = mamba2_N(c), Q = mamba2_Q(c), g = mamba2_group(c, h);
    float *Lm = scr, *Cs = Lm + (size_t)Q * Q, *Xw = Cs + (size_t)Q * N, *cum = Xw + (size_t)Q * P, *dl = cum + Q;
    const float *X = op + h * P, *Bc = op + mamba2_off_B(c) + g * N, *Cc = op + mamba2_off_C(c) + g * N;
    float acc = 0;
    for (int t = 0; t < q; t++) {
        dl[t] = delta[(size_t)t * H + h];
        acc += dl[t] * s->A[h];
        cum[t] = acc;
    }
    for (int t = 0; t < q; t++) { /* causal decay-weighted scores */
        float *lr = Lm + (size_t)t * q;
        const float *cr = cb + (size_t)t * Q, st = cum[t];
#pragma omp simd
        for (int tau = 0; tau <= t; tau++) lr[tau] = cr[tau] * cpu_expf(st - cum[tau]) * dl[tau];
        for (int tau = t + 1; tau < q; tau++) lr[tau] = 0.0f;
        const float et = cpu_expf(st);
#pragma omp simd
        for (int n = 0; n < N; n++) Cs[(size_t)t * N + n] = et * Cc[(size_t)t * w + n];
    }
    float *Y = y + h * P;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q, P, N, 1.0f, Cs, N, S, N, 0.0f, Y, E);    /* inter-chunk */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, q, P, q, 1.0f, Lm, q, X, w, 1.0f, Y, E);  /* intra-chunk */
    const float se = cum[q - 1];
    for (int t = 0; t < q; t++) {
        const float wt = cpu_expf(se - cum[t]) * dl[t], Dh = Dp[h];
        const float *xr = X + (size_t)t * w;
        float *yr = Y + (size_t)t * E, *xw = Xw + (size_t)t * P;
#pragma omp simd
        for (int p = 0; p < P; p++) { yr[p] += Dh * xr[p]; xw[p] = wt * xr[p]; }
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, N, q, 1.0f, Xw, P, Bc, w, cpu_expf(se), S, N); /* chunk state */
}

static void ssd_rows_parallel(const sb_layer *L, m2_cpu *s, int b0, int nseq, int T, const ssd_rows *r) {
    const sb_config *c = &L->cfg;
    const int H = mamba2_H(c), E = mamba2_E(c), Q = mamba2_Q(c), G = mamba2_G(c), nc = n_chunks(c, T);
    const float *Dp = sb_params_get(&L->params, "D");
    chunk_scores(c, r, nseq, T);
    const size_t per = scratch_floats(c);
#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < (long)nseq * H; i++) {
        const int j = (int)(i / H), h = (int)(i % H);
        float *S = s->S + (size_t)(b0 + j) * state_floats(c) + (size_t)h * mamba2_P(c) * mamba2_N(c);
        float *scr = r->scratch + per * omp_get_thread_num();
        for (int ch = 0; ch < nc; ch++) {
            const size_t row = (size_t)j * T + (size_t)ch * Q;
            const int q = T - ch * Q < Q ? T - ch * Q : Q;
            ssd_chunk(c, s, Dp, h, S, r->op + row * r->w, r->w, r->delta + row * H, r->y + row * E,
                      r->cb + (((size_t)j * nc + ch) * G + mamba2_group(c, h)) * Q * Q, q, scr);
        }
    }
}

/* One token of B sequences (decode): the fused step per (sequence, head). */
static void ssd_step(const sb_layer *L, m2_cpu *s, const float *op, int w, const float *delta, float *y, int b0, int B) {
    const sb_config *c = &L->cfg;
    const int E = mamba2_E(c), H = mamba2_H(c), P = mamba2_P(c), N = mamba2_N(c);
    const float *Dp = sb_params_get(&L->params, "D");
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)B * H; i++) {
        const int b = (int)(i / H), h = (int)(i % H), g = mamba2_group(c, h);
        const float *row = op + (size_t)b * w, *Bt = row + mamba2_off_B(c) + g * N, *Ct = row + mamba2_off_C(c) + g * N;
        const float dl = delta[(size_t)b * H + h], dA = cpu_expf(dl * s->A[h]);
        float *S = s->S + (size_t)(b0 + b) * state_floats(c) + (size_t)h * P * N;
        for (int p = 0; p < P; p++) {
            const float xp = row[h * P + p], dx = dl * xp;
            float *Sp = S + (size_t)p * N, acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int n = 0; n < N; n++) {
                Sp[n] = dA * Sp[n] + dx * Bt[n];
                acc += Sp[n] * Ct[n];
            }
            y[(size_t)b * E + h * P + p] = acc + Dp[h] * xp;
        }
    }
}

/* delta[r, h] = softplus(dt[r, h] + dt_bias[h]) for rows of stride w whose dt starts at off. */
static void compute_delta(const sb_layer *L, const float *op, int w, float *delta, long rows) {
    const int H = mamba2_H(&L->cfg), off = mamba2_off_dt(&L->cfg);
    const float *bias = sb_params_get(&L->params, "dt_bias");
#pragma omp parallel for schedule(static) if (rows > 64)
    for (long r = 0; r < rows; r++) {
        const float *dt = op + (size_t)r * w + off;
#pragma omp simd
        for (int h = 0; h < H; h++) delta[(size_t)r * H + h] = cpu_softplusf(dt[h] + bias[h]);
    }
}

/* Workspace of the SSD for nseq x T rows: delta, CB, per-thread scratch. */
static size_t ssd_ws_floats(const sb_config *c, int nseq, int T) {
    return (size_t)nseq * T * mamba2_H(c) + (size_t)nseq * n_chunks(c, T) * mamba2_G(c) * mamba2_Q(c) * mamba2_Q(c) +
           scratch_floats(c) * cpu_threads();
}

/* The scan on op rows (stride w) of nseq sequences x T tokens, continuing their states; ws holds
 * ssd_ws_floats(). */
static void scan_rows(const sb_layer *L, m2_cpu *s, const float *op, int w, float *y, int b0, int nseq, int T, float *ws) {
    const sb_config *c = &L->cfg;
    float *delta = ws;
    compute_delta(L, op, w, delta, (long)nseq * T);
    if (T == 1) { ssd_step(L, s, op, w, delta, y, b0, nseq); return; }
    ssd_rows r = {.op = op, .w = w, .delta = delta, .y = y, .cb = delta + (size_t)nseq * T * mamba2_H(c)};
    r.scratch = r.cb + (size_t)nseq * n_chunks(c, T) * mamba2_G(c) * mamba2_Q(c) * mamba2_Q(c);
    ssd_rows_parallel(L, s, b0, nseq, T, &r);
}

/* ---- layer level ----------------------------------------------------------------------------------- */
/* Causal depthwise conv + bias + SiLU of nseq sequences x T rows of in_proj output (stride Wp, xBC
 * at offset E) into the op rows (stride w, from column 0), dt copied behind; each sequence's
 * history is read, then replaced by its last K-1 inputs. */
static void conv_silu(const sb_layer *L, m2_cpu *s, const float *zx, float *op, int b0, int nseq, int T) {
    const sb_config *c = &L->cfg;
    const int K = mamba2_K(c), CD = mamba2_conv_dim(c), Wp = mamba2_in_proj_rows(c), w = mamba2_op_width(c);
    const int H = mamba2_H(c), xo = mamba2_zoff_xbc(c);
    const float *bias = sb_params_get(&L->params, "conv1d.bias");
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)nseq * T; r++) {
        const int j = (int)(r / T), t = (int)(r % T);
        const float *hist = s->hist + (size_t)(b0 + j) * (K - 1) * CD;
        float *orow = op + (size_t)r * w;
        memcpy(orow, bias, CD * sizeof(float));
        for (int i = 0; i < K; i++) {
            const int src = t - (K - 1) + i; /* w[K-1] multiplies the current token */
            const float *xi = src >= 0 ? zx + ((size_t)j * T + src) * Wp + xo : hist + (size_t)(K - 1 + src) * CD;
            const float *wk = s->cw + (size_t)i * CD;
#pragma omp simd
            for (int ch = 0; ch < CD; ch++) orow[ch] += wk[ch] * xi[ch];
        }
#pragma omp simd
        for (int ch = 0; ch < CD; ch++) orow[ch] = cpu_silu(orow[ch]);
        memcpy(orow + mamba2_off_dt(c), zx + (size_t)r * Wp + mamba2_zoff_dt(c), H * sizeof(float));
    }
    for (int j = 0; j < nseq; j++) { /* entry i <- input T-(K-1)+i; ascending i reads old entries first */
        float *hist = s->hist + (size_t)(b0 + j) * (K - 1) * CD;
        for (int i = 0; i < K - 1; i++) {
            const int src = T - (K - 1) + i;
            memcpy(hist + (size_t)i * CD, src >= 0 ? zx + ((size_t)j * T + src) * Wp + xo : hist + (size_t)(i + T) * CD,
                   CD * sizeof(float));
        }
    }
}

/* y <- RMSNorm_G(y . SiLU(z)) . norm.weight on every row (z at column 0 of the in_proj rows). */
static void gated_norm(const sb_layer *L, float *y, const float *zx, long rows) {
    const sb_config *c = &L->cfg;
    const int E = mamba2_E(c), gs = E / mamba2_G(c), Wp = mamba2_in_proj_rows(c);
    const float *nw = sb_params_get(&L->params, "norm.weight");
#pragma omp parallel for schedule(static) if (rows > 16)
    for (long r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * E;
        const float *z = zx + (size_t)r * Wp;
        for (int g0 = 0; g0 < E; g0 += gs) {
            float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
            for (int i = g0; i < g0 + gs; i++) {
                yr[i] *= cpu_silu(z[i]);
                ss += yr[i] * yr[i];
            }
            const float rstd = 1.0f / sqrtf(ss / gs + MAMBA2_NORM_EPS);
#pragma omp simd
            for (int i = g0; i < g0 + gs; i++) yr[i] *= rstd * nw[i];
        }
    }
}

/* The layer on rows x[nseq*T, D] -> y (nseq sequences b0.. of T tokens each, continuing their
 * state): prefill calls it per block of one sequence, decode on B sequences x 1 token. */
static sb_status layer_rows(sb_layer *L, const float *x, float *y, int b0, int nseq, int T) {
    m2_cpu *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const int D = c->d_model, E = mamba2_E(c), Wp = mamba2_in_proj_rows(c), w = mamba2_op_width(c), M = nseq * T;
    sb_status st = cpu_reserve(&s->ws, &s->ws_cap, (size_t)M * (Wp + w + E) + ssd_ws_floats(c, nseq, T),
                               "mamba2 cpu: row-block workspace");
    if (st) return st;
    float *zx = s->ws, *op = zx + (size_t)M * Wp, *ys = op + (size_t)M * w, *ssd_ws = ys + (size_t)M * E;
    cpu_linear(x, D, sb_params_get(&L->params, "in_proj.weight"), zx, Wp, M, D, Wp);
    conv_silu(L, s, zx, op, b0, nseq, T);
    scan_rows(L, s, op, w, ys, b0, nseq, T, ssd_ws);
    gated_norm(L, ys, zx, M);
    cpu_linear(ys, E, sb_params_get(&L->params, "out_proj.weight"), y, D, M, E, D);
    return SB_OK;
}

static sb_status op_rows(sb_layer *L, const float *x, float *y, int nseq, int T) {
    m2_cpu *s = L->impl_state;
    sb_status st = cpu_reserve(&s->ws, &s->ws_cap, ssd_ws_floats(&L->cfg, nseq, T), "mamba2 cpu: SSD workspace");
    if (!st) scan_rows(L, s, x, mamba2_op_width(&L->cfg), y, 0, nseq, T, s->ws);
    return st;
}

/* ---- entry points ---------------------------------------------------------------------------------- */
static sb_status m2_prefill(sb_layer *L, const void *xv, void *yv, int B, int T) {
    m2_cpu *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const int in = sb_layer_in_dim(L), out = sb_layer_out_dim(L);
    const float *x = xv;
    float *y = yv;
    memset(s->S, 0, (size_t)B * state_floats(c) * sizeof(float));
    memset(s->hist, 0, (size_t)B * (mamba2_K(c) - 1) * mamba2_conv_dim(c) * sizeof(float));
    if (L->level == SB_OP) return op_rows(L, x, y, B, T);
    for (int b = 0; b < B; b++)
        for (int t0 = 0; t0 < T; t0 += M2_ROWS) {
            const int nt = T - t0 < M2_ROWS ? T - t0 : M2_ROWS;
            const size_t row = (size_t)b * T + t0;
            sb_status st = layer_rows(L, x + row * in, y + row * out, b, 1, nt);
            if (st) return st;
        }
    return SB_OK;
}

static sb_status m2_decode(sb_layer *L, const void *x, void *y, int B) {
    if (L->level == SB_OP) return op_rows(L, x, y, B, 1);
    return layer_rows(L, x, y, 0, B, 1);
}

/* A state as after T tokens: small random S, unit-scale conv history. */
static sb_status m2_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    m2_cpu *s = L->impl_state;
    const sb_config *c = &L->cfg;
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    sb_fill_uniform(s->S, (size_t)B * state_floats(c), &rng, -0.1f, 0.1f);
    sb_fill_uniform(s->hist, (size_t)B * (mamba2_K(c) - 1) * mamba2_conv_dim(c), &rng, -1.0f, 1.0f);
    return SB_OK;
}

static sb_status m2_read_state(sb_layer *L, float *host) {
    const m2_cpu *s = L->impl_state;
    memcpy(host, s->S, (size_t)L->batch * state_floats(&L->cfg) * sizeof(float));
    return SB_OK;
}

const sb_impl sb_mamba2_cpu_chunked = {
    .name = "chunked", .backend = SB_CPU, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "SSD in chunks: CB, intra-chunk, inter-chunk and chunk-state products by sgemm (OpenMP over "
             "sequences x heads), sgemm projections per block of rows, fused one-pass decode step; fp32",
    .setup = m2_setup, .prefill = m2_prefill, .decode = m2_decode, .fill_state = m2_fill_state,
    .teardown = m2_teardown, .read_state = m2_read_state,
};
