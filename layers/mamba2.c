/* mamba2.c: Mamba-2 (SSD; state-spaces/mamba Mamba2 at e9594ce1, contract ../shared/spec/mamba2.md):
 * parameters, the reference math in its two forms, the analytic counts and the registry entry.
 * Fast impls: kernels/mamba2_cpu.c (cpu), kernels/mamba2_*.cu (cuda). Widths: mamba2.h.
 *
 *   z | xBC | dt = X in_proj^T                      in_proj.weight [2E+2GN+H, D], in this order
 *   xBC'  = SiLU(causal depthwise conv(xBC) + b)    conv1d.weight [E+2GN,1,K] (w[c,0,K-1] = current token)
 *   x | B | C = xBC'                                widths E, GN, GN
 *   delta = softplus(dt + dt_bias)                  per head; A = -exp(A_log) per head
 *   S_t[h] = exp(delta A[h]) S_{t-1}[h] + delta x_t[h] (x) B_t[g(h)]     S [P,N] fp32, S_{-1} = 0
 *   y_t[h] = S_t[h] C_t[g(h)] + D[h] x_t[h]
 *   v = y . SiLU(z);  n = RMSNorm over each of G groups of E/G channels (eps 1e-5) . norm.weight
 *   out = n out_proj^T                              out_proj.weight [D, E]
 * Decode keeps the conv history (the last K-1 pre-conv xBC; the official conv_state holds K
 * columns, the oldest of which no later step reads) and S.
 *
 * Op level = the SSD scan (step 5) on rows x | B | C | dt with the parameters dt_bias, A (negative,
 * as mamba_chunk_scan_combined takes it) and D: the arrays of the golden op cases.
 *
 * Impls on ref: "sequential" (the recurrence token by token: the oracle) and "chunked" (the dual
 * form of spec §3 in chunks of Q tokens). Decode is the one-token recurrence for both. The fast
 * impls are listed with these in registry/registry.c.
 */
#include "mamba2.h"
#include "ref_ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

sb_status mamba2_check_config(const sb_config *c, sb_level level) {
    const int E = mamba2_E(c), P = mamba2_P(c), N = mamba2_N(c), G = mamba2_G(c), K = mamba2_K(c);
    if ((level != SB_OP && c->d_model <= 0) || E <= 0 || P <= 0 || N <= 0 || G <= 0 || K < 2 || mamba2_Q(c) <= 0)
        return sb_fail(SB_EINVAL, "mamba2: bad config (D %d, E %d, headdim %d, d_state %d, ngroups %d, d_conv %d, chunk %d)",
                       c->d_model, E, P, N, G, K, mamba2_Q(c));
    if (E > SB_MAX_WIDTH || N > SB_MAX_WIDTH || G > SB_MAX_WIDTH || K > SB_MAX_WIDTH)
        return sb_fail(SB_EINVAL, "mamba2: d_inner %d, d_state %d, ngroups %d, d_conv %d: each must be <= %d", E, N, G, K,
                       SB_MAX_WIDTH);
    if (E % P) return sb_fail(SB_EINVAL, "mamba2: headdim %d does not divide d_inner %d", P, E);
    if (mamba2_H(c) % G) return sb_fail(SB_EINVAL, "mamba2: ngroups %d does not divide nheads %d", G, mamba2_H(c));
    return SB_OK;
}

/* ---- parameters and shapes ------------------------------------------------------------- */
/* Layer: the state_dict of Mamba2. Op: what mamba_chunk_scan_combined takes besides the rows. */
static sb_status declare_params(const sb_layer_desc *d, const sb_config *c, sb_level level, sb_params *ps) {
    (void)d;
    sb_status st = mamba2_check_config(c, level);
    if (st) return st;
    const int D = c->d_model, E = mamba2_E(c), H = mamba2_H(c), K = mamba2_K(c), CD = mamba2_conv_dim(c);
    if (level == SB_OP) {
        const char *names[] = {"dt_bias", "A", "D"};
        for (int i = 0; i < 3; i++)
            if ((st = sb_params_add(ps, names[i], 1, &H))) return st;
        return SB_OK;
    }
    const sb_param_decl t[] = {
        SB_PARAM("in_proj.weight", 2, mamba2_in_proj_rows(c), D, 0), SB_PARAM("conv1d.weight", 3, CD, 1, K),
        SB_PARAM("conv1d.bias", 1, CD, 0, 0), SB_PARAM("dt_bias", 1, H, 0, 0), SB_PARAM("A_log", 1, H, 0, 0),
        SB_PARAM("D", 1, H, 0, 0), SB_PARAM("norm.weight", 1, E, 0, 0), SB_PARAM("out_proj.weight", 2, D, E, 0),
    };
    return sb_params_add_table(ps, t, sizeof t / sizeof *t);
}

/* Mamba2's own initialisation: dt log-uniform in [1e-3, 1e-1] through an inverse softplus,
 * A = -U(1, 16); D and the norm weight are ones there, drawn near one here so that a mix-up of
 * heads or channels shows in the tests. */
static void init_params(const sb_layer_desc *d, const sb_config *c, sb_params *ps, sb_rng *rng) {
    (void)d;
    const int D = c->d_model, E = mamba2_E(c), H = mamba2_H(c), K = mamba2_K(c), CD = mamba2_conv_dim(c);
    sb_param *A = sb_params_find(ps, "A"), *alog = sb_params_find(ps, "A_log"); /* op level: A; layer: A_log */
    float *dtb = sb_params_find(ps, "dt_bias")->host;
    for (int h = 0; h < H; h++) {
        double dt = exp(log(1e-3) + sb_rng_uniform(rng) * (log(1e-1) - log(1e-3)));
        dtb[h] = (float)(dt + log(-expm1(-dt))); /* inverse softplus */
        const float a = 1.0f + 15.0f * sb_rng_uniform(rng);
        if (A) A->host[h] = -a;
        else alog->host[h] = logf(a);
    }
    sb_fill_uniform(sb_params_find(ps, "D")->host, H, rng, 0.5f, 1.5f);
    if (A) return;
    sb_fill_normal(sb_params_find(ps, "in_proj.weight")->host, (size_t)mamba2_in_proj_rows(c) * D, rng, 0, 1.0f / sqrtf((float)D));
    sb_fill_uniform(sb_params_find(ps, "conv1d.weight")->host, (size_t)CD * K, rng, -1.0f / sqrtf((float)K), 1.0f / sqrtf((float)K));
    sb_fill_uniform(sb_params_find(ps, "conv1d.bias")->host, CD, rng, -0.1f, 0.1f);
    sb_fill_uniform(sb_params_find(ps, "norm.weight")->host, E, rng, 0.8f, 1.2f);
    sb_fill_normal(sb_params_find(ps, "out_proj.weight")->host, (size_t)D * E, rng, 0, 1.0f / sqrtf((float)E));
}

static int in_dim(const sb_config *c, sb_level l) { return l == SB_OP ? mamba2_op_width(c) : c->d_model; }
static int out_dim(const sb_config *c, sb_level l) { return l == SB_OP ? mamba2_E(c) : c->d_model; }

/* Op rows: x, B, C ~ N(0,1) as after the conv's SiLU (scale ~1); dt ~ N(0,1) raw (dt_bias puts
 * delta near its init range). */
static void make_input(const sb_config *c, sb_level l, float *x, int B, int T, sb_rng *rng) {
    sb_fill_normal(x, (size_t)B * T * in_dim(c, l), rng, 0.0f, 1.0f);
}

/* ---- analytic counts (spec §6) ----------------------------------------------------------- */
/* Causal pairs within chunks of one sequence of T tokens. */
static double chunk_pairs(int T, int Q) {
    const int nc = (T + Q - 1) / Q, r = T - (nc - 1) * Q;
    return (double)(nc - 1) * Q * (Q + 1) / 2 + (double)r * (r + 1) / 2;
}

static double ssd_flops(const sb_config *c, sb_mode m, int B, int T) {
    const double E = mamba2_E(c), N = mamba2_N(c), GN = mamba2_GN(c);
    if (m == SB_DECODE) return B * (5 * E * N + 3 * E);
    const double nc = (T + mamba2_Q(c) - 1) / mamba2_Q(c);
    return B * (2 * chunk_pairs(T, mamba2_Q(c)) * (GN + E) + 4.0 * T * E * N + 2 * nc * E * N + 2.0 * T * E);
}

/* One counting form: the chunked algorithm, whatever the impl (spec §6). */
static double flops(const sb_layer_desc *d, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T) {
    (void)d; (void)form;
    double f = ssd_flops(c, m, B, T);
    if (l == SB_LAYER) {
        const double tokens = m == SB_PREFILL ? (double)B * T : B, D = c->d_model, E = mamba2_E(c);
        f += tokens * (2 * D * mamba2_in_proj_rows(c) + 2 * E * D + 2.0 * mamba2_K(c) * mamba2_conv_dim(c) + 5 * E);
    }
    return f;
}

/* Parameters the layer reads (W of spec §6). */
static double weight_elems(const sb_config *c) {
    const double D = c->d_model, E = mamba2_E(c), H = mamba2_H(c), CD = mamba2_conv_dim(c);
    return D * mamba2_in_proj_rows(c) + (mamba2_K(c) + 1) * CD + 3 * H + E + E * D;
}

static double state_bytes(const sb_layer_desc *d, const sb_config *c, sb_level l, int B, int T, int s) {
    (void)d; (void)T;
    const double ssm = 4.0 * mamba2_H(c) * mamba2_P(c) * mamba2_N(c);
    return B * (ssm + (l == SB_LAYER ? (double)s * mamba2_K(c) * mamba2_conv_dim(c) : 0));
}

static double bytes(const sb_layer_desc *d, const sb_config *c, sb_level l, sb_mode m, int form, int B, int T, int s) {
    (void)form;
    const double tokens = m == SB_PREFILL ? (double)B * T : B, E = mamba2_E(c);
    double b;
    if (l == SB_OP) b = s * tokens * (2 * E + mamba2_H(c) + 2.0 * mamba2_GN(c));
    else b = s * (weight_elems(c) + 2 * tokens * c->d_model);
    if (m == SB_DECODE) b += l == SB_OP ? 2.0 * B * 4 * mamba2_H(c) * mamba2_P(c) * mamba2_N(c) : 2 * state_bytes(d, c, l, B, T, s);
    return b;
}

/* ---- reference backend ------------------------------------------------------------------ */
void mamba2_ref_gated_norm(const sb_config *c, float *y, const float *z, const float *w) {
    const int E = mamba2_E(c), gs = E / mamba2_G(c);
    for (int i = 0; i < E; i++) y[i] = (float)((double)y[i] * ref_silu(z[i]));
    for (int g0 = 0; g0 < E; g0 += gs) {
        double ss = 0;
        for (int i = g0; i < g0 + gs; i++) ss += (double)y[i] * y[i];
        const double rstd = 1.0 / sqrt(ss / gs + MAMBA2_NORM_EPS);
        for (int i = g0; i < g0 + gs; i++) y[i] = (float)(y[i] * rstd * w[i]);
    }
}

typedef struct {
    float *S;    /* ssm state [max_batch, H, P, N] */
    float *hist; /* conv history [max_batch, conv_dim, K-1], pre-conv xBC, oldest first */
} ref_state;

static sb_status ref_setup(sb_layer *L) {
    const sb_config *c = &L->cfg;
    sb_status st = mamba2_check_config(c, L->level);
    if (st) return st;
    ref_state *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    s->S = calloc((size_t)L->max_batch * mamba2_H(c) * mamba2_P(c) * mamba2_N(c), sizeof(float));
    s->hist = calloc((size_t)L->max_batch * mamba2_conv_dim(c) * (mamba2_K(c) - 1), sizeof(float));
    return s->S && s->hist ? SB_OK : sb_fail(SB_ENOMEM, "mamba2 ref: out of host memory");
}

static void ref_teardown(sb_layer *L) {
    ref_state *s = L->impl_state;
    free(s->S); free(s->hist); free(s);
    L->impl_state = NULL;
}

void mamba2_head_A(const sb_layer *L, float *A) {
    const sb_param *given = sb_params_find((sb_params *)&L->params, "A");
    const float *alog = given ? NULL : sb_params_get(&L->params, "A_log");
    for (int h = 0; h < mamba2_H(&L->cfg); h++) A[h] = given ? given->host[h] : -expf(alog[h]);
}

static float head_A(const sb_layer *L, int h) {
    const sb_param *given = sb_params_find((sb_params *)&L->params, "A");
    return given ? given->host[h] : -expf(sb_params_get(&L->params, "A_log")[h]);
}
static float head_delta(const sb_layer *L, const float *row, int h) {
    return ref_softplus(row[mamba2_off_dt(&L->cfg) + h] + sb_params_get(&L->params, "dt_bias")[h]);
}

/* The recurrence of step 5, token by token, on T op rows of B sequences, continuing S. */
static void ref_scan_sequential(const sb_layer *L, float *S, const float *op, float *y, int B, int T) {
    const sb_config *c = &L->cfg;
    const int E = mamba2_E(c), H = mamba2_H(c), P = mamba2_P(c), N = mamba2_N(c), w = mamba2_op_width(c);
    const float *Dp = sb_params_get(&L->params, "D");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *row = op + ((size_t)b * T + t) * w;
            float *yr = y + ((size_t)b * T + t) * E;
            for (int h = 0; h < H; h++) {
                const int g = mamba2_group(c, h);
                const float *Bt = row + mamba2_off_B(c) + g * N, *Ct = row + mamba2_off_C(c) + g * N;
                const float dl = head_delta(L, row, h), dA = expf(dl * head_A(L, h));
                float *Sh = S + ((size_t)b * H + h) * P * N;
                for (int p = 0; p < P; p++) {
                    const float xp = row[h * P + p];
                    double acc = 0;
                    for (int n = 0; n < N; n++) {
                        float *sv = &Sh[(size_t)p * N + n];
                        *sv = dA * *sv + dl * xp * Bt[n];
                        acc += (double)*sv * Ct[n];
                    }
                    yr[h * P + p] = (float)(acc + (double)Dp[h] * xp);
                }
            }
        }
}

/* One chunk of q tokens of head h of one sequence (rows stride w): the dual form of spec §3.
 * s, dl, wt: q floats of scratch each. */
static void ref_chunk(const sb_layer *L, int h, float *Sh, const float *op, float *y, int q, float *s, float *dl, float *wt) {
    const sb_config *c = &L->cfg;
    const int E = mamba2_E(c), P = mamba2_P(c), N = mamba2_N(c), w = mamba2_op_width(c), g = mamba2_group(c, h);
    const int oB = mamba2_off_B(c) + g * N, oC = mamba2_off_C(c) + g * N;
    const float A = head_A(L, h), Dh = sb_params_get(&L->params, "D")[h];
    float cum = 0;
    for (int t = 0; t < q; t++) {
        dl[t] = head_delta(L, op + (size_t)t * w, h);
        cum += dl[t] * A;
        s[t] = cum; /* inclusive cumulative sum of delta*A, fp32 */
    }
    for (int t = 0; t < q; t++) {
        const float *rt = op + (size_t)t * w;
        for (int tau = 0; tau <= t; tau++) { /* (C_t . B_tau) exp(s_t - s_tau) delta_tau */
            const float *rs = op + (size_t)tau * w;
            double cb = 0;
            for (int n = 0; n < N; n++) cb += (double)rt[oC + n] * rs[oB + n];
            wt[tau] = (float)(cb * exp((double)(s[t] - s[tau])) * dl[tau]);
        }
        const double et = exp((double)s[t]);
        for (int p = 0; p < P; p++) {
            double diag = 0, off = 0;
            for (int tau = 0; tau <= t; tau++) diag += (double)wt[tau] * op[(size_t)tau * w + h * P + p];
            for (int n = 0; n < N; n++) off += (double)Sh[(size_t)p * N + n] * rt[oC + n];
            y[(size_t)t * E + h * P + p] = (float)(diag + et * off + (double)Dh * rt[h * P + p]);
        }
    }
    const float se = s[q - 1];
    for (int tau = 0; tau < q; tau++) wt[tau] = (float)(exp((double)(se - s[tau])) * dl[tau]);
    const float decay = expf(se);
    for (int p = 0; p < P; p++)
        for (int n = 0; n < N; n++) {
            double u = 0;
            for (int tau = 0; tau < q; tau++) {
                const float *rs = op + (size_t)tau * w;
                u += (double)wt[tau] * rs[h * P + p] * rs[oB + n];
            }
            Sh[(size_t)p * N + n] = (float)(decay * Sh[(size_t)p * N + n] + u);
        }
}

/* The chunked (SSD) form over T op rows of B sequences, continuing S. */
static sb_status ref_scan_chunked(const sb_layer *L, float *S, const float *op, float *y, int B, int T) {
    const sb_config *c = &L->cfg;
    const int E = mamba2_E(c), H = mamba2_H(c), P = mamba2_P(c), N = mamba2_N(c), Q = mamba2_Q(c), w = mamba2_op_width(c);
    float *scratch = malloc(3 * (size_t)Q * sizeof(float));
    if (!scratch) return sb_fail(SB_ENOMEM, "mamba2 ref: out of host memory");
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t0 = 0; t0 < T; t0 += Q) {
                const size_t row = (size_t)b * T + t0;
                ref_chunk(L, h, S + ((size_t)b * H + h) * P * N, op + row * w, y + row * E, T - t0 < Q ? T - t0 : Q, scratch,
                          scratch + Q, scratch + 2 * Q);
            }
    free(scratch);
    return SB_OK;
}

typedef sb_status (*ref_scan_fn)(const sb_layer *L, float *S, const float *op, float *y, int B, int T);

static sb_status scan_sequential(const sb_layer *L, float *S, const float *op, float *y, int B, int T) {
    ref_scan_sequential(L, S, op, y, B, T);
    return SB_OK;
}

/* Layer level: in_proj, conv + SiLU (history per sequence), the scan on the op rows, gated norm,
 * out_proj. */
static sb_status ref_layer_forward(sb_layer *L, ref_state *s, const float *x, float *y, int B, int T, ref_scan_fn scan) {
    const sb_config *c = &L->cfg;
    const int D = c->d_model, E = mamba2_E(c), K = mamba2_K(c), CD = mamba2_conv_dim(c), H = mamba2_H(c);
    const int Wp = mamba2_in_proj_rows(c), w = mamba2_op_width(c);
    const size_t rows = (size_t)B * T;
    float *zx = malloc(rows * Wp * sizeof(float)), *op = malloc(rows * w * sizeof(float)), *ys = malloc(rows * E * sizeof(float));
    sb_status st = zx && op && ys ? SB_OK : sb_fail(SB_ENOMEM, "mamba2 ref: out of host memory");
    if (st) goto done;
    ref_linear(x, sb_params_get(&L->params, "in_proj.weight"), zx, (int)rows, D, Wp);
    const float *cw = sb_params_get(&L->params, "conv1d.weight"), *cb = sb_params_get(&L->params, "conv1d.bias");
    for (int b = 0; b < B; b++) {
        const float *zb = zx + (size_t)b * T * Wp;
        float *ob = op + (size_t)b * T * w, *hist = s->hist + (size_t)b * CD * (K - 1);
        ref_causal_conv(zb + mamba2_zoff_xbc(c), Wp, cw, cb, ob, w, T, CD, K, hist);
        for (int t = 0; t < T; t++) {
            for (int ch = 0; ch < CD; ch++) ob[(size_t)t * w + ch] = ref_silu(ob[(size_t)t * w + ch]);
            memcpy(ob + (size_t)t * w + mamba2_off_dt(c), zb + (size_t)t * Wp + mamba2_zoff_dt(c), H * sizeof(float));
        }
        for (int ch = 0; ch < CD; ch++) /* new history: the last K-1 pre-conv inputs */
            for (int j = 0; j < K - 1; j++) {
                const int src = T - (K - 1) + j;
                hist[(size_t)ch * (K - 1) + j] =
                    src >= 0 ? zb[(size_t)src * Wp + mamba2_zoff_xbc(c) + ch] : hist[(size_t)ch * (K - 1) + j + T];
            }
    }
    if ((st = scan(L, s->S, op, ys, B, T))) goto done;
    for (size_t r = 0; r < rows; r++) mamba2_ref_gated_norm(c, ys + r * E, zx + r * Wp, sb_params_get(&L->params, "norm.weight"));
    ref_linear(ys, sb_params_get(&L->params, "out_proj.weight"), y, (int)rows, E, D);
done:
    free(zx); free(op); free(ys);
    return st;
}

static sb_status ref_forward(sb_layer *L, const float *x, float *y, int B, int T, ref_scan_fn scan) {
    ref_state *s = L->impl_state;
    if (L->level == SB_OP) return scan(L, s->S, x, y, B, T);
    return ref_layer_forward(L, s, x, y, B, T, scan);
}

static void ref_clear(sb_layer *L, int B) {
    ref_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    memset(s->S, 0, (size_t)B * mamba2_H(c) * mamba2_P(c) * mamba2_N(c) * sizeof(float));
    memset(s->hist, 0, (size_t)B * mamba2_conv_dim(c) * (mamba2_K(c) - 1) * sizeof(float));
}

static sb_status ref_sequential_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    ref_clear(L, B);
    return ref_forward(L, x, y, B, T, scan_sequential);
}
static sb_status ref_chunked_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    ref_clear(L, B);
    return ref_forward(L, x, y, B, T, ref_scan_chunked);
}
static sb_status ref_decode(sb_layer *L, const void *x, void *y, int B) { return ref_forward(L, x, y, B, 1, scan_sequential); }

/* A state as after T tokens: small random S, unit-scale conv history. */
static sb_status ref_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    ref_state *s = L->impl_state;
    const sb_config *c = &L->cfg;
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    sb_fill_uniform(s->S, (size_t)B * mamba2_H(c) * mamba2_P(c) * mamba2_N(c), &rng, -0.1f, 0.1f);
    sb_fill_uniform(s->hist, (size_t)B * mamba2_conv_dim(c) * (mamba2_K(c) - 1), &rng, -1.0f, 1.0f);
    return SB_OK;
}

/* The ssm state of the L->batch sequences, [B, H, P, N] (state_shape; the op's final_state). */
static sb_status ref_read_state(sb_layer *L, float *host) {
    const ref_state *s = L->impl_state;
    memcpy(host, s->S, (size_t)L->batch * mamba2_H(&L->cfg) * mamba2_P(&L->cfg) * mamba2_N(&L->cfg) * sizeof(float));
    return SB_OK;
}

const sb_impl sb_mamba2_ref_sequential = {
    .name = "sequential", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "the recurrence token by token (naive loops, fp32 state, double sums): the oracle",
    .setup = ref_setup, .prefill = ref_sequential_prefill, .decode = ref_decode, .fill_state = ref_fill_state,
    .teardown = ref_teardown, .read_state = ref_read_state,
};
const sb_impl sb_mamba2_ref_chunked = {
    .name = "chunked", .backend = SB_REF, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "the chunked dual (SSD) form in chunks of chunk_size tokens (naive loops); one-token decode",
    .setup = ref_setup, .prefill = ref_chunked_prefill, .decode = ref_decode, .fill_state = ref_fill_state,
    .teardown = ref_teardown, .read_state = ref_read_state,
};

/* ---- the descriptor -------------------------------------------------------------------------- */
/* spec §5: the mamba2-130m / mamba2-1.3b widths with every mixer setting at Mamba2's default
 * (d_state 128, headdim 64, ngroups 1, chunk 256, d_conv 4, expand 2); depth 24 / 48, no MLP.
 * tiny: the golden widths (d_state 16, headdim 16, chunk 16). */
static int preset(const char *name, sb_config *c) {
    if (!sb_config_base(name, c)) return 0;
    const int tiny = strcmp(c->name, "tiny") == 0;
    c->d_state = tiny ? 16 : 128;
    c->head_dim = tiny ? 16 : 64;
    c->ngroups = 1;
    c->chunk_size = tiny ? 16 : 256;
    c->d_conv = 4;
    c->expand = 2;
    c->n_layers = tiny ? 2 : strcmp(c->name, "125m") == 0 ? 24 : 48;
    return 1;
}

/* The config fields Mamba-2 reads (golden case.txt / Mamba2 constructor names and defaults). */
static const sb_config_field fields[] = {
    SB_FIELD_I("d_model", d_model, 0),
    SB_FIELD_I("d_inner", d_inner, 0), /* op cases: E without d_model; else expand * d_model */
    SB_FIELD_I("d_state", d_state, 128),
    SB_FIELD_I("d_conv", d_conv, 4),
    SB_FIELD_I("expand", expand, 2),
    SB_FIELD_I("headdim", head_dim, 64),
    SB_FIELD_I("ngroups", ngroups, 1),
    SB_FIELD_I("chunk_size", chunk_size, 256),
    SB_FIELD_FIX("rmsnorm", 1), /* the only variants seqbench supports (spec §1) */
    SB_FIELD_FIX("norm_before_gate", 0),
    SB_FIELD_FIX("D_has_hdim", 0),
    SB_FIELD_END,
};

static sb_status finish_config(sb_config *c, sb_level level) {
    if (c->d_model > 0) SB_TRY(sb_config_d_inner("mamba2", c, &c->d_inner));
    return mamba2_check_config(c, level);
}

/* Op level as named arrays: the row x | B | C | dt (spec §4, golden op cases), output y. */
static int op_arrays(const sb_config *c, int outputs, sb_op_array *a) {
    if (outputs) {
        a[0] = (sb_op_array){"y", mamba2_E(c)};
        return 1;
    }
    const sb_op_array in[] = {{"x", mamba2_E(c)}, {"B", mamba2_GN(c)}, {"C", mamba2_GN(c)}, {"dt", mamba2_H(c)}};
    memcpy(a, in, sizeof in);
    return 4;
}

/* The ssm state [B, H, P, N]. */
static int state_shape(const sb_config *c, int B, int *shape) {
    shape[0] = B, shape[1] = mamba2_H(c), shape[2] = mamba2_P(c), shape[3] = mamba2_N(c);
    return 4;
}

const sb_layer_desc sb_mamba2 = {
    .name = "mamba2",
    .about = "Mamba-2 SSD (state-spaces/mamba Mamba2 + mamba_chunk_scan_combined)",
    .default_config = "tiny", .preset = preset,
    /* spec §5 (mixer_seq_simple, d_intermediate 0): RMSNorm eps 1e-5, no MLP, LM head tied */
    .block = {.mlp = 0, .norm_eps = 1e-5f, .tied_embedding = 1},
    .fields = fields, .finish_config = finish_config,
    .op_arrays = op_arrays, .state_shape = state_shape, .final_state_after_decode = 0,
    .declare_params = declare_params, .init_params = init_params,
    .in_dim = in_dim, .out_dim = out_dim, .make_input = make_input,
    .flops = flops, .bytes = bytes, .state_bytes = state_bytes,
};
