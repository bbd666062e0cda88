/* gated_deltanet_cuda.cu: the CUDA impls of Gated DeltaNet (spec/gated_deltanet.md) at op and layer
 * level: parameters on the device, the state, and the prefill/decode flows.
 *
 *   chunked     prefill: the chunked WY/UT form on tensor cores (gated_deltanet_chunk.cu);
 *               decode: the fused step (gated_deltanet_step.cu, T = 1)
 *   sequential  prefill and decode: the fused recurrent kernel token by token (fla's fused_recurrent)
 *
 * Layer (rows = B*T, bf16 activations, fp32 arithmetic and state):
 *   P   = x Wcat^T          [rows, 2HK+2HV+2H]  Q~|K~|V~|a|b|G   cuBLAS (the six weights stacked)
 *   op  = prep(P)           [rows, 2HK+HV+2H]   q|k|v|g|beta     convs+SiLU, L2 norms, gates
 *   o   = gated delta rule  [rows, HV]
 *   o  <- post(o, G)        gated RMSNorm per head
 *   y   = o o_proj^T        [rows, D]                            cuBLAS
 * Decode runs the same chain on B rows with the conv state (prep shifts it) and the fused step; its
 * workspaces come from setup, so a decode call allocates nothing and never synchronizes with the
 * host (the driver captures it in a CUDA graph).
 * State: S [max_batch, H, V, K] fp32 (read_state copies it); conv state [max_batch, W, CH] fp32.
 * Prefill workspaces and the chunk scratch live in the shared prefill scratch.
 */
#include "gated_deltanet_cuda.cuh"

#include "gated_deltanet_impls.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct gdn_cuda {
    int chunked;
    int D, H, K, V, W, C, pw, ow, HV, CH;
    bf16 *w_cat, *w_out;
    float *conv_w, *A_neg, *dt_bias, *norm_w;
    float *S, *hist;
    bf16 *P1, *op1, *o1; /* decode workspaces [max_batch rows] */
};

static sb_status alloc_bf16(bf16 **p, size_t n) { return sb_cuda_malloc((void **)p, n * sizeof(bf16)); }

/* Host-side layouts before upload: stacked projection weights, conv weights [W, CH], -exp(A_log). */
static sb_status upload_params(sb_layer *L, gdn_cuda *m) {
    const sb_params *ps = &L->params;
    const char *names[] = {"q_proj.weight", "k_proj.weight", "v_proj.weight", "a_proj.weight", "b_proj.weight", "g_proj.weight"};
    const int rows[] = {m->H * m->K, m->H * m->K, m->HV, m->H, m->H, m->HV};
    float *tmp = (float *)malloc((size_t)m->pw * m->D * sizeof(float));
    if (!tmp) return sb_fail(SB_ENOMEM, "out of host memory");
    float *dst = tmp;
    for (int i = 0; i < 6; i++) {
        memcpy(dst, sb_params_get(ps, names[i]), (size_t)rows[i] * m->D * sizeof(float));
        dst += (size_t)rows[i] * m->D;
    }
    sb_status st = sb_upload_param_bf16(tmp, (size_t)m->pw * m->D, &m->w_cat);
    const char *cnames[] = {"q_conv1d.weight", "k_conv1d.weight", "v_conv1d.weight"};
    const int cch[] = {m->H * m->K, m->H * m->K, m->HV};
    for (int part = 0, ch0 = 0; part < 3; ch0 += cch[part++]) {
        const float *w = sb_params_get(ps, cnames[part]);
        for (int ch = 0; ch < cch[part]; ch++)
            for (int i = 0; i < m->W; i++) tmp[(size_t)i * m->CH + ch0 + ch] = w[(size_t)ch * m->W + i];
    }
    if (!st) st = sb_upload_param_f32(tmp, (size_t)m->W * m->CH, &m->conv_w);
    const float *alog = sb_params_get(ps, "A_log");
    for (int h = 0; h < m->H; h++) tmp[h] = -expf(alog[h]);
    if (!st) st = sb_upload_param_f32(tmp, m->H, &m->A_neg);
    free(tmp);
    if (!st) st = sb_upload_param_f32(sb_params_get(ps, "dt_bias"), m->H, &m->dt_bias);
    if (!st) st = sb_upload_param_f32(sb_params_get(ps, "o_norm.weight"), m->V, &m->norm_w);
    if (!st) st = sb_upload_param_bf16(sb_params_get(ps, "o_proj.weight"), (size_t)m->D * m->HV, &m->w_out);
    return st;
}

static sb_status setup_common(sb_layer *L, int chunked) {
    const sb_config *c = &L->cfg;
    SB_TRY(gdn_check_config(c, L->level));
    gdn_cuda *m = (gdn_cuda *)calloc(1, sizeof *m);
    if (!m) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = m;
    m->chunked = chunked;
    m->D = c->d_model; m->H = c->heads; m->K = c->head_dim; m->V = c->head_v_dim; m->W = c->d_conv; m->C = c->chunk_size;
    m->pw = gdn_proj_width(c); m->ow = gdn_op_width(c); m->HV = gdn_hv(c); m->CH = gdn_conv_channels(c);
    if (m->K > 256) return sb_fail(SB_ENOTSUP, "gated_deltanet cuda: head_dim %d > 256", m->K);
    if (chunked) SB_TRY(gdn_chunk_supports(m->C, m->K, m->V));
    const size_t mb = (size_t)L->max_batch, sf = mb * gdn_state_floats(c);
    SB_TRY(sb_cuda_malloc((void **)&m->S, sf * sizeof(float)));
    SB_TRY(sb_cuda_memset0(m->S, sf * sizeof(float)));
    if (L->level == SB_LAYER) {
        SB_TRY(upload_params(L, m));
        SB_TRY(sb_cuda_malloc((void **)&m->hist, mb * m->W * m->CH * sizeof(float)));
        SB_TRY(sb_cuda_memset0(m->hist, mb * m->W * m->CH * sizeof(float)));
        SB_TRY(alloc_bf16(&m->P1, mb * m->pw));
        SB_TRY(alloc_bf16(&m->op1, mb * m->ow));
        SB_TRY(alloc_bf16(&m->o1, mb * m->HV));
    }
    return sb_cuda_sync();
}
static sb_status setup_chunked(sb_layer *L) { return setup_common(L, 1); }
static sb_status setup_sequential(sb_layer *L) { return setup_common(L, 0); }

static void teardown(sb_layer *L) {
    gdn_cuda *m = (gdn_cuda *)L->impl_state;
    if (!m) return;
    void *ptrs[] = {m->w_cat, m->w_out, m->conv_w, m->A_neg, m->dt_bias, m->norm_w, m->S, m->hist, m->P1, m->op1, m->o1};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) sb_cuda_free(ptrs[i]);
    free(m);
    L->impl_state = NULL;
}

/* ---- the op ------------------------------------------------------------------------------------ */
static gdn_op_args op_args(const gdn_cuda *m, const bf16 *x, bf16 *o, int B, int T) {
    gdn_op_args a;
    a.x = x; a.ldx = m->ow; a.o = o; a.ldo = m->HV; a.S = m->S;
    a.B = B; a.T = T; a.H = m->H; a.K = m->K; a.V = m->V;
    a.scale = 1.0f / sqrtf((float)m->K);
    return a;
}

/* The op-level prefill over T tokens from the state in m->S (chunk scratch in the prefill scratch). */
static sb_status run_op(gdn_cuda *m, const gdn_op_args &a) {
    if (!m->chunked) return gdn_recurrent(a);
    gdn_chunk_scratch s;
    void **ptrs[4] = {(void **)&s.gam, (void **)&s.Tb, (void **)&s.M, (void **)&s.Wk};
    size_t bytes[4];
    gdn_chunk_scratch_sizes(a.B, a.H, a.T, m->C, a.K, bytes);
    SB_TRY(sb_cuda_scratch_parts(ptrs, bytes, 4));
    return gdn_chunked(a, m->C, s);
}

/* ---- layer level --------------------------------------------------------------------------------- */
static gdn_glue_args glue_args(const sb_layer *L, const gdn_cuda *m, const bf16 *P, bf16 *op, bf16 *o, int B, int T) {
    gdn_glue_args g;
    g.P = P; g.pw = m->pw; g.op = op; g.ow = m->ow; g.o = o;
    g.conv_w = m->conv_w; g.hist = m->hist; g.A_neg = m->A_neg; g.dt_bias = m->dt_bias; g.norm_w = m->norm_w;
    g.B = B; g.T = T; g.H = m->H; g.K = m->K; g.V = m->V; g.W = m->W;
    g.decode = 0;
    g.norm_eps = L->cfg.eps;
    return g;
}

static sb_status layer_prefill(sb_layer *L, gdn_cuda *m, const bf16 *x, bf16 *y, int B, int T) {
    const size_t rows = (size_t)B * T;
    if (rows > 0x7fffffff) return sb_fail(SB_EINVAL, "gated_deltanet cuda: B*T = %zu rows is more than cuBLAS takes", rows);
    bf16 *P, *op, *o;
    void **ptrs[7] = {(void **)&P, (void **)&op, (void **)&o};
    size_t bytes[7] = {rows * m->pw * sizeof(bf16), rows * m->ow * sizeof(bf16), rows * m->HV * sizeof(bf16)};
    /* the scratch parts are carved in one call: projections, op rows, outputs (+ chunk scratch) */
    gdn_op_args a = op_args(m, NULL, NULL, B, T);
    gdn_chunk_scratch s;
    if (m->chunked) {
        ptrs[3] = (void **)&s.gam; ptrs[4] = (void **)&s.Tb; ptrs[5] = (void **)&s.M; ptrs[6] = (void **)&s.Wk;
        gdn_chunk_scratch_sizes(B, m->H, T, m->C, m->K, bytes + 3);
    }
    SB_TRY(sb_cuda_scratch_parts(ptrs, bytes, m->chunked ? 7 : 3));
    SB_TRY(sb_gemm_linear(x, m->D, m->w_cat, m->D, P, CUDA_R_16BF, m->pw, (int)rows, m->D, m->pw, 1.0f, 0.0f));
    const gdn_glue_args g = glue_args(L, m, P, op, o, B, T);
    SB_TRY(gdn_prep(g));
    SB_TRY(gdn_save_hist(g));
    a.x = op; a.o = o;
    SB_TRY(m->chunked ? gdn_chunked(a, m->C, s) : gdn_recurrent(a));
    SB_TRY(gdn_post(g));
    return sb_gemm_linear(o, m->HV, m->w_out, m->HV, y, CUDA_R_16BF, m->D, (int)rows, m->HV, m->D, 1.0f, 0.0f);
}

static sb_status layer_decode(sb_layer *L, gdn_cuda *m, const bf16 *x, bf16 *y, int B) {
    SB_TRY(sb_gemm_linear(x, m->D, m->w_cat, m->D, m->P1, CUDA_R_16BF, m->pw, B, m->D, m->pw, 1.0f, 0.0f));
    gdn_glue_args g = glue_args(L, m, m->P1, m->op1, m->o1, B, 1);
    g.decode = 1;
    SB_TRY(gdn_prep(g));
    SB_TRY(gdn_recurrent(op_args(m, m->op1, m->o1, B, 1)));
    SB_TRY(gdn_post(g));
    return sb_gemm_linear(m->o1, m->HV, m->w_out, m->HV, y, CUDA_R_16BF, m->D, B, m->HV, m->D, 1.0f, 0.0f);
}

/* ---- the impl entry points ------------------------------------------------------------------------ */
static sb_status prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    gdn_cuda *m = (gdn_cuda *)L->impl_state;
    SB_TRY(sb_cuda_memset0(m->S, (size_t)B * gdn_state_floats(&L->cfg) * sizeof(float)));
    if (L->level == SB_LAYER) return layer_prefill(L, m, (const bf16 *)x, (bf16 *)y, B, T);
    return run_op(m, op_args(m, (const bf16 *)x, (bf16 *)y, B, T));
}

static sb_status decode(sb_layer *L, const void *x, void *y, int B) {
    gdn_cuda *m = (gdn_cuda *)L->impl_state;
    if (L->level == SB_LAYER) return layer_decode(L, m, (const bf16 *)x, (bf16 *)y, B);
    return gdn_recurrent(op_args(m, (const bf16 *)x, (bf16 *)y, B, 1));
}

/* A state as after T tokens, without running them: S ~ U(-0.1, 0.1), conv state ~ U(-1, 1). */
static sb_status fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    (void)T;
    gdn_cuda *m = (gdn_cuda *)L->impl_state;
    SB_TRY(gdn_fill(m->S, (size_t)B * gdn_state_floats(&L->cfg), 0.1f, seed));
    if (L->level == SB_LAYER) SB_TRY(gdn_fill(m->hist, (size_t)B * m->W * m->CH, 1.0f, seed ^ 0x5bd1e995ULL));
    return SB_OK;
}

/* S of the L->batch sequences, [B, H, V, K] (state_shape). */
static sb_status read_state(sb_layer *L, float *host) {
    const gdn_cuda *m = (const gdn_cuda *)L->impl_state;
    return sb_cuda_download_f32(host, m->S, SB_F32, (size_t)L->batch * gdn_state_floats(&L->cfg));
}

extern "C" const sb_impl sb_gdn_cuda_chunked = {
    "chunked", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "bf16, cuBLAS projections, chunked WY/UT form on tensor cores (mma.sync, fp32 state), fused decode step",
    setup_chunked, prefill, decode, fill_state, teardown, 0, read_state, GDN_FORM_CHUNKED,
};

extern "C" const sb_impl sb_gdn_cuda_sequential = {
    "sequential", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "bf16, cuBLAS projections, fused recurrent kernel token by token (fp32 state in registers)",
    setup_sequential, prefill, decode, fill_state, teardown, 0, read_state, 0,
};
