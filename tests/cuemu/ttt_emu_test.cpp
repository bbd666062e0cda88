/* ttt_emu_test.cpp: the TTT CUDA kernels and impls run on the CPU model (cuemu), checked against
 * an independent double-precision reference written here from the golden README (TTT 1-9): the
 * core token by token in the primal form (W_i = W0 - tau_i sum_{j<=i} lr_j k_j^T g_j), which is
 * also the decode semantics, so prefill(T) + decode(S) and prefill(T+S) come from one loop.
 *
 *   1. the reference against the golden vectors (fp32 tolerance 1e-4 relative): it is right;
 *   2. the impls (layer level) against the golden vectors (bf16 tolerance 2e-2 of max|ref|);
 *   3. the cores (op level) and the layer against the reference on random weights and inputs:
 *      outputs, decode steps across mini-batch boundaries, and the state a prefill leaves
 *      (weights at the open mini-batch's start and its partial gradient sums);
 * for every prefill kernel version. Exit status 1 on any failure. */
#include "cuemu.h"
#include "../../kernels/ttt_cuda.h"
#include "../../kernels/ttt_kernels.cuh"
extern "C" {
#include "../../layers/npy.h"
}

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string>
#include <vector>

static int failures = 0;

struct Cfg {
    int D, H, d, mb, K;
    bool mlp, share_qk, use_gate;
    float base_lr, theta, eps;
};

/* ---- parameters ------------------------------------------------------------------------- */
static void declare(const Cfg &c, sb_params *ps) {
    memset(ps, 0, sizeof *ps);
    const int D = c.D, H = c.H, d = c.d, dh = c.mlp ? 4 * d : d;
    auto add = [&](const char *n, int nd, int s0, int s1 = 0, int s2 = 0) {
        int sh[3] = {s0, s1, s2};
        if (sb_params_add(ps, n, nd, sh)) { fprintf(stderr, "%s\n", sb_last_error()); exit(2); }
    };
    add("q_proj.weight", 2, D, D);
    if (!c.share_qk) add("k_proj.weight", 2, D, D);
    add("v_proj.weight", 2, D, D);
    add("o_proj.weight", 2, D, D);
    if (c.use_gate) add("g_proj.weight", 2, D, D);
    if (c.share_qk) {
        add("conv_q.weight", 3, D, 1, c.K);
        add("conv_q.bias", 1, D);
        add("conv_k.weight", 3, D, 1, c.K);
        add("conv_k.bias", 1, D);
    }
    add("learnable_ttt_lr_weight", 3, H, 1, D);
    add("learnable_ttt_lr_bias", 2, H, 1);
    add("learnable_token_idx", 1, c.mb);
    add("ttt_norm_weight", 2, H, d);
    add("ttt_norm_bias", 2, H, d);
    add("post_norm.weight", 1, D);
    add("post_norm.bias", 1, D);
    add("W1", 3, H, d, dh);
    add("b1", 3, H, 1, dh);
    if (c.mlp) {
        add("W2", 3, H, dh, d);
        add("b2", 3, H, 1, d);
    }
}

static void init_random(const Cfg &c, sb_params *ps, uint64_t seed) {
    sb_rng r;
    sb_rng_seed(&r, seed);
    for (int i = 0; i < ps->count; i++) {
        sb_param *p = &ps->p[i];
        std::string n = p->name;
        float std = 0.1f, mean = 0.f;
        if (n.find("proj.weight") != std::string::npos) std = 1.0f / sqrtf((float)c.D);
        else if (n == "learnable_ttt_lr_weight") std = 0.5f / sqrtf((float)c.D);
        else if (n == "learnable_ttt_lr_bias") std = 0.5f;
        else if (n == "learnable_token_idx") std = 0.05f;
        else if (n == "ttt_norm_weight" || n == "post_norm.weight") mean = 1.0f;
        else if (n == "W1") std = 1.0f / sqrtf((float)c.d);
        else if (n == "W2") std = 1.0f / sqrtf(4.0f * c.d);
        else if (n.find("conv") != std::string::npos && n.find("weight") != std::string::npos) std = 0.4f;
        sb_fill_normal(p->host, p->n, &r, mean, std);
    }
    sb_params_find(ps, "learnable_token_idx")->host[c.mb > 3 ? c.mb - 2 : 0] = -0.9f; /* clamped to 0 */
}

static const float *P(const sb_params *ps, const char *n) { return sb_params_get(ps, n); }

/* ---- reference --------------------------------------------------------------------------- */
static double gelu(double x) { return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
static double gelu_grad(double x) {
    const double t = tanh(0.79788456 * x * (1.0 + 0.044715 * x * x));
    return 0.5 * x * ((1.0 - t * t) * (0.79788456 + 0.1070322243 * x * x)) + 0.5 * (1.0 + t);
}
static void stats(const double *z, int n, double eps, double &mu, double &s) {
    mu = 0;
    for (int i = 0; i < n; i++) mu += z[i];
    mu /= n;
    double var = 0;
    for (int i = 0; i < n; i++) var += (z[i] - mu) * (z[i] - mu);
    s = sqrt(var / n + eps);
}
static void ln_fwd(const double *z, int n, const float *w, const float *b, double eps, double *out) {
    double mu, s;
    stats(z, n, eps, mu, s);
    for (int i = 0; i < n; i++) out[i] = w[i] * (z[i] - mu) / s + b[i];
}
static void ln_l2_bwd(const double *z, const double *tgt, int n, const float *w, const float *b, double eps, double *g) {
    double mu, s;
    stats(z, n, eps, mu, s);
    std::vector<double> xh(n), gh(n);
    double s1 = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        xh[i] = (z[i] - mu) / s;
        gh[i] = (w[i] * xh[i] + b[i] - tgt[i]) * w[i];
        s1 += gh[i];
        s2 += gh[i] * xh[i];
    }
    for (int i = 0; i < n; i++) g[i] = (n * gh[i] - s1 - xh[i] * s2) / (n * s);
}

struct Head {
    std::vector<double> W1, b1, W2, b2, G1, Gb1, G2, Gb2;
};

static void head_init(const Cfg &c, const sb_params *ps, int h, Head &s) {
    const int d = c.d, dh = c.mlp ? 4 * d : d;
    auto take = [](const float *p, size_t n) { return std::vector<double>(p, p + n); };
    s.W1 = take(P(ps, "W1") + (size_t)h * d * dh, (size_t)d * dh);
    s.b1 = take(P(ps, "b1") + (size_t)h * dh, dh);
    s.G1.assign((size_t)d * dh, 0.0);
    s.Gb1.assign(dh, 0.0);
    if (c.mlp) {
        s.W2 = take(P(ps, "W2") + (size_t)h * dh * d, (size_t)dh * d);
        s.b2 = take(P(ps, "b2") + (size_t)h * d, d);
        s.G2.assign((size_t)dh * d, 0.0);
        s.Gb2.assign(d, 0.0);
    }
}

/* x (length n) @ (W - tau G) + (b - tau Gb), W [n][m] */
static void affine(const double *x, int n, int m, const std::vector<double> &W, const std::vector<double> &G,
                   const std::vector<double> &b, const std::vector<double> &Gb, double tau, double *y) {
    for (int j = 0; j < m; j++) {
        double s = b[j] - tau * Gb[j];
        for (int i = 0; i < n; i++) s += x[i] * (W[(size_t)i * m + j] - tau * G[(size_t)i * m + j]);
        y[j] = s;
    }
}

/* One token of one head at mini-batch slot m (primal form = decode semantics). */
static void core_token(const Cfg &c, const sb_params *ps, int h, Head &s, const double *q, const double *k,
                       const double *v, double lr, int m, double *out) {
    const int d = c.d, dh = c.mlp ? 4 * d : d;
    const float *lw = P(ps, "ttt_norm_weight") + (size_t)h * d, *lb = P(ps, "ttt_norm_bias") + (size_t)h * d;
    const double tau = fmax(0.0, 1.0 / (m + 1) + P(ps, "learnable_token_idx")[m]);
    std::vector<double> tgt(d), z1(dh), x2(dh), z2(d), g2(d), g1(dh), zb(dh), xb(dh), zo(d), ln(d);
    for (int i = 0; i < d; i++) tgt[i] = v[i] - k[i];
    affine(k, d, dh, s.W1, s.G1, s.b1, s.Gb1, 0.0, z1.data());
    if (!c.mlp) {
        ln_l2_bwd(z1.data(), tgt.data(), d, lw, lb, c.eps, g1.data());
    } else {
        for (int u = 0; u < dh; u++) x2[u] = gelu(z1[u]);
        affine(x2.data(), dh, d, s.W2, s.G2, s.b2, s.Gb2, 0.0, z2.data());
        ln_l2_bwd(z2.data(), tgt.data(), d, lw, lb, c.eps, g2.data());
        for (int u = 0; u < dh; u++) {
            double a = 0;
            for (int i = 0; i < d; i++) a += g2[i] * s.W2[(size_t)u * d + i];
            g1[u] = a * gelu_grad(z1[u]);
        }
    }
    for (int i = 0; i < d; i++)
        for (int u = 0; u < dh; u++) s.G1[(size_t)i * dh + u] += lr * k[i] * g1[u];
    for (int u = 0; u < dh; u++) s.Gb1[u] += lr * g1[u];
    if (c.mlp) {
        for (int u = 0; u < dh; u++)
            for (int i = 0; i < d; i++) s.G2[(size_t)u * d + i] += lr * x2[u] * g2[i];
        for (int i = 0; i < d; i++) s.Gb2[i] += lr * g2[i];
    }
    affine(q, d, dh, s.W1, s.G1, s.b1, s.Gb1, tau, zb.data());
    if (c.mlp) {
        for (int u = 0; u < dh; u++) xb[u] = gelu(zb[u]);
        affine(xb.data(), dh, d, s.W2, s.G2, s.b2, s.Gb2, tau, zo.data());
    } else {
        zo = zb;
    }
    ln_fwd(zo.data(), d, lw, lb, c.eps, ln.data());
    for (int i = 0; i < d; i++) out[i] = q[i] + ln[i];
    if (m == c.mb - 1) { /* commit */
        auto commit = [tau](std::vector<double> &W, std::vector<double> &G) {
            for (size_t i = 0; i < W.size(); i++) W[i] -= tau * G[i], G[i] = 0;
        };
        commit(s.W1, s.G1);
        commit(s.b1, s.Gb1);
        if (c.mlp) {
            commit(s.W2, s.G2);
            commit(s.b2, s.Gb2);
        }
    }
}

/* Op level: rows [B][T][3D+H] -> out [B][T][D]; heads[b*H + h] hold the state afterwards. */
static void ref_op(const Cfg &c, const sb_params *ps, const std::vector<float> &x, int B, int T, int pos0,
                   std::vector<Head> &heads, std::vector<double> &y) {
    const int D = c.D, H = c.H, d = c.d, w = 3 * D + H;
    y.assign((size_t)B * T * D, 0);
    std::vector<double> q(d), k(d), v(d);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *row = &x[((size_t)b * T + t) * w];
            for (int h = 0; h < H; h++) {
                for (int i = 0; i < d; i++) q[i] = row[h * d + i], k[i] = row[D + h * d + i], v[i] = row[2 * D + h * d + i];
                core_token(c, ps, h, heads[b * H + h], q.data(), k.data(), v.data(), row[3 * D + h], (pos0 + t) % c.mb,
                           &y[((size_t)b * T + t) * D + h * d]);
            }
        }
}

/* Layer level, one sequence at a time, token by token; hist = the last K-1 P rows per sequence. */
struct LayerRef {
    std::vector<Head> heads;
    std::vector<std::vector<double>> hist; /* [B][(K-1) * D], oldest first */
};

static void ref_layer(const Cfg &c, const sb_params *ps, const std::vector<float> &x, int B, int T, int pos0,
                      LayerRef &st, std::vector<double> &y) {
    const int D = c.D, H = c.H, d = c.d, K = c.K;
    y.assign((size_t)B * T * D, 0);
    auto lin = [&](const char *n, const float *xr, int out_i) {
        const float *W = P(ps, n) + (size_t)out_i * D;
        double s = 0;
        for (int i = 0; i < D; i++) s += (double)xr[i] * W[i];
        return s;
    };
    std::vector<double> pq(D), q(D), k(D), v(D), lr(H), o(D), on(D), tmp(D);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *xr = &x[((size_t)b * T + t) * D];
            const int pos = pos0 + t, p = pos % c.mb;
            for (int i = 0; i < D; i++) pq[i] = lin("q_proj.weight", xr, i), v[i] = lin("v_proj.weight", xr, i);
            if (c.share_qk) {
                std::vector<double> &hs = st.hist[b];
                const float *cqw = P(ps, "conv_q.weight"), *cqb = P(ps, "conv_q.bias");
                const float *ckw = P(ps, "conv_k.weight"), *ckb = P(ps, "conv_k.bias");
                for (int ch = 0; ch < D; ch++) {
                    double aq = cqb[ch], ak = ckb[ch];
                    for (int i = 0; i < K; i++) {
                        const double pin = i == K - 1 ? pq[ch] : hs[(size_t)i * D + ch];
                        aq += cqw[ch * K + i] * pin;
                        ak += ckw[ch * K + i] * pin;
                    }
                    q[ch] = aq, k[ch] = ak;
                }
                for (int i = 0; i + 1 < K - 1; i++)
                    for (int ch = 0; ch < D; ch++) hs[(size_t)i * D + ch] = hs[(size_t)(i + 1) * D + ch];
                if (K > 1)
                    for (int ch = 0; ch < D; ch++) hs[(size_t)(K - 2) * D + ch] = pq[ch];
            } else {
                q = pq;
                for (int i = 0; i < D; i++) k[i] = lin("k_proj.weight", xr, i);
            }
            for (int h = 0; h < H; h++)
                for (int j = 0; j < d / 2; j++) {
                    const double th = p * (1.0 / pow((double)c.theta, 2.0 * j / d)), cs = cos(th), sn = sin(th);
                    for (double *a : {&q[h * d + 2 * j], &k[h * d + 2 * j]}) {
                        const double a0 = a[0], a1 = a[1];
                        a[0] = a0 * cs - a1 * sn;
                        a[1] = a1 * cs + a0 * sn;
                    }
                }
            for (int h = 0; h < H; h++) {
                double s = P(ps, "learnable_ttt_lr_bias")[h];
                for (int i = 0; i < D; i++) s += (double)xr[i] * P(ps, "learnable_ttt_lr_weight")[(size_t)h * D + i];
                lr[h] = c.base_lr / (1.0 + exp(-s)) / d;
            }
            for (int h = 0; h < H; h++)
                core_token(c, ps, h, st.heads[b * H + h], &q[h * d], &k[h * d], &v[h * d], lr[h], p, &o[h * d]);
            ln_fwd(o.data(), D, P(ps, "post_norm.weight"), P(ps, "post_norm.bias"), c.eps, on.data());
            if (c.use_gate)
                for (int i = 0; i < D; i++) on[i] *= gelu(lin("g_proj.weight", xr, i));
            for (int i = 0; i < D; i++) {
                double s = 0;
                for (int j = 0; j < D; j++) s += on[j] * P(ps, "o_proj.weight")[(size_t)i * D + j];
                y[((size_t)b * T + t) * D + i] = s;
            }
        }
}

static LayerRef layer_ref_state(const Cfg &c, const sb_params *ps, int B) {
    LayerRef st;
    st.heads.resize((size_t)B * c.H);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < c.H; h++) head_init(c, ps, h, st.heads[b * c.H + h]);
    st.hist.assign(B, std::vector<double>((size_t)(c.K > 1 ? c.K - 1 : 0) * c.D, 0.0));
    return st;
}

/* ---- comparisons ---------------------------------------------------------------------------- */
static bool check(const char *what, const float *got, const double *want, size_t n, double rel_tol, double floor1) {
    double max_abs = 0, max_ref = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - want[i]);
        if (!(e <= max_abs)) max_abs = e, worst = i;
        max_ref = fmax(max_ref, fabs(want[i]));
    }
    const double tol = rel_tol * (floor1 ? fmax(1.0, max_ref) : max_ref);
    const bool ok = max_abs <= tol;
    printf("  %-4s %-58s max_abs %.3e  max|ref| %.3g  rel %.2e  (tol %.1e)%s\n", ok ? "ok" : "FAIL", what, max_abs,
           max_ref, max_abs / fmax(max_ref, 1e-30), rel_tol, ok ? "" : "  <---");
    if (!ok) {
        printf("       worst at %zu: got %.6g want %.6g\n", worst, got[worst], want[worst]);
        failures++;
    }
    return ok;
}

/* ---- running the impls (layer or op level) on the CPU model --------------------------------- */
static std::vector<bf16> to_bf16(const std::vector<float> &x) {
    std::vector<bf16> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = __float2bfloat16_rn(x[i]);
    return r;
}
static std::vector<float> from_bf16(const bf16 *x, size_t n) {
    std::vector<float> r(n);
    for (size_t i = 0; i < n; i++) r[i] = __bfloat162float(x[i]);
    return r;
}

static sb_config to_config(const Cfg &c) {
    sb_config cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.name, sizeof cfg.name, "emu");
    cfg.d_model = c.D, cfg.heads = c.H, cfg.head_dim = c.d, cfg.mini_batch = c.mb, cfg.d_conv = c.K;
    cfg.ttt_base_lr = c.base_lr, cfg.share_qk = c.share_qk, cfg.use_gate = c.use_gate;
    cfg.rope_theta = c.theta, cfg.eps = c.eps;
    return cfg;
}

/* prefill of x [B][T][w], then `steps` decode rows xd [steps][B][w]; outputs y, yd (fp32). */
static bool run_impl(const Cfg &c, sb_params *ps, sb_level level, int version, const std::vector<float> &x,
                     const std::vector<float> &xd, int B, int T, int steps, std::vector<float> &y, std::vector<float> &yd) {
    char vbuf[8];
    snprintf(vbuf, sizeof vbuf, "%d", version);
    setenv("SB_TTT_VERSION", vbuf, 1);
    const sb_impl *im = c.mlp ? &ttt_mlp_cuda_dual : &ttt_linear_cuda_dual;
    sb_layer L;
    memset(&L, 0, sizeof L);
    L.cfg = to_config(c);
    L.level = level;
    L.backend = SB_CUDA;
    L.max_batch = B;
    L.max_ctx = T + steps;
    L.params = *ps; /* shallow: the host arrays stay owned by ps */
    if (im->setup(&L)) { printf("  FAIL setup: %s\n", sb_last_error()); failures++; return false; }
    const int w = level == SB_OP ? 3 * c.D + c.H : c.D;
    std::vector<bf16> xb = to_bf16(x), xdb = to_bf16(xd);
    std::vector<bf16> yb((size_t)B * T * c.D), ydb((size_t)B * c.D);
    memset(yb.data(), 0xff, yb.size() * sizeof(bf16));
    sb_status st = im->prefill(&L, xb.data(), yb.data(), B, T);
    L.pos = T, L.batch = B;
    y = from_bf16(yb.data(), yb.size());
    yd.clear();
    for (int s = 0; !st && s < steps; s++) {
        memset(ydb.data(), 0xff, ydb.size() * sizeof(bf16));
        st = im->decode(&L, xdb.data() + (size_t)s * B * w, ydb.data(), B);
        L.pos++;
        std::vector<float> o = from_bf16(ydb.data(), ydb.size());
        yd.insert(yd.end(), o.begin(), o.end());
    }
    im->teardown(&L);
    if (st) { printf("  FAIL run: %s\n", sb_last_error()); failures++; return false; }
    return true;
}

/* ---- 1 + 2: golden cases ---------------------------------------------------------------------- */
static bool read_case(const std::string &dir, Cfg &c, int &B, int &T, int &S) {
    FILE *f = fopen((dir + "/case.txt").c_str(), "r");
    if (!f) return false;
    char line[512];
    std::string layer;
    S = 0;
    while (fgets(line, sizeof line, f)) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        std::string k = line, v = eq + 1;
        while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
        if (k == "layer") layer = v;
        else if (k == "batch") B = atoi(v.c_str());
        else if (k == "ctx") T = atoi(v.c_str());
        else if (k == "decode_steps") S = atoi(v.c_str());
        else if (k == "d_model") c.D = atoi(v.c_str());
        else if (k == "heads") c.H = atoi(v.c_str());
        else if (k == "head_dim") c.d = atoi(v.c_str());
        else if (k == "mini_batch") c.mb = atoi(v.c_str());
        else if (k == "conv_kernel") c.K = atoi(v.c_str());
        else if (k == "ttt_base_lr") c.base_lr = atof(v.c_str());
        else if (k == "use_gate") c.use_gate = atoi(v.c_str());
        else if (k == "share_qk") c.share_qk = atoi(v.c_str());
        else if (k == "rope_theta") c.theta = atof(v.c_str());
        else if (k == "eps") c.eps = atof(v.c_str());
    }
    fclose(f);
    c.mlp = layer == "ttt_mlp";
    return layer == "ttt_linear" || layer == "ttt_mlp";
}

static std::vector<float> load_npy(const std::string &path) {
    sb_npy a;
    if (sb_npy_read(path.c_str(), &a)) { fprintf(stderr, "%s\n", sb_last_error()); exit(2); }
    std::vector<float> r(a.data, a.data + a.n);
    sb_npy_free(&a);
    return r;
}

static void golden_case(const std::string &dir) {
    Cfg c = {};
    int B = 0, T = 0, S = 0;
    if (!read_case(dir, c, B, T, S)) return;
    printf("golden %s\n", dir.c_str());
    sb_params ps;
    declare(c, &ps);
    if (sb_params_load_dir(&ps, dir.c_str())) { printf("  FAIL load: %s\n", sb_last_error()); failures++; return; }
    std::vector<float> x = load_npy(dir + "/x.npy"), y = load_npy(dir + "/y.npy"), xd, yd;
    if (S) xd = load_npy(dir + "/x_decode.npy"), yd = load_npy(dir + "/y_decode.npy");
    /* the reference: all T + S tokens in one pass per sequence */
    std::vector<float> xall;
    for (int b = 0; b < B; b++) {
        xall.insert(xall.end(), x.begin() + (size_t)b * T * c.D, x.begin() + (size_t)(b + 1) * T * c.D);
        if (S) xall.insert(xall.end(), xd.begin() + (size_t)b * S * c.D, xd.begin() + (size_t)(b + 1) * S * c.D);
    }
    LayerRef st = layer_ref_state(c, &ps, B);
    std::vector<double> yr;
    ref_layer(c, &ps, xall, B, T + S, 0, st, yr);
    std::vector<double> yp, ydr, yg(y.begin(), y.end()), ydg(yd.begin(), yd.end());
    for (int b = 0; b < B; b++) {
        yp.insert(yp.end(), yr.begin() + (size_t)b * (T + S) * c.D, yr.begin() + ((size_t)b * (T + S) + T) * c.D);
        ydr.insert(ydr.end(), yr.begin() + ((size_t)b * (T + S) + T) * c.D, yr.begin() + (size_t)(b + 1) * (T + S) * c.D);
    }
    std::vector<float> ypf(yp.begin(), yp.end()), ydf(ydr.begin(), ydr.end());
    check("reference vs golden y", ypf.data(), yg.data(), yg.size(), 1e-4, 1);
    if (S) check("reference vs golden y_decode", ydf.data(), ydg.data(), ydg.size(), 1e-4, 1);

    /* the impl: decode rows as [step][B][D] */
    std::vector<float> xdsteps((size_t)S * B * c.D);
    for (int s = 0; s < S; s++)
        for (int b = 0; b < B; b++)
            memcpy(&xdsteps[((size_t)s * B + b) * c.D], &xd[((size_t)b * S + s) * c.D], c.D * sizeof(float));
    const int versions[2] = {1, 2};
    for (int vi = 0; vi < 2; vi++) {
        std::vector<float> yi, ydi;
        if (!run_impl(c, &ps, SB_LAYER, versions[vi], x, xdsteps, B, T, S, yi, ydi)) continue;
        char what[96];
        snprintf(what, sizeof what, "cuda dual v%d (layer) vs golden y", versions[vi]);
        check(what, yi.data(), yg.data(), yg.size(), 2e-2, 0);
        if (S) {
            std::vector<double> want((size_t)S * B * c.D);
            for (int s = 0; s < S; s++)
                for (int b = 0; b < B; b++)
                    for (int i = 0; i < c.D; i++) want[((size_t)s * B + b) * c.D + i] = yd[((size_t)b * S + s) * c.D + i];
            snprintf(what, sizeof what, "cuda dual v%d (layer) vs golden y_decode", versions[vi]);
            check(what, ydi.data(), want.data(), want.size(), 2e-2, 0);
        }
    }
    sb_params_free(&ps);
}

/* ---- 3: random shapes ---------------------------------------------------------------------- */
static void random_rows(const Cfg &c, sb_level level, size_t rows, uint64_t seed, std::vector<float> &x) {
    sb_rng r;
    sb_rng_seed(&r, seed);
    const int D = c.D, w = level == SB_OP ? 3 * D + c.H : D;
    x.resize(rows * w);
    sb_fill_normal(x.data(), x.size(), &r, 0.f, 1.f);
    if (level == SB_OP)
        for (size_t i = 0; i < rows; i++)
            for (int h = 0; h < c.H; h++) x[i * w + 3 * D + h] = c.base_lr / c.d * sb_rng_uniform(&r);
    for (float &v : x) v = __bfloat162float(__float2bfloat16_rn(v)); /* the kernels see bf16 */
}

static void random_case(const Cfg &c, sb_level level, int version, int B, int T, int S, uint64_t seed) {
    printf("random %s %s v%d D %d H %d d %d share_qk %d gate %d B %d T %d decode %d\n", c.mlp ? "ttt_mlp" : "ttt_linear",
           level == SB_OP ? "op" : "layer", version, c.D, c.H, c.d, c.share_qk, c.use_gate, B, T, S);
    sb_params ps;
    declare(c, &ps);
    init_random(c, &ps, seed);
    const int w = level == SB_OP ? 3 * c.D + c.H : c.D;
    std::vector<float> x, xd;
    random_rows(c, level, (size_t)B * T, seed + 1, x);
    random_rows(c, level, (size_t)B * S, seed + 2, xd); /* [S][B][w] */
    std::vector<float> y, yd;
    if (!run_impl(c, &ps, level, version, x, xd, B, T, S, y, yd)) { sb_params_free(&ps); return; }
    /* reference: prefill rows, then the decode rows one step at a time */
    std::vector<double> yr, ydr, tmp;
    if (level == SB_OP) {
        std::vector<Head> heads((size_t)B * c.H);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < c.H; h++) head_init(c, &ps, h, heads[b * c.H + h]);
        ref_op(c, &ps, x, B, T, 0, heads, yr);
        for (int s = 0; s < S; s++) {
            std::vector<float> xs(xd.begin() + (size_t)s * B * w, xd.begin() + (size_t)(s + 1) * B * w);
            ref_op(c, &ps, xs, B, 1, T + s, heads, tmp);
            ydr.insert(ydr.end(), tmp.begin(), tmp.end());
        }
    } else {
        LayerRef st = layer_ref_state(c, &ps, B);
        ref_layer(c, &ps, x, B, T, 0, st, yr);
        for (int s = 0; s < S; s++) {
            std::vector<float> xs(xd.begin() + (size_t)s * B * w, xd.begin() + (size_t)(s + 1) * B * w);
            ref_layer(c, &ps, xs, B, 1, T + s, st, tmp);
            ydr.insert(ydr.end(), tmp.begin(), tmp.end());
        }
    }
    check("prefill", y.data(), yr.data(), yr.size(), 2e-2, 0);
    if (S) check("decode steps", yd.data(), ydr.data(), ydr.size(), 2e-2, 0);
    sb_params_free(&ps);
}

/* The state a prefill leaves, straight from the launcher: W at the open mini-batch's start and
 * its partial sums (golden *_decode_T37_*), vs the reference heads after the same tokens. */
static void state_case(const Cfg &c, int version, int B, int T, uint64_t seed) {
    printf("state %s v%d d %d B %d T %d\n", c.mlp ? "ttt_mlp" : "ttt_linear", version, c.d, B, T);
    sb_params ps;
    declare(c, &ps);
    init_random(c, &ps, seed);
    std::vector<float> x;
    random_rows(c, SB_OP, (size_t)B * T, seed + 1, x);
    const int d = c.d, dh = c.mlp ? 4 * d : d, H = c.H;
    std::vector<float> tau(c.mb);
    for (int i = 0; i < c.mb; i++) tau[i] = fmaxf(0.f, 1.0f / (i + 1) + P(&ps, "learnable_token_idx")[i]);
    const size_t n[4] = {(size_t)d * dh, (size_t)dh, c.mlp ? (size_t)dh * d : 0, c.mlp ? (size_t)d : 0};
    std::vector<float> Wst[4], Gst[4];
    ttt_core_args a;
    memset(&a, 0, sizeof a);
    std::vector<bf16> xb = to_bf16(x), yb((size_t)B * T * c.D);
    a.x = xb.data(), a.ldx = 3 * c.D + H, a.y = yb.data(), a.ldy = c.D;
    a.B = B, a.T = T, a.H = H, a.d = d, a.mb = c.mb, a.eps = c.eps;
    a.ln_w = P(&ps, "ttt_norm_weight"), a.ln_b = P(&ps, "ttt_norm_bias"), a.tau = tau.data();
    const char *names[4] = {"W1", "b1", "W2", "b2"};
    float **iw[4] = {&a.init.W1, &a.init.b1, &a.init.W2, &a.init.b2}, **ww[4] = {&a.W.W1, &a.W.b1, &a.W.W2, &a.W.b2},
          **gg[4] = {&a.G.W1, &a.G.b1, &a.G.W2, &a.G.b2};
    for (int i = 0; i < 4; i++) {
        if (!n[i]) continue;
        *iw[i] = (float *)P(&ps, names[i]);
        Wst[i].assign((size_t)B * H * n[i], NAN);
        Gst[i].assign((size_t)B * H * n[i], NAN);
        *ww[i] = Wst[i].data();
        *gg[i] = Gst[i].data();
    }
    sb_status st = c.mlp ? ttt_mlp_prefill(version, &a) : ttt_linear_prefill(version, &a);
    if (st) { printf("  FAIL: %s\n", sb_last_error()); failures++; sb_params_free(&ps); return; }
    std::vector<Head> heads((size_t)B * H);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) head_init(c, &ps, h, heads[b * H + h]);
    std::vector<double> yr;
    ref_op(c, &ps, x, B, T, 0, heads, yr);
    std::vector<float> y = from_bf16(yb.data(), yb.size());
    check("outputs", y.data(), yr.data(), yr.size(), 2e-2, 0);
    for (int i = 0; i < 4; i++) {
        if (!n[i]) continue;
        std::vector<double> wr, gr;
        for (auto &hd : heads) {
            const std::vector<double> *Wv[4] = {&hd.W1, &hd.b1, &hd.W2, &hd.b2}, *Gv[4] = {&hd.G1, &hd.Gb1, &hd.G2, &hd.Gb2};
            wr.insert(wr.end(), Wv[i]->begin(), Wv[i]->end());
            gr.insert(gr.end(), Gv[i]->begin(), Gv[i]->end());
        }
        char what[64];
        snprintf(what, sizeof what, "state %s (open mini-batch start)", names[i]);
        check(what, Wst[i].data(), wr.data(), wr.size(), version == 1 ? 1e-4 : 5e-3, 0);
        snprintf(what, sizeof what, "state %s sums", names[i]);
        double mx = 0;
        for (double v : gr) mx = fmax(mx, fabs(v));
        if (mx == 0) { /* T % mb == 0: the sums must be exactly zero */
            bool zero = true;
            for (float v : Gst[i]) zero &= v == 0.f;
            printf("  %-4s %-58s\n", zero ? "ok" : "FAIL", what);
            if (!zero) failures++;
        } else {
            check(what, Gst[i].data(), gr.data(), gr.size(), version == 1 ? 1e-4 : 1e-2, 0);
        }
    }
    sb_params_free(&ps);
}

/* SPEC §5: the bf16 error must not grow with the context (as tests/test_backends.c checks):
 * relative error over the last 1024 tokens at T = 1k and 8k, layer level, one sequence. */
static void growth_case(Cfg c, int version) {
    printf("growth %s v%d D %d H %d d %d, T 1k vs 8k\n", c.mlp ? "ttt_mlp" : "ttt_linear", version, c.D, c.H, c.d);
    double rel[2];
    const int Ts[2] = {1024, 8192};
    for (int k = 0; k < 2; k++) {
        sb_params ps;
        declare(c, &ps);
        init_random(c, &ps, 5);
        std::vector<float> x, xd, y, yd;
        random_rows(c, SB_LAYER, Ts[k], 6, x);
        if (!run_impl(c, &ps, SB_LAYER, version, x, xd, 1, Ts[k], 0, y, yd)) { sb_params_free(&ps); return; }
        LayerRef st = layer_ref_state(c, &ps, 1);
        std::vector<double> yr;
        ref_layer(c, &ps, x, 1, Ts[k], 0, st, yr);
        const size_t off = (size_t)(Ts[k] - 1024) * c.D;
        double max_abs = 0, max_ref = 0;
        for (size_t i = off; i < yr.size(); i++) max_abs = fmax(max_abs, fabs(y[i] - yr[i])), max_ref = fmax(max_ref, fabs(yr[i]));
        rel[k] = max_abs / max_ref;
        sb_params_free(&ps);
    }
    const bool ok = rel[1] <= 2e-2 && rel[1] <= 2.0 * rel[0] + 2e-3;
    printf("  %-4s relative error over the last 1024 tokens: %.3e at T=1k, %.3e at T=8k\n", ok ? "ok" : "FAIL", rel[0], rel[1]);
    failures += !ok;
}

int main(int argc, char **argv) {
    const char *golden = argc > 1 ? argv[1] : "tests/golden";
    const char *only = getenv("EMU_ONLY"); /* golden|random|state */
    if (!only || !strcmp(only, "golden")) {
        const char *cases[] = {"ttt_linear_prefill_T45", "ttt_linear_prefill_T64", "ttt_linear_decode_T32_S20",
                               "ttt_linear_decode_T37_S20", "ttt_linear_shareqk_gate_prefill_T45",
                               "ttt_linear_shareqk_gate_decode_T32_S20", "ttt_mlp_prefill_T45", "ttt_mlp_prefill_T64",
                               "ttt_mlp_decode_T32_S20", "ttt_mlp_decode_T37_S20", "ttt_mlp_shareqk_gate_prefill_T45",
                               "ttt_mlp_shareqk_gate_decode_T32_S20"};
        for (const char *cs : cases) golden_case(std::string(golden) + "/" + cs);
    }
    Cfg tiny = {64, 4, 16, 16, 4, false, true, true, 1.0f, 10000.0f, 1e-6f};
    Cfg wide = {128, 2, 64, 16, 4, false, true, true, 1.0f, 10000.0f, 1e-6f};
    if (!only || !strcmp(only, "state")) {
        for (int mlp = 0; mlp < 2; mlp++)
            for (int version = 1; version <= 2; version++) {
                for (Cfg c : {tiny, wide}) {
                    c.mlp = mlp;
                    c.base_lr = mlp ? 0.1f : 1.0f;
                    for (int T : {37, 64, 5}) state_case(c, version, 2, T, 100 + T);
                }
            }
    }
    if (!only || !strcmp(only, "random")) {
        struct { int B, T, S, share_qk, use_gate; } shapes[] = {{2, 45, 6, 1, 1}, {1, 64, 18, 0, 0}, {3, 17, 2, 0, 1}, {1, 1, 20, 1, 0}};
        for (int mlp = 0; mlp < 2; mlp++)
            for (int version = 1; version <= 2; version++) {
                for (auto &s : shapes)
                    for (int level = SB_OP; level <= SB_LAYER; level++) {
                        Cfg c = tiny;
                        c.mlp = mlp, c.base_lr = mlp ? 0.1f : 1.0f, c.share_qk = s.share_qk, c.use_gate = s.use_gate;
                        random_case(c, (sb_level)level, version, s.B, s.T, s.S, 7 + s.T);
                    }
                Cfg c = wide;
                c.mlp = mlp, c.base_lr = mlp ? 0.1f : 1.0f;
                random_case(c, SB_LAYER, version, 2, 40, 9, 99);
                random_case(c, SB_OP, version, 1, 33, 16, 98);
            }
    }
    if (only && !strcmp(only, "drift")) /* how far the v2 state drifts from fp64 over many mini-batches */
        for (int T : {256, 1024, 4096}) {
            Cfg c = tiny;
            state_case(c, 2, 1, T, 3);
            state_case(c, 1, 1, T, 3);
        }
    if (only && !strcmp(only, "growth")) /* slow (~1 min): not in the default run */
        for (int mlp = 0; mlp < 2; mlp++)
            for (int version = 1; version <= 2; version++) {
                Cfg c = tiny;
                c.mlp = mlp, c.base_lr = mlp ? 0.1f : 1.0f;
                growth_case(c, version);
            }
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures ? 1 : 0;
}
