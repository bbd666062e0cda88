/* model_cpu.c: the cpu backend's ops for the model stack (model/model.c drives them, SPEC §3.4):
 * OpenBLAS sgemm for the MLP and LM head (the down projection accumulates straight into the fp32
 * residual stream, beta = 1), OpenMP + vectorised loops for the embedding gather, RMSNorm,
 * SiLU(gate)*up and the residual add. Everything fp32; weights are the host masters (no copy).
 */
#include "../layers/model_ops.h"
#include "cpu_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static sb_status cpu_upload(const float *host, size_t n, int matrix, void **w) {
    (void)n; (void)matrix;
    *w = (void *)host;
    return SB_OK;
}
static void cpu_release(void *w) { (void)w; }

static sb_status cpu_model_alloc(void **p, size_t bytes) {
    float *f;
    sb_status st = cpu_alloc(&f, (bytes + sizeof(float) - 1) / sizeof(float), "model cpu: activations");
    *p = f;
    return st;
}
static void cpu_model_free(void *p) { free(p); }

static sb_status cpu_embed(const int32_t *ids, const void *table, float *h, int rows, int D, int vocab) {
    for (int r = 0; r < rows; r++) /* checked first: no partial work on bad input */
        if (ids[r] < 0 || ids[r] >= vocab) return sb_fail(SB_EINVAL, "model: token id %d outside 0..%d", ids[r], vocab - 1);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) memcpy(h + (size_t)r * D, (const float *)table + (size_t)ids[r] * D, D * sizeof(float));
    return SB_OK;
}

static sb_status cpu_rmsnorm(const float *h, size_t ldh, const void *w, void *y, int rows, int D, float eps) {
    const float *wf = w;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const float *x = h + r * ldh;
        float *yr = (float *)y + (size_t)r * D, ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < D; i++) ss += x[i] * x[i];
        const float inv = 1.0f / sqrtf(ss / D + eps);
#pragma omp simd
        for (int i = 0; i < D; i++) yr[i] = x[i] * inv * wf[i];
    }
    return SB_OK;
}

static sb_status cpu_model_linear(const void *x, const void *W, void *y, int M, int K, int N) {
    cpu_linear(x, K, W, y, N, M, K, N);
    return SB_OK;
}

static sb_status cpu_linear_residual(const void *x, const void *W, float *h, int M, int K, int N) {
    cpu_linear_ex(x, K, W, K, h, N, M, K, N, 1.0f);
    return SB_OK;
}

static sb_status cpu_silu_mul(void *g, const void *u, size_t n) {
    float *gf = g;
    const float *uf = u;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) gf[i] = cpu_silu(gf[i]) * uf[i];
    return SB_OK;
}

static sb_status cpu_residual(float *h, const void *x, size_t n) {
    const float *xf = x;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) h[i] += xf[i];
    return SB_OK;
}

const sb_model_ops sb_model_ops_cpu = {
    .upload = cpu_upload, .release = cpu_release, .alloc = cpu_model_alloc, .free = cpu_model_free,
    .embed = cpu_embed, .rmsnorm = cpu_rmsnorm, .linear = cpu_model_linear, .linear_residual = cpu_linear_residual,
    .silu_mul = cpu_silu_mul, .residual = cpu_residual,
};
