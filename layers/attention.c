/* attention.c: causal softmax attention, Llama style (SPEC §3.1): parameters, reference math,
 * analytic counts and the descriptor. Fast impls: kernels/attention_cpu.c (cpu), kernels/attention_*.cu
 * (cuda); registry/registry.c lists them all.
 *
 *   q, k, v = x Wq^T, x Wk^T, x Wv^T            (q_proj/k_proj/v_proj.weight [D,D], no bias)
 *   q, k   <- RoPE(rotate-half, theta, absolute positions)
 *   o_h    = softmax(q_h k_h^T / sqrt(d) + causal mask) v_h     per head h of d = D/H
 *   y      = concat_h(o_h) Wo^T                  (o_proj.weight [D,D])
 * Decode appends k (after RoPE) and v to the KV cache [B,H,T,d] and attends over it.
 *
 * Op level (the core alone): input row = q | k | v (each D wide, heads in order, RoPE already
 * applied), output row = concat_h(o_h) (D wide, before o_proj).
 */
#include "attention.h"
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters and shapes ------------------------------------------------------------- */
static sb_status declare_params(const sb_layer_desc *d, const sb_config *c, sb_level level, sb_params *ps) {
    (void)d;
    (void)level; /* the same four weights at op and layer level (op reads none) */
    const char *names[] = {"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight"};
    int shape[2] = {c->d_model, c->d_model};
    if ((long long)c->heads * c->head_dim != c->d_model || c->head_dim % 2)
        return sb_fail(SB_EINVAL, "attention: heads*head_dim must equal d_model and head_dim be even");
    for (int i = 0; i < 4; i++) {
        sb_status st = sb_params_add(ps, names[i], 2, shape);
        if (st) return st;
    }
    return SB_OK;
}

static void init_params(const sb_layer_desc *d, const sb_config *c, sb_params *ps, sb_rng *rng) {
    (void)d;
    for (int i = 0; i < ps->count; i++) /* std 1/sqrt(in): activations stay O(1) */
        sb_fill_normal(ps->p[i].host, ps->p[i].n, rng, 0.0f, 1.0f / sqrtf((float)c->d_model));
}

static int in_dim(const sb_config *c, sb_level l) { return l == SB_OP ? 3 * c->d_model : c->d_model; }
static int out_dim(const sb_config *c, sb_level l) { (void)l; return c->d_model; }

static void make_input(const sb_config *c, sb_level l, float *x, int B, int T, sb_rng *rng) {
    sb_fill_normal(x, (size_t)B * T * in_dim(c, l), rng, 0.0f, 1.0f);
}

/* ---- analytic counts (SPEC §6) ------------------------------------------------------------ */
/* Prefill core 4*B*H*T^2*d/2 (causal halved); decode core at context T: 4*B*H*T*d. */
double attention_core_flops(const sb_config *c, sb_mode m, int B, int T) {
    double bhd = (double)B * c->heads * c->head_dim;
    return m == SB_PREFILL ? 4.0 * bhd * T * T / 2.0 : 4.0 * bhd * T;
}

static double flops(const sb_layer_desc *d, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T) {
    (void)d;
    (void)form;
    double f = attention_core_flops(c, m, B, T);
    double tokens = m == SB_PREFILL ? (double)B * T : B;
    if (l == SB_LAYER) f += tokens * 4 * 2.0 * c->d_model * c->d_model; /* q,k,v,o projections */
    return f;
}

/* Compulsory traffic: inputs read once, outputs and the KV cache written once; decode reads the
 * whole KV cache (2*B*T*D*s). Layer level adds x, y and the four weight matrices. */
static double bytes(const sb_layer_desc *d, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T, int s) {
    (void)d;
    (void)form;
    double D = c->d_model, tokens = m == SB_PREFILL ? (double)B * T : B;
    double b = l == SB_OP ? tokens * 4 * D * s : tokens * 2 * D * s + 4 * D * D * s;
    b += tokens * 2 * D * s;                      /* k, v written to the cache */
    if (m == SB_DECODE) b += 2.0 * B * T * D * s; /* the cache read */
    return b;
}

static double state_bytes(const sb_layer_desc *d, const sb_config *c, sb_level l, int B, int T, int s) {
    (void)d;
    (void)l;
    return 2.0 * B * T * c->d_model * s;
}

/* ---- reference backend ------------------------------------------------------------------ */
typedef struct {
    float *k, *v;   /* KV cache [max_batch, H, max_ctx, d], k after RoPE */
    float *qkv;     /* [rows, 3D] projected q|k|v (layer level) */
    float *o;       /* [rows, D] attention output before o_proj (layer level) */
    size_t rows;    /* capacity of qkv/o in rows */
} ref_state;

static sb_status ref_setup(sb_layer *L) {
    ref_state *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    size_t n = (size_t)L->max_batch * L->cfg.d_model * L->max_ctx;
    s->k = malloc(n * sizeof(float));
    s->v = malloc(n * sizeof(float));
    if (!s->k || !s->v) return sb_fail(SB_ENOMEM, "attention ref: KV cache of %zu floats does not fit", 2 * n);
    return SB_OK;
}

static void ref_teardown(sb_layer *L) {
    ref_state *s = L->impl_state;
    free(s->k); free(s->v); free(s->qkv); free(s->o);
    free(s);
    L->impl_state = NULL;
}

static sb_status reserve_rows(ref_state *s, int D, size_t rows) {
    if (rows <= s->rows) return SB_OK;
    free(s->qkv); free(s->o);
    s->qkv = malloc(rows * 3 * D * sizeof(float));
    s->o = malloc(rows * D * sizeof(float));
    s->rows = rows;
    return s->qkv && s->o ? SB_OK : sb_fail(SB_ENOMEM, "attention ref: out of host memory");
}

/* Causal attention of T new tokens (positions pos..pos+T-1) of B sequences, q|k|v rows of width
 * 3D, RoPE already applied: appends k, v to the cache, writes o rows of width D. */
static void ref_core(const sb_layer *L, ref_state *s, const float *qkv, float *o, int B, int T, int pos) {
    const int D = L->cfg.d_model, H = L->cfg.heads, d = L->cfg.head_dim, C = L->max_ctx;
    const double scale = 1.0 / sqrt((double)d);
    double *p = malloc((size_t)(pos + T) * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *kc = s->k + ((size_t)b * H + h) * C * d, *vc = s->v + ((size_t)b * H + h) * C * d;
            for (int t = 0; t < T; t++) {
                const float *row = qkv + ((size_t)b * T + t) * 3 * D;
                memcpy(kc + (size_t)(pos + t) * d, row + D + h * d, d * sizeof(float));
                memcpy(vc + (size_t)(pos + t) * d, row + 2 * D + h * d, d * sizeof(float));
            }
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * 3 * D + h * d;
                int n = pos + t + 1; /* keys 0..pos+t */
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++) {
                    double dot = 0;
                    for (int i = 0; i < d; i++) dot += (double)q[i] * kc[(size_t)j * d + i];
                    p[j] = dot * scale;
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j < n; j++) sum += (p[j] = exp(p[j] - mx));
                float *out = o + ((size_t)b * T + t) * D + h * d;
                for (int i = 0; i < d; i++) {
                    double acc = 0;
                    for (int j = 0; j < n; j++) acc += p[j] * vc[(size_t)j * d + i];
                    out[i] = (float)(acc / sum);
                }
            }
        }
    free(p);
}

/* T tokens continuing the state at L->pos (prefill: pos = 0). */
static sb_status ref_forward(sb_layer *L, const float *x, float *y, int B, int T) {
    ref_state *s = L->impl_state;
    const int D = L->cfg.d_model, H = L->cfg.heads, d = L->cfg.head_dim;
    if (L->level == SB_OP) {
        ref_core(L, s, x, y, B, T, L->pos);
        return SB_OK;
    }
    size_t rows = (size_t)B * T;
    sb_status st = reserve_rows(s, D, rows);
    if (st) return st;
    const char *w[3] = {"q_proj.weight", "k_proj.weight", "v_proj.weight"};
    float *tmp = malloc(rows * D * sizeof(float));
    if (!tmp) return sb_fail(SB_ENOMEM, "attention ref: out of host memory");
    for (int i = 0; i < 3; i++) { /* scatter each projection into its third of the q|k|v row */
        ref_linear(x, sb_params_get(&L->params, w[i]), tmp, (int)rows, D, D);
        for (size_t r = 0; r < rows; r++) memcpy(s->qkv + r * 3 * D + i * D, tmp + r * D, D * sizeof(float));
    }
    free(tmp);
    for (size_t r = 0; r < rows; r++)
        for (int h = 0; h < H; h++) {
            int p = L->pos + (int)(r % T);
            ref_rope_half(s->qkv + r * 3 * D + h * d, d, p, L->cfg.rope_theta);
            ref_rope_half(s->qkv + r * 3 * D + D + h * d, d, p, L->cfg.rope_theta);
        }
    ref_core(L, s, s->qkv, s->o, B, T, L->pos);
    ref_linear(s->o, sb_params_get(&L->params, "o_proj.weight"), y, (int)rows, D, D);
    return SB_OK;
}

static sb_status ref_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    return ref_forward(L, x, y, B, T);
}
static sb_status ref_decode(sb_layer *L, const void *x, void *y, int B) {
    return ref_forward(L, x, y, B, 1);
}

const sb_impl sb_attention_ref_naive = {
    .name = "naive", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "naive softmax per query in double, KV cache in fp32",
    .setup = ref_setup, .prefill = ref_prefill, .decode = ref_decode, .teardown = ref_teardown,
};

/* Op level as named arrays: q, k, v (RoPE applied), output o, each D wide ([B,T,H,d]). */
static int op_arrays(const sb_config *c, int outputs, sb_op_array *a) {
    const int D = c->d_model;
    if (outputs) {
        a[0] = (sb_op_array){"o", D};
        return 1;
    }
    const sb_op_array in[] = {{"q", D}, {"k", D}, {"v", D}};
    memcpy(a, in, sizeof in);
    return 3;
}

/* The config fields attention reads (golden case.txt / HF LlamaConfig names). */
static const sb_config_field fields[] = {
    SB_FIELD_I("d_model|hidden_size", d_model, 0),
    SB_FIELD_I("heads|num_attention_heads", heads, 0),
    SB_FIELD_I("head_dim", head_dim, 0),
    SB_FIELD_F("rope_theta", rope_theta, 10000.0),
    SB_FIELD_END,
};

const sb_layer_desc sb_attention = {
    .name = "attention",
    .about = "causal softmax attention (Llama: RoPE rotate-half, no biases)",
    .default_config = "tiny", .preset = sb_config_base,
    .block = {.mlp = 1, .norm_eps = 1e-6f, .tied_embedding = 0}, /* Llama-style transformer / TTT block */
    .fields = fields, .op_arrays = op_arrays,
    .declare_params = declare_params, .init_params = init_params,
    .in_dim = in_dim, .out_dim = out_dim, .make_input = make_input,
    .flops = flops, .bytes = bytes, .state_bytes = state_bytes,
};
