/* predict.c: see predict.h. */
#include "predict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* With no measurement of a series yet: rough rates (ref: naive double-precision loops on one
 * core reach 1-3 GFLOP/s; cpu: OpenBLAS on a few cores; cuda: a fraction of tensor-core peak). */
static const double prior_flops_per_s[SB_NBACKENDS] = {1e9, 10e9, 20e12};
static const double prior_bytes_per_s[SB_NBACKENDS] = {1e9, 5e9, 1e12};

sb_counts sb_point_counts(const sb_point *p, sb_mode mode, int B, int T) {
    return sb_count(p->desc, p->impl, &p->cfg, p->level, mode, B, T, sb_backend_act_dtype(p->backend));
}
double sb_point_flops(const sb_point *p, sb_mode mode, int B, int T) { return sb_point_counts(p, mode, B, T).flops; }
double sb_point_bytes(const sb_point *p, sb_mode mode, int B, int T) { return sb_point_counts(p, mode, B, T).bytes; }

static int same_series(const sb_point *a, const sb_point *b, sb_mode mode) {
    return a->desc == b->desc && a->impl == b->impl && a->level == b->level && a->backend == b->backend &&
           a->mode == mode && !strcmp(a->cfg.name, b->cfg.name);
}

/* Seconds of one call of p's layer in `mode` at (B, T), scaled by the analytic FLOP count (else
 * by tokens) from, in order: the closest measured point of the same series (same batch and the
 * largest smaller context preferred); the FLOP rate of the last measured point with the same
 * backend, level and mode (another layer); the prior rate of the backend. */
static double predict_call_s(const sb_history *h, const sb_point *p, sb_mode mode, int B, int T) {
    double f = sb_point_flops(p, mode, B, T), by = sb_point_bytes(p, mode, B, T);
    const sb_measured *best = NULL, *alike = NULL;
    int best_score = -1;
    for (int i = 0; i < h->n; i++) {
        const sb_point *q = h->v[i].p;
        if (q->backend == p->backend && q->level == p->level && q->mode == mode && sb_point_flops(q, mode, q->batch, q->ctx) > 0)
            alike = &h->v[i];
        if (!same_series(q, p, mode)) continue;
        int score = (q->batch == B) * 4 + (q->ctx <= T) * 2 + 1;
        if (score > best_score || (score == best_score && abs(q->ctx - T) < abs(best->p->ctx - T))) {
            best = &h->v[i];
            best_score = score;
        }
    }
    if (best) {
        double fq = sb_point_flops(best->p, mode, best->p->batch, best->p->ctx);
        double scale = f > 0 && fq > 0 ? f / fq : (double)B * T / ((double)best->p->batch * best->p->ctx);
        return best->call_s * scale;
    }
    if (alike && f > 0) return alike->call_s * f / sb_point_flops(alike->p, mode, alike->p->batch, alike->p->ctx);
    double t = f / prior_flops_per_s[p->backend], tb = by / prior_bytes_per_s[p->backend];
    return t > tb ? t : tb;
}

/* Calls the rule makes at `call` seconds each: warm-up stops once soft_s is spent, sampling once
 * min_samples are in and soft_s is spent, and always at hard_s (see measure.c, timing.h). */
static double rule_calls(const sb_sample_rule *rule, double call, int warmup) {
    double soft = ceil(rule->soft_s / call), hard = ceil(rule->hard_s / call);
    if (warmup) return fmax(1, fmin(rule->warmup, soft)); /* (CUDA always makes all: a bound, not more) */
    return fmax(1, fmin(fmax(rule->min_samples, soft), hard));
}

/* Same set-up work: layer, level, backend, mode and config (impls and batches share the way
 * their weights, inputs and decode states are made). */
static int same_setup(const sb_point *a, const sb_point *b) {
    return a->desc == b->desc && a->level == b->level && a->backend == b->backend && a->mode == b->mode &&
           !strcmp(a->cfg.name, b->cfg.name);
}

static double tokens_of(const sb_point *p) { return (double)p->batch * p->ctx; }

/* Nearness of a measured point to x tokens: points at or below x first, nearest first. */
static double setup_rank(const sb_measured *m, double x) {
    double xm = tokens_of(m->p);
    return xm <= x ? x - xm : 1e30 + (xm - x);
}

/* Set-up seconds of p from the measured set-ups, as a + b * (B*T) (inputs and decode states grow
 * with the tokens, weights do not): through the two points of p's set-up group nearest below it
 * in tokens (above when none), constant with one point; with none, the last set-up measured at
 * the same backend and level (another layer), constant. *found = 0 when no point of the group
 * was measured (then a decode state built by a prefill is not covered yet). */
double sb_predict_setup_s(const sb_history *h, const sb_point *p, int *found) {
    const sb_measured *n1 = NULL, *n2 = NULL, *other = NULL;
    const double x = tokens_of(p);
    for (int i = 0; i < h->n; i++) {
        const sb_measured *m = &h->v[i];
        if (m->p->backend == p->backend && m->p->level == p->level) other = m;
        if (same_setup(m->p, p) && (!n1 || setup_rank(m, x) < setup_rank(n1, x))) n1 = m;
    }
    for (int i = 0; n1 && i < h->n; i++) { /* the nearest at another token count */
        const sb_measured *m = &h->v[i];
        if (same_setup(m->p, p) && tokens_of(m->p) != tokens_of(n1->p) && (!n2 || setup_rank(m, x) < setup_rank(n2, x))) n2 = m;
    }
    *found = n1 != NULL;
    if (!n1) return other ? other->setup_s : 0;
    if (!n2) return n1->setup_s;
    double x1 = tokens_of(n1->p), slope = (n1->setup_s - n2->setup_s) / (x1 - tokens_of(n2->p));
    if (slope < 0) slope = 0; /* noise, not a set-up that shrinks with its input */
    return fmax(n1->setup_s + slope * (x - x1), 0);
}

/* Whole cost of a point: set-up (with the decode state: fill_state where the impl has it, at
 * either level, else an untimed prefill), warm-up, sampling and the CUDA energy window. A host
 * call slower than the hard cap is made once: that first call is the only sample (measure.c). */
double sb_predict_point_s(const sb_history *h, const sb_point *p, const sb_sample_rule *rule, double *call_s,
                          double *setup_s) {
    double call = predict_call_s(h, p, p->mode, p->batch, p->ctx), build = 0;
    if (call <= 0) call = 1e-6;
    int found = 0;
    double setup = sb_predict_setup_s(h, p, &found);
    if (p->mode == SB_DECODE && !p->impl->fill_state && !found) /* no measured set-up covers the prefill yet */
        build = predict_call_s(h, p, SB_PREFILL, p->batch, p->ctx);
    *call_s = call;
    *setup_s = setup + build;
    if (p->backend != SB_CUDA && call >= rule->hard_s) return setup + build + call;
    double energy = p->backend == SB_CUDA && rule->energy_s > 0 ? fmax(rule->energy_s, call) : 0;
    return setup + build + call * (rule_calls(rule, call, 1) + rule_calls(rule, call, 0)) + energy;
}

/* The cost of p before anything is measured (bench/shard.c balances shards by it). */
double sb_point_prior_s(const sb_point *p, const sb_preset *ps) {
    sb_history none = {0};
    double call_s, setup_s;
    return sb_predict_point_s(&none, p, &ps->rule, &call_s, &setup_s);
}

void sb_history_add(sb_history *h, const sb_point *p, double call_s, double setup_s) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        sb_measured *v = realloc(h->v, (size_t)cap * sizeof *v);
        if (!v) return; /* predictions get coarser, nothing breaks */
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = (sb_measured){p, call_s, setup_s};
}

void sb_history_free(sb_history *h) {
    free(h->v);
    memset(h, 0, sizeof *h);
}
