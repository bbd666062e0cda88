/* mamba_cpu.c: the fast CPU impl of Mamba-1 (SPEC §3.2), impl "chunked", levels op and layer.
 * fp32 throughout, OpenBLAS for the projections, OpenMP over channel blocks and sequences.
 *
 *   layer    tokens go in chunks of MAMBA_CHUNK rows of one sequence (the workspace does not grow
 *            with T): in_proj by sgemm -> causal depthwise conv + SiLU (vectorised over
 *            channels, history carried between chunks) -> x_proj by sgemm -> dt_proj by sgemm ->
 *            the scan, which applies softplus(dt + bias) on the fly -> out_proj by sgemm.
 *   scan     per block of MAMBA_EB channels, all tokens of the chunk in order; the state block
 *            h[N][EB] stays in L1 and every inner loop runs over the EB channels, so
 *            exp(delta*A) (a polynomial exp, cpu_expf), the B/C broadcasts and the C.h sum
 *            vectorise; D-skip and the SiLU(z) gate are fused into the store of y.
 *   decode   the same steps on B rows of one token each, in one OpenMP region (decode_fused): a
 *            thread owns a block of channels from in_proj through conv, dt_proj and the scan step
 *            (exp, h update, C.h, D-skip, gate in one pass over the state); barriers only before
 *            x_proj and out_proj, whose rows are split between the threads.
 * Internal state layouts (free to differ from ref): h [B, N, E] and conv history [B, K-1, E],
 * channels innermost so that every loop over channels is contiguous.
 *
 * The reference (layers/mamba.c) is the oracle: tests/test_backends.c, test_decode.c and the
 * golden cases check this file against it.
 */
#include "mamba_impls.h"
#include "cpu_common.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Rows of one sequence per layer-level chunk: sgemm is at full speed from a few hundred rows,
 * and the chunk's intermediates (~4E floats per row) stay within the L3 cache. */
#define MAMBA_CHUNK 512
/* Channels per scan block: 32 fp32 = 4 AVX2 vectors; the state block (N x 32 floats) fits L1. */
#define MAMBA_EB 32
/* The state block lives on the stack. */
#define MAMBA_MAX_N 256

typedef struct {
    float *h;          /* ssm state [max_batch, N, E] */
    float *hist;       /* conv history [max_batch, K-1, E], pre-conv x, oldest first */
    float *At;         /* A = -exp(A_log), transposed to [N, E] */
    float *cw;         /* conv1d.weight transposed to [K, E] */
    float *ws; size_t ws_cap; /* layer-level chunk workspace */
} mamba_cpu;

/* ---- setup and teardown ----------------------------------------------------------------------- */
static void mamba_teardown(sb_layer *L) {
    mamba_cpu *s = L->impl_state;
    if (!s) return;
    free(s->h); free(s->hist); free(s->At); free(s->cw); free(s->ws);
    free(s);
    L->impl_state = NULL;
}

static sb_status mamba_setup(sb_layer *L) {
    const sb_config *c = &L->cfg;
    const int E = mamba_E(c), N = c->d_state, K = c->d_conv;
    if (N > MAMBA_MAX_N) return sb_fail(SB_ENOTSUP, "mamba cpu: d_state %d > %d", N, MAMBA_MAX_N);
    mamba_cpu *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    sb_status st = cpu_alloc(&s->h, (size_t)L->max_batch * N * E, "mamba cpu: ssm state");
    if (!st) st = cpu_alloc(&s->hist, (size_t)L->max_batch * (K - 1) * E, "mamba cpu: conv state");
    if (!st) st = cpu_alloc(&s->At, (size_t)N * E, "mamba cpu: A");
    if (!st) st = cpu_alloc(&s->cw, (size_t)K * E, "mamba cpu: conv weight");
    if (st) return st;
    const float *alog = sb_params_get(&L->params, "A_log"), *w = sb_params_get(&L->params, "conv1d.weight");
    for (int e = 0; e < E; e++) {
        for (int n = 0; n < N; n++) s->At[(size_t)n * E + e] = -expf(alog[(size_t)e * N + n]);
        for (int i = 0; i < K; i++) s->cw[(size_t)i * E + e] = w[(size_t)e * K + i];
    }
    return SB_OK;
}

/* ---- the selective scan ------------------------------------------------------------------------- */
/* Rows t = 0..T-1 of one sequence, each array with its own row stride. With dt_bias set, delta
 * holds dt_proj outputs and becomes softplus(delta + dt_bias) here (layer level); otherwise it is
 * already softplus-ed (op level). y may alias delta (each block reads its delta before writing). */
typedef struct {
    const float *u, *delta, *B, *C, *z;
    int ldu, ldd, ldbc, ldz;
    const float *dt_bias;
    float *y;
    int ldy;
} scan_rows;

/* Channels [e0, e0+ne) of one sequence over T tokens; h is that sequence's state [N, E]. */
static void scan_block(const sb_layer *L, const mamba_cpu *s, float *h, const scan_rows *r, int T, int e0, int ne) {
    const int E = mamba_E(&L->cfg), N = L->cfg.d_state;
    const float *Dp = sb_params_get(&L->params, "D") + e0;
    float hb[MAMBA_MAX_N][MAMBA_EB];
    for (int n = 0; n < N; n++) memcpy(hb[n], h + (size_t)n * E + e0, ne * sizeof(float));
    for (int t = 0; t < T; t++) {
        const float *u = r->u + (size_t)t * r->ldu + e0, *Bt = r->B + (size_t)t * r->ldbc, *Ct = r->C + (size_t)t * r->ldbc;
        const float *dl = r->delta + (size_t)t * r->ldd + e0;
        float dt[MAMBA_EB], du[MAMBA_EB], acc[MAMBA_EB];
        if (r->dt_bias) {
#pragma omp simd
            for (int i = 0; i < ne; i++) dt[i] = cpu_softplusf(dl[i] + r->dt_bias[e0 + i]);
        } else {
            memcpy(dt, dl, ne * sizeof(float));
        }
#pragma omp simd
        for (int i = 0; i < ne; i++) { du[i] = dt[i] * u[i]; acc[i] = 0.0f; }
        for (int n = 0; n < N; n++) {
            const float *A = s->At + (size_t)n * E + e0, b = Bt[n], c = Ct[n];
            float *hn = hb[n];
#pragma omp simd
            for (int i = 0; i < ne; i++) {
                hn[i] = cpu_expf(dt[i] * A[i]) * hn[i] + du[i] * b;
                acc[i] += c * hn[i];
            }
        }
        const float *z = r->z + (size_t)t * r->ldz + e0;
        float *y = r->y + (size_t)t * r->ldy + e0;
#pragma omp simd
        for (int i = 0; i < ne; i++) y[i] = (acc[i] + Dp[i] * u[i]) * cpu_silu(z[i]);
    }
    for (int n = 0; n < N; n++) memcpy(h + (size_t)n * E + e0, hb[n], ne * sizeof(float));
}

/* nseq sequences b0.. with T rows each (sequence j's rows start at row j*T of every array). */
static void scan_rows_parallel(const sb_layer *L, const mamba_cpu *s, int b0, int nseq, int T, const scan_rows *r) {
    const int E = mamba_E(&L->cfg), N = L->cfg.d_state, nblk = (E + MAMBA_EB - 1) / MAMBA_EB;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < nseq * nblk; i++) {
        int j = i / nblk, e0 = (i % nblk) * MAMBA_EB, ne = E - e0 < MAMBA_EB ? E - e0 : MAMBA_EB;
        scan_rows rj = *r;
        size_t row = (size_t)j * T;
        rj.u += row * r->ldu; rj.delta += row * r->ldd; rj.B += row * r->ldbc; rj.C += row * r->ldbc;
        rj.z += row * r->ldz; rj.y += row * r->ldy;
        scan_block(L, s, s->h + (size_t)(b0 + j) * N * E, &rj, T, e0, ne);
    }
}

/* ---- layer level ----------------------------------------------------------------------------------- */
/* Channels [e0, e1) of row t of one sequence: causal depthwise conv over its pre-conv inputs xs
 * (rows of stride 2E; positions before 0 come from the history hist [K-1, E]), bias, SiLU into ur. */
static void conv_silu_row(const sb_layer *L, const mamba_cpu *s, const float *xs, const float *hist, float *ur, int t,
                          int e0, int e1) {
    const int E = mamba_E(&L->cfg), K = L->cfg.d_conv;
    const float *bias = sb_params_get(&L->params, "conv1d.bias");
    memcpy(ur + e0, bias + e0, (size_t)(e1 - e0) * sizeof(float));
    for (int i = 0; i < K; i++) {
        int src = t - (K - 1) + i; /* w[K-1] multiplies the current token */
        const float *xi = src >= 0 ? xs + (size_t)src * 2 * E : hist + (size_t)(K - 1 + src) * E;
        const float *w = s->cw + (size_t)i * E;
#pragma omp simd
        for (int e = e0; e < e1; e++) ur[e] += w[e] * xi[e];
    }
#pragma omp simd
    for (int e = e0; e < e1; e++) ur[e] = cpu_silu(ur[e]);
}

/* Channels [e0, e1) of one sequence's history after its T inputs xs: entry i <- input at
 * T-(K-1)+i; ascending i reads old entries before overwriting them. */
static void conv_history_update(const sb_layer *L, float *hist, const float *xs, int T, int e0, int e1) {
    const int E = mamba_E(&L->cfg), K = L->cfg.d_conv;
    for (int i = 0; i < K - 1; i++) {
        int src = T - (K - 1) + i;
        memcpy(hist + (size_t)i * E + e0, (src >= 0 ? xs + (size_t)src * 2 * E : hist + (size_t)(i + T) * E) + e0,
               (size_t)(e1 - e0) * sizeof(float));
    }
}

/* Causal depthwise conv + bias + SiLU of nseq sequences x T rows of pre-conv x (xz, stride 2E)
 * into u [rows, E]; each sequence's history is read, then replaced by its last K-1 inputs. */
static void conv_silu(const sb_layer *L, mamba_cpu *s, const float *xz, float *u, int b0, int nseq, int T) {
    const int E = mamba_E(&L->cfg), K = L->cfg.d_conv;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)nseq * T; r++) {
        const int j = (int)(r / T), t = (int)(r % T);
        conv_silu_row(L, s, xz + (size_t)j * T * 2 * E, s->hist + (size_t)(b0 + j) * (K - 1) * E, u + (size_t)r * E, t, 0,
                      E);
    }
    for (int j = 0; j < nseq; j++)
        conv_history_update(L, s->hist + (size_t)(b0 + j) * (K - 1) * E, xz + (size_t)j * T * 2 * E, T, 0, E);
}

static size_t ws_per_row(const sb_config *c) { return 4 * (size_t)mamba_E(c) + c->dt_rank + 2 * c->d_state; }

/* The layer on rows x[nseq*T, D] -> y (nseq sequences b0.. of T tokens each, continuing their
 * state): prefill calls it per chunk of one sequence, decode on B sequences x 1 token. */
static sb_status layer_rows(sb_layer *L, const float *x, float *y, int b0, int nseq, int T) {
    mamba_cpu *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const int D = c->d_model, E = mamba_E(c), N = c->d_state, R = c->dt_rank, M = nseq * T, W = R + 2 * N;
    sb_status st = cpu_reserve(&s->ws, &s->ws_cap, (size_t)M * ws_per_row(c), "mamba cpu: chunk workspace");
    if (st) return st;
    float *xz = s->ws, *u = xz + (size_t)M * 2 * E, *dbc = u + (size_t)M * E, *dy = dbc + (size_t)M * W;
    cpu_linear(x, D, sb_params_get(&L->params, "in_proj.weight"), xz, 2 * E, M, D, 2 * E);
    conv_silu(L, s, xz, u, b0, nseq, T);
    cpu_linear(u, E, sb_params_get(&L->params, "x_proj.weight"), dbc, W, M, E, W);
    cpu_linear(dbc, W, sb_params_get(&L->params, "dt_proj.weight"), dy, E, M, R, E);
    scan_rows r = {.u = u, .delta = dy, .B = dbc + R, .C = dbc + R + N, .z = xz + E, .ldu = E, .ldd = E,
                   .ldbc = W, .ldz = 2 * E, .dt_bias = sb_params_get(&L->params, "dt_proj.bias"), .y = dy, .ldy = E};
    scan_rows_parallel(L, s, b0, nseq, T, &r);
    cpu_linear(dy, E, sb_params_get(&L->params, "out_proj.weight"), y, D, M, E, D);
    return SB_OK;
}

/* Rows [r0, r1) of y[M, N] = x W^T (W [N, K], row stride K) */
static void linear_rows(const float *x, int ldx, const float *W, float *y, int ldy, int M, int K, int r0, int r1) {
    if (r1 > r0) cpu_linear_ex(x, ldx, W + (size_t)r0 * K, K, y + r0, ldy, M, K, r1 - r0, 0.0f);
}

/* Decode at layer level, one token per sequence, in ONE parallel region: each thread owns a block
 * of channels through in_proj (its x and z rows), conv, dt_proj and the scan, so only x_proj (needs
 * every channel of u) and out_proj (every channel of y) wait at a barrier. The separate steps of
 * layer_rows cost six thread hand-offs (OpenBLAS's and ours) per token: at B=1 that was a third of
 * the step (14.5 MiB of weights in ~160 us). BLAS calls inside the region run on their thread. */
static sb_status decode_fused(sb_layer *L, const float *x, float *y, int B) {
    mamba_cpu *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const int D = c->d_model, E = mamba_E(c), N = c->d_state, R = c->dt_rank, W = R + 2 * N, K = c->d_conv;
    sb_status st = cpu_reserve(&s->ws, &s->ws_cap, (size_t)B * ws_per_row(c), "mamba cpu: decode workspace");
    if (st) return st;
    float *xz = s->ws, *u = xz + (size_t)B * 2 * E, *dbc = u + (size_t)B * E, *dy = dbc + (size_t)B * W;
    const float *Win = sb_params_get(&L->params, "in_proj.weight"), *Wx = sb_params_get(&L->params, "x_proj.weight");
    const float *Wdt = sb_params_get(&L->params, "dt_proj.weight"), *Wout = sb_params_get(&L->params, "out_proj.weight");
    const int nblk = (E + MAMBA_EB - 1) / MAMBA_EB;
#pragma omp parallel
    {
        const int id = omp_get_thread_num(), nt = omp_get_num_threads();
        const int e0 = (int)((long)nblk * id / nt) * MAMBA_EB, e1m = (int)((long)nblk * (id + 1) / nt) * MAMBA_EB;
        const int e1 = e1m < E ? e1m : E > e0 ? E : e0; /* a thread past the last block owns nothing */
        linear_rows(x, D, Win, xz, 2 * E, B, D, e0, e1);                    /* x part of in_proj */
        linear_rows(x, D, Win + (size_t)E * D, xz + E, 2 * E, B, D, e0, e1); /* z part */
        for (int b = 0; b < B; b++) {
            float *hist = s->hist + (size_t)b * (K - 1) * E;
            conv_silu_row(L, s, xz + (size_t)b * 2 * E, hist, u + (size_t)b * E, 0, e0, e1);
            conv_history_update(L, hist, xz + (size_t)b * 2 * E, 1, e0, e1);
        }
#pragma omp barrier
        linear_rows(u, E, Wx, dbc, W, B, E, (int)((long)W * id / nt), (int)((long)W * (id + 1) / nt));
#pragma omp barrier
        linear_rows(dbc, W, Wdt, dy, E, B, R, e0, e1);
        scan_rows r = {.u = u, .delta = dy, .B = dbc + R, .C = dbc + R + N, .z = xz + E, .ldu = E, .ldd = E,
                       .ldbc = W, .ldz = 2 * E, .dt_bias = sb_params_get(&L->params, "dt_proj.bias"), .y = dy, .ldy = E};
        for (int b = 0; b < B; b++) {
            scan_rows rb = r;
            rb.u += (size_t)b * E; rb.delta += (size_t)b * E; rb.B += (size_t)b * W; rb.C += (size_t)b * W;
            rb.z += (size_t)b * 2 * E; rb.y += (size_t)b * E;
            for (int eb = e0; eb < e1; eb += MAMBA_EB)
                scan_block(L, s, s->h + (size_t)b * N * E, &rb, 1, eb, e1 - eb < MAMBA_EB ? e1 - eb : MAMBA_EB);
        }
#pragma omp barrier
        linear_rows(dy, E, Wout, y, D, B, E, (int)((long)D * id / nt), (int)((long)D * (id + 1) / nt));
    }
    return SB_OK;
}

/* ---- op level ------------------------------------------------------------------------------------ */
/* Packed rows u | delta | B | C | z of nseq sequences x T tokens: the scan alone, no workspace. */
static void op_rows(sb_layer *L, const float *x, float *y, int b0, int nseq, int T) {
    const sb_config *c = &L->cfg;
    const int w = mamba_op_width(c), E = mamba_E(c);
    scan_rows r = {.u = x, .delta = x + mamba_off_delta(c), .B = x + mamba_off_B(c), .C = x + mamba_off_C(c),
                   .z = x + mamba_off_z(c), .ldu = w, .ldd = w, .ldbc = w, .ldz = w, .y = y, .ldy = E};
    scan_rows_parallel(L, L->impl_state, b0, nseq, T, &r);
}

/* ---- entry points ---------------------------------------------------------------------------------- */
static sb_status mamba_prefill(sb_layer *L, const void *xv, void *yv, int B, int T) {
    mamba_cpu *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const int E = mamba_E(c), in = sb_layer_in_dim(L), out = sb_layer_out_dim(L);
    const float *x = xv;
    float *y = yv;
    memset(s->h, 0, (size_t)B * c->d_state * E * sizeof(float));
    memset(s->hist, 0, (size_t)B * (c->d_conv - 1) * E * sizeof(float));
    if (L->level == SB_OP) { op_rows(L, x, y, 0, B, T); return SB_OK; }
    for (int b = 0; b < B; b++)
        for (int t0 = 0; t0 < T; t0 += MAMBA_CHUNK) {
            int nt = T - t0 < MAMBA_CHUNK ? T - t0 : MAMBA_CHUNK;
            size_t row = (size_t)b * T + t0;
            sb_status st = layer_rows(L, x + row * in, y + row * out, b, 1, nt);
            if (st) return st;
        }
    return SB_OK;
}

static sb_status mamba_decode(sb_layer *L, const void *x, void *y, int B) {
    if (L->level == SB_OP) { op_rows(L, x, y, 0, B, 1); return SB_OK; }
    return decode_fused(L, x, y, B);
}

/* A state as after T tokens: small random h, unit-scale random conv history. */
static sb_status mamba_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    mamba_cpu *s = L->impl_state;
    const sb_config *c = &L->cfg;
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    sb_fill_uniform(s->h, (size_t)B * c->d_state * mamba_E(c), &rng, -0.1f, 0.1f);
    sb_fill_uniform(s->hist, (size_t)B * (c->d_conv - 1) * mamba_E(c), &rng, -1.0f, 1.0f);
    return SB_OK;
}

const sb_impl sb_mamba_cpu_chunked = {
    .name = "chunked", .backend = SB_CPU, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "sgemm projections per chunk of tokens, scan vectorised over channel blocks x state "
             "(OpenMP over sequences x channel blocks), fused single-step decode; fp32",
    .setup = mamba_setup, .prefill = mamba_prefill, .decode = mamba_decode, .fill_state = mamba_fill_state,
    .teardown = mamba_teardown,
};
