/* ttt_cpu.c: the fast CPU backend of TTT-Linear and TTT-MLP (SPEC §3.3), fp32, OpenBLAS + OpenMP.
 * Same math and state layout as the reference (layers/ttt_linear.c, ttt_mlp.c, ttt_common.c).
 *
 *   version 1 "primal": token by token, each token the one-token update as BLAS level-2 calls
 *                       (sgemv for k W, q W_i, ...; sger for the accumulators k^T g).
 *   version 2 "dual":   the dual form per mini-batch with sgemm (b x d x d for K W, Q W and the
 *                       update; b x b x d for Q K^T and the masked eta mix). At d 64, b 16 it
 *                       does about the primal's FLOPs (Linear 6d^2+6bd = 30.7k vs 8d^2 = 32.8k
 *                       per token and head) but as matrix-matrix products: 2-3x faster than
 *                       version 1 for TTT-Linear, 1.2-1.6x for TTT-MLP (2-core box, 125m heads).
 * Decode is version 1's single step for both impls. Work is split over (sequence, head) with
 * OpenMP; BLAS calls inside the parallel region run on their calling thread (OpenMP build of
 * OpenBLAS). Layer level: the projections are whole-sequence sgemms outside the parallel region
 * (OpenBLAS threads them), writing straight into the packed op rows via ldc.
 *
 * Chunk/step contract (as the reference driver): a step or chunk adds lr_j * grad_j into the
 * accumulators G; the driver commits W -= token_eta[b-1] * G, G = 0, when a mini-batch completes.
 */
#include "ttt_impls.h"
#include "../runtime/host_blas.h"

/* The clamps in vexpf are compares that GCC will not if-convert (and so not vectorise) while
 * floating-point compares may trap; nothing here relies on FP exceptions. */
#pragma GCC optimize("no-trapping-math")

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- small row math (fp32) --------------------------------------------------------------------- */
/* The reductions carry `omp simd` so that they vectorise (strict FP would keep them scalar):
 * ln_fwd and ln_l2_bwd were 4.6% of TTT-Linear layer prefill time, scalar. */
static void ln_fwd(const float *z, const float *gamma, const float *beta, int d, float eps, float *y) {
    float mu = 0, var = 0;
#pragma omp simd reduction(+ : mu)
    for (int i = 0; i < d; i++) mu += z[i];
    mu /= d;
#pragma omp simd reduction(+ : var)
    for (int i = 0; i < d; i++) var += (z[i] - mu) * (z[i] - mu);
    float inv = 1.0f / sqrtf(var / d + eps);
#pragma omp simd
    for (int i = 0; i < d; i++) y[i] = gamma[i] * ((z[i] - mu) * inv) + beta[i];
}

/* Gradient of 1/2 ||LN(z) - target||^2 w.r.t. z, as ttt_ln_l2_bwd. g may alias z. */
static void ln_l2_bwd(const float *z, const float *target, const float *gamma, const float *beta, int d, float eps,
                      float *g) {
    float mu = 0, var = 0, sum_gh = 0, sum_ghzh = 0;
#pragma omp simd reduction(+ : mu)
    for (int i = 0; i < d; i++) mu += z[i];
    mu /= d;
#pragma omp simd reduction(+ : var)
    for (int i = 0; i < d; i++) var += (z[i] - mu) * (z[i] - mu);
    float sigma = sqrtf(var / d + eps), inv = 1.0f / sigma;
#pragma omp simd reduction(+ : sum_gh, sum_ghzh)
    for (int i = 0; i < d; i++) {
        float zh = (z[i] - mu) * inv, gh = gamma[i] * (gamma[i] * zh + beta[i] - target[i]);
        sum_gh += gh;
        sum_ghzh += gh * zh;
    }
#pragma omp simd
    for (int i = 0; i < d; i++) {
        float zh = (z[i] - mu) * inv, gh = gamma[i] * (gamma[i] * zh + beta[i] - target[i]);
        g[i] = (d * gh - sum_gh - zh * sum_ghzh) * (inv / d);
    }
}

/* exp for loops that must vectorise (libm's expf/tanhf calls do not, and were half of TTT-MLP's
 * time): x = n ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (relative error
 * < 2e-7), 2^n from the exponent bits. x is clamped to [-87, 88] (e^-87 ~ 1.6e-38). */
static inline float vexpf(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float n = rintf(x * 1.44269504f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187e-6f; /* ln2 split in two */
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    union { int32_t i; float f; } scale = {.i = ((int32_t)n + 127) << 23};
    return p * scale.f;
}

/* tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): absolute error ~1e-7 (relative error
 * grows near 0 where tanh is tiny, which gelu's x * (1 + tanh) does not see). */
static inline float vtanhf(float x) {
    float e = vexpf(-2.0f * fabsf(x)), t = (1.0f - e) / (1.0f + e);
    return copysignf(t, x);
}

/* gelu (tanh approximation) and its derivative with ttt.py's constants; gelu_and_grad gives both
 * from one tanh (the dual form needs both at the same points). */
static inline float gelu(float x) { return 0.5f * x * (1.0f + vtanhf(0.79788456f * x * (1.0f + 0.044715f * x * x))); }
static inline float gelu_and_grad(float x, float *grad) {
    float t = vtanhf(0.79788456f * x * (1.0f + 0.044715f * x * x));
    *grad = 0.5f * x * (1.0f - t * t) * (0.79788456f + 0.1070322243f * x * x) + 0.5f * (1.0f + t);
    return 0.5f * x * (1.0f + t);
}
static inline float gelu_grad(float x) {
    float g;
    gelu_and_grad(x, &g);
    return g;
}

static void add_bias_rows(float *X, const float *bias, int n, int w) {
    for (int i = 0; i < n; i++)
        for (int c = 0; c < w; c++) X[(size_t)i * w + c] += bias[c];
}

/* M[i,j] = j <= i ? tau_i alpha_j (A[i,j] + 1) : 0: the eta-weighted mask that folds
 * (eta . tril(A)) G + tril(eta) G into one product M G. */
static void eta_mask(float *A, const float *tau, const float *alpha, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) A[(size_t)i * n + j] = j <= i ? tau[i] * alpha[j] * (A[(size_t)i * n + j] + 1.0f) : 0.0f;
}

/* acc[w] += sum_j alpha_j G[j,:] */
static void add_weighted_rows(const float *G, const float *alpha, int n, int w, float *acc) {
    for (int j = 0; j < n; j++)
        for (int c = 0; c < w; c++) acc[c] += alpha[j] * G[(size_t)j * w + c];
}

/* Row-major sgemm shorthands: C[M,N] = alpha op(A) op(B) + beta C */
static void gemm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static void gemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static void gemm_tn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
/* y[N] = alpha x[M] A[M,N] + beta y (a row vector times a row-major matrix) */
static void vec_mat(int M, int N, float alpha, const float *x, const float *A, float beta, float *y) {
    cblas_sgemv(CblasRowMajor, CblasTrans, M, N, alpha, A, N, x, 1, beta, y, 1);
}

/* Shared head preamble: gather K then Q (rows 0..n-1, n..2n-1) into KQ, read tau and alpha. */
static void gather_head(const ttt_head *hd, const ttt_rows *r, int n, float *KQ, float *tau, float *alpha) {
    const int d = hd->d;
    for (int i = 0; i < n; i++) {
        memcpy(KQ + (size_t)i * d, r->k + (size_t)i * r->ld, (size_t)d * sizeof(float));
        memcpy(KQ + (size_t)(n + i) * d, r->q + (size_t)i * r->ld, (size_t)d * sizeof(float));
        tau[i] = ttt_token_eta(hd->token_idx, i);
        alpha[i] = r->lr[(size_t)i * r->ld];
    }
}

/* ---- TTT-Linear ------------------------------------------------------------------------------------ */
/* dual: KQ [2b,d], ZZ [2b,d] (Z | Zbar), M [b,b], AK [b,d], tau, alpha, target row; step: 4 rows */
static size_t linear_ws(int d, int b) { return 5 * (size_t)b * d + (size_t)b * b + 2 * (size_t)b + 4 * (size_t)d; }

static void linear_step(const ttt_head *hd, const ttt_rows *r, int m, float *ws) {
    const int d = hd->d;
    const float *W = hd->w, *bias = hd->w + (size_t)d * d, *q = r->q, *k = r->k, *v = r->v;
    float *GW = hd->g, *Gb = hd->g + (size_t)d * d;
    float *z = ws, *target = z + d, *g = target + d, *zbar = g + d;
    const float alpha = r->lr[0], tau = ttt_token_eta(hd->token_idx, m);
    memcpy(z, bias, (size_t)d * sizeof(float));
    vec_mat(d, d, 1.0f, k, W, 1.0f, z);                      /* z = k W + b */
    for (int j = 0; j < d; j++) target[j] = v[j] - k[j];
    ln_l2_bwd(z, target, hd->gamma, hd->beta, d, hd->eps, g);
    cblas_sger(CblasRowMajor, d, d, alpha, k, 1, g, 1, GW, d); /* GW += alpha k^T g */
    for (int j = 0; j < d; j++) {
        Gb[j] += alpha * g[j];
        zbar[j] = bias[j] - tau * Gb[j];
    }
    vec_mat(d, d, 1.0f, q, W, 1.0f, zbar);                   /* + q W */
    vec_mat(d, d, -tau, q, GW, 1.0f, zbar);                  /* - tau q GW */
    ln_fwd(zbar, hd->gamma, hd->beta, d, hd->eps, z);
    for (int j = 0; j < d; j++) r->o[j] = q[j] + z[j];
}

static void linear_chunk(const ttt_head *hd, const ttt_rows *r, int n, float *ws) {
    const int d = hd->d, b = hd->mini_batch;
    const float *W = hd->w, *bias = hd->w + (size_t)d * d;
    float *GW = hd->g, *Gb = hd->g + (size_t)d * d;
    float *KQ = ws, *ZZ = KQ + 2 * (size_t)b * d, *M = ZZ + 2 * (size_t)b * d, *AK = M + (size_t)b * b;
    float *tau = AK + (size_t)b * d, *alpha = tau + b, *row = alpha + b;
    float *K = KQ, *Q = KQ + (size_t)n * d, *G = ZZ, *Zbar = ZZ + (size_t)n * d;
    gather_head(hd, r, n, KQ, tau, alpha);
    gemm_nn(2 * n, d, d, 1.0f, KQ, d, W, d, 0.0f, ZZ, d);       /* [Z; Zbar] = [K; Q] W */
    add_bias_rows(ZZ, bias, 2 * n, d);
    for (int i = 0; i < n; i++) {                               /* G = dLoss/dZ, in place */
        const float *vi = r->v + (size_t)i * r->ld, *ki = K + (size_t)i * d;
        for (int j = 0; j < d; j++) row[j] = vi[j] - ki[j];
        ln_l2_bwd(G + (size_t)i * d, row, hd->gamma, hd->beta, d, hd->eps, G + (size_t)i * d);
    }
    gemm_nt(n, n, d, 1.0f, Q, d, K, d, 0.0f, M, n);             /* A = Q K^T */
    eta_mask(M, tau, alpha, n);
    gemm_nn(n, d, n, -1.0f, M, n, G, d, 1.0f, Zbar, d);         /* Zbar -= M G */
    for (int i = 0; i < n; i++) {
        float *o = r->o + (size_t)i * r->ldo;
        ln_fwd(Zbar + (size_t)i * d, hd->gamma, hd->beta, d, hd->eps, row);
        for (int j = 0; j < d; j++) o[j] = Q[(size_t)i * d + j] + row[j];
    }
    for (int j = 0; j < n; j++)                                 /* AK = alpha . K */
        for (int c = 0; c < d; c++) AK[(size_t)j * d + c] = alpha[j] * K[(size_t)j * d + c];
    gemm_tn(d, d, n, 1.0f, AK, d, G, d, 1.0f, GW, d);           /* GW += (alpha K)^T G */
    add_weighted_rows(G, alpha, n, d, Gb);
}

/* ---- TTT-MLP --------------------------------------------------------------------------------------- */
/* dual: KQ [2b,d], Z1 [2b,4d] (Z1 | Zbar1), X2, G1, Xbar2, AX [b,4d], Z2/G2, Zbar2, AK [b,d],
 * M [b,b], tau, alpha, row [d]; step: 5 rows of 4d and 5 of d */
static size_t mlp_ws(int d, int b) {
    size_t h = 4 * (size_t)d;
    return 2 * (size_t)b * d + 2 * (size_t)b * h + 4 * (size_t)b * h + 3 * (size_t)b * d + (size_t)b * b + 2 * (size_t)b +
           5 * h + 5 * (size_t)d;
}

static void mlp_step(const ttt_head *hd, const ttt_rows *r, int m, float *ws) {
    const int d = hd->d, h = 4 * d;
    const ttt_mlp_params W = ttt_mlp_view(hd->w, d), G = ttt_mlp_view(hd->g, d);
    const float *q = r->q, *k = r->k, *v = r->v;
    const float alpha = r->lr[0], tau = ttt_token_eta(hd->token_idx, m);
    float *z1 = ws, *x2 = z1 + h, *g1 = x2 + h, *zb1 = g1 + h, *xb2 = zb1 + h;
    float *z2 = xb2 + h, *target = z2 + d, *g2 = target + d, *zb2 = g2 + d, *ln = zb2 + d;
    memcpy(z1, W.b1, (size_t)h * sizeof(float));
    vec_mat(d, h, 1.0f, k, W.W1, 1.0f, z1);                           /* z1 = k W1 + b1 */
    for (int c = 0; c < h; c++) x2[c] = gelu(z1[c]);
    memcpy(z2, W.b2, (size_t)d * sizeof(float));
    vec_mat(h, d, 1.0f, x2, W.W2, 1.0f, z2);                          /* z2 = x2 W2 + b2 */
    for (int j = 0; j < d; j++) target[j] = v[j] - k[j];
    ln_l2_bwd(z2, target, hd->gamma, hd->beta, d, hd->eps, g2);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, h, d, 1.0f, W.W2, d, g2, 1, 0.0f, g1, 1); /* g2 W2^T */
    for (int c = 0; c < h; c++) g1[c] *= gelu_grad(z1[c]);
    cblas_sger(CblasRowMajor, d, h, alpha, k, 1, g1, 1, G.W1, h);     /* G1 += alpha k^T g1 */
    cblas_sger(CblasRowMajor, h, d, alpha, x2, 1, g2, 1, G.W2, d);    /* G2 += alpha x2^T g2 */
    for (int c = 0; c < h; c++) {
        G.b1[c] += alpha * g1[c];
        zb1[c] = W.b1[c] - tau * G.b1[c];
    }
    for (int j = 0; j < d; j++) {
        G.b2[j] += alpha * g2[j];
        zb2[j] = W.b2[j] - tau * G.b2[j];
    }
    vec_mat(d, h, 1.0f, q, W.W1, 1.0f, zb1);                          /* q (W1 - tau G1) + b1_i */
    vec_mat(d, h, -tau, q, G.W1, 1.0f, zb1);
    for (int c = 0; c < h; c++) xb2[c] = gelu(zb1[c]);
    vec_mat(h, d, 1.0f, xb2, W.W2, 1.0f, zb2);                        /* xb2 (W2 - tau G2) + b2_i */
    vec_mat(h, d, -tau, xb2, G.W2, 1.0f, zb2);
    ln_fwd(zb2, hd->gamma, hd->beta, d, hd->eps, ln);
    for (int j = 0; j < d; j++) r->o[j] = q[j] + ln[j];
}

static void mlp_chunk(const ttt_head *hd, const ttt_rows *r, int n, float *ws) {
    const int d = hd->d, h = 4 * d, b = hd->mini_batch;
    const ttt_mlp_params W = ttt_mlp_view(hd->w, d), Gacc = ttt_mlp_view(hd->g, d);
    float *KQ = ws, *Z1 = KQ + 2 * (size_t)b * d, *X2 = Z1 + 2 * (size_t)b * h, *G1 = X2 + (size_t)b * h;
    float *Xb2 = G1 + (size_t)b * h, *AX = Xb2 + (size_t)b * h, *G2 = AX + (size_t)b * h, *Zb2 = G2 + (size_t)b * d;
    float *AK = Zb2 + (size_t)b * d, *M = AK + (size_t)b * d, *tau = M + (size_t)b * b, *alpha = tau + b, *row = alpha + b;
    float *K = KQ, *Q = KQ + (size_t)n * d, *Zb1 = Z1 + (size_t)n * h;
    gather_head(hd, r, n, KQ, tau, alpha);
    /* forward at the start parameters, gradients G2 and G1 */
    gemm_nn(2 * n, h, d, 1.0f, KQ, d, W.W1, h, 0.0f, Z1, h);          /* [Z1; Zbar1 part] = [K; Q] W1 */
    add_bias_rows(Z1, W.b1, 2 * n, h);
    /* X2 = gelu(Z1) and gelu'(Z1) from one tanh each; gelu' waits in AX (free until the end) */
#pragma omp simd
    for (size_t i = 0; i < (size_t)n * h; i++) X2[i] = gelu_and_grad(Z1[i], &AX[i]);
    gemm_nn(n, d, h, 1.0f, X2, h, W.W2, d, 0.0f, G2, d);              /* Z2 = X2 W2 (+ b2 below) */
    add_bias_rows(G2, W.b2, n, d);
    for (int i = 0; i < n; i++) {
        const float *vi = r->v + (size_t)i * r->ld, *ki = K + (size_t)i * d;
        for (int j = 0; j < d; j++) row[j] = vi[j] - ki[j];
        ln_l2_bwd(G2 + (size_t)i * d, row, hd->gamma, hd->beta, d, hd->eps, G2 + (size_t)i * d);
    }
    gemm_nt(n, h, d, 1.0f, G2, d, W.W2, d, 0.0f, G1, h);              /* G2 W2^T */
#pragma omp simd
    for (size_t i = 0; i < (size_t)n * h; i++) G1[i] *= AX[i];
    /* first layer: Zbar1 = Q W1 + b1 - M1 G1 with M1 = eta . (tril(Q K^T) + 1) */
    gemm_nt(n, n, d, 1.0f, Q, d, K, d, 0.0f, M, n);
    eta_mask(M, tau, alpha, n);
    gemm_nn(n, h, n, -1.0f, M, n, G1, h, 1.0f, Zb1, h);
    for (size_t i = 0; i < (size_t)n * h; i++) Xb2[i] = gelu(Zb1[i]);
    /* second layer: Zbar2 = Xbar2 W2 + b2 - M2 G2 with M2 = eta . (tril(Xbar2 X2^T) + 1) */
    gemm_nt(n, n, h, 1.0f, Xb2, h, X2, h, 0.0f, M, n);
    eta_mask(M, tau, alpha, n);
    gemm_nn(n, d, h, 1.0f, Xb2, h, W.W2, d, 0.0f, Zb2, d);
    add_bias_rows(Zb2, W.b2, n, d);
    gemm_nn(n, d, n, -1.0f, M, n, G2, d, 1.0f, Zb2, d);
    for (int i = 0; i < n; i++) {
        float *o = r->o + (size_t)i * r->ldo;
        ln_fwd(Zb2 + (size_t)i * d, hd->gamma, hd->beta, d, hd->eps, row);
        for (int j = 0; j < d; j++) o[j] = Q[(size_t)i * d + j] + row[j];
    }
    /* accumulators: G1 += (alpha K)^T G1, G2 += (alpha X2)^T G2, biases */
    for (int j = 0; j < n; j++) {
        for (int c = 0; c < d; c++) AK[(size_t)j * d + c] = alpha[j] * K[(size_t)j * d + c];
        for (int c = 0; c < h; c++) AX[(size_t)j * h + c] = alpha[j] * X2[(size_t)j * h + c];
    }
    gemm_tn(d, h, n, 1.0f, AK, d, G1, h, 1.0f, Gacc.W1, h);
    gemm_tn(h, d, n, 1.0f, AX, h, G2, d, 1.0f, Gacc.W2, d);
    add_weighted_rows(G1, alpha, n, h, Gacc.b1);
    add_weighted_rows(G2, alpha, n, d, Gacc.b2);
}

/* ---- the variants, as the driver sees them ------------------------------------------------------ */
typedef struct {
    int mlp;
    size_t (*ws_floats)(int d, int b);
    void (*step)(const ttt_head *, const ttt_rows *, int m, float *ws);
    void (*chunk)(const ttt_head *, const ttt_rows *, int n, float *ws);
} cpu_variant;

static const cpu_variant variant_linear = {0, linear_ws, linear_step, linear_chunk};
static const cpu_variant variant_mlp = {1, mlp_ws, mlp_step, mlp_chunk};

static size_t inner_floats(const cpu_variant *v, int d) {
    return v->mlp ? 8 * (size_t)d * d + 5 * (size_t)d : (size_t)d * d + d;
}

/* ---- state and workspaces --------------------------------------------------------------------- */
typedef struct {
    const cpu_variant *v;
    float *w, *g;          /* inner state and accumulators [max_batch, H, P] */
    float *conv;           /* pre-conv history of P = x Wq^T [max_batch, D, K-1] (share_qk) */
    float *convw;          /* conv_q, conv_k weights transposed to [2, K, D] (unit stride over channels) */
    float *ws;             /* per-thread head workspace [threads, ws_floats] */
    int threads;
    float *rope;           /* cos, sin of the interleaved RoPE for positions 0..b-1 [b, d/2, 2] */
    float *w_in;           /* the input projections stacked [n_in, D]: see in_proj_layout */
    int n_in;
    float *op, *o, *u;     /* layer level: op rows [rows, 3D+H], o [rows, D], u = x W_in^T [rows, n_in] */
    size_t rows_cap;
} cpu_state;

/* One sgemm for every projection of x (rather than one per weight): q (or q and k), v, the lr
 * gate and g are the rows of W_in, in this order, so u = x W_in^T holds them side by side. At
 * 125m (N 3084 instead of 768, 768, 12, 768) this is the shape OpenBLAS runs fastest, and the
 * 12-column lr product no longer runs alone at a third of the rate. Columns of u: */
typedef struct { int q, k, v, lr, g, n; } in_proj_layout;

static in_proj_layout in_proj_cols(const sb_config *c) {
    const int D = c->d_model;
    in_proj_layout p = {.q = 0};
    p.k = c->share_qk ? -1 : D;                 /* share_qk: k comes from conv_k of the q projection */
    p.v = c->share_qk ? D : 2 * D;
    p.lr = p.v + D;
    p.g = c->use_gate ? p.lr + c->heads : -1;
    p.n = p.lr + c->heads + (c->use_gate ? D : 0);
    return p;
}

static sb_status stack_in_proj(cpu_state *s, const sb_config *c, const sb_params *ps) {
    const in_proj_layout p = in_proj_cols(c);
    const int D = c->d_model;
    s->n_in = p.n;
    s->w_in = malloc((size_t)p.n * D * sizeof(float));
    if (!s->w_in) return sb_fail(SB_ENOMEM, "ttt cpu: projection weights do not fit in host memory");
    struct { const char *name; int col, rows; } parts[] = {
        {"q_proj.weight", p.q, D}, {"k_proj.weight", p.k, D}, {"v_proj.weight", p.v, D},
        {"learnable_ttt_lr_weight", p.lr, c->heads}, {"g_proj.weight", p.g, D}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (parts[i].col >= 0)
            memcpy(s->w_in + (size_t)parts[i].col * D, sb_params_get(ps, parts[i].name),
                   (size_t)parts[i].rows * D * sizeof(float));
    return SB_OK;
}

static sb_status cpu_setup(sb_layer *L, const cpu_variant *v) {
    cpu_state *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    const sb_config *c = &L->cfg;
    s->v = v;
    s->threads = omp_get_max_threads();
    size_t n = (size_t)L->max_batch * c->heads * inner_floats(v, c->head_dim);
    s->w = malloc(n * sizeof(float));
    s->g = calloc(n, sizeof(float));
    s->conv = calloc((size_t)L->max_batch * c->d_model * (c->d_conv > 1 ? c->d_conv - 1 : 1), sizeof(float));
    s->ws = malloc((size_t)s->threads * v->ws_floats(c->head_dim, c->mini_batch) * sizeof(float));
    s->rope = malloc((size_t)c->mini_batch * c->head_dim * sizeof(float));
    s->convw = malloc((size_t)2 * c->d_conv * c->d_model * sizeof(float));
    if (!s->w || !s->g || !s->conv || !s->ws || !s->rope || !s->convw)
        return sb_fail(SB_ENOMEM, "ttt cpu: state does not fit in host memory");
    /* weights are final here (sb_layer_create loads .npy files before setup): stacked, transposed copies */
    if (L->level != SB_OP) {
        sb_status st = stack_in_proj(s, c, &L->params);
        if (st) return st;
    }
    if (c->share_qk)
        for (int part = 0; part < 2; part++) {
            const float *wt = sb_params_get(&L->params, part ? "conv_k.weight" : "conv_q.weight");
            for (int i = 0; i < c->d_conv; i++)
                for (int ch = 0; ch < c->d_model; ch++)
                    s->convw[((size_t)part * c->d_conv + i) * c->d_model + ch] = wt[(size_t)ch * c->d_conv + i];
        }
    const int half = c->head_dim / 2;
    for (int p = 0; p < c->mini_batch; p++) /* angles in double, as the reference */
        for (int j = 0; j < half; j++) {
            double ang = p * pow(c->rope_theta, -2.0 * j / c->head_dim);
            s->rope[((size_t)p * half + j) * 2] = (float)cos(ang);
            s->rope[((size_t)p * half + j) * 2 + 1] = (float)sin(ang);
        }
    return SB_OK;
}

static void cpu_teardown(sb_layer *L) {
    cpu_state *s = L->impl_state;
    free(s->w); free(s->g); free(s->conv); free(s->convw); free(s->ws); free(s->rope); free(s->w_in);
    free(s->op); free(s->o); free(s->u);
    free(s);
    L->impl_state = NULL;
}

static sb_status reserve_rows(cpu_state *s, const sb_config *c, size_t rows) {
    if (rows <= s->rows_cap) return SB_OK;
    free(s->op); free(s->o); free(s->u);
    s->op = malloc(rows * ttt_op_width(c) * sizeof(float));
    s->o = malloc(rows * c->d_model * sizeof(float));
    s->u = malloc(rows * s->n_in * sizeof(float));
    s->rows_cap = rows;
    if (s->op && s->o && s->u) return SB_OK;
    s->rows_cap = 0;
    return sb_fail(SB_ENOMEM, "ttt cpu: %zu rows of activations do not fit in host memory", rows);
}

/* ---- the inner loop: OpenMP over (sequence, head) --------------------------------------------- */
static void commit(const ttt_head *hd, size_t P) {
    const float tau = ttt_token_eta(hd->token_idx, hd->mini_batch - 1);
    for (size_t i = 0; i < P; i++) {
        hd->w[i] -= tau * hd->g[i];
        hd->g[i] = 0.0f;
    }
}

static void run_inner(sb_layer *L, int dual, const float *op, float *o, int B, int T) {
    cpu_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const cpu_variant *v = s->v;
    const int H = c->heads, d = c->head_dim, D = c->d_model, mb = c->mini_batch, w = ttt_op_width(c), pos = L->pos;
    const size_t P = inner_floats(v, d), wsz = v->ws_floats(d, mb);
    const float *gamma = sb_params_get(&L->params, "ttt_norm_weight"), *beta = sb_params_get(&L->params, "ttt_norm_bias");
    const float *token_idx = sb_params_get(&L->params, "learnable_token_idx");
#pragma omp parallel for collapse(2) schedule(static) num_threads(s->threads)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *ws = s->ws + (size_t)omp_get_thread_num() * wsz;
            ttt_head hd = {.d = d, .mini_batch = mb, .eps = c->eps, .gamma = gamma + (size_t)h * d, .beta = beta + (size_t)h * d,
                           .token_idx = token_idx, .w = s->w + ((size_t)b * H + h) * P, .g = s->g + ((size_t)b * H + h) * P};
            for (int t = 0; t < T;) {
                const float *row = op + ((size_t)b * T + t) * w;
                ttt_rows r = {.q = row + ttt_off_xq(c) + h * d, .k = row + ttt_off_xk(c) + h * d,
                              .v = row + ttt_off_xv(c) + h * d, .lr = row + ttt_off_lr(c) + h, .ld = (size_t)w,
                              .o = o + ((size_t)b * T + t) * D + h * d, .ldo = (size_t)D};
                int m = (pos + t) % mb, n = 1;
                if (dual && m == 0) {
                    n = T - t < mb ? T - t : mb;
                    v->chunk(&hd, &r, n, ws);
                } else {
                    v->step(&hd, &r, m, ws);
                }
                if (m + n == mb) commit(&hd, P);
                t += n;
            }
        }
}

/* ---- layer level ---------------------------------------------------------------------------------- */
/* Rows [t0, t1) of the causal depthwise conv of one sequence P[T,D] (row stride ldp) with history
 * hist[D,K-1]: y[t] = bias + sum_i wt[i] . P[t-(K-1)+i] (wt transposed [K, D]: unit stride, vectorised). */
static void conv_rows(const float *P, int ldp, const float *hist, const float *wt, const float *bias, float *y, int ldy,
                      int t0, int t1, int D, int K) {
    for (int t = t0; t < t1; t++) {
        float *yt = y + (size_t)t * ldy;
        memcpy(yt, bias, (size_t)D * sizeof(float));
        for (int i = 0; i < K; i++) {
            int src = t - (K - 1) + i;
            const float *wi = wt + (size_t)i * D;
            if (src >= 0) {
                const float *p = P + (size_t)src * ldp;
#pragma omp simd
                for (int ch = 0; ch < D; ch++) yt[ch] += wi[ch] * p[ch];
            } else {
                for (int ch = 0; ch < D; ch++) yt[ch] += wi[ch] * hist[(size_t)ch * (K - 1) + (K - 1 + src)];
            }
        }
    }
}

static void update_hist(float *hist, const float *P, int ldp, int T, int D, int K) {
    for (int ch = 0; ch < D; ch++)
        for (int j = 0; j < K - 1; j++) {
            int src = T - (K - 1) + j;
            hist[(size_t)ch * (K - 1) + j] = src >= 0 ? P[(size_t)src * ldp + ch] : hist[(size_t)ch * (K - 1) + j + T];
        }
}

/* x[B,T,D] -> op rows: all projections by one sgemm into u, convs (share_qk) or copies of q, k
 * into the op rows, then per row: v and the lr gate copied over, RoPE, sigmoid of the gate. */
static void layer_in(sb_layer *L, const float *x, int B, int T) {
    cpu_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const sb_params *ps = &L->params;
    const int D = c->d_model, H = c->heads, d = c->head_dim, K = c->d_conv, w = ttt_op_width(c), mb = c->mini_batch;
    const int rows = B * T, nu = s->n_in;
    const in_proj_layout pc = in_proj_cols(c);
    float *op = s->op;
    cpu_linear(x, D, s->w_in, s->u, nu, rows, D, nu); /* sgemv for one row (decode at B=1) */
    if (c->share_qk) {
        const float *cqb = sb_params_get(ps, "conv_q.bias"), *ckb = sb_params_get(ps, "conv_k.bias");
        const int chunk = 64, nch = (T + chunk - 1) / chunk; /* rows per task: B = 1 still runs in parallel */
#pragma omp parallel for collapse(2) schedule(static) num_threads(s->threads)
        for (int b = 0; b < B; b++)
            for (int ci = 0; ci < nch; ci++) {
                const float *P = s->u + (size_t)b * T * nu + pc.q, *hist = s->conv + (size_t)b * D * (K - 1);
                float *ob = op + (size_t)b * T * w;
                int t0 = ci * chunk, t1 = t0 + chunk < T ? t0 + chunk : T;
                conv_rows(P, nu, hist, s->convw, cqb, ob + ttt_off_xq(c), w, t0, t1, D, K);
                conv_rows(P, nu, hist, s->convw + (size_t)K * D, ckb, ob + ttt_off_xk(c), w, t0, t1, D, K);
            }
        for (int b = 0; b < B; b++) /* after every row read the old history */
            update_hist(s->conv + (size_t)b * D * (K - 1), s->u + (size_t)b * T * nu + pc.q, nu, T, D, K);
    }

    const int half = d / 2;
    const float *lrb = sb_params_get(ps, "learnable_ttt_lr_bias");
    const float scale = c->ttt_base_lr / (float)d;
    const int pos = L->pos;
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int r = 0; r < rows; r++) {
        float *row = op + (size_t)r * w;
        const float *ur = s->u + (size_t)r * nu;
        if (!c->share_qk) {
            memcpy(row + ttt_off_xq(c), ur + pc.q, (size_t)D * sizeof(float));
            memcpy(row + ttt_off_xk(c), ur + pc.k, (size_t)D * sizeof(float));
        }
        memcpy(row + ttt_off_xv(c), ur + pc.v, (size_t)D * sizeof(float));
        int p = (pos + r % T) % mb;
        for (int part = 0; part < 2; part++) {
            float *v = row + (part ? ttt_off_xk(c) : ttt_off_xq(c));
            const float *t = s->rope + (size_t)p * half * 2;
            for (int h = 0; h < H; h++) /* every pair of every head, same angle table per head */
                for (int j = 0; j < half; j++) {
                    float *pr = v + (size_t)h * d + 2 * j;
                    float a = pr[0], bb = pr[1], co = t[2 * j], si = t[2 * j + 1];
                    pr[0] = a * co - bb * si;
                    pr[1] = bb * co + a * si;
                }
        }
        for (int h = 0; h < H; h++) {
            float z = ur[pc.lr + h] + lrb[h];
            row[ttt_off_lr(c) + h] = scale / (1.0f + expf(-z));
        }
    }
}

/* o rows -> y: post_norm, gate, o_proj. */
static void layer_out(sb_layer *L, float *y, int rows) {
    cpu_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const sb_params *ps = &L->params;
    const int D = c->d_model;
    const float *pw = sb_params_get(ps, "post_norm.weight"), *pb = sb_params_get(ps, "post_norm.bias");
    const int gcol = in_proj_cols(c).g; /* x Wg^T, computed with the other projections in layer_in */
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int r = 0; r < rows; r++) {
        float *o = s->o + (size_t)r * D;
        const float *g = s->u + (size_t)r * s->n_in + gcol;
        ln_fwd(o, pw, pb, D, c->eps, o);
        if (c->use_gate)
#pragma omp simd
            for (int i = 0; i < D; i++) o[i] *= gelu(g[i]);
    }
    cpu_linear(s->o, D, sb_params_get(ps, "o_proj.weight"), y, D, rows, D, D);
}

static sb_status forward(sb_layer *L, int dual, const float *x, float *y, int B, int T) {
    cpu_state *s = L->impl_state;
    if (L->level == SB_OP) {
        run_inner(L, dual, x, y, B, T);
        return SB_OK;
    }
    sb_status st = reserve_rows(s, &L->cfg, (size_t)B * T);
    if (st) return st;
    layer_in(L, x, B, T);
    run_inner(L, dual, s->op, s->o, B, T);
    layer_out(L, y, B * T);
    return SB_OK;
}

/* ---- entry points ------------------------------------------------------------------------------- */
static void reset_state(sb_layer *L, int B) {
    cpu_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const ttt_variant *rv = s->v->mlp ? &ttt_mlp_variant : &ttt_linear_variant;
    const size_t P = inner_floats(s->v, c->head_dim);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < c->heads; h++) ttt_load_inner(rv, &L->params, c, h, s->w + ((size_t)b * c->heads + h) * P);
    memset(s->g, 0, (size_t)B * c->heads * P * sizeof(float));
    memset(s->conv, 0, (size_t)B * c->d_model * (c->d_conv > 1 ? c->d_conv - 1 : 1) * sizeof(float));
}

static sb_status cpu_prefill(sb_layer *L, int dual, const void *x, void *y, int B, int T) {
    reset_state(L, B);
    return forward(L, dual, x, y, B, T);
}

static sb_status cpu_decode(sb_layer *L, const void *x, void *y, int B) { return forward(L, 0, x, y, B, 1); }

/* As the reference's fill_state: W = init + small noise, accumulators small inside a mini-batch,
 * conv history O(1). */
static sb_status cpu_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    cpu_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    const size_t n = (size_t)B * c->heads * inner_floats(s->v, c->head_dim);
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    reset_state(L, B);
    for (size_t i = 0; i < n; i++) s->w[i] += 0.005f * sb_rng_normal(&rng);
    if (T % c->mini_batch) sb_fill_normal(s->g, n, &rng, 0.0f, 1e-3f);
    if (c->share_qk) sb_fill_normal(s->conv, (size_t)B * c->d_model * (c->d_conv - 1), &rng, 0.0f, 1.0f);
    return SB_OK;
}

static sb_status linear_setup(sb_layer *L) { return cpu_setup(L, &variant_linear); }
static sb_status mlp_setup(sb_layer *L) { return cpu_setup(L, &variant_mlp); }
static sb_status dual_prefill(sb_layer *L, const void *x, void *y, int B, int T) { return cpu_prefill(L, 1, x, y, B, T); }
static sb_status primal_prefill(sb_layer *L, const void *x, void *y, int B, int T) { return cpu_prefill(L, 0, x, y, B, T); }

#define TTT_CPU_IMPL(sym, nm, setup_fn, prefill_fn, form, about_txt)                                    \
    const sb_impl sym = {.name = nm, .backend = SB_CPU, .levels = 1u << SB_OP | 1u << SB_LAYER,         \
                         .about = about_txt, .setup = setup_fn, .prefill = prefill_fn,                  \
                         .decode = cpu_decode, .fill_state = cpu_fill_state, .teardown = cpu_teardown, \
                         .count_form = form}

TTT_CPU_IMPL(sb_ttt_linear_cpu_dual, "dual", linear_setup, dual_prefill, TTT_FORM_DUAL,
             "dual form per mini-batch with sgemm, OpenMP over (sequence, head); sgemv/sger decode");
TTT_CPU_IMPL(sb_ttt_linear_cpu_primal, "primal", linear_setup, primal_prefill, TTT_FORM_PRIMAL,
             "token by token with sgemv/sger, OpenMP over (sequence, head)");
TTT_CPU_IMPL(sb_ttt_mlp_cpu_dual, "dual", mlp_setup, dual_prefill, TTT_FORM_DUAL,
             "dual form per mini-batch with sgemm, OpenMP over (sequence, head); sgemv/sger decode");
TTT_CPU_IMPL(sb_ttt_mlp_cpu_primal, "primal", mlp_setup, primal_prefill, TTT_FORM_PRIMAL,
             "token by token with sgemv/sger, OpenMP over (sequence, head)");
