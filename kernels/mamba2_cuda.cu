/* mamba2_cuda.cu: the CUDA impl of Mamba-2 ("chunked", op and layer level): parameters on the device,
 * the state, and the flows that chain cuBLAS GEMMs with the kernels of mamba2_ssd.cu / mamba2_glue.cu.
 *
 * Layer prefill (rows = B*T; bf16 activations, fp32 accumulation and state):
 *   zx  = x in_proj^T                      [rows, 2E+2GN+H] bf16    cuBLAS   (z | xBC | dt)
 *   op  = SiLU(conv(xBC) + b) | dt         [rows, ld]       bf16    mamba2_conv (+ conv state)
 *   y   = SSD(op)                          [rows, E]        bf16    mamba2_ssd_prefill (4 kernels)
 *   y  <- RMSNorm_G(y SiLU(z)) w           in place                 mamba2_gated_norm
 *   out = y out_proj^T                     [rows, D]        bf16    cuBLAS
 * Decode runs the same chain on B rows with the fused step instead of the scan; its workspaces come
 * from setup, so a decode call allocates nothing and never synchronizes with the host (the driver
 * captures it in a CUDA graph).
 * State: S [max_batch, H, P, N] fp32; conv history [max_batch, K-1, conv_dim] bf16 (pre-conv xBC,
 * which is bf16 already: no rounding). Prefill workspaces live in the shared prefill scratch.
 * Op level: the input row is x | B | C | dt (layers/mamba2.h), bf16; the output y.
 */
#include "mamba2_kernels.cuh"

#include "mamba2_impls.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mamba2_cuda {
    int D, E, H, P, N, G, Q, K, CD, Wp, ld; /* ld: row stride of the layer's op rows (even) */
    bf16 *w_in, *w_out;
    float *conv_w, *conv_b, *dt_b, *A, *Dskip, *norm_w;
    float *S;
    bf16 *hist;
    bf16 *zx1, *op1, *y1; /* decode workspaces [max_batch rows] */
};

/* Device copies of the named parameters: GEMM weights in bf16, the rest fp32. */
static sb_status upload_params(sb_layer *L, const char *const *names, void *const *devs, int n, int as_bf16) {
    for (int i = 0; i < n; i++) {
        const sb_param *p = sb_params_find(&L->params, names[i]);
        SB_TRY(as_bf16 ? sb_upload_param_bf16(p->host, p->n, (bf16 **)devs[i])
                       : sb_upload_param_f32(p->host, p->n, (float **)devs[i]));
    }
    return SB_OK;
}
static sb_status alloc_bytes(void *p, size_t bytes) { return sb_cuda_malloc((void **)p, bytes); }

static void teardown(sb_layer *L) {
    mamba2_cuda *m = (mamba2_cuda *)L->impl_state;
    if (!m) return;
    void *ptrs[] = {m->w_in, m->w_out, m->conv_w, m->conv_b, m->dt_b, m->A, m->Dskip, m->norm_w, m->S, m->hist,
                    m->zx1, m->op1, m->y1};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) sb_cuda_free(ptrs[i]);
    free(m);
    L->impl_state = NULL;
}

static sb_status setup(sb_layer *L) {
    const sb_config *c = &L->cfg;
    SB_TRY(mamba2_check_config(c, L->level));
    mamba2_cuda *m = (mamba2_cuda *)calloc(1, sizeof *m);
    if (!m) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = m;
    m->D = c->d_model; m->E = mamba2_E(c); m->H = mamba2_H(c); m->P = mamba2_P(c); m->N = mamba2_N(c);
    m->G = mamba2_G(c); m->Q = mamba2_Q(c); m->K = mamba2_K(c); m->CD = mamba2_conv_dim(c);
    m->Wp = mamba2_in_proj_rows(c);
    m->ld = (mamba2_op_width(c) + 7) & ~7;
    const size_t mb = (size_t)L->max_batch;
    float A[4096];
    if (m->H > 4096) return sb_fail(SB_EINVAL, "mamba2 cuda: %d heads", m->H);
    mamba2_head_A(L, A);
    SB_TRY(sb_upload_param_f32(A, m->H, &m->A));
    const char *const op_names[] = {"dt_bias", "D"};
    void *const op_devs[] = {&m->dt_b, &m->Dskip};
    SB_TRY(upload_params(L, op_names, op_devs, 2, 0));
    SB_TRY(alloc_bytes(&m->S, mb * m->H * m->P * m->N * sizeof(float)));
    SB_TRY(sb_cuda_memset0(m->S, mb * m->H * m->P * m->N * sizeof(float)));
    if (L->level == SB_LAYER) {
        const char *const gemm_names[] = {"in_proj.weight", "out_proj.weight"};
        const char *const vec_names[] = {"conv1d.weight", "conv1d.bias", "norm.weight"};
        void *const gemm_devs[] = {&m->w_in, &m->w_out}, *const vec_devs[] = {&m->conv_w, &m->conv_b, &m->norm_w};
        SB_TRY(upload_params(L, gemm_names, gemm_devs, 2, 1));
        SB_TRY(upload_params(L, vec_names, vec_devs, 3, 0));
        SB_TRY(alloc_bytes(&m->hist, mb * (m->K - 1) * m->CD * sizeof(bf16)));
        SB_TRY(sb_cuda_memset0(m->hist, mb * (m->K - 1) * m->CD * sizeof(bf16)));
        SB_TRY(alloc_bytes(&m->zx1, mb * m->Wp * sizeof(bf16)));
        SB_TRY(alloc_bytes(&m->op1, mb * m->ld * sizeof(bf16)));
        SB_TRY(alloc_bytes(&m->y1, mb * m->E * sizeof(bf16)));
    }
    return sb_cuda_sync();
}

/* The scan's arguments on op rows (stride ld), y [rows, E]. */
static mamba2_ssd_args ssd_args(const mamba2_cuda *m, const bf16 *op, int ld, bf16 *y, int B, int T) {
    mamba2_ssd_args a;
    memset(&a, 0, sizeof a);
    a.op = op; a.ld = ld;
    a.offB = m->E; a.offC = m->E + m->G * m->N; a.offdt = m->CD;
    a.y = y; a.ldy = m->E;
    a.dt_bias = m->dt_b; a.A = m->A; a.Dskip = m->Dskip; a.S = m->S;
    a.B = B; a.T = T; a.H = m->H; a.P = m->P; a.N = m->N; a.G = m->G; a.Q = m->Q;
    return a;
}

/* The prefill scan with its fp32 workspaces from the shared scratch (extra: more parts first). */
static sb_status ssd_prefill(const mamba2_cuda *m, mamba2_ssd_args *a, void **extra[], const size_t extra_bytes[], int n_extra) {
    const size_t rows = (size_t)a->B * a->T, nc = (size_t)mamba2_n_chunks(a->T, a->Q);
    void **ptrs[8];
    size_t bytes[8];
    for (int i = 0; i < n_extra; i++) { ptrs[i] = extra[i]; bytes[i] = extra_bytes[i]; }
    ptrs[n_extra] = (void **)&a->delta; bytes[n_extra] = rows * m->H * sizeof(float);
    ptrs[n_extra + 1] = (void **)&a->cum; bytes[n_extra + 1] = rows * m->H * sizeof(float);
    ptrs[n_extra + 2] = (void **)&a->chunk_states; bytes[n_extra + 2] = (size_t)a->B * nc * m->H * m->P * m->N * sizeof(float);
    SB_TRY(sb_cuda_scratch_parts(ptrs, bytes, n_extra + 3));
    return SB_OK;
}

static mamba2_conv_args conv_args(const mamba2_cuda *m, const bf16 *zx, bf16 *op, int B, int T) {
    mamba2_conv_args a;
    a.zx = zx; a.ldz = m->Wp; a.xoff = m->E; a.dtoff = 2 * m->E + 2 * m->G * m->N;
    a.w = m->conv_w; a.bias = m->conv_b; a.hist = m->hist;
    a.op = op; a.ld = m->ld;
    a.B = B; a.T = T; a.CD = m->CD; a.H = m->H; a.K = m->K;
    return a;
}

/* in_proj, conv (+ conv state), then the scan's rows are ready in op. */
static sb_status project_in_conv(const mamba2_cuda *m, const bf16 *x, bf16 *zx, bf16 *op, int B, int T) {
    const int rows = B * T;
    SB_TRY(sb_gemm_linear(x, m->D, m->w_in, m->D, zx, CUDA_R_16BF, m->Wp, rows, m->D, m->Wp, 1.0f, 0.0f));
    const mamba2_conv_args ca = conv_args(m, zx, op, B, T);
    SB_TRY(mamba2_conv(&ca));
    return mamba2_conv_state_update(&ca);
}

/* gated norm in place on y, then out_proj. */
static sb_status norm_project_out(const mamba2_cuda *m, bf16 *y, const bf16 *zx, bf16 *out, int rows) {
    SB_TRY(mamba2_gated_norm(y, m->E, zx, m->Wp, m->norm_w, rows, m->E, m->G, MAMBA2_NORM_EPS));
    return sb_gemm_linear(y, m->E, m->w_out, m->E, out, CUDA_R_16BF, m->D, rows, m->E, m->D, 1.0f, 0.0f);
}

static sb_status layer_prefill(mamba2_cuda *m, const bf16 *x, bf16 *out, int B, int T) {
    const size_t rows = (size_t)B * T;
    if (rows > 0x7fffffff) return sb_fail(SB_EINVAL, "mamba2 cuda: B*T = %zu rows is more than cuBLAS takes", rows);
    bf16 *zx, *op, *y;
    void **ptrs[3] = {(void **)&zx, (void **)&op, (void **)&y};
    const size_t bytes[3] = {rows * m->Wp * sizeof(bf16), rows * m->ld * sizeof(bf16), rows * m->E * sizeof(bf16)};
    mamba2_ssd_args a = ssd_args(m, NULL, m->ld, NULL, B, T);
    SB_TRY(ssd_prefill(m, &a, ptrs, bytes, 3));
    a.op = op; a.y = y;
    SB_TRY(sb_cuda_memset0(m->hist, (size_t)B * (m->K - 1) * m->CD * sizeof(bf16))); /* prefill starts empty */
    SB_TRY(project_in_conv(m, x, zx, op, B, T));
    SB_TRY(mamba2_ssd_prefill(&a));
    return norm_project_out(m, y, zx, out, (int)rows);
}

static sb_status layer_decode(mamba2_cuda *m, const bf16 *x, bf16 *out, int B) {
    SB_TRY(project_in_conv(m, x, m->zx1, m->op1, B, 1));
    const mamba2_ssd_args a = ssd_args(m, m->op1, m->ld, m->y1, B, 1);
    SB_TRY(mamba2_ssd_step(&a));
    return norm_project_out(m, m->y1, m->zx1, out, B);
}

/* ---- the impl entry points ------------------------------------------------------------------- */
static sb_status prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    mamba2_cuda *m = (mamba2_cuda *)L->impl_state;
    if (L->level == SB_LAYER) return layer_prefill(m, (const bf16 *)x, (bf16 *)y, B, T);
    mamba2_ssd_args a = ssd_args(m, (const bf16 *)x, mamba2_op_width(&L->cfg), (bf16 *)y, B, T);
    SB_TRY(ssd_prefill(m, &a, NULL, NULL, 0));
    return mamba2_ssd_prefill(&a);
}

static sb_status decode(sb_layer *L, const void *x, void *y, int B) {
    mamba2_cuda *m = (mamba2_cuda *)L->impl_state;
    if (L->level == SB_LAYER) return layer_decode(m, (const bf16 *)x, (bf16 *)y, B);
    const mamba2_ssd_args a = ssd_args(m, (const bf16 *)x, mamba2_op_width(&L->cfg), (bf16 *)y, B, 1);
    return mamba2_ssd_step(&a);
}

/* A state as after T tokens without running them: S ~ U(-0.1, 0.1), conv history ~ U(-1, 1). The
 * decode cost does not depend on the values. */
static sb_status fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    (void)T;
    mamba2_cuda *m = (mamba2_cuda *)L->impl_state;
    SB_TRY(mamba2_fill_uniform_f32(m->S, (size_t)B * m->H * m->P * m->N, 0.1f, seed));
    if (L->level == SB_LAYER) SB_TRY(mamba2_fill_uniform_bf16(m->hist, (size_t)B * (m->K - 1) * m->CD, 1.0f, seed ^ 0x5bd1e995ULL));
    return SB_OK;
}

static sb_status read_state(sb_layer *L, float *host) {
    const mamba2_cuda *m = (const mamba2_cuda *)L->impl_state;
    SB_TRY(sb_cuda_sync());
    return sb_cuda_download_f32(host, m->S, SB_F32, (size_t)L->batch * m->H * m->P * m->N);
}

extern "C" const sb_impl mamba2_cuda_chunked = {
    "chunked", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "bf16, cuBLAS projections, SSD in chunks on mma.sync (chunk states, state passing, chunk scan; fp32 state), "
    "fused decode step",
    setup, prefill, decode, fill_state, teardown, /* oracle: */ 0, read_state,
};
