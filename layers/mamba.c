/* mamba.c: Mamba-1 (mamba_simple.Mamba + selective_scan_ref, SPEC §3.2): parameters, reference
 * math, analytic counts and the descriptor. Fast impls: kernels/mamba_cpu.c, kernels/mamba_*.cu;
 * registry/registry.c lists them all.
 *
 *   x, z    = split(X in_proj^T)                    in_proj.weight [2E,D]: x first, then z
 *   x      <- SiLU(causal depthwise conv(x) + b)    conv1d.weight [E,1,K] (w[e,0,K-1] = current
 *                                                   token), conv1d.bias [E]
 *   dt,B,C  = split(x x_proj^T)                     x_proj.weight [R+2N,E]: R, N, N columns
 *   delta   = softplus(dt dt_proj^T + dt_proj.bias) dt_proj.weight [E,R], bias [E]
 *   A       = -exp(A_log)                           A_log [E,N]
 *   h_t     = exp(delta_t A) . h_{t-1} + delta_t B_t x_t      per channel e, state n; h_{-1} = 0
 *   y_t     = C_t . h_t + D . x_t                   D [E]
 *   out     = (y . SiLU(z)) out_proj^T              out_proj.weight [D,E]
 * All scan arithmetic in fp32. Decode keeps conv_state [B,E,K-1] (pre-conv x, oldest first) and
 * ssm_state [B,E,N].
 *
 * Op level (the selective scan alone): input row = u | delta | B | C | z (widths E, E, N, N, E;
 * delta already softplus-ed), parameters A_log and D; output row = y . SiLU(z) (E wide).
 */
#include "mamba.h"
#include "ref_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters and shapes ------------------------------------------------------------- */
static sb_status declare_params(const sb_layer_desc *d, const sb_config *c, sb_level level, sb_params *ps) {
    (void)d;
    (void)level; /* one set of tensors for both levels */
    const int D = c->d_model, E = mamba_E(c), N = c->d_state, R = c->dt_rank, K = c->d_conv;
    if (E <= 0 || N <= 0 || R <= 0 || K < 2) return sb_fail(SB_EINVAL, "mamba: bad config (E %d, N %d, R %d, K %d)", E, N, R, K);
    const sb_param_decl t[] = {
        SB_PARAM("in_proj.weight", 2, 2 * E, D, 0), SB_PARAM("conv1d.weight", 3, E, 1, K), SB_PARAM("conv1d.bias", 1, E, 0, 0),
        SB_PARAM("x_proj.weight", 2, R + 2 * N, E, 0), SB_PARAM("dt_proj.weight", 2, E, R, 0), SB_PARAM("dt_proj.bias", 1, E, 0, 0),
        SB_PARAM("A_log", 2, E, N, 0), SB_PARAM("D", 1, E, 0, 0), SB_PARAM("out_proj.weight", 2, D, E, 0),
    };
    return sb_params_add_table(ps, t, sizeof t / sizeof *t);
}

/* Mamba's own initialisation: S4D-real A, dt in [1e-3, 1e-1] through an inverse softplus. */
static void init_params(const sb_layer_desc *d, const sb_config *c, sb_params *ps, sb_rng *rng) {
    (void)d;
    const int D = c->d_model, E = mamba_E(c), N = c->d_state, R = c->dt_rank, K = c->d_conv;
    sb_fill_normal(sb_params_find(ps, "in_proj.weight")->host, (size_t)2 * E * D, rng, 0, 1.0f / sqrtf((float)D));
    sb_fill_uniform(sb_params_find(ps, "conv1d.weight")->host, (size_t)E * K, rng, -1.0f / sqrtf((float)K), 1.0f / sqrtf((float)K));
    sb_fill_uniform(sb_params_find(ps, "conv1d.bias")->host, E, rng, -0.1f, 0.1f);
    sb_fill_normal(sb_params_find(ps, "x_proj.weight")->host, (size_t)(R + 2 * N) * E, rng, 0, 1.0f / sqrtf((float)E));
    sb_fill_uniform(sb_params_find(ps, "dt_proj.weight")->host, (size_t)E * R, rng, -1.0f / sqrtf((float)R), 1.0f / sqrtf((float)R));
    float *dtb = sb_params_find(ps, "dt_proj.bias")->host;
    for (int e = 0; e < E; e++) {
        double dt = exp(log(1e-3) + sb_rng_uniform(rng) * (log(1e-1) - log(1e-3)));
        dtb[e] = (float)(dt + log(-expm1(-dt))); /* inverse softplus */
    }
    float *alog = sb_params_find(ps, "A_log")->host, *Dp = sb_params_find(ps, "D")->host;
    for (int e = 0; e < E; e++) {
        for (int n = 0; n < N; n++) alog[(size_t)e * N + n] = logf((float)(n + 1));
        Dp[e] = 1.0f;
    }
    sb_fill_normal(sb_params_find(ps, "out_proj.weight")->host, (size_t)D * E, rng, 0, 1.0f / sqrtf((float)E));
}

static int in_dim(const sb_config *c, sb_level l) { return l == SB_OP ? mamba_op_width(c) : c->d_model; }
static int out_dim(const sb_config *c, sb_level l) { return l == SB_OP ? mamba_E(c) : c->d_model; }

static void make_input(const sb_config *c, sb_level l, float *x, int B, int T, sb_rng *rng) {
    const int w = in_dim(c, l), E = mamba_E(c);
    sb_fill_normal(x, (size_t)B * T * w, rng, 0.0f, 1.0f);
    if (l != SB_OP) return;
    for (size_t r = 0; r < (size_t)B * T; r++) /* delta in [1e-3, 1e-1] as after softplus */
        for (int e = 0; e < E; e++)
            x[r * w + mamba_off_delta(c) + e] = expf(logf(1e-3f) + sb_rng_uniform(rng) * (logf(1e-1f) - logf(1e-3f)));
}

/* ---- analytic counts (SPEC §6) ------------------------------------------------------------ */
static double proj_flops_per_token(const sb_config *c) {
    double D = c->d_model, E = mamba_E(c), N = c->d_state, R = c->dt_rank;
    return 2 * (D * 2 * E + E * (R + 2 * N) + R * E + E * D);
}

/* Scan 9*B*T*E*N + 2*B*T*E (D-skip and gate); layer adds the four projections. */
static double flops(const sb_layer_desc *d, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T) {
    (void)d;
    (void)form;
    double tokens = m == SB_PREFILL ? (double)B * T : B, E = mamba_E(c);
    double f = tokens * (9 * E * c->d_state + 2 * E);
    if (l == SB_LAYER) f += tokens * proj_flops_per_token(c);
    return f;
}

/* Op: per token u, delta, z read and y written (4E) plus B, C (2N) elements; decode adds the
 * fp32 ssm state read and written (2*B*E*N*4). Layer: x, y and the weights instead of the op
 * rows, plus the conv state. */
static double bytes(const sb_layer_desc *d, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T, int s) {
    (void)d;
    (void)form;
    double tokens = m == SB_PREFILL ? (double)B * T : B, E = mamba_E(c), N = c->d_state, D = c->d_model;
    double b;
    if (l == SB_OP) b = tokens * (4 * E + 2 * N) * s;
    else b = tokens * 2 * D * s + proj_flops_per_token(c) / 2 * s;
    if (m == SB_DECODE) b += 2.0 * B * E * N * 4 + (l == SB_LAYER ? 2.0 * B * E * (c->d_conv - 1) * 4 : 0);
    return b;
}

static double state_bytes(const sb_layer_desc *d, const sb_config *c, sb_level l, int B, int T, int s) {
    (void)d;
    (void)T; (void)s;
    double E = mamba_E(c);
    return B * E * c->d_state * 4.0 + (l == SB_LAYER ? B * E * (c->d_conv - 1) * 4.0 : 0);
}

/* ---- reference backend ------------------------------------------------------------------ */
typedef struct {
    float *h;        /* ssm state [max_batch, E, N] */
    float *conv;     /* conv state [max_batch, E, K-1], pre-conv x, oldest first */
} ref_state;

static sb_status ref_setup(sb_layer *L) {
    ref_state *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    const sb_config *c = &L->cfg;
    s->h = calloc((size_t)L->max_batch * mamba_E(c) * c->d_state, sizeof(float));
    s->conv = calloc((size_t)L->max_batch * mamba_E(c) * (c->d_conv - 1), sizeof(float));
    return s->h && s->conv ? SB_OK : sb_fail(SB_ENOMEM, "mamba ref: out of host memory");
}

static void ref_teardown(sb_layer *L) {
    ref_state *s = L->impl_state;
    free(s->h); free(s->conv); free(s);
    L->impl_state = NULL;
}

/* The selective scan over T packed op rows of B sequences, continuing the state h. */
static void ref_scan(const sb_layer *L, float *h, const float *op, float *y, int B, int T) {
    const sb_config *c = &L->cfg;
    const int E = mamba_E(c), N = c->d_state, w = mamba_op_width(c);
    const float *alog = sb_params_get(&L->params, "A_log"), *Dp = sb_params_get(&L->params, "D");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *row = op + ((size_t)b * T + t) * w;
            const float *Bt = row + mamba_off_B(c), *Ct = row + mamba_off_C(c);
            for (int e = 0; e < E; e++) {
                float u = row[e], dl = row[mamba_off_delta(c) + e], z = row[mamba_off_z(c) + e];
                float *he = h + ((size_t)b * E + e) * N;
                float acc = 0;
                for (int n = 0; n < N; n++) {
                    float A = -expf(alog[(size_t)e * N + n]);
                    he[n] = expf(dl * A) * he[n] + dl * Bt[n] * u;
                    acc += Ct[n] * he[n];
                }
                y[((size_t)b * T + t) * E + e] = (acc + Dp[e] * u) * ref_silu(z);
            }
        }
}

/* Layer level: projections, conv and softplus build the packed op rows, then the scan. */
static sb_status ref_layer_forward(sb_layer *L, ref_state *s, const float *x, float *y, int B, int T) {
    const sb_config *c = &L->cfg;
    const int D = c->d_model, E = mamba_E(c), N = c->d_state, R = c->dt_rank, K = c->d_conv, w = mamba_op_width(c);
    const size_t rows = (size_t)B * T;
    float *xz = malloc(rows * 2 * E * sizeof(float)), *op = malloc(rows * w * sizeof(float));
    float *dbl = malloc(rows * (R + 2 * N) * sizeof(float)), *ys = malloc(rows * E * sizeof(float));
    if (!xz || !op || !dbl || !ys) { free(xz); free(op); free(dbl); free(ys); return sb_fail(SB_ENOMEM, "mamba ref: out of host memory"); }
    ref_linear(x, sb_params_get(&L->params, "in_proj.weight"), xz, (int)rows, D, 2 * E);
    const float *cw = sb_params_get(&L->params, "conv1d.weight"), *cb = sb_params_get(&L->params, "conv1d.bias");
    for (int b = 0; b < B; b++) {
        const float *xb = xz + (size_t)b * T * 2 * E;
        float *hist = s->conv + (size_t)b * E * (K - 1);
        float *u = op + (size_t)b * T * w; /* u is the first E columns of the op row */
        ref_causal_conv(xb, 2 * E, cw, cb, u, w, T, E, K, hist);
        for (int t = 0; t < T; t++)
            for (int e = 0; e < E; e++) {
                u[(size_t)t * w + e] = ref_silu(u[(size_t)t * w + e]);
                u[(size_t)t * w + mamba_off_z(c) + e] = xb[(size_t)t * 2 * E + E + e];
            }
        for (int e = 0; e < E; e++) /* new history: the last K-1 pre-conv inputs */
            for (int j = 0; j < K - 1; j++) {
                int src = T - (K - 1) + j;
                hist[(size_t)e * (K - 1) + j] = src >= 0 ? xb[(size_t)src * 2 * E + e] : hist[(size_t)e * (K - 1) + j + T];
            }
    }
    /* x_proj reads u from the op rows (stride w) */
    const float *xp = sb_params_get(&L->params, "x_proj.weight"), *dtw = sb_params_get(&L->params, "dt_proj.weight");
    const float *dtb = sb_params_get(&L->params, "dt_proj.bias");
    for (size_t r = 0; r < rows; r++) {
        float *row = op + r * w;
        ref_linear(row, xp, dbl + r * (R + 2 * N), 1, E, R + 2 * N);
        const float *dt = dbl + r * (R + 2 * N);
        for (int e = 0; e < E; e++) {
            double acc = dtb[e];
            for (int k = 0; k < R; k++) acc += (double)dt[k] * dtw[(size_t)e * R + k];
            row[mamba_off_delta(c) + e] = ref_softplus((float)acc);
        }
        memcpy(row + mamba_off_B(c), dt + R, 2 * N * sizeof(float)); /* B then C */
    }
    ref_scan(L, s->h, op, ys, B, T);
    ref_linear(ys, sb_params_get(&L->params, "out_proj.weight"), y, (int)rows, E, D);
    free(xz); free(op); free(dbl); free(ys);
    return SB_OK;
}

static sb_status ref_forward(sb_layer *L, const float *x, float *y, int B, int T) {
    ref_state *s = L->impl_state;
    if (L->level == SB_OP) { ref_scan(L, s->h, x, y, B, T); return SB_OK; }
    return ref_layer_forward(L, s, x, y, B, T);
}

static sb_status ref_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    ref_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    memset(s->h, 0, (size_t)B * mamba_E(c) * c->d_state * sizeof(float));
    memset(s->conv, 0, (size_t)B * mamba_E(c) * (c->d_conv - 1) * sizeof(float));
    return ref_forward(L, x, y, B, T);
}
static sb_status ref_decode(sb_layer *L, const void *x, void *y, int B) { return ref_forward(L, x, y, B, 1); }

/* The ssm state of the L->batch sequences, [B, E, N] (state_shape). */
static sb_status ref_read_state(sb_layer *L, float *host) {
    const ref_state *s = L->impl_state;
    memcpy(host, s->h, (size_t)L->batch * mamba_E(&L->cfg) * L->cfg.d_state * sizeof(float));
    return SB_OK;
}

const sb_impl sb_mamba_ref_sequential = {
    .name = "sequential", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "token-by-token scan, fp32, one thread",
    .setup = ref_setup, .prefill = ref_prefill, .decode = ref_decode, .teardown = ref_teardown,
    .read_state = ref_read_state,
};

/* SPEC §3.4: Mamba's own depths L_m (no MLP per block, about twice the blocks); its "1.4b" is
 * the 1.3b widths (D 2048, E 4096, R 128) with 48 layers. */
static int preset(const char *name, sb_config *c) {
    static const struct { const char *name; int depth; } depth[] = {{"tiny", 2}, {"125m", 24}, {"1.3b", 48}};
    if (!sb_config_base(name, c)) return 0;
    for (size_t i = 0; i < sizeof depth / sizeof *depth; i++)
        if (strcmp(c->name, depth[i].name) == 0) c->n_layers = depth[i].depth;
    if (strcmp(c->name, "1.3b") == 0) snprintf(c->name, sizeof c->name, "1.4b");
    return 1;
}

/* The config fields Mamba-1 reads (golden case.txt / mamba_simple.Mamba constructor names). */
static const sb_config_field fields[] = {
    SB_FIELD_I("d_model", d_model, 0),
    SB_FIELD_I("d_state", d_state, 16),
    SB_FIELD_I("expand", expand, 2),
    SB_FIELD_I("dt_rank", dt_rank, 0), /* 0: "auto", ceil(d_model / 16) (finish_config) */
    SB_FIELD_I("d_conv", d_conv, 4),
    SB_FIELD_END,
};

/* Op level as named arrays: the packed row u | delta | B | C | z, output y (E wide, gated). */
static int op_arrays(const sb_config *c, int outputs, sb_op_array *a) {
    const int E = mamba_E(c), N = c->d_state;
    if (outputs) {
        a[0] = (sb_op_array){"y", E};
        return 1;
    }
    const sb_op_array in[] = {{"u", E}, {"delta", E}, {"B", N}, {"C", N}, {"z", E}};
    memcpy(a, in, sizeof in);
    return 5;
}

/* The ssm state h [B, E, N]. */
static int state_shape(const sb_config *c, int B, int *shape) {
    shape[0] = B, shape[1] = mamba_E(c), shape[2] = c->d_state;
    return 3;
}

static sb_status finish_config(sb_config *c, sb_level level) {
    (void)level;
    SB_TRY(sb_config_d_inner("mamba", c, NULL)); /* mamba_E's int product is then safe */
    if (c->dt_rank == 0) c->dt_rank = (c->d_model + 15) / 16;
    if (c->d_state > SB_MAX_WIDTH || c->d_conv > SB_MAX_WIDTH || c->dt_rank > SB_MAX_WIDTH)
        return sb_fail(SB_EINVAL, "mamba: d_state %d, d_conv %d, dt_rank %d: each must be <= %d", c->d_state, c->d_conv,
                       c->dt_rank, SB_MAX_WIDTH);
    return SB_OK;
}

const sb_layer_desc sb_mamba = {
    .name = "mamba",
    .about = "Mamba-1 selective scan (mamba_simple + selective_scan_ref)",
    .default_config = "tiny", .preset = preset,
    /* Mamba block: no MLP; eps 1e-6 as the other stacks here (the harness does not load the
     * official checkpoints, whose RMSNorm uses 1e-5); untied head */
    .block = {.mlp = 0, .norm_eps = 1e-6f, .tied_embedding = 0},
    .fields = fields, .finish_config = finish_config,
    .op_arrays = op_arrays, .state_shape = state_shape,
    .declare_params = declare_params, .init_params = init_params,
    .in_dim = in_dim, .out_dim = out_dim, .make_input = make_input,
    .flops = flops, .bytes = bytes, .state_bytes = state_bytes,
};
