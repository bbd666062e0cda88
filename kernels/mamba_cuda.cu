/* mamba_cuda.cu: the CUDA impls of Mamba-1 (SPEC §3.2) at op and layer level: parameters on the
 * device, the state, and the prefill/decode flows that chain cuBLAS GEMMs and our kernels.
 *
 *   chunked     prefill: conv v2, scan v2 (v3 = time split when B*E does not fill the GPU);
 *               decode: conv step, fused step v2 (N/4 lanes per channel)
 *   sequential  prefill: conv v1, scan v1 (one thread per channel); decode: step v1
 *
 * Layer prefill (rows = B*T; bf16 activations, fp32 accumulation everywhere):
 *   xz  = x in_proj^T                 [rows, 2E] bf16          cuBLAS
 *   u   = SiLU(conv(xz[:, :E]) + b)   [rows, E]  bf16          mamba_conv (+ conv state written)
 *   bcd = u x_proj'^T                 [rows, ld] bf16, B|C|dt  cuBLAS (rows of x_proj reordered so
 *                                                             that B, C start the row, 16-byte aligned)
 *   dt  = bcd[:, 2N:] dt_proj^T       [rows, E]  fp32          cuBLAS (bias and softplus in the scan)
 *   y   = scan(u, dt, B, C, z)        written over xz[:, :E] (dead after the conv), row stride 2E
 *   out = y out_proj^T                [rows, D]  bf16          cuBLAS
 * Decode runs the same chain on B rows with the conv step and the fused step instead of the conv and
 * the scan; its workspaces are allocated in setup, so a decode call allocates nothing and never
 * synchronizes with the host (the driver may capture it in a CUDA graph).
 *
 * State: h [max_batch, E, N] fp32; conv state [max_batch, E, K-1] fp32, pre-conv x, oldest first.
 * Parameters: GEMM weights bf16; conv weight/bias, dt bias, D and A2 = -exp(A_log) log2(e) fp32.
 * Prefill workspaces live in the shared prefill scratch (sb_cuda_scratch_parts); the time-split
 * summaries grow on demand (sb_buf_reserve); SB_ENOMEM when the device is full.
 * Op level: the input row is u | delta | B | C | z (layers/mamba.h), bf16; the output y.SiLU(z).
 */
#include "mamba_conv.cuh"
#include "mamba_cuda_host.h"
#include "mamba_scan.cuh"
#include "mamba_step.cuh"

#include "mamba_impls.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct mamba_cuda {
    int fast; /* 1: chunked (version 2 kernels), 0: sequential (version 1) */
    int E, N, R, K, D, ldx; /* ldx: row stride of the B|C|dt workspace */
    int scan_slots;          /* scan v2 blocks resident at once on the device (for the time split) */
    /* parameters */
    bf16 *w_in, *w_x, *w_dt, *w_out;
    float *conv_w, *conv_b, *dt_b, *A2, *Dskip;
    /* state */
    float *h, *conv;
    /* time-split summaries of the prefill scan, grown on demand */
    sb_buf seg_h, seg_dsum;
    /* decode workspaces [max_batch rows], from setup */
    bf16 *xz1, *u1, *bcd1;
    float *dt1;
};

/* ---- setup / teardown --------------------------------------------------------------------- */
static sb_status upload_bf16(sb_layer *L, const char *name, bf16 **dev) {
    const sb_param *p = sb_params_find(&L->params, name);
    return sb_upload_param_bf16(p->host, p->n, dev);
}
static sb_status upload_f32(sb_layer *L, const char *name, float **dev) {
    const sb_param *p = sb_params_find(&L->params, name);
    return sb_upload_param_f32(p->host, p->n, dev);
}

/* Host-side transforms of two parameters before upload: x_proj rows B|C|dt, A2 from A_log. */
static sb_status upload_derived(sb_layer *L, mamba_cuda *m) {
    const float *alog = sb_params_get(&L->params, "A_log");
    float *tmp = (float *)malloc((size_t)m->E * (m->R + 2 * m->N) * sizeof(float));
    if (!tmp) return sb_fail(SB_ENOMEM, "out of host memory");
    mamba_a2_from_alog(alog, (size_t)m->E * m->N, tmp);
    sb_status st = sb_upload_param_f32(tmp, (size_t)m->E * m->N, &m->A2);
    if (!st && L->level == SB_LAYER) {
        mamba_xproj_bc_first(sb_params_get(&L->params, "x_proj.weight"), m->R, m->N, m->E, tmp);
        st = sb_upload_param_bf16(tmp, (size_t)m->E * (m->R + 2 * m->N), &m->w_x);
    }
    free(tmp);
    return st;
}

static sb_status alloc_f32(float **p, size_t n) { return sb_cuda_malloc((void **)p, n * sizeof(float)); }
static sb_status alloc_bf16(bf16 **p, size_t n) { return sb_cuda_malloc((void **)p, n * sizeof(bf16)); }

static sb_status setup_common(sb_layer *L, int fast) {
    const sb_config *c = &L->cfg;
    mamba_cuda *m = (mamba_cuda *)calloc(1, sizeof *m);
    if (!m) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = m;
    m->fast = fast;
    m->E = mamba_E(c); m->N = c->d_state; m->R = c->dt_rank; m->K = c->d_conv; m->D = c->d_model;
    m->ldx = mamba_xproj_ld(m->R, m->N);
    if (m->N > 64) return sb_fail(SB_EINVAL, "mamba cuda: d_state %d > 64 is not supported", m->N);
    const size_t mb = (size_t)L->max_batch;
    SB_TRY(upload_f32(L, "D", &m->Dskip));
    SB_TRY(upload_derived(L, m));
    SB_TRY(alloc_f32(&m->h, mb * m->E * m->N));
    SB_TRY(sb_cuda_memset0(m->h, mb * m->E * m->N * sizeof(float)));
    if (L->level == SB_LAYER) {
        SB_TRY(upload_bf16(L, "in_proj.weight", &m->w_in));
        SB_TRY(upload_bf16(L, "dt_proj.weight", &m->w_dt));
        SB_TRY(upload_bf16(L, "out_proj.weight", &m->w_out));
        SB_TRY(upload_f32(L, "conv1d.weight", &m->conv_w));
        SB_TRY(upload_f32(L, "conv1d.bias", &m->conv_b));
        SB_TRY(upload_f32(L, "dt_proj.bias", &m->dt_b));
        SB_TRY(alloc_f32(&m->conv, mb * m->E * (m->K - 1)));
        SB_TRY(sb_cuda_memset0(m->conv, mb * m->E * (m->K - 1) * sizeof(float)));
        SB_TRY(alloc_bf16(&m->xz1, mb * 2 * m->E));
        SB_TRY(alloc_bf16(&m->u1, mb * m->E));
        SB_TRY(alloc_bf16(&m->bcd1, mb * m->ldx));
        SB_TRY(alloc_f32(&m->dt1, mb * m->E));
    }
    int per_sm = 1;
    if (fast) SB_TRY(mamba_scan_blocks_per_sm(m->N, L->level == SB_LAYER, &per_sm));
    m->scan_slots = per_sm * sb_num_sms();
    return sb_cuda_sync();
}

static sb_status setup_chunked(sb_layer *L) { return setup_common(L, 1); }
static sb_status setup_sequential(sb_layer *L) { return setup_common(L, 0); }

static void teardown(sb_layer *L) {
    mamba_cuda *m = (mamba_cuda *)L->impl_state;
    if (!m) return;
    void *ptrs[] = {m->w_in, m->w_x, m->w_dt, m->w_out, m->conv_w, m->conv_b, m->dt_b, m->A2, m->Dskip,
                    m->h, m->conv, m->xz1, m->u1, m->bcd1, m->dt1};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) sb_cuda_free(ptrs[i]);
    sb_buf *bufs[] = {&m->seg_h, &m->seg_dsum};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) sb_buf_free(bufs[i]);
    free(m);
    L->impl_state = NULL;
}

/* ---- the scan and the step ------------------------------------------------------------------ */
/* Scan arguments for the packed op rows u | delta | B | C | z. */
static mamba_scan_args op_args(const sb_layer *L, const mamba_cuda *m, const bf16 *x, bf16 *y, int B, int T) {
    const sb_config *c = &L->cfg;
    const int w = mamba_op_width(c);
    mamba_scan_args a;
    memset(&a, 0, sizeof a);
    a.u = x; a.ldu = w;
    a.dt = x + mamba_off_delta(c); a.lddt = w;
    a.bc = x + mamba_off_B(c); a.ldbc = w;
    a.z = x + mamba_off_z(c); a.ldz = w;
    a.y = y; a.ldy = m->E;
    a.A2 = m->A2; a.Dskip = m->Dskip; a.h = m->h;
    a.B = B; a.T = T; a.E = m->E; a.N = m->N;
    a.layer = 0;
    a.S = 1; a.seg_len = T;
    return a;
}

/* Scan arguments for the layer workspaces (xz, u, B|C|dt, dt_raw), y over xz[:, :E]. */
static mamba_scan_args layer_args(const mamba_cuda *m, bf16 *xz, const bf16 *u, const bf16 *bcd, const float *dt,
                                  int B, int T) {
    mamba_scan_args a;
    memset(&a, 0, sizeof a);
    a.u = u; a.ldu = m->E;
    a.dt = dt; a.lddt = m->E; a.dt_bias = m->dt_b;
    a.bc = bcd; a.ldbc = m->ldx;
    a.z = xz + m->E; a.ldz = 2 * m->E;
    a.y = xz; a.ldy = 2 * m->E;
    a.A2 = m->A2; a.Dskip = m->Dskip; a.h = m->h;
    a.B = B; a.T = T; a.E = m->E; a.N = m->N;
    a.layer = 1;
    a.S = 1; a.seg_len = T;
    return a;
}

/* Picks the scan version (and the time split) for the impl, reserving the segment summaries. */
static sb_status run_scan(mamba_cuda *m, mamba_scan_args *a) {
    if (!m->fast || !mamba_scan_supports(2, a)) return mamba_scan(1, a);
    int S, seg_len;
    mamba_scan_plan((long long)a->B * (a->E / MAMBA_SCAN_CH), a->T, m->scan_slots, &S, &seg_len);
    if (S > 1) {
        const size_t segs = (size_t)a->B * (S - 1) * a->E;
        SB_TRY(sb_buf_reserve(&m->seg_h, SB_CUDA, SB_F32, segs * a->N));
        SB_TRY(sb_buf_reserve(&m->seg_dsum, SB_CUDA, SB_F32, segs));
        a->seg_h = (float *)m->seg_h.p;
        a->seg_dsum = (float *)m->seg_dsum.p;
    }
    a->S = S;
    a->seg_len = seg_len;
    return mamba_scan(2, a);
}

static sb_status run_step(const mamba_cuda *m, const mamba_scan_args *a) {
    return mamba_step(m->fast && mamba_step_supports(2, a) ? 2 : 1, a);
}

/* ---- layer level --------------------------------------------------------------------------- */
static mamba_conv_args conv_args(const mamba_cuda *m, const bf16 *xz, bf16 *u, int B, int T) {
    mamba_conv_args a;
    a.x = xz; a.ldx = 2 * m->E;
    a.w = m->conv_w; a.bias = m->conv_b;
    a.hist = NULL;
    a.u = u; a.ldu = m->E;
    a.B = B; a.T = T; a.E = m->E; a.K = m->K;
    return a;
}

/* The three GEMMs between the input and the scan, on `rows` rows of the given workspaces. */
static sb_status project_in(const mamba_cuda *m, const bf16 *x, bf16 *xz, int rows) {
    return sb_gemm_linear(x, m->D, m->w_in, m->D, xz, CUDA_R_16BF, 2 * m->E, rows, m->D, 2 * m->E, 1.0f, 0.0f);
}
static sb_status project_x(const mamba_cuda *m, const bf16 *u, bf16 *bcd, float *dt, int rows) {
    SB_TRY(sb_gemm_linear(u, m->E, m->w_x, m->E, bcd, CUDA_R_16BF, m->ldx, rows, m->E, m->R + 2 * m->N, 1.0f, 0.0f));
    return sb_gemm_linear(bcd + 2 * m->N, m->ldx, m->w_dt, m->R, dt, CUDA_R_32F, m->E, rows, m->R, m->E, 1.0f, 0.0f);
}
static sb_status project_out(const mamba_cuda *m, const bf16 *xz, bf16 *y, int rows) {
    return sb_gemm_linear(xz, 2 * m->E, m->w_out, m->E, y, CUDA_R_16BF, m->D, rows, m->E, m->D, 1.0f, 0.0f);
}

static sb_status layer_prefill(mamba_cuda *m, const bf16 *x, bf16 *y, int B, int T) {
    const size_t rows = (size_t)B * T; /* cuBLAS takes the row count as an int */
    if (rows > 0x7fffffff) return sb_fail(SB_EINVAL, "mamba cuda: B*T = %zu rows is more than cuBLAS takes", rows);
    bf16 *xz, *u, *bcd;
    float *dt;
    void **ptrs[4] = {(void **)&xz, (void **)&u, (void **)&bcd, (void **)&dt};
    const size_t bytes[4] = {rows * 2 * m->E * sizeof(bf16), rows * m->E * sizeof(bf16), rows * m->ldx * sizeof(bf16),
                             rows * m->E * sizeof(float)};
    SB_TRY(sb_cuda_scratch_parts(ptrs, bytes, 4));

    SB_TRY(project_in(m, x, xz, (int)rows));
    const mamba_conv_args ca = conv_args(m, xz, u, B, T); /* prefill starts from an empty conv state */
    SB_TRY(mamba_conv(m->fast && mamba_conv_supports(2, &ca) ? 2 : 1, &ca));
    SB_TRY(mamba_conv_state_update(&ca, m->conv));
    SB_TRY(project_x(m, u, bcd, dt, (int)rows));
    mamba_scan_args a = layer_args(m, xz, u, bcd, dt, B, T);
    SB_TRY(run_scan(m, &a));
    return project_out(m, xz, y, (int)rows);
}

static sb_status layer_decode(mamba_cuda *m, const bf16 *x, bf16 *y, int B) {
    SB_TRY(project_in(m, x, m->xz1, B));
    const mamba_conv_args ca = conv_args(m, m->xz1, m->u1, B, 1);
    SB_TRY(mamba_conv_step(&ca, m->conv));
    SB_TRY(project_x(m, m->u1, m->bcd1, m->dt1, B));
    const mamba_scan_args a = layer_args(m, m->xz1, m->u1, m->bcd1, m->dt1, B, 1);
    SB_TRY(run_step(m, &a));
    return project_out(m, m->xz1, y, B);
}

/* ---- the impl entry points ------------------------------------------------------------------- */
static sb_status prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    mamba_cuda *m = (mamba_cuda *)L->impl_state;
    if (L->level == SB_LAYER) return layer_prefill(m, (const bf16 *)x, (bf16 *)y, B, T);
    mamba_scan_args a = op_args(L, m, (const bf16 *)x, (bf16 *)y, B, T);
    return run_scan(m, &a);
}

static sb_status decode(sb_layer *L, const void *x, void *y, int B) {
    mamba_cuda *m = (mamba_cuda *)L->impl_state;
    if (L->level == SB_LAYER) return layer_decode(m, (const bf16 *)x, (bf16 *)y, B);
    const mamba_scan_args a = op_args(L, m, (const bf16 *)x, (bf16 *)y, B, 1);
    return run_step(m, &a);
}

/* A state as after T tokens, without running them: h ~ U(-1, 1), conv history ~ U(-1, 1) (the
 * scale of in_proj outputs for unit inputs). The decode cost does not depend on the values. */
static sb_status fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    (void)T;
    mamba_cuda *m = (mamba_cuda *)L->impl_state;
    SB_TRY(mamba_fill_uniform(m->h, (size_t)B * m->E * m->N, 1.0f, seed));
    if (L->level == SB_LAYER) SB_TRY(mamba_fill_uniform(m->conv, (size_t)B * m->E * (m->K - 1), 1.0f, seed ^ 0x5bd1e995ULL));
    return SB_OK;
}

extern "C" const sb_impl mamba_cuda_chunked = {
    "chunked", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "bf16, cuBLAS projections, chunked scan (time split when B*E is small), fused decode step",
    setup_chunked, prefill, decode, fill_state, teardown,
};

extern "C" const sb_impl mamba_cuda_sequential = {
    "sequential", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "bf16, cuBLAS projections, one thread per channel walking the tokens (the simple kernels)",
    setup_sequential, prefill, decode, fill_state, teardown, /* oracle: */ 1,
};
