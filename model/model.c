/* model.c: the model level (SPEC §3.4, the paper's Fig. 15 stacks) around any registered mixer.
 *
 *   transformer / TTT   h = embed(ids)
 *                       L x [ h += mixer(RMSNorm(h));  h += down(SiLU(gate(a)) * up(a)), a = RMSNorm(h) ]
 *                       logits = RMSNorm(h_last) head^T
 *   Mamba               h = embed(ids);  L_m x [ h += mamba(RMSNorm(h)) ];  logits = RMSNorm(h_last) head^T
 *
 * Shapes: embed [vocab, D], gate_proj/up_proj [I, D], down_proj [D, I], lm_head [vocab, D] (none
 * when the embedding is tied), RMSNorm weights [D] (eps = the block's norm_eps). Prefill input:
 * int32 token ids [B, T]; output: logits of the last token [B, vocab]. Decode: ids [B] -> logits
 * [B, vocab].
 *
 * Which of the two block kinds, the norms' eps and whether the head is the embedding come from the
 * descriptor (sb_layer_desc.block), never from the layer's name.
 *
 * The mixers are ordinary layer instances (sb_layer_open at level layer, same backend and impl,
 * weights from seed + i); the stack's own weights are random from the seed (no golden files
 * exist at this level). One forward below drives every backend through the sb_model_ops table
 * the registry passes in: ref (naive loops, here), cpu (kernels/model_cpu.c), cuda
 * (kernels/model_cuda.cu). The instance runs through sb_layer_* via model_runner (below).
 */
#include "model.h"
#include "../layers/ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The MLP runs on this many token rows at a time: its [rows, I] intermediates stay bounded at
 * long contexts (1.3b, B 16, T 32k would need 2 x 11 GiB otherwise). */
#define MODEL_MLP_CHUNK 4096

typedef struct {
    int n;             /* mixers (L, or L_m for Mamba) */
    int mlp;           /* 1: SwiGLU MLP in every block (the descriptor's block.mlp) */
    int tied;          /* 1: the head is the embedding (block.tied_embedding): no head tensor */
    float eps;         /* RMSNorm eps of every norm of the stack (block.norm_eps) */
    sb_layer **mix;
    const sb_model_ops *ops;
    size_t mat_elem;   /* bytes per element of an uploaded matrix (the act dtype) */
    /* fp32 host masters */
    float *embed, *norm1, *norm2, *gate, *up, *down, *norm_f, *head;
    /* backend handles (host backends: the masters themselves) */
    void *w_embed, *w_norm1, *w_norm2, *w_gate, *w_up, *w_down, *w_norm_f, *w_head;
    /* workspace, grown on demand: h fp32 [rows, D]; a, mix act [rows, D]; g, u act [chunk, I]; f act [B, D] */
    void *h, *a, *mixo, *g, *u, *f;
    size_t rows_cap, f_cap;
} model;

/* ---- reference ops: naive loops, double accumulation ------------------------------------------ */
static sb_status ref_upload(const float *host, size_t n, int matrix, void **w) {
    (void)n; (void)matrix;
    *w = (void *)host;
    return SB_OK;
}
static void ref_release(void *w) { (void)w; }
static sb_status ref_alloc(void **p, size_t bytes) {
    *p = malloc(bytes ? bytes : 1);
    return *p ? SB_OK : sb_fail(SB_ENOMEM, "model: out of host memory (%zu bytes)", bytes);
}
static void ref_free(void *p) { free(p); }

static sb_status ref_embed(const int32_t *ids, const void *table, float *h, int rows, int D, int vocab) {
    for (int r = 0; r < rows; r++) {
        if (ids[r] < 0 || ids[r] >= vocab) return sb_fail(SB_EINVAL, "model: token id %d outside 0..%d", ids[r], vocab - 1);
        memcpy(h + (size_t)r * D, (const float *)table + (size_t)ids[r] * D, D * sizeof(float));
    }
    return SB_OK;
}

static sb_status ref_rms(const float *h, size_t ldh, const void *w, void *y, int rows, int D, float eps) {
    for (int r = 0; r < rows; r++) ref_rmsnorm(h + r * ldh, w, (float *)y + (size_t)r * D, 1, D, eps);
    return SB_OK;
}

static sb_status ref_lin(const void *x, const void *W, void *y, int M, int K, int N) {
    ref_linear(x, W, y, M, K, N);
    return SB_OK;
}

static sb_status ref_lin_residual(const void *x, const void *W, float *h, int M, int K, int N) {
    const float *xf = x, *Wf = W;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)xf[(size_t)m * K + k] * Wf[(size_t)n * K + k];
            h[(size_t)m * N + n] += (float)s;
        }
    return SB_OK;
}

static sb_status ref_silu_mul(void *g, const void *u, size_t n) {
    float *gf = g;
    for (size_t i = 0; i < n; i++) gf[i] = ref_silu(gf[i]) * ((const float *)u)[i];
    return SB_OK;
}

static sb_status ref_residual(float *h, const void *x, size_t n) {
    for (size_t i = 0; i < n; i++) h[i] += ((const float *)x)[i];
    return SB_OK;
}

const sb_model_ops sb_model_ops_ref = {
    .upload = ref_upload, .release = ref_release, .alloc = ref_alloc, .free = ref_free, .embed = ref_embed,
    .rmsnorm = ref_rms, .linear = ref_lin, .linear_residual = ref_lin_residual, .silu_mul = ref_silu_mul,
    .residual = ref_residual,
};

/* ---- parameters -------------------------------------------------------------------------------- */
/* Stack weights: a stream per tensor (derived from the seed) so that each is independent of the
 * others' sizes. Uniform with the std of the usual init (1/sqrt(fan_in)); norm weights 1 +- 0.1
 * so that no norm is the identity. */
static void fill(float *x, size_t n, uint64_t seed, int tensor, float std) {
    sb_rng r;
    sb_rng_seed(&r, seed * 0x9e3779b97f4a7c15ull + 0x6d6f64656cull + (uint64_t)tensor);
    sb_fill_uniform(x, n, &r, -1.7320508f * std, 1.7320508f * std);
}

static void fill_norm(float *x, size_t n, uint64_t seed, int tensor) {
    fill(x, n, seed, tensor, 0.1f / 1.7320508f);
    for (size_t i = 0; i < n; i++) x[i] += 1.0f;
}

static sb_status alloc_masters(model *m, const sb_config *c) {
    const size_t D = c->d_model, I = c->intermediate, V = c->vocab, n = m->n, mlp = m->mlp;
    float **p[] = {&m->embed, &m->norm1, &m->norm2, &m->gate, &m->up, &m->down, &m->norm_f, &m->head};
    size_t sz[] = {V * D, n * D, mlp * n * D, mlp * n * I * D, mlp * n * I * D, mlp * n * D * I, D, !m->tied * V * D};
    for (int i = 0; i < 8; i++) {
        *p[i] = malloc((sz[i] ? sz[i] : 1) * sizeof(float));
        if (!*p[i]) return sb_fail(SB_ENOMEM, "model: out of host memory for its weights");
    }
    return SB_OK;
}

static void init_masters(model *m, const sb_config *c, uint64_t seed) {
    const size_t D = c->d_model, I = c->intermediate, V = c->vocab, n = m->n;
    fill(m->embed, V * D, seed, 0, 1.0f);
    fill_norm(m->norm1, n * D, seed, 1);
    fill_norm(m->norm_f, D, seed, 2);
    if (!m->tied) fill(m->head, V * D, seed, 3, 1.0f / sqrtf((float)D));
    if (!m->mlp) return;
    fill_norm(m->norm2, n * D, seed, 4);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < (int)n; i++) { /* the biggest tensors: one stream per layer, in parallel */
        fill(m->gate + i * I * D, I * D, seed, 100 + 3 * i, 1.0f / sqrtf((float)D));
        fill(m->up + i * I * D, I * D, seed, 101 + 3 * i, 1.0f / sqrtf((float)D));
        fill(m->down + i * D * I, D * I, seed, 102 + 3 * i, 1.0f / sqrtf((float)I));
    }
}

static sb_status upload_masters(model *m, const sb_config *c) {
    const size_t D = c->d_model, I = c->intermediate, V = c->vocab, n = m->n, mlp = m->mlp;
    struct { const float *host; size_t n; int matrix; void **w; } t[] = {
        {m->embed, V * D, 1, &m->w_embed}, {m->norm1, n * D, 0, &m->w_norm1}, {m->norm_f, D, 0, &m->w_norm_f},
        {m->head, !m->tied * V * D, 1, &m->w_head}, {m->norm2, mlp * n * D, 0, &m->w_norm2},
        {m->gate, mlp * n * I * D, 1, &m->w_gate}, {m->up, mlp * n * I * D, 1, &m->w_up},
        {m->down, mlp * n * D * I, 1, &m->w_down},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        if (!t[i].n) continue;
        sb_status st = m->ops->upload(t[i].host, t[i].n, t[i].matrix, t[i].w);
        if (st) return st;
    }
    if (m->tied) m->w_head = m->w_embed;
    return SB_OK;
}

/* Handle + element offset (matrices are in the act dtype, vectors in fp32). */
static const void *mat_at(const model *m, const void *w, size_t elems) { return (const char *)w + elems * m->mat_elem; }
static const void *vec_at(const void *w, size_t elems) { return (const float *)w + elems; }

/* ---- setup / teardown ---------------------------------------------------------------------------- */
static void model_teardown(sb_layer *L) {
    model *m = L->impl_state;
    if (!m) return;
    for (int i = 0; m->mix && i < m->n; i++) sb_layer_destroy(m->mix[i]);
    free(m->mix);
    if (m->ops) {
        void *w[] = {m->w_embed, m->w_norm1, m->w_norm2, m->w_gate, m->w_up, m->w_down, m->w_norm_f,
                     m->tied ? NULL : m->w_head};
        for (int i = 0; i < 8; i++)
            if (w[i]) m->ops->release(w[i]);
        void *ws[] = {m->h, m->a, m->mixo, m->g, m->u, m->f};
        for (int i = 0; i < 6; i++)
            if (ws[i]) m->ops->free(ws[i]);
    }
    float *host[] = {m->embed, m->norm1, m->norm2, m->gate, m->up, m->down, m->norm_f, m->head};
    for (int i = 0; i < 8; i++) free(host[i]);
    free(m);
    L->impl_state = NULL;
}

static sb_status check_config(const sb_layer *L, const sb_layer_opts *o, const sb_model_ops *ops) {
    const sb_config *c = &L->cfg;
    const int mlp = L->desc->block.mlp;
    if (o->weights_dir) return sb_fail(SB_ENOTSUP, "model level: weights are random from the seed (no .npy loading)");
    if (c->n_layers <= 0 || c->vocab <= 0 || c->d_model <= 0 || (mlp && c->intermediate <= 0))
        return sb_fail(SB_EINVAL, "model level: config %s needs n_layers, vocab, d_model%s > 0", c->name,
                       mlp ? ", intermediate" : "");
    if (!ops) return sb_fail(SB_ENOTSUP, "model level: no ops for backend %s", sb_backend_name(L->backend));
    return SB_OK;
}

static sb_status model_setup(sb_layer *L, const sb_layer_opts *o, const sb_model_ops *ops) {
    SB_TRY(check_config(L, o, ops));
    model *m = calloc(1, sizeof *m);
    if (!m) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = m;
    m->n = L->cfg.n_layers;
    m->mlp = L->desc->block.mlp;
    m->tied = L->desc->block.tied_embedding;
    m->eps = L->desc->block.norm_eps;
    m->ops = ops;
    m->mat_elem = sb_dtype_size(sb_backend_act_dtype(L->backend));
    m->mix = calloc(m->n, sizeof *m->mix);
    if (!m->mix) return sb_fail(SB_ENOMEM, "out of host memory");
    for (int i = 0; i < m->n; i++) {
        sb_layer_opts mo = {.layer = L->desc->name, .impl = L->impl->name, .backend = L->backend, .level = SB_LAYER,
                            .cfg = &L->cfg, .seed = o->seed + (uint64_t)i, .max_batch = L->max_batch, .max_ctx = L->max_ctx};
        SB_TRY(sb_layer_open(L->desc, L->impl, &mo, &m->mix[i]));
    }
    SB_TRY(alloc_masters(m, &L->cfg));
    init_masters(m, &L->cfg, o->seed);
    return upload_masters(m, &L->cfg);
}

/* ---- the forward (every backend) --------------------------------------------------------------------- */
static sb_status reserve(model *m, const sb_config *c, size_t rows, int B) {
    const sb_model_ops *op = m->ops;
    const size_t D = c->d_model, I = c->intermediate, e = m->mat_elem;
    if (rows > m->rows_cap) {
        void **bufs[] = {&m->h, &m->a, &m->mixo, &m->g, &m->u};
        for (int i = 0; i < 5; i++)
            if (*bufs[i]) { op->free(*bufs[i]); *bufs[i] = NULL; }
        m->rows_cap = 0;
        const size_t chunk = rows < MODEL_MLP_CHUNK ? rows : MODEL_MLP_CHUNK;
        sb_status st = op->alloc(&m->h, rows * D * sizeof(float));
        if (!st) st = op->alloc(&m->a, rows * D * e);
        if (!st) st = op->alloc(&m->mixo, rows * D * e);
        if (!st && m->mlp) st = op->alloc(&m->g, chunk * I * e);
        if (!st && m->mlp) st = op->alloc(&m->u, chunk * I * e);
        if (st) return st;
        m->rows_cap = rows;
    }
    if ((size_t)B > m->f_cap) {
        if (m->f) { op->free(m->f); m->f = NULL; }
        m->f_cap = 0;
        sb_status st = op->alloc(&m->f, (size_t)B * D * e);
        if (st) return st;
        m->f_cap = (size_t)B;
    }
    return SB_OK;
}

/* h += down(SiLU(gate(a)) * up(a)), a = RMSNorm(h), over `rows` rows in chunks. */
static sb_status mlp_block(const sb_layer *L, model *m, int i, size_t rows) {
    const sb_model_ops *op = m->ops;
    const int D = L->cfg.d_model, I = L->cfg.intermediate;
    const void *gate = mat_at(m, m->w_gate, (size_t)i * I * D), *up = mat_at(m, m->w_up, (size_t)i * I * D);
    const void *down = mat_at(m, m->w_down, (size_t)i * D * I), *nw = vec_at(m->w_norm2, (size_t)i * D);
    for (size_t r0 = 0; r0 < rows; r0 += MODEL_MLP_CHUNK) {
        const int nr = (int)(rows - r0 < MODEL_MLP_CHUNK ? rows - r0 : MODEL_MLP_CHUNK);
        float *h = (float *)m->h + r0 * D;
        sb_status st = op->rmsnorm(h, D, nw, m->a, nr, D, m->eps);
        if (!st) st = op->linear(m->a, gate, m->g, nr, D, I);
        if (!st) st = op->linear(m->a, up, m->u, nr, D, I);
        if (!st) st = op->silu_mul(m->g, m->u, (size_t)nr * I);
        if (!st) st = op->linear_residual(m->g, down, h, nr, I, D);
        if (st) return st;
    }
    return SB_OK;
}

static sb_status forward(sb_layer *L, const int32_t *ids, void *logits, int B, int T, int decode) {
    model *m = L->impl_state;
    const sb_model_ops *op = m->ops;
    const sb_config *c = &L->cfg;
    const int D = c->d_model;
    const size_t rows = decode ? (size_t)B : (size_t)B * T;
    sb_status st = reserve(m, c, rows, B);
    if (!st) st = op->embed(ids, m->w_embed, m->h, (int)rows, D, c->vocab);
    for (int i = 0; !st && i < m->n; i++) {
        st = op->rmsnorm(m->h, D, vec_at(m->w_norm1, (size_t)i * D), m->a, (int)rows, D, m->eps);
        if (!st) st = decode ? sb_layer_decode(m->mix[i], m->a, m->mixo, B) : sb_layer_prefill(m->mix[i], m->a, m->mixo, B, T);
        if (!st) st = op->residual(m->h, m->mixo, rows * D);
        if (!st && m->mlp) st = mlp_block(L, m, i, rows);
    }
    if (st) return st;
    /* the last token of each sequence: row b*T + T-1 (prefill) or b (decode) */
    const float *last = decode ? (const float *)m->h : (const float *)m->h + (size_t)(T - 1) * D;
    st = op->rmsnorm(last, decode ? (size_t)D : (size_t)T * D, m->w_norm_f, m->f, B, D, m->eps);
    if (!st) st = op->linear(m->f, m->w_head, logits, B, D, c->vocab);
    return st;
}

static sb_status model_prefill(sb_layer *L, const void *ids, void *logits, int B, int T) {
    return forward(L, ids, logits, B, T, 0);
}

static sb_status model_decode(sb_layer *L, const void *ids, void *logits, int B) {
    return forward(L, ids, logits, B, 1, 1);
}

static sb_status model_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    model *m = L->impl_state;
    for (int i = 0; i < m->n; i++) {
        sb_status st = sb_layer_fill_state(m->mix[i], B, T, seed + (uint64_t)i);
        if (st) return st;
    }
    return SB_OK;
}

static void model_rewind(sb_layer *L, int T) {
    model *m = L->impl_state;
    for (int i = 0; i < m->n; i++) sb_layer_rewind(m->mix[i], T);
}

/* ---- the instance: ids in, logits of the last token out ------------------------------------------- */
static int model_in_dim(const sb_layer *L) { (void)L; return 1; }
static int model_out_dim(const sb_layer *L) { return L->cfg.vocab; }
static sb_dtype model_in_dtype(const sb_layer *L) { (void)L; return SB_I32; }
static size_t model_out_rows(const sb_layer *L, sb_mode mode, int B, int T) {
    (void)L; (void)mode; (void)T;
    return (size_t)B; /* prefill returns the last token's logits only */
}
static void model_make_input(const sb_layer *L, float *x, int B, int T, sb_rng *rng) {
    for (size_t i = 0; i < (size_t)B * T; i++) x[i] = (float)(sb_rng_u64(rng) % (uint64_t)L->cfg.vocab);
}

static const sb_runner model_runner = {
    .prefill = model_prefill, .decode = model_decode, .fill_state = model_fill_state, .rewind = model_rewind,
    .teardown = model_teardown, .in_dim = model_in_dim, .out_dim = model_out_dim, .in_dtype = model_in_dtype,
    .out_rows = model_out_rows, .make_input = model_make_input,
};

sb_status sb_model_open(const sb_layer_desc *d, const sb_impl *im, const sb_model_ops *ops, const sb_layer_opts *o,
                        sb_layer **out) {
    *out = NULL;
    SB_TRY(sb_layer_check_opts(o));
    if (o->level != SB_MODEL) return sb_fail(SB_EINVAL, "sb_model_open: level %s", sb_level_name(o->level));
    sb_layer *L;
    SB_TRY(sb_layer_shell(d, im, o, &model_runner, &L));
    sb_status st = model_setup(L, o, ops);
    if (st) { sb_layer_destroy(L); return st; }
    *out = L;
    return SB_OK;
}
