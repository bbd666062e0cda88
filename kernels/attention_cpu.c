/* attention_cpu.c: the fast CPU impl of causal softmax attention (SPEC §3.1), impl "flash",
 * levels op and layer. fp32, OpenBLAS for every matrix product, OpenMP across heads/blocks.
 *
 *   prefill  q, k, v projections (one cblas_sgemm per weight over all B*T rows), RoPE
 *            rotate-half with angles in double, k and v scattered into the KV cache [B,H,T,d];
 *            then flash-style blocked attention: per (sequence, head, block of ATTN_BQ queries)
 *            walk blocks of ATTN_BK keys, scores block by sgemm, online softmax (running max and
 *            sum, the accumulator rescaled), P.V by sgemm. No T x T matrix exists: the workspace
 *            is the q/o rows (B*T*D) plus one score block per thread. The output o overwrites
 *            the q rows of its own block, then o_proj by one sgemm.
 *   decode   split-KV: the keys of each (sequence, head) are cut into splits of at least
 *            ATTN_MIN_SPLIT keys; each split gives a partial (o, max, sum) by two sgemv; the
 *            partials are merged with log-sum-exp weights.
 *
 * The reference (layers/attention.c) is the oracle: tests/test_backends.c, test_decode.c and the
 * golden cases check this file against it.
 */
#include "attention_impls.h"
#include "cpu_common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Query rows per block: large enough for sgemm to reach speed, small enough that a causal
 * triangle splits into many tasks for the threads. Measured (125m op prefill, T 4k, 2 threads,
 * this 2-core EPYC): BQ x BK 64x256 158.7 ms, 128x256 152.8, 64x512 156.8, 128x512 150.8-152.1,
 * 256x512 151.3, 128x1024 152.3; torch SDPA 156.6-160.8 ms on the same shape. */
#define ATTN_BQ 128
/* Keys per block: the 128 x 512 fp32 score block (256 KiB) stays in L2 next to the K/V block. */
#define ATTN_BK 512
/* Decode: a split below this many keys costs more in merging than it gains in parallelism. */
#define ATTN_MIN_SPLIT 512
/* RoPE angles are held on the stack per row. */
#define ATTN_MAX_HEAD_DIM 512

typedef struct {
    float *k, *v;                 /* KV cache [max_batch, H, max_ctx, d], k after RoPE */
    float *qo; size_t qo_cap;     /* layer level: q rows [B*T, D], overwritten in place by o */
    float *kv; size_t kv_cap;     /* layer level: k or v projection rows before the cache scatter */
    float *work; size_t work_cap; /* per-thread blocks (prefill) or split partials (decode) */
} attn_cpu;

static float *cache_at(const sb_layer *L, float *cache, int b, int h) {
    return cache + ((size_t)b * L->cfg.heads + h) * L->max_ctx * L->cfg.head_dim;
}

/* ---- setup and teardown ---------------------------------------------------------------------- */
static void attn_teardown(sb_layer *L) {
    attn_cpu *s = L->impl_state;
    if (!s) return;
    free(s->k); free(s->v); free(s->qo); free(s->kv); free(s->work);
    free(s);
    L->impl_state = NULL;
}

static sb_status attn_setup(sb_layer *L) {
    if (L->cfg.head_dim > ATTN_MAX_HEAD_DIM)
        return sb_fail(SB_ENOTSUP, "attention cpu: head_dim %d > %d", L->cfg.head_dim, ATTN_MAX_HEAD_DIM);
    attn_cpu *s = calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "out of host memory");
    L->impl_state = s;
    size_t n = (size_t)L->max_batch * L->max_ctx * L->cfg.d_model;
    sb_status st = cpu_alloc(&s->k, n, "attention cpu: K cache");
    if (!st) st = cpu_alloc(&s->v, n, "attention cpu: V cache");
    return st;
}

/* ---- RoPE and the cache ------------------------------------------------------------------------ */
/* cos/sin of position p for the d/2 frequencies, computed in double as the reference does
 * (an fp32 angle p*f loses ~1e-3 rad at p = 32k). */
static void rope_angles(int p, int d, float theta, float *cs, float *sn) {
    for (int j = 0; j < d / 2; j++) {
        double ang = p * pow((double)theta, -2.0 * j / d);
        cs[j] = (float)cos(ang);
        sn[j] = (float)sin(ang);
    }
}

static void rope_apply(float *v, int d, const float *cs, const float *sn) {
    const int h = d / 2;
#pragma omp simd
    for (int j = 0; j < h; j++) {
        float a = v[j], b = v[j + h];
        v[j] = a * cs[j] - b * sn[j];
        v[j + h] = b * cs[j] + a * sn[j];
    }
}

/* Rows r = b*T + t of `src` (width D, heads in order) go to cache position pos+t of head h.
 * With rope set, q rows (may be NULL) and the k rows are rotated on the way. */
static void rope_and_scatter(const sb_layer *L, float *cache, const float *src, int lds, float *q, int ldq, int rope,
                             int B, int T) {
    const int H = L->cfg.heads, d = L->cfg.head_dim, pos = L->pos;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)B * T; r++) {
        int b = (int)(r / T), t = (int)(r % T);
        float cs[ATTN_MAX_HEAD_DIM / 2], sn[ATTN_MAX_HEAD_DIM / 2];
        if (rope) rope_angles(pos + t, d, L->cfg.rope_theta, cs, sn);
        for (int h = 0; h < H; h++) {
            float *kd = cache_at(L, cache, b, h) + (size_t)(pos + t) * d;
            memcpy(kd, src + (size_t)r * lds + h * d, d * sizeof(float));
            if (!rope) continue;
            rope_apply(kd, d, cs, sn);
            if (q) rope_apply(q + (size_t)r * ldq + h * d, d, cs, sn);
        }
    }
}

/* ---- prefill: flash-style blocked attention ----------------------------------------------------- */
/* Online softmax of one score block row: folds keys [0, nv) of S into the running (m, l) and
 * rescales the accumulator row; S holds the probabilities afterwards, zeros past nv. */
static void softmax_block_row(float *S, int nk, int nv, float *m, float *l, float *acc, int d) {
    float mx = *m;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < nv; j++) mx = S[j] > mx ? S[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < nv; j++) {
        float p = cpu_expf(S[j] - mx);
        S[j] = p;
        sum += p;
    }
    for (int j = nv; j < nk; j++) S[j] = 0.0f; /* causal mask: future keys weigh nothing */
    float alpha = expf(*m - mx); /* 0 on the first block (m = -inf) */
    *l = *l * alpha + sum;
    *m = mx;
    if (alpha != 1.0f)
        for (int i = 0; i < d; i++) acc[i] *= alpha;
}

/* One task: queries [q0, q0+nq) of sequence b, head h, attending keys 0..(query position). */
static void flash_task(const sb_layer *L, const attn_cpu *s, const float *q, int ldq, float *o, int ldo, int b,
                       int h, int T, int q0, int nq, float *work) {
    const int d = L->cfg.head_dim, pos = L->pos;
    float *S = work, *acc = S + ATTN_BQ * ATTN_BK, *m = acc + ATTN_BQ * d, *l = m + ATTN_BQ;
    const float *kc = cache_at(L, s->k, b, h), *vc = cache_at(L, s->v, b, h);
    const float *qb = q + ((size_t)b * T + q0) * ldq + h * d;
    const float scale = 1.0f / sqrtf((float)d);
    const int qpos0 = pos + q0, nkeys = qpos0 + nq; /* keys the last query of the block sees */
    for (int i = 0; i < nq; i++) { m[i] = -INFINITY; l[i] = 0.0f; }
    memset(acc, 0, (size_t)nq * d * sizeof(float));
    for (int j0 = 0; j0 < nkeys; j0 += ATTN_BK) {
        const int nk = nkeys - j0 < ATTN_BK ? nkeys - j0 : ATTN_BK;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, d, scale, qb, ldq, kc + (size_t)j0 * d, d, 0.0f,
                    S, ATTN_BK);
        for (int i = 0; i < nq; i++) {
            int nv = qpos0 + i + 1 - j0; /* keys of this block at or before query i */
            nv = nv < 0 ? 0 : nv > nk ? nk : nv;
            softmax_block_row(S + (size_t)i * ATTN_BK, nk, nv, &m[i], &l[i], acc + (size_t)i * d, d);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, d, nk, 1.0f, S, ATTN_BK, vc + (size_t)j0 * d, d,
                    1.0f, acc, d);
    }
    float *ob = o + ((size_t)b * T + q0) * ldo + h * d; /* may alias qb: q is no longer read */
    for (int i = 0; i < nq; i++)
        for (int c = 0; c < d; c++) ob[(size_t)i * ldo + c] = acc[(size_t)i * d + c] / l[i];
}

static size_t flash_work_per_thread(int d) { return (size_t)ATTN_BQ * ATTN_BK + (size_t)ATTN_BQ * d + 2 * ATTN_BQ; }

/* T new queries per sequence (rows b*T+t of q, stride ldq) over the cache; o rows (stride ldo). */
static sb_status flash_prefill(sb_layer *L, attn_cpu *s, const float *q, int ldq, float *o, int ldo, int B, int T) {
    const int H = L->cfg.heads, nqb = (T + ATTN_BQ - 1) / ATTN_BQ;
    const size_t per = flash_work_per_thread(L->cfg.head_dim);
    sb_status st = cpu_reserve(&s->work, &s->work_cap, per * cpu_threads(), "attention cpu: flash blocks");
    if (st) return st;
    const long tasks = (long)B * H * nqb;
    /* the last query blocks see the most keys: hand them out first so that the threads end together */
#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < tasks; i++) {
        int qb = nqb - 1 - (int)(i / ((long)B * H)), bh = (int)(i % ((long)B * H));
        int q0 = qb * ATTN_BQ, nq = T - q0 < ATTN_BQ ? T - q0 : ATTN_BQ;
        flash_task(L, s, q, ldq, o, ldo, bh / H, bh % H, T, q0, nq, s->work + per * omp_get_thread_num());
    }
    return SB_OK;
}

/* ---- decode: split-KV with a log-sum-exp merge ----------------------------------------------------- */
typedef struct { int n, nsplit, len; } split_plan;

/* n keys per (sequence, head): enough splits for ~4 tasks per thread, none under ATTN_MIN_SPLIT. */
static split_plan plan_splits(int n, int BH) {
    int want = (4 * cpu_threads() + BH - 1) / BH, most = (n + ATTN_MIN_SPLIT - 1) / ATTN_MIN_SPLIT;
    split_plan p = {.n = n, .nsplit = want < most ? want : most};
    if (p.nsplit < 1) p.nsplit = 1;
    p.len = (n + p.nsplit - 1) / p.nsplit;
    p.nsplit = (n + p.len - 1) / p.len;
    return p;
}

/* Keys [j0, j0+nk) against one query: partial o (unnormalised), max m and sum l. */
static void split_partial(const float *q, const float *kc, const float *vc, int d, int j0, int nk, float *sc,
                          float *po, float *pm, float *pl) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, nk, d, 1.0f / sqrtf((float)d), kc + (size_t)j0 * d, d, q, 1, 0.0f, sc, 1);
    float mx = -INFINITY, sum = 0.0f;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < nk; j++) mx = sc[j] > mx ? sc[j] : mx;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < nk; j++) {
        float p = cpu_expf(sc[j] - mx);
        sc[j] = p;
        sum += p;
    }
    cblas_sgemv(CblasRowMajor, CblasTrans, nk, d, 1.0f, vc + (size_t)j0 * d, d, sc, 1, 0.0f, po, 1);
    *pm = mx;
    *pl = sum;
}

/* Partials of the splits of one (sequence, head) -> o row: weights exp(m_s - max m) / total. */
static void merge_splits(const float *po, const float *pm, const float *pl, int nsplit, int d, float *o) {
    float M = -INFINITY, Lsum = 0.0f;
    for (int s = 0; s < nsplit; s++) M = pm[s] > M ? pm[s] : M;
    for (int c = 0; c < d; c++) o[c] = 0.0f;
    for (int s = 0; s < nsplit; s++) {
        float w = expf(pm[s] - M);
        Lsum += w * pl[s];
        for (int c = 0; c < d; c++) o[c] += w * po[(size_t)s * d + c];
    }
    for (int c = 0; c < d; c++) o[c] /= Lsum;
}

/* One query per sequence (row b of q, stride ldq) at position L->pos, whose k and v are already in
 * the cache; o row b (stride ldo). */
static sb_status splitkv_decode(sb_layer *L, attn_cpu *s, const float *q, int ldq, float *o, int ldo, int B) {
    const int H = L->cfg.heads, d = L->cfg.head_dim, BH = B * H;
    const split_plan p = plan_splits(L->pos + 1, BH);
    const size_t parts = (size_t)BH * p.nsplit, per_thread = (size_t)p.len;
    sb_status st = cpu_reserve(&s->work, &s->work_cap, parts * (d + 2) + per_thread * cpu_threads(),
                               "attention cpu: split-KV partials");
    if (st) return st;
    float *po = s->work, *pm = po + parts * d, *pl = pm + parts, *scores = pl + parts;
#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < (long)parts; i++) {
        int bh = (int)(i / p.nsplit), sp = (int)(i % p.nsplit), b = bh / H, h = bh % H;
        int j0 = sp * p.len, nk = p.n - j0 < p.len ? p.n - j0 : p.len;
        split_partial(q + (size_t)b * ldq + h * d, cache_at(L, s->k, b, h), cache_at(L, s->v, b, h), d, j0, nk,
                      scores + per_thread * omp_get_thread_num(), po + i * d, pm + i, pl + i);
    }
    for (int bh = 0; bh < BH; bh++) {
        size_t i = (size_t)bh * p.nsplit;
        merge_splits(po + i * d, pm + i, pl + i, p.nsplit, d, o + (size_t)(bh / H) * ldo + (bh % H) * d);
    }
    return SB_OK;
}

/* ---- the two levels ------------------------------------------------------------------------------- */
/* Op level: rows q | k | v (RoPE applied). */
static sb_status op_forward(sb_layer *L, const float *x, float *y, int B, int T, int decode) {
    attn_cpu *s = L->impl_state;
    const int D = L->cfg.d_model;
    rope_and_scatter(L, s->k, x + D, 3 * D, NULL, 0, 0, B, T);
    rope_and_scatter(L, s->v, x + 2 * D, 3 * D, NULL, 0, 0, B, T);
    return decode ? splitkv_decode(L, s, x, 3 * D, y, D, B) : flash_prefill(L, s, x, 3 * D, y, D, B, T);
}

/* Layer level: projections, RoPE, cache, core, o_proj. */
static sb_status layer_forward(sb_layer *L, const float *x, float *y, int B, int T, int decode) {
    attn_cpu *s = L->impl_state;
    const int D = L->cfg.d_model, M = B * T;
    sb_status st = cpu_reserve(&s->qo, &s->qo_cap, (size_t)M * D, "attention cpu: q/o rows");
    if (!st) st = cpu_reserve(&s->kv, &s->kv_cap, (size_t)M * D, "attention cpu: k/v rows");
    if (st) return st;
    cpu_linear(x, D, sb_params_get(&L->params, "q_proj.weight"), s->qo, D, M, D, D);
    cpu_linear(x, D, sb_params_get(&L->params, "k_proj.weight"), s->kv, D, M, D, D);
    rope_and_scatter(L, s->k, s->kv, D, s->qo, D, 1, B, T);
    cpu_linear(x, D, sb_params_get(&L->params, "v_proj.weight"), s->kv, D, M, D, D);
    rope_and_scatter(L, s->v, s->kv, D, NULL, 0, 0, B, T);
    st = decode ? splitkv_decode(L, s, s->qo, D, s->qo, D, B) : flash_prefill(L, s, s->qo, D, s->qo, D, B, T);
    if (st) return st;
    cpu_linear(s->qo, D, sb_params_get(&L->params, "o_proj.weight"), y, D, M, D, D);
    return SB_OK;
}

static sb_status attn_forward(sb_layer *L, const void *x, void *y, int B, int T, int decode) {
    return L->level == SB_OP ? op_forward(L, x, y, B, T, decode) : layer_forward(L, x, y, B, T, decode);
}
static sb_status attn_prefill(sb_layer *L, const void *x, void *y, int B, int T) { return attn_forward(L, x, y, B, T, 0); }
static sb_status attn_decode(sb_layer *L, const void *x, void *y, int B) { return attn_forward(L, x, y, B, 1, 1); }

/* K and V of T positions: uniform with unit variance, one generator per (sequence, head). */
static sb_status attn_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    attn_cpu *s = L->impl_state;
    const int H = L->cfg.heads, d = L->cfg.head_dim;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        sb_rng rng;
        sb_rng_seed(&rng, seed * 1000003u + (uint64_t)bh);
        sb_fill_uniform(cache_at(L, s->k, bh / H, bh % H), (size_t)T * d, &rng, -1.7320508f, 1.7320508f);
        sb_fill_uniform(cache_at(L, s->v, bh / H, bh % H), (size_t)T * d, &rng, -1.7320508f, 1.7320508f);
    }
    return SB_OK;
}

const sb_impl sb_attention_cpu_flash = {
    .name = "flash", .backend = SB_CPU, .levels = 1u << SB_OP | 1u << SB_LAYER,
    .about = "sgemm projections, blocked online-softmax attention (OpenMP over B x H x query blocks), "
             "split-KV decode with log-sum-exp merge; fp32",
    .setup = attn_setup, .prefill = attn_prefill, .decode = attn_decode, .fill_state = attn_fill_state,
    .teardown = attn_teardown,
};
