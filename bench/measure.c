/* measure.c: one point of a sweep (SPEC §7): create the layer at exactly the point's size (so
 * that peak memory and out-of-memory belong to this point), build the decode state, warm up,
 * sample by the preset's rule, check the output for NaN/Inf.
 *
 *   prefill  one sb_layer_prefill over B x T tokens per sample
 *   decode   state from fill_state when the impl has it, else an untimed prefill; then per sample
 *            sb_layer_rewind(L, T) + one sb_layer_decode. On CUDA a graph of the decode step is
 *            captured and replayed (plain launches when capture fails).
 * Host backends are timed with CLOCK_MONOTONIC around the call, CUDA with events on sb_stream();
 * at op level on CUDA the L2 is flushed before each sample. A host call slower than the rule's
 * hard cap is made once: the first call is the only sample (the note says so).
 * The stop rule reads running statistics (O(1) per sample); the median is taken once at the end.
 * On CUDA the SM clock is read (NVML) after every sample and samples below 75% of the maximum clock
 * are counted as throttled in the note (as nvbench flags them); after sampling, a window of repeats
 * of at least rule->energy_s seconds is timed between two reads of NVML's total-energy counter
 * (joules per token and mean watts; nothing where NVML or its counter is missing).
 * setup_s: the wall time of the point before its warm-up (create, weights, inputs, decode state).
 * CUDA decode points whose state plus weights alone exceed the free device memory are `oom`
 * before anything is built. */
#include "sweep.h"
#include "predict.h"
#include "interrupt.h"
#include "../runtime/cuda_api.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* ---- outcome helpers ---------------------------------------------------------------------- */
static void set_status(sb_point_result *r, const char *status) { snprintf(r->status, sizeof r->status, "%s", status); }

static void add_note(sb_point_result *r, const char *fmt, const char *arg) {
    size_t len = strlen(r->note);
    if (len && len + 2 < sizeof r->note) { strcpy(r->note + len, "; "); len += 2; }
    snprintf(r->note + len, sizeof r->note - len, fmt, arg);
}

/* oom for SB_ENOMEM, skipped for an unsupported shape or level, error otherwise. */
static void set_failure(sb_point_result *r, sb_status st, const char *stage) {
    set_status(r, st == SB_ENOMEM ? "oom" : st == SB_ENOTSUP ? "skipped" : "error");
    char msg[600];
    snprintf(msg, sizeof msg, "%s: %s", stage, sb_last_error());
    add_note(r, "%s", msg);
}

/* ---- timer: host clock or CUDA events ------------------------------------------------------ */
typedef struct {
    sb_cuda_timer *cuda; /* NULL on host backends */
    double t0;
} timer;

static sb_status timer_start(timer *t) {
    if (t->cuda) return sb_cuda_timer_start(t->cuda);
    t->t0 = sb_now_s();
    return SB_OK;
}
static sb_status timer_stop(timer *t, double *ms) {
    if (t->cuda) return sb_cuda_timer_stop(t->cuda, ms);
    *ms = (sb_now_s() - t->t0) * 1e3;
    return SB_OK;
}

/* ---- one call of the point ------------------------------------------------------------------- */
typedef struct {
    sb_layer *L;
    sb_mode mode;
    int B, T;
    sb_buf x, y;
    sb_cuda_graph *graph;
    int flush_l2;
} call_ctx;

/* Untimed preparation of a call: back to context T (decode), cold L2 (CUDA op level). */
static sb_status prepare(call_ctx *c) {
    if (c->mode == SB_DECODE) sb_layer_rewind(c->L, c->T);
    return c->flush_l2 ? sb_cuda_flush_l2() : SB_OK;
}

static sb_status invoke(call_ctx *c) {
    if (c->mode == SB_PREFILL) return sb_layer_prefill(c->L, c->x.p, c->y.p, c->B, c->T);
    if (c->graph) return sb_cuda_graph_replay(c->graph);
    return sb_layer_decode(c->L, c->x.p, c->y.p, c->B);
}

/* A call with its preparation, waited for (warm-up, state building). */
static sb_status call_sync(call_ctx *c) {
    sb_status st = prepare(c);
    if (!st) st = invoke(c);
    if (!st && c->L->backend == SB_CUDA) st = sb_cuda_sync();
    return st;
}

/* ---- inputs ------------------------------------------------------------------------------------ */
/* Who else may share a point's input rows: at layer level every layer reads N(0,1) rows of width
 * d_model, at model level token ids below vocab; op-level rows are the layer's own (gates, step
 * sizes), so there the layer is part of the key. */
static const void *input_owner(const sb_point *p) { return p->level == SB_OP ? (const void *)p->desc : NULL; }

/* B*T rows of valid input for the point's layer and level: a prefix of the cached rows when they
 * suffice (rows are independent draws, so any prefix is a valid input), else drawn anew. The cache
 * is keyed by (level, width) (+ the layer at op level, the vocabulary at model level), so the
 * layers of a sweep share one input per context instead of drawing their own. */
static const float *input_rows(sb_input_cache *c, const sb_layer *L, const sb_point *p, int B, int T, uint64_t seed) {
    size_t rows = (size_t)B * T;
    int width = sb_layer_in_dim(L), vocab = p->level == SB_MODEL ? p->cfg.vocab : 0;
    if (c->x && c->owner == input_owner(p) && c->level == p->level && c->width == width && c->vocab == vocab &&
        c->rows >= rows)
        return c->x;
    sb_input_cache_free(c);
    c->x = malloc(rows * (size_t)width * sizeof(float));
    if (!c->x) return NULL;
    sb_rng rng;
    sb_rng_seed(&rng, seed ^ 0x1f2e3d4c5b6a7988ull);
    sb_layer_make_input(L, c->x, B, T, &rng);
    c->owner = input_owner(p);
    c->level = p->level;
    c->vocab = vocab;
    c->width = width;
    c->rows = rows;
    return c->x;
}

void sb_input_cache_free(sb_input_cache *c) {
    free(c->x);
    memset(c, 0, sizeof *c);
}

/* Buffers for the point; for decode, the state is built here (fill_state or untimed prefill) and
 * x then holds one token per sequence. */
static sb_status prepare_data(call_ctx *c, const sb_point *p, uint64_t seed, sb_input_cache *cache, sb_point_result *r) {
    sb_layer *L = c->L;
    const int B = c->B, T = c->T, in = sb_layer_in_dim(L), out = sb_layer_out_dim(L);
    int need_prefill = p->mode == SB_PREFILL;
    if (p->mode == SB_DECODE) {
        sb_status st = sb_layer_fill_state(L, B, T, seed);
        if (st == SB_OK) add_note(r, "%s", "decode state by fill_state");
        else if (st == SB_ENOTSUP) need_prefill = 1;
        else return st;
    }
    size_t in_rows = need_prefill ? (size_t)B * T : (size_t)B;
    size_t out_rows = need_prefill ? sb_layer_out_rows(L, SB_PREFILL, B, T) : (size_t)B;
    if (out_rows < (size_t)B) out_rows = (size_t)B;
    sb_status st = sb_buf_alloc(&c->x, L->backend, sb_layer_in_dtype(L), in_rows * in);
    if (!st) st = sb_buf_alloc(&c->y, L->backend, sb_backend_act_dtype(L->backend), out_rows * out);
    if (st) return st;
    if (need_prefill) {
        const float *x = input_rows(cache, L, p, B, T, seed);
        if (!x) return sb_fail(SB_ENOMEM, "no host memory for %zu input rows of %d", in_rows, in);
        if ((st = sb_buf_upload(&c->x, x, in_rows * in))) return st;
    }
    if (p->mode == SB_DECODE) {
        if (need_prefill) { /* the state by an untimed prefill */
            double t0 = sb_now_s();
            st = sb_layer_prefill(L, c->x.p, c->y.p, B, T);
            if (!st && L->backend == SB_CUDA) st = sb_cuda_sync();
            if (st) return st;
            r->build_s = sb_now_s() - t0;
            char msg[64];
            snprintf(msg, sizeof msg, "decode state by an untimed prefill (%.2f s)", r->build_s);
            add_note(r, "%s", msg);
        }
        float *tok = malloc((size_t)B * in * sizeof(float));
        if (!tok) return sb_fail(SB_ENOMEM, "out of host memory");
        sb_rng rng;
        sb_rng_seed(&rng, seed + 7);
        sb_layer_make_input(L, tok, B, 1, &rng);
        st = sb_buf_upload(&c->x, tok, (size_t)B * in);
        free(tok);
    }
    return st;
}

/* ---- warm-up, CUDA graph, samples ------------------------------------------------------------- */
/* rule->warmup calls (CUDA: always, SPEC §7); on the host fewer once they took soft_s (a slow
 * reference impl gains nothing from a second warm-up call). *first_ms: host time of the first. */
static sb_status warm_up(call_ctx *c, const sb_sample_rule *rule, double *first_ms) {
    double t0 = sb_now_s();
    for (int i = 0; i < rule->warmup; i++) {
        double t = sb_now_s();
        sb_status st = call_sync(c);
        if (st) return st;
        if (i == 0) *first_ms = (sb_now_s() - t) * 1e3;
        if (c->L->backend != SB_CUDA && sb_now_s() - t0 >= rule->soft_s) break;
        if (sb_interrupted()) break; /* the sweep drops this point */
    }
    return SB_OK;
}

/* Capture one decode step into a graph; on failure the note says why and plain launches stay. */
static void try_graph(call_ctx *c, sb_point_result *r) {
    sb_layer_rewind(c->L, c->T);
    sb_status st = sb_cuda_graph_begin();
    if (st) { add_note(r, "no CUDA graph (%s): plain launches", sb_last_error()); return; }
    char why[512] = "";
    if (sb_layer_decode(c->L, c->x.p, c->y.p, c->B) != SB_OK) snprintf(why, sizeof why, "%s", sb_last_error());
    sb_cuda_graph *g = NULL;
    st = sb_cuda_graph_end(&g);
    if (!why[0] && st) snprintf(why, sizeof why, "%s", sb_last_error());
    if (why[0]) {
        sb_cuda_graph_destroy(g);
        sb_cuda_sync();
        add_note(r, "CUDA graph capture failed (%s): plain launches", why);
        return;
    }
    c->graph = g;
    r->graph = 1;
    add_note(r, "%s", "decode step timed as CUDA graph replays");
}

/* Samples by the rule: running statistics for the stop rule, the samples kept for the median; on
 * CUDA the SM clock after each sample (outside the timed region) into *clocks. */
static sb_status sample(call_ctx *c, const sb_sample_rule *rule, sb_stats *stats, sb_clock_tally *clocks) {
    timer t = {0};
    sb_status st = SB_OK;
    const int cuda = c->L->backend == SB_CUDA;
    if (cuda && (st = sb_cuda_timer_create(&t.cuda))) return st;
    const int max_mhz = cuda ? sb_cuda_max_sm_clock_mhz() : 0;
    int n = 0, cap = 64;
    sb_running run = {0};
    double *ms = malloc((size_t)cap * sizeof *ms), start = sb_now_s();
    if (!ms) st = sb_fail(SB_ENOMEM, "out of host memory");
    while (!st) {
        double v = 0;
        if ((st = prepare(c)) || (st = timer_start(&t)) || (st = invoke(c)) || (st = timer_stop(&t, &v))) break;
        if (cuda) sb_clock_tally_add(clocks, sb_cuda_current_sm_clock_mhz(), max_mhz);
        if (n == cap) {
            double *nm = realloc(ms, (size_t)(cap *= 2) * sizeof *ms);
            if (!nm) { st = sb_fail(SB_ENOMEM, "out of host memory"); break; }
            ms = nm;
        }
        ms[n++] = v;
        sb_running_add(&run, v);
        if (sb_sample_done(rule, &run, sb_now_s() - start) || sb_interrupted()) break;
    }
    if (!st) sb_stats_compute(ms, n, stats);
    free(ms);
    sb_cuda_timer_destroy(t.cuda);
    return st;
}

static void note_throttling(sb_point_result *r, const sb_clock_tally *t) {
    if (!t->throttled) return;
    char msg[200];
    snprintf(msg, sizeof msg, "%d of %d samples throttled (SM clock < %.0f%% of the %d MHz maximum; lowest %d MHz)",
             t->throttled, t->n, 100 * SB_THROTTLE_FRACTION, sb_cuda_max_sm_clock_mhz(), t->min_mhz);
    add_note(r, "%s", msg);
}

/* ---- energy (CUDA, NVML) ----------------------------------------------------------------------- */
/* A window shorter than this is mostly the counter's update interval (tens of ms): no value. */
#define SB_ENERGY_MIN_WINDOW_S 0.5
#define SB_ENERGY_MAX_CALLS 1000000L

/* Calls of the point back to back (no L2 flush: a steady stream of work, as in serving) for at
 * least rule->energy_s, between two reads of NVML's total-energy counter. */
static sb_status energy_window(call_ctx *c, const sb_sample_rule *rule, double median_ms, sb_point_result *r) {
    unsigned long long mj0, mj1;
    if (rule->energy_s <= 0 || !(median_ms > 0) || !sb_cuda_energy_mj(&mj0)) return SB_OK;
    long calls = (long)ceil(rule->energy_s / (median_ms * 1e-3));
    if (calls > SB_ENERGY_MAX_CALLS) calls = SB_ENERGY_MAX_CALLS;
    sb_status st = sb_cuda_sync();
    if (st) return st;
    sb_cuda_energy_mj(&mj0);
    double t0 = sb_now_s();
    for (long i = 0; i < calls && !st; i++) {
        if (c->mode == SB_DECODE) sb_layer_rewind(c->L, c->T);
        st = invoke(c);
    }
    if (!st) st = sb_cuda_sync();
    if (st) return st;
    double window_s = sb_now_s() - t0;
    if (!sb_cuda_energy_mj(&mj1)) return SB_OK;
    double tokens = c->mode == SB_PREFILL ? (double)c->B * c->T : c->B;
    if (sb_energy_per_token(mj0, mj1, window_s, SB_ENERGY_MIN_WINDOW_S, calls, tokens, &r->joules_per_token, &r->watts)) {
        char msg[128];
        snprintf(msg, sizeof msg, "energy: NVML counter over %ld calls in %.2f s (L2 not flushed)", calls, window_s);
        add_note(r, "%s", msg);
    }
    return SB_OK;
}

/* ---- memory ------------------------------------------------------------------------------------ */
/* A lower bound of the device memory a CUDA decode point needs: the decode state at T+1 plus the
 * mixers' weights (model level: every layer's, the embedding and the head), in the act dtype. The
 * MLPs and workspaces come on top, so a point over it cannot fit. */
static double decode_bytes_lower_bound(const sb_point *p) {
    int elem = (int)sb_dtype_size(sb_backend_act_dtype(p->backend));
    double state = sb_point_counts(p, SB_DECODE, p->batch, p->ctx + 1).state_bytes, weights = 0; /* (all layers) */
    sb_params ps = {0};
    if (p->desc->declare_params(p->desc, &p->cfg, p->level == SB_MODEL ? SB_LAYER : p->level, &ps) == SB_OK)
        for (int i = 0; i < ps.count; i++) weights += (double)ps.p[i].n * elem;
    sb_params_free(&ps);
    if (p->level != SB_MODEL) return state + weights;
    return state + p->cfg.n_layers * weights + 2.0 * p->cfg.vocab * p->cfg.d_model * elem;
}

/* 1 (and the oom row's note) when a CUDA decode point cannot fit in the free device memory. */
static int predicted_oom(const sb_point *p, sb_point_result *r) {
    size_t free_b = 0, total_b = 0;
    if (p->backend != SB_CUDA || p->mode != SB_DECODE || sb_cuda_mem_info(&free_b, &total_b) != SB_OK) return 0;
    double need = decode_bytes_lower_bound(p);
    if (need <= (double)free_b) return 0;
    set_status(r, "oom");
    char msg[200];
    snprintf(msg, sizeof msg, "not built: its decode state and weights alone need %.1f GiB, %.1f GiB of %.1f GiB free",
             need / 1073741824.0, free_b / 1073741824.0, total_b / 1073741824.0);
    add_note(r, "%s", msg);
    return 1;
}

/* 1 if any of the point's output values is NaN or Inf (CUDA: counted on the device). */
static sb_status output_is_finite(call_ctx *c, int *finite) {
    size_t n = sb_layer_out_rows(c->L, c->mode, c->B, c->T) * (size_t)sb_layer_out_dim(c->L);
    *finite = 1;
    if (c->L->backend == SB_CUDA) {
        size_t bad = 0;
        sb_status st = sb_cuda_count_nonfinite(c->y.p, c->y.dtype, n, &bad);
        *finite = bad == 0;
        return st;
    }
    float *y = malloc(n * sizeof(float));
    if (!y) return sb_fail(SB_ENOMEM, "out of host memory for the output check");
    sb_status st = sb_buf_download(&c->y, y, n);
    for (size_t i = 0; !st && i < n; i++)
        if (!isfinite(y[i])) { *finite = 0; break; }
    free(y);
    return st;
}

/* The process's peak resident memory so far (getrusage): on the host a high-water mark cannot be
 * reset, so it covers this point and everything before it in the sweep (sweeps run points in
 * increasing context, so a point's value is dominated by its own allocation when it is largest). */
static size_t host_peak_rss_bytes(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (size_t)ru.ru_maxrss * 1024 : 0;
}

void sb_measure_point(const sb_point *p, const sb_sample_rule *rule, uint64_t seed, sb_input_cache *cache,
                      sb_point_result *r) {
    memset(r, 0, sizeof *r);
    double t0 = sb_now_s();
    const int cuda = p->backend == SB_CUDA;
    if (cuda) sb_cuda_reset_peak_mem();
    call_ctx c = {.mode = p->mode, .B = p->batch, .T = p->ctx, .flush_l2 = cuda && p->level == SB_OP};
    if (predicted_oom(p, r)) goto done;
    sb_layer_opts o = {.layer = p->desc->name, .impl = p->impl->name, .backend = p->backend, .level = p->level,
                       .cfg = &p->cfg, .seed = seed, .max_batch = p->batch,
                       .max_ctx = p->mode == SB_DECODE ? p->ctx + 1 : p->ctx};
    sb_status st = sb_layer_create(&o, &c.L);
    if (st) { set_failure(r, st, "create"); goto done; }
    if ((st = prepare_data(&c, p, seed, cache, r))) { set_failure(r, st, p->mode == SB_DECODE ? "decode state" : "input"); goto done; }
    r->setup_s = sb_now_s() - t0;
    double first_ms = 0;
    if ((st = warm_up(&c, rule, &first_ms))) { set_failure(r, st, "warm-up"); goto done; }
    if (!cuda && first_ms >= rule->hard_s * 1e3) { /* one call is over the cap: it is the only sample */
        sb_stats_compute(&first_ms, 1, &r->stats);
        char msg[128];
        snprintf(msg, sizeof msg, "one sample: the first call took %.1f s, over the %.0f s cap", first_ms / 1e3, rule->hard_s);
        add_note(r, "%s", msg);
        goto checked;
    }
    if (cuda && p->mode == SB_DECODE) {
        try_graph(&c, r);
        if (c.graph && (st = call_sync(&c))) { set_failure(r, st, "graph replay"); goto done; }
    }
    if (cuda && c.flush_l2) add_note(r, "%s", "L2 flushed before each sample");
    sb_clock_tally clocks = {0};
    if ((st = sample(&c, rule, &r->stats, &clocks))) { set_failure(r, st, "sample"); goto done; }
    if (cuda) {
        r->sm_clock_mhz = clocks.n ? sb_clock_tally_mean(&clocks) : sb_cuda_current_sm_clock_mhz();
        note_throttling(r, &clocks);
        if ((st = energy_window(&c, rule, r->stats.median, r))) { set_failure(r, st, "energy window"); goto done; }
    }
checked:;
    int finite = 1;
    if ((st = output_is_finite(&c, &finite))) { set_failure(r, st, "output check"); goto done; }
    set_status(r, finite ? "ok" : "nan");
    if (!finite) add_note(r, "%s", "NaN/Inf in the output");
done:
    if (cuda) {
        sb_cuda_graph_destroy(c.graph);
        sb_cuda_sync(); /* an asynchronous error must not leak into the next point */
    }
    sb_buf_free(&c.x);
    sb_buf_free(&c.y);
    sb_layer_destroy(c.L);
    if (cuda) r->peak_mem = sb_cuda_peak_mem_bytes();
    else r->peak_mem = host_peak_rss_bytes();
    r->wall_s = sb_now_s() - t0;
}
