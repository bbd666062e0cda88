/* ttt_cuda.cu: the cuda impls "dual" of TTT-Linear and TTT-MLP (declared in ttt_impls.h, listed
 * in registry/registry.c): setup (weights to bf16 on the device, fp32 TTT
 * parameters and state), prefill, decode, fill_state, teardown. The math is in the kernels:
 *
 *   layer prefill: proj = x Wcat^T (cuBLAS, one GEMM: q (|k) | v | g | lr-gate rows)
 *                  -> ttt_glue_ops (convs, RoPE, lr) -> ttt_{linear,mlp}_prefill (dual form)
 *                  -> ttt_glue_post (post_norm, gate) -> o_proj (cuBLAS)
 *   layer decode:  the same chain for one token per sequence with the decode core; no host
 *                  synchronisation and no allocation (workspaces sized at setup for max_batch),
 *                  so the driver can capture a step in a CUDA graph (L->pos is read at capture).
 *   op level:      the core alone on the caller's op rows XQ | XK | XV | lr.
 *
 * State on the device, fp32 (SPEC §3.3): the inner weights at the open mini-batch's start
 * [B,H,...], their gradient sums over its tokens so far, and (share_qk) the conv history of
 * P = x Wq^T [B, D, K-1]. The prefill kernel version is the impl's: "dual" takes the fastest
 * kernel for the shape (version 2 where it applies), the oracle "dual_simple" version 1 (fp32
 * loops, any head dim the setup accepts; the decode and layer glue are shared).
 *
 * A layer prefill runs in chunks of whole mini-batches, at most TTT_CHUNK_ROWS = B x chunk
 * tokens at a time (SB_TTT_CHUNK_ROWS overrides it), each chunk's core starting from the state
 * the previous one left: the workspaces (projections, op rows, core output: ~29 kB per row at
 * the 1.3b widths) stay under ~1 GB per layer however long the context, which the model level's
 * 24 layers need. Decode and op level are not chunked.
 */
#include "ttt_impls.h"
#include "ttt_kernels.cuh"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int mlp;              /* 0: TTT-Linear, 1: TTT-MLP */
    int version;          /* prefill kernel version, 0 = auto */
    long long chunk_rows; /* layer prefill: at most this many rows (B x chunk tokens) per chunk */
    int D, H, d, dh, mb, K, share_qk, use_gate;
    int ncat, col_q, col_k, col_v, col_g, col_lr; /* fused projection: width and column offsets */
    long long ld_ops;     /* op row stride at layer level (3D + H rounded up to 8) */
    bf16 *Wcat, *Wo;
    float *cq_w, *cq_b, *ck_w, *ck_b, *lr_bias, *tau, *ln_w, *ln_b, *post_w, *post_b;
    float *rope;          /* [mb][d/2][2] cos, sin */
    ttt_weights init, W, G; /* parameters [H,...]; state [max_batch, H, ...] */
    float *hist;          /* [max_batch, D, K-1] */
    size_t n_w1, n_b1, n_w2, n_b2; /* elements per head */
    /* workspaces: prefill (grown on demand) and decode (max_batch rows, allocated at setup) */
    bf16 *proj, *ops, *core;
    size_t rows_cap;
    bf16 *dproj, *dops, *dcore;
} ttt_cuda_state;

static long long round8(long long n) { return (n + 7) / 8 * 8; }

/* Rows per layer-prefill chunk: 32k rows = 0.94 GB of workspace at the 1.3b widths; big enough
 * for the GEMMs (B 16: 2048 tokens per sequence) and to amortise the launches. */
#define TTT_CHUNK_ROWS 32768

/* ---- setup ------------------------------------------------------------------------------ */
static sb_status upload_f32(const sb_layer *L, const char *name, float **dev) {
    const sb_param *p = sb_params_find((sb_params *)&L->params, name);
    if (!p) return sb_fail(SB_EINVAL, "ttt cuda: parameter %s missing", name);
    return sb_upload_param_f32(p->host, p->n, dev);
}

static sb_status check_param(const sb_layer *L, const char *name, size_t n) {
    const sb_param *p = sb_params_find((sb_params *)&L->params, name);
    if (!p) return sb_fail(SB_EINVAL, "ttt cuda: parameter %s missing", name);
    if (p->n != n) return sb_fail(SB_EINVAL, "ttt cuda: parameter %s has %zu elements, want %zu", name, p->n, n);
    return SB_OK;
}

/* Rows q (|k) | v | g | lr-gate (H rows) | zero padding, each D wide, as one bf16 matrix. */
static sb_status build_wcat(const sb_layer *L, ttt_cuda_state *s) {
    const int D = s->D;
    const char *names[4] = {"q_proj.weight", s->share_qk ? NULL : "k_proj.weight", "v_proj.weight",
                            s->use_gate ? "g_proj.weight" : NULL};
    float *host = (float *)calloc((size_t)s->ncat * D, sizeof(float));
    if (!host) return sb_fail(SB_ENOMEM, "out of host memory");
    sb_status st = SB_OK;
    int row = 0;
    for (int i = 0; i < 4 && !st; i++) {
        if (!names[i]) continue;
        st = check_param(L, names[i], (size_t)D * D);
        if (!st) memcpy(host + (size_t)row * D, sb_params_get(&L->params, names[i]), (size_t)D * D * sizeof(float));
        row += D;
    }
    if (!st) st = check_param(L, "learnable_ttt_lr_weight", (size_t)s->H * D);
    if (!st) memcpy(host + (size_t)row * D, sb_params_get(&L->params, "learnable_ttt_lr_weight"), (size_t)s->H * D * sizeof(float));
    if (!st) st = sb_upload_param_bf16(host, (size_t)s->ncat * D, &s->Wcat);
    free(host);
    return st;
}

/* RoPE at positions 0..mb-1 (TTT restarts them every mini-batch), interleaved pairs j < d/2. */
static sb_status upload_rope_table(const sb_layer *L, ttt_cuda_state *s) {
    const int half = s->d / 2;
    float *host = (float *)malloc((size_t)s->mb * half * 2 * sizeof(float));
    if (!host) return sb_fail(SB_ENOMEM, "out of host memory");
    for (int p = 0; p < s->mb; p++)
        for (int j = 0; j < half; j++) {
            const double th = p / pow((double)L->cfg.rope_theta, 2.0 * j / s->d);
            host[((size_t)p * half + j) * 2] = (float)cos(th);
            host[((size_t)p * half + j) * 2 + 1] = (float)sin(th);
        }
    sb_status st = sb_upload_param_f32(host, (size_t)s->mb * half * 2, &s->rope);
    free(host);
    return st;
}

static sb_status setup_layer_params(const sb_layer *L, ttt_cuda_state *s) {
    const int D = s->D;
    int row = 0;
    s->col_q = row, row += D;
    s->col_k = s->share_qk ? -1 : row;
    if (!s->share_qk) row += D;
    s->col_v = row, row += D;
    s->col_g = s->use_gate ? row : -1;
    if (s->use_gate) row += D;
    s->col_lr = row, row += s->H;
    s->ncat = (int)round8(row);
    s->ld_ops = round8(3LL * D + s->H);
    SB_TRY(upload_rope_table(L, s));
    SB_TRY(build_wcat(L, s));
    SB_TRY(check_param(L, "o_proj.weight", (size_t)D * D));
    SB_TRY(sb_upload_param_bf16(sb_params_get(&L->params, "o_proj.weight"), (size_t)D * D, &s->Wo));
    SB_TRY(check_param(L, "learnable_ttt_lr_bias", s->H));
    SB_TRY(upload_f32(L, "learnable_ttt_lr_bias", &s->lr_bias));
    SB_TRY(check_param(L, "post_norm.weight", D));
    SB_TRY(check_param(L, "post_norm.bias", D));
    SB_TRY(upload_f32(L, "post_norm.weight", &s->post_w));
    SB_TRY(upload_f32(L, "post_norm.bias", &s->post_b));
    if (s->share_qk) {
        const char *cw[2] = {"conv_q.weight", "conv_k.weight"}, *cb[2] = {"conv_q.bias", "conv_k.bias"};
        for (int i = 0; i < 2; i++) {
            SB_TRY(check_param(L, cw[i], (size_t)D * s->K));
            SB_TRY(check_param(L, cb[i], D));
        }
        SB_TRY(upload_f32(L, "conv_q.weight", &s->cq_w));
        SB_TRY(upload_f32(L, "conv_q.bias", &s->cq_b));
        SB_TRY(upload_f32(L, "conv_k.weight", &s->ck_w));
        SB_TRY(upload_f32(L, "conv_k.bias", &s->ck_b));
        if (s->K > 1) SB_TRY(sb_cuda_malloc((void **)&s->hist, (size_t)L->max_batch * D * (s->K - 1) * sizeof(float)));
    }
    const size_t mB = (size_t)L->max_batch;
    SB_TRY(sb_cuda_malloc((void **)&s->dproj, mB * s->ncat * sizeof(bf16)));
    SB_TRY(sb_cuda_malloc((void **)&s->dops, mB * s->ld_ops * sizeof(bf16)));
    SB_TRY(sb_cuda_malloc((void **)&s->dcore, mB * D * sizeof(bf16)));
    return SB_OK;
}

/* tau_i = max(0, 1/(i+1) + learnable_token_idx[i]), ttt_norm, the inner weights and the state. */
static sb_status setup_core(const sb_layer *L, ttt_cuda_state *s) {
    const int H = s->H, d = s->d, mb = s->mb;
    SB_TRY(check_param(L, "learnable_token_idx", mb));
    const float *lti = sb_params_get(&L->params, "learnable_token_idx");
    float tau[64];
    for (int i = 0; i < mb; i++) tau[i] = fmaxf(0.f, 1.0f / (float)(i + 1) + lti[i]);
    SB_TRY(sb_upload_param_f32(tau, mb, &s->tau));
    SB_TRY(check_param(L, "ttt_norm_weight", (size_t)H * d));
    SB_TRY(check_param(L, "ttt_norm_bias", (size_t)H * d));
    SB_TRY(upload_f32(L, "ttt_norm_weight", &s->ln_w));
    SB_TRY(upload_f32(L, "ttt_norm_bias", &s->ln_b));

    s->n_w1 = (size_t)d * s->dh;
    s->n_b1 = s->dh;
    s->n_w2 = s->mlp ? (size_t)s->dh * d : 0;
    s->n_b2 = s->mlp ? d : 0;
    SB_TRY(check_param(L, "W1", H * s->n_w1));
    SB_TRY(check_param(L, "b1", H * s->n_b1));
    SB_TRY(upload_f32(L, "W1", &s->init.W1));
    SB_TRY(upload_f32(L, "b1", &s->init.b1));
    if (s->mlp) {
        SB_TRY(check_param(L, "W2", H * s->n_w2));
        SB_TRY(check_param(L, "b2", H * s->n_b2));
        SB_TRY(upload_f32(L, "W2", &s->init.W2));
        SB_TRY(upload_f32(L, "b2", &s->init.b2));
    }
    const size_t bh = (size_t)L->max_batch * H;
    float **st[2][4] = {{&s->W.W1, &s->W.b1, &s->W.W2, &s->W.b2}, {&s->G.W1, &s->G.b1, &s->G.W2, &s->G.b2}};
    const size_t n[4] = {s->n_w1, s->n_b1, s->n_w2, s->n_b2};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 4; i++)
            if (n[i]) SB_TRY(sb_cuda_malloc((void **)st[k][i], bh * n[i] * sizeof(float)));
    return SB_OK;
}

static void teardown(sb_layer *L) {
    ttt_cuda_state *s = (ttt_cuda_state *)L->impl_state;
    if (!s) return;
    void *ptrs[] = {s->Wcat, s->Wo, s->cq_w, s->cq_b, s->ck_w, s->ck_b, s->lr_bias, s->tau, s->ln_w, s->ln_b,
                    s->post_w, s->post_b, s->rope, s->init.W1, s->init.b1, s->init.W2, s->init.b2, s->W.W1, s->W.b1,
                    s->W.W2, s->W.b2, s->G.W1, s->G.b1, s->G.W2, s->G.b2, s->hist, s->proj, s->ops, s->core,
                    s->dproj, s->dops, s->dcore};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) sb_cuda_free(ptrs[i]);
    free(s);
    L->impl_state = NULL;
}

/* What an impl runs (sb_impl.ctx): the variant and the prefill kernel version (0 = the fastest). */
typedef struct {
    int mlp, version;
} ttt_cuda_kind;

static sb_status setup(sb_layer *L) {
    const int mlp = ((const ttt_cuda_kind *)L->impl->ctx)->mlp;
    const sb_config *c = &L->cfg;
    if (c->heads <= 0 || c->heads * c->head_dim != c->d_model)
        return sb_fail(SB_EINVAL, "ttt cuda: heads %d x head_dim %d != d_model %d", c->heads, c->head_dim, c->d_model);
    SB_TRY(ttt_check_shape(mlp, c->heads, c->head_dim, c->mini_batch));
    if (L->level == SB_LAYER && (c->d_conv < 1 || c->d_conv > 16))
        return sb_fail(SB_EINVAL, "ttt cuda: d_conv %d outside 1..16", c->d_conv);
    ttt_cuda_state *s = (ttt_cuda_state *)calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    s->mlp = mlp;
    s->D = c->d_model, s->H = c->heads, s->d = c->head_dim, s->mb = c->mini_batch, s->K = c->d_conv;
    s->dh = mlp ? 4 * s->d : s->d;
    s->share_qk = c->share_qk, s->use_gate = c->use_gate;
    const char *cr = getenv("SB_TTT_CHUNK_ROWS");
    s->version = ((const ttt_cuda_kind *)L->impl->ctx)->version;
    s->chunk_rows = cr && atoll(cr) > 0 ? atoll(cr) : TTT_CHUNK_ROWS;
    sb_status st = setup_core(L, s);
    if (!st && L->level == SB_LAYER) st = setup_layer_params(L, s);
    if (st) teardown(L);
    return st;
}


/* ---- running ---------------------------------------------------------------------------- */
static ttt_core_args core_args(const sb_layer *L, const ttt_cuda_state *s, const bf16 *x, long long ldx, bf16 *y,
                               int B, int T) {
    ttt_core_args a;
    memset(&a, 0, sizeof a);
    a.x = x, a.ldx = ldx, a.y = y, a.ldy = s->D;
    a.B = B, a.T = T, a.H = s->H, a.d = s->d, a.mb = s->mb, a.eps = L->cfg.eps, a.pos = L->pos;
    a.ln_w = s->ln_w, a.ln_b = s->ln_b, a.tau = s->tau;
    a.init = s->init, a.W = s->W, a.G = s->G;
    return a;
}

static ttt_glue_args glue_args(const sb_layer *L, const ttt_cuda_state *s, const bf16 *proj, bf16 *ops, int B, int T,
                               int pos0) {
    ttt_glue_args g;
    memset(&g, 0, sizeof g);
    g.proj = proj, g.ldp = s->ncat;
    g.col_q = s->col_q, g.col_k = s->col_k, g.col_v = s->col_v, g.col_lr = s->col_lr;
    g.ops = ops, g.ldo = s->ld_ops;
    g.B = B, g.T = T, g.pos0 = pos0, g.H = s->H, g.d = s->d, g.mb = s->mb, g.K = s->K;
    g.rope = s->rope, g.lr_scale = L->cfg.ttt_base_lr / (float)s->d;
    g.lr_bias = s->lr_bias;
    g.cq_w = s->cq_w, g.cq_b = s->cq_b, g.ck_w = s->ck_w, g.ck_b = s->ck_b;
    g.hist = s->hist;
    return g;
}

static sb_status run_core(const ttt_cuda_state *s, const ttt_core_args *a, int decode) {
    if (decode) return s->mlp ? ttt_mlp_decode(a) : ttt_linear_decode(a);
    return s->mlp ? ttt_mlp_prefill(s->version, a) : ttt_linear_prefill(s->version, a);
}

/* The glue after the projections: op rows -> core -> post_norm/gate, on B x T rows of proj
 * (T tokens per sequence from position pos0); leaves the normed output in `core`. */
static sb_status layer_core(sb_layer *L, ttt_cuda_state *s, int B, int T, int pos0, int decode, int from_state,
                            bf16 *proj, bf16 *ops, bf16 *core) {
    ttt_glue_args g = glue_args(L, s, proj, ops, B, T, pos0);
    g.update_hist = decode && s->share_qk && s->hist;
    SB_TRY(ttt_glue_ops(&g));
    if (s->share_qk && s->hist && !decode) SB_TRY(ttt_glue_save_hist(&g));
    ttt_core_args a = core_args(L, s, ops, s->ld_ops, core, B, T);
    a.from_state = from_state;
    SB_TRY(run_core(s, &a, decode));
    ttt_post_args p;
    memset(&p, 0, sizeof p);
    p.core = core, p.ldc = s->D, p.out = core, p.ldo = s->D, p.rows = (long long)B * T, p.D = s->D, p.eps = L->cfg.eps;
    p.w = s->post_w, p.b = s->post_b;
    if (s->use_gate) p.gate = proj + s->col_g, p.ldg = s->ncat;
    return ttt_glue_post(&p);
}

static sb_status reserve_prefill(ttt_cuda_state *s, size_t rows) {
    if (rows <= s->rows_cap) return SB_OK;
    sb_cuda_free(s->proj);
    sb_cuda_free(s->ops);
    sb_cuda_free(s->core);
    s->proj = s->ops = s->core = NULL;
    s->rows_cap = 0;
    SB_TRY(sb_cuda_malloc((void **)&s->proj, rows * s->ncat * sizeof(bf16)));
    SB_TRY(sb_cuda_malloc((void **)&s->ops, rows * s->ld_ops * sizeof(bf16)));
    SB_TRY(sb_cuda_malloc((void **)&s->core, rows * s->D * sizeof(bf16)));
    s->rows_cap = rows;
    return SB_OK;
}

/* Layer prefill, chunk by chunk (whole mini-batches; the last chunk takes the rest). */
static sb_status layer_prefill(sb_layer *L, ttt_cuda_state *s, const bf16 *x, bf16 *y, int B, int T) {
    const int D = s->D;
    long long tc = s->chunk_rows / B / s->mb * s->mb;
    if (tc < s->mb) tc = s->mb;
    const int Tc = tc >= T ? T : (int)tc;
    SB_TRY(reserve_prefill(s, (size_t)B * Tc));
    if (s->share_qk && s->hist) SB_TRY(sb_cuda_memset0(s->hist, (size_t)B * D * (s->K - 1) * sizeof(float)));
    for (int t0 = 0; t0 < T; t0 += Tc) {
        const int n = T - t0 < Tc ? T - t0 : Tc;
        if (n == T) /* one chunk: the rows are contiguous */
            SB_TRY(sb_gemm_linear(x, D, s->Wcat, D, s->proj, CUDA_R_16BF, s->ncat, B * T, D, s->ncat, 1.0f, 0.0f));
        else
            SB_TRY(sb_gemm_linear_batched(x + (size_t)t0 * D, D, (long long)T * D, s->Wcat, D, 0, s->proj, CUDA_R_16BF,
                                          s->ncat, (long long)n * s->ncat, n, D, s->ncat, B, 1.0f, 0.0f));
        SB_TRY(layer_core(L, s, B, n, t0, 0, t0 > 0, s->proj, s->ops, s->core));
        if (n == T)
            SB_TRY(sb_gemm_linear(s->core, D, s->Wo, D, y, CUDA_R_16BF, D, B * T, D, D, 1.0f, 0.0f));
        else
            SB_TRY(sb_gemm_linear_batched(s->core, D, (long long)n * D, s->Wo, D, 0, y + (size_t)t0 * D, CUDA_R_16BF, D,
                                          (long long)T * D, n, D, D, B, 1.0f, 0.0f));
    }
    return SB_OK;
}

static sb_status prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    ttt_cuda_state *s = (ttt_cuda_state *)L->impl_state;
    if ((long long)B * T > 0x7fffffffLL) return sb_fail(SB_EINVAL, "ttt cuda: B*T = %lld rows", (long long)B * T);
    if (L->level == SB_OP) {
        ttt_core_args a = core_args(L, s, (const bf16 *)x, 3LL * s->D + s->H, (bf16 *)y, B, T);
        return run_core(s, &a, 0);
    }
    return layer_prefill(L, s, (const bf16 *)x, (bf16 *)y, B, T);
}

/* The state of an empty context: the parameters, zero sums, zero history. */
static sb_status reset_state(ttt_cuda_state *s, int B) {
    const float *init[4] = {s->init.W1, s->init.b1, s->init.W2, s->init.b2};
    float *W[4] = {s->W.W1, s->W.b1, s->W.W2, s->W.b2}, *G[4] = {s->G.W1, s->G.b1, s->G.W2, s->G.b2};
    const size_t n[4] = {s->n_w1, s->n_b1, s->n_w2, s->n_b2};
    for (int i = 0; i < 4; i++) {
        if (!n[i]) continue;
        const size_t per_seq = (size_t)s->H * n[i];
        SB_TRY(ttt_fill_random(W[i], (size_t)B * per_seq, init[i], per_seq, 0.f, 0));
        SB_TRY(sb_cuda_memset0(G[i], (size_t)B * per_seq * sizeof(float)));
    }
    if (s->hist) SB_TRY(sb_cuda_memset0(s->hist, (size_t)B * s->D * (s->K - 1) * sizeof(float)));
    return SB_OK;
}

static sb_status decode(sb_layer *L, const void *x, void *y, int B) {
    ttt_cuda_state *s = (ttt_cuda_state *)L->impl_state;
    if (L->pos == 0) SB_TRY(reset_state(s, B));
    if (L->level == SB_OP) {
        ttt_core_args a = core_args(L, s, (const bf16 *)x, 3LL * s->D + s->H, (bf16 *)y, B, 1);
        return run_core(s, &a, 1);
    }
    const int D = s->D;
    SB_TRY(sb_gemm_linear((const bf16 *)x, D, s->Wcat, D, s->dproj, CUDA_R_16BF, s->ncat, B, D, s->ncat, 1.0f, 0.0f));
    SB_TRY(layer_core(L, s, B, 1, L->pos, 1, 0, s->dproj, s->dops, s->dcore));
    return sb_gemm_linear(s->dcore, D, s->Wo, D, (bf16 *)y, CUDA_R_16BF, D, B, D, D, 1.0f, 0.0f);
}

/* A plausible state after T tokens: weights near the parameters, small gradient sums when T
 * ends inside a mini-batch, a random conv history. */
static sb_status fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    ttt_cuda_state *s = (ttt_cuda_state *)L->impl_state;
    const float *init[4] = {s->init.W1, s->init.b1, s->init.W2, s->init.b2};
    float *W[4] = {s->W.W1, s->W.b1, s->W.W2, s->W.b2}, *G[4] = {s->G.W1, s->G.b1, s->G.W2, s->G.b2};
    const size_t n[4] = {s->n_w1, s->n_b1, s->n_w2, s->n_b2};
    const int open = T % s->mb != 0;
    for (int i = 0; i < 4; i++) {
        if (!n[i]) continue;
        const size_t per_seq = (size_t)s->H * n[i];
        SB_TRY(ttt_fill_random(W[i], (size_t)B * per_seq, init[i], per_seq, 0.01f, seed + 2 * i));
        if (open) SB_TRY(ttt_fill_random(G[i], (size_t)B * per_seq, NULL, 1, 1e-3f, seed + 2 * i + 1));
        else SB_TRY(sb_cuda_memset0(G[i], (size_t)B * per_seq * sizeof(float)));
    }
    if (s->hist) SB_TRY(ttt_fill_random(s->hist, (size_t)B * s->D * (s->K - 1), NULL, 1, 1.0f, seed + 9));
    return SB_OK;
}

static const ttt_cuda_kind linear_fast = {0, 0}, linear_v1 = {0, 1}, mlp_fast = {1, 0}, mlp_v1 = {1, 1};

/* Positional initialisation (C++17): name, backend, levels, about, setup, prefill, decode,
 * fill_state, teardown, oracle, read_state, count_form, ctx. */
extern "C" {
const sb_impl ttt_linear_cuda_dual = {
    "dual", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "dual form per mini-batch (tensor cores, W in registers), fused one-token decode; bf16, fp32 state",
    setup, prefill, decode, fill_state, teardown, 0, NULL, 0, &linear_fast,
};
const sb_impl ttt_linear_cuda_dual_simple = {
    "dual_simple", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "oracle: dual form per mini-batch with the version-1 kernels (fp32 loops, a block per (sequence, head))",
    setup, prefill, decode, fill_state, teardown, 1, NULL, 0, &linear_v1,
};
const sb_impl ttt_mlp_cuda_dual = {
    "dual", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "dual form per mini-batch (tensor cores, W1/W2 in registers), fused one-token decode; bf16, fp32 state",
    setup, prefill, decode, fill_state, teardown, 0, NULL, 0, &mlp_fast,
};
const sb_impl ttt_mlp_cuda_dual_simple = {
    "dual_simple", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "oracle: dual form per mini-batch with the version-1 kernels (fp32 loops, a block per (sequence, head))",
    setup, prefill, decode, fill_state, teardown, 1, NULL, 0, &mlp_v1,
};
}
