/* plotdata.c: `seqbench plotdata CSV DIR`: turns a results CSV into what the gnuplot scripts of
 * plots/ read (gnuplot cannot read quoted CSV reliably). A figure is made of panels; a panel is
 * a set of series and a set of marks:
 *   - a series is DIR/<panel>__<nn>.dat, "ctx value" lines sorted by ctx under a comment line;
 *   - a mark is a point that did not run (oom, skipped, nan, error), drawn on the x axis;
 *   - DIR/vars.gp holds, per panel, the count of series (<panel>_n: 0 = the figure leaves the
 *     panel out), each series' title, layer (its colour: plots/common.gp), dash type and point
 *     type (ours: solid first, filled marks; peers: dashed, open marks), the value range, the
 *     marks, the panel title and y label; and the figure titles, the subtitle (machine, date, git
 *     sha, preset) and the context tics (in k tokens).
 * It also prints, for every group measured with both, the context where a TTT layer's per-token
 * latency drops below attention's (sb_print_crossovers, shared with `seqbench report`).
 *
 * Only `ok` rows are series, except (e) (analytic state sizes, any status). Fig. 15 (a|b) draws
 * the fastest impl of each layer at each context ("what a user would pick") and the peers. (h)
 * draws joules per token where rows have it (GPU rows with an NVML energy window). */
#include "commands.h"
#include "records.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Names the figures rely on (conventions of SPEC §2/§13, not layer math). */
#define ATTENTION "attention"
#define TTT_PREFIX "ttt"
/* (f): pairs of impls of one layer that compute the same thing, the token-by-token form first and
 * its chunked/dual form second (TTT primal/dual, Mamba-2 sequential/chunked). */
static const char *const speedup_pairs[][2] = {{"primal", "dual"}, {"sequential", "chunked"}};

/* ---- panels: series of (ctx, value) points and marks for points that did not run ------------ */
typedef struct { int ctx; double v; } pt;
typedef struct {
    char title[192], layer[64];
    int own, rank; /* rank: how many series of the same layer and kind came before (its dash/mark) */
    pt *p;
    int n, cap;
} series;
typedef struct { int ctx, own; char status[16], layer[64]; } mark;
typedef struct {
    const char *name;
    int per_layer; /* one series per layer: a mark where the layer has a point is dropped */
    series *s;
    int n, cap;
    mark *m;
    int nm, capm;
} panel;

static int is(const char *a, const char *b) { return !strcmp(a, b); }

static int grow(void **p, int *cap, int n, size_t elem) {
    if (n < *cap) return 1;
    int c = *cap ? 2 * *cap : 8;
    void *np = realloc(*p, (size_t)c * elem);
    if (!np) return 0;
    *p = np;
    *cap = c;
    return 1;
}

static series *series_of(panel *pn, const char *title, const sb_record *r) {
    for (int i = 0; i < pn->n; i++)
        if (is(pn->s[i].title, title)) return &pn->s[i];
    if (!grow((void **)&pn->s, &pn->cap, pn->n, sizeof *pn->s)) return NULL;
    series *s = &pn->s[pn->n];
    memset(s, 0, sizeof *s);
    snprintf(s->title, sizeof s->title, "%s", title);
    snprintf(s->layer, sizeof s->layer, "%s", r->layer);
    s->own = sb_is_own_backend(r->backend);
    for (int i = 0; i < pn->n; i++) s->rank += pn->s[i].own == s->own && is(pn->s[i].layer, s->layer);
    pn->n++;
    return s;
}

/* Adds (ctx, v) to the series `title` (the layer and kind of r); the minimum is kept per ctx. */
static void put(panel *pn, const char *title, const sb_record *r, double v) {
    if (!(v > 0) || !isfinite(v)) return; /* log axes: only positive values */
    series *s = series_of(pn, title, r);
    if (!s) return;
    for (int i = 0; i < s->n; i++)
        if (s->p[i].ctx == r->ctx) {
            if (v < s->p[i].v) s->p[i].v = v;
            return;
        }
    if (!grow((void **)&s->p, &s->cap, s->n, sizeof *s->p)) return;
    s->p[s->n++] = (pt){r->ctx, v};
}

/* A row that did not run becomes a mark (one per layer, context and status). */
static void put_mark(panel *pn, const sb_record *r) {
    if (r->ok || is(r->status, "ok") || r->ctx <= 0) return;
    for (int i = 0; i < pn->nm; i++)
        if (pn->m[i].ctx == r->ctx && is(pn->m[i].layer, r->layer) && is(pn->m[i].status, r->status) &&
            pn->m[i].own == sb_is_own_backend(r->backend))
            return;
    if (!grow((void **)&pn->m, &pn->capm, pn->nm, sizeof *pn->m)) return;
    mark *m = &pn->m[pn->nm++];
    m->ctx = r->ctx;
    m->own = sb_is_own_backend(r->backend);
    snprintf(m->status, sizeof m->status, "%s", r->status);
    snprintf(m->layer, sizeof m->layer, "%s", r->layer);
}

static int cmp_pt(const void *a, const void *b) { return ((const pt *)a)->ctx - ((const pt *)b)->ctx; }

/* Whether a series of the mark's layer and kind (ours or a peer) has a point at its context. */
static int covered(const panel *pn, const mark *m) {
    if (!pn->per_layer) return 0;
    for (int i = 0; i < pn->n; i++)
        if (is(pn->s[i].layer, m->layer) && pn->s[i].own == m->own)
            for (int j = 0; j < pn->s[i].n; j++)
                if (pn->s[i].p[j].ctx == m->ctx) return 1;
    return 0;
}

static void panel_free(panel *pn) {
    for (int i = 0; i < pn->n; i++) free(pn->s[i].p);
    free(pn->s);
    free(pn->m);
}

typedef struct {
    const sb_records *rs;
    const char *dir;
    FILE *vars;
} out_ctx;

static void var(out_ctx *o, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void var(out_ctx *o, const char *name, const char *fmt, ...) {
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *c = buf; *c; c++) if (*c == '"' || *c == '\\') *c = '\''; /* a safe gnuplot string */
    fprintf(o->vars, "%s = \"%s\"\n", name, buf);
}

/* Appends " word" to a space-separated list (a gnuplot word list). */
static void add_word(char *list, size_t sz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_word(char *list, size_t sz, const char *fmt, ...) {
    size_t len = strlen(list);
    if (len && len + 1 < sz) list[len++] = ' ', list[len] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(list + len, sz - len, fmt, ap);
    va_end(ap);
}

/* Dash types and point types of gnuplot: ours solid first with filled marks, peers dashed with
 * open marks; the colour is the layer's (plots/common.gp). */
static int dash_of(const series *s) {
    static const int own[] = {1, 4, 5, 3};
    return s->own ? own[s->rank % 4] : 2;
}
static int point_of(const series *s) {
    static const int own[] = {7, 5, 9, 11, 13}, peer[] = {6, 4, 8, 10, 12};
    return s->own ? own[s->rank % 5] : peer[s->rank % 5];
}

/* Writes the panel's series files and its vars (see the top of the file), then frees it. */
static void panel_write(out_ctx *o, panel *pn, const char *title, const char *ylabel) {
    char layers[2048] = "", dts[512] = "", pts[512] = "", name[160], path[4300];
    double lo = INFINITY, hi = -INFINITY;
    int files = 0;
    for (int i = 0; i < pn->n; i++) {
        series *s = &pn->s[i];
        qsort(s->p, (size_t)s->n, sizeof *s->p, cmp_pt);
        snprintf(path, sizeof path, "%s/%s__%02d.dat", o->dir, pn->name, files);
        FILE *f = fopen(path, "w");
        if (!f) continue;
        fprintf(f, "# ctx value: %s\n", s->title);
        for (int j = 0; j < s->n; j++) {
            fprintf(f, "%d %.6g\n", s->p[j].ctx, s->p[j].v);
            lo = fmin(lo, s->p[j].v);
            hi = fmax(hi, s->p[j].v);
        }
        fclose(f);
        snprintf(name, sizeof name, "%s__%02d_t", pn->name, files);
        var(o, name, "%s", s->title);
        add_word(layers, sizeof layers, "%s", s->layer);
        add_word(dts, sizeof dts, "%d", dash_of(s));
        add_word(pts, sizeof pts, "%d", point_of(s));
        files++;
    }
    fprintf(o->vars, "%s_n = %d\n%s_ymin = %.6g\n%s_ymax = %.6g\n", pn->name, files, pn->name, files ? lo : 1, pn->name,
            files ? hi : 10);
    char xs[1024] = "", ks[512] = "", st[1024] = "", ml[2048] = "", kinds[128] = "";
    int marks = 0;
    for (int i = 0; i < pn->nm; i++) {
        const mark *m = &pn->m[i];
        if (covered(pn, m)) continue;
        int k = 0; /* marks at the same context stack upwards */
        for (int j = 0; j < i; j++) k += pn->m[j].ctx == m->ctx && !covered(pn, &pn->m[j]);
        add_word(xs, sizeof xs, "%d", m->ctx);
        add_word(ks, sizeof ks, "%d", k);
        add_word(st, sizeof st, "%s", m->status);
        add_word(ml, sizeof ml, "%s", m->layer);
        char w[24];
        snprintf(w, sizeof w, " %s ", m->status);
        char padded[136];
        snprintf(padded, sizeof padded, " %s ", kinds);
        if (!strstr(padded, w)) add_word(kinds, sizeof kinds, "%s", m->status);
        marks++;
    }
    fprintf(o->vars, "%s_marks = %d\n", pn->name, marks);
#define PV(suffix, value) (snprintf(name, sizeof name, "%s_%s", pn->name, suffix), var(o, name, "%s", value))
    PV("layer", layers);
    PV("dt", dts);
    PV("pt", pts);
    PV("mark_x", xs);
    PV("mark_k", ks);
    PV("mark_status", st);
    PV("mark_layer", ml);
    PV("mark_kinds", kinds);
    PV("title", title);
    PV("ylabel", ylabel);
#undef PV
    panel_free(pn);
}

/* ---- selections -------------------------------------------------------------------------------- */
/* impl without a launch suffix ("flash+graph" -> "flash") compared with name. */
static int impl_is(const char *impl, const char *name) {
    size_t n = strcspn(impl, "+");
    return strlen(name) == n && !strncmp(impl, name, n);
}

static int at(const sb_record *r, const char *level, const char *mode, int batch) {
    return is(r->level, level) && is(r->mode, mode) && r->batch == batch;
}

/* The batch a panel shows: `prefer` if measured, else the smallest (prefill) or largest (decode);
 * rows of any status count, so that a panel of oom points still shows them. */
static int pick_batch(const sb_records *rs, const char *level, const char *mode, int prefer, int own) {
    int best = 0;
    for (size_t i = 0; i < rs->n; i++) {
        const sb_record *r = &rs->r[i];
        if (!is(r->level, level) || !is(r->mode, mode) || sb_is_own_backend(r->backend) != own || r->batch <= 0) continue;
        if (r->batch == prefer) return prefer;
        if (!best || (is(mode, "prefill") ? r->batch < best : r->batch > best)) best = r->batch;
    }
    return best;
}

static int level_has(const sb_records *rs, const char *level, const char *mode, int need_ok) {
    for (size_t i = 0; i < rs->n; i++) {
        const sb_record *r = &rs->r[i];
        if ((r->ok || !need_ok) && is(r->level, level) && (!mode || is(r->mode, mode)) && sb_is_own_backend(r->backend))
            return 1;
    }
    return 0;
}

/* (a|b) Fig. 15: per-token latency vs ctx, the model level if the run has it for this mode, else
 * the layer level; our fastest impl per layer, and the peers at the same level and batch.
 * Returns the level, NULL when the panel is empty. */
static const char *fig15_panel(out_ctx *o, const char *mode, int prefer_batch, const char *name) {
    const char *level = level_has(o->rs, "model", mode, 0) ? "model" : "layer";
    int B = pick_batch(o->rs, level, mode, prefer_batch, 1);
    panel pn = {.name = name, .per_layer = 1};
    for (size_t i = 0; B && i < o->rs->n; i++) {
        const sb_record *r = &o->rs->r[i];
        if (!at(r, level, mode, B)) continue;
        char t[192];
        if (sb_is_own_backend(r->backend)) snprintf(t, sizeof t, "%s (ours, %s)", r->layer, r->backend);
        else snprintf(t, sizeof t, "%s %s (%s)", r->layer, r->impl, r->backend);
        if (r->ok) put(&pn, t, r, r->us_per_token);
        else put_mark(&pn, r);
    }
    int empty = !pn.n && !pn.nm;
    char title[128];
    snprintf(title, sizeof title, "%s, %s level, B=%d", mode, level, B);
    panel_write(o, &pn, title, "latency per token (us)");
    return empty ? NULL : level;
}

/* (c): per-token latency vs ctx at one level and mode, one line per impl. */
static void latency_panel(out_ctx *o, const char *level, const char *mode, int prefer_batch, const char *name) {
    int B = pick_batch(o->rs, level, mode, prefer_batch, 1);
    panel pn = {.name = name};
    for (size_t i = 0; B && i < o->rs->n; i++) {
        const sb_record *r = &o->rs->r[i];
        if (!sb_is_own_backend(r->backend) || !at(r, level, mode, B)) continue;
        char t[192];
        snprintf(t, sizeof t, "%s %s (%s)", r->layer, r->impl, r->backend);
        if (r->ok) put(&pn, t, r, r->us_per_token);
        else put_mark(&pn, r);
    }
    char title[128];
    snprintf(title, sizeof title, "%s, %s level, B=%d", mode, level, B);
    panel_write(o, &pn, title, "latency per token (us)");
}

/* (d): % of peak FLOP/s and bandwidth at the layer level (op when no layer rows). */
static void peak_panels(out_ctx *o) {
    const char *level = level_has(o->rs, "layer", NULL, 1) ? "layer" : "op";
    panel fl = {.name = "d_flops"}, bw = {.name = "d_bw"};
    for (int m = 0; m < 2; m++) {
        const char *mode = m ? "decode" : "prefill";
        int B = pick_batch(o->rs, level, mode, m ? 512 : 16, 1);
        for (size_t i = 0; B && i < o->rs->n; i++) {
            const sb_record *r = &o->rs->r[i];
            if (!r->ok || !sb_is_own_backend(r->backend) || !at(r, level, mode, B)) continue;
            char t[192];
            snprintf(t, sizeof t, "%s %s (%s) %s B=%d", r->layer, r->impl, r->backend, mode, B);
            put(&fl, t, r, r->pct_peak_flops);
            put(&bw, t, r, r->pct_peak_bw);
        }
    }
    panel_write(o, &fl, "FLOP/s, % of peak", "% of peak FLOP/s");
    panel_write(o, &bw, "bandwidth, % of peak", "% of peak bandwidth");
    var(o, "d_title", "achieved / peak, %s level", level);
}

/* (e): state (recurrent state or KV cache) bytes per sequence, analytic, any status. */
static void state_panel(out_ctx *o) {
    const char *level = "layer";
    int any = 0;
    for (size_t i = 0; i < o->rs->n && !any; i++) any = is(o->rs->r[i].level, "layer") && o->rs->r[i].state_bytes > 0;
    if (!any) level = "op";
    panel pn = {.name = "e_state"};
    for (int pass = 0; pass < 2 && !pn.n; pass++) /* decode rows first: the state decode keeps */
        for (size_t i = 0; i < o->rs->n; i++) {
            const sb_record *r = &o->rs->r[i];
            if (!sb_is_own_backend(r->backend) || !is(r->level, level) || (!pass && !is(r->mode, "decode")) || r->batch <= 0) continue;
            char t[192];
            snprintf(t, sizeof t, "%s (%s)", r->layer, r->dtype);
            put(&pn, t, r, r->state_bytes / r->batch);
        }
    panel_write(o, &pn, "", "bytes per sequence");
    var(o, "e_title", "state per sequence (KV cache or recurrent state), %s level, analytic", level);
}

/* (f): median(slow form) / median(fast form) for the same point, for each pair of speedup_pairs. */
static void speedup_panel(out_ctx *o) {
    panel pn = {.name = "f_speedup"};
    for (size_t k = 0; k < sizeof speedup_pairs / sizeof *speedup_pairs; k++)
        for (size_t i = 0; i < o->rs->n; i++) {
            const sb_record *d = &o->rs->r[i];
            if (!d->ok || !sb_is_own_backend(d->backend) || !impl_is(d->impl, speedup_pairs[k][1])) continue;
            for (size_t j = 0; j < o->rs->n; j++) {
                const sb_record *p = &o->rs->r[j];
                if (!p->ok || !impl_is(p->impl, speedup_pairs[k][0]) || !is(p->layer, d->layer) ||
                    !is(p->backend, d->backend) || !at(p, d->level, d->mode, d->batch) || p->ctx != d->ctx)
                    continue;
                char t[192];
                snprintf(t, sizeof t, "%s (%s) %s %s B=%d", d->layer, d->backend, d->level, d->mode, d->batch);
                put(&pn, t, d, p->median_ms / d->median_ms);
            }
        }
    panel_write(o, &pn, "", "speedup (token-by-token time / parallel-form time)");
    var(o, "f_title", "primal / dual (TTT), sequential / chunked (Mamba) time: speedup of the parallel form");
}

/* (g): peers (other backends, SPEC §12) and our fastest impl of the same layer, level, batch. */
static void peers_panel(out_ctx *o, const char *mode, const char *name) {
    panel pn = {.name = name, .per_layer = 1};
    int B = 0;
    for (size_t i = 0; i < o->rs->n && !B; i++) /* the batch of the first peer row of this mode */
        if (!sb_is_own_backend(o->rs->r[i].backend) && is(o->rs->r[i].mode, mode)) B = o->rs->r[i].batch;
    for (size_t i = 0; B && i < o->rs->n; i++) {
        const sb_record *p = &o->rs->r[i];
        if (sb_is_own_backend(p->backend) || !is(p->mode, mode) || p->batch != B) continue;
        char t[192];
        snprintf(t, sizeof t, "%s %s (%s)", p->layer, p->impl, p->backend);
        if (p->ok) put(&pn, t, p, p->us_per_token);
        else put_mark(&pn, p);
        for (size_t j = 0; j < o->rs->n; j++) { /* ours at the same level and batch: the fastest impl */
            const sb_record *r = &o->rs->r[j];
            if (!sb_is_own_backend(r->backend) || !is(r->layer, p->layer) || !at(r, p->level, mode, B)) continue;
            snprintf(t, sizeof t, "%s (ours, %s)", r->layer, r->backend);
            if (r->ok) put(&pn, t, r, r->us_per_token);
            else put_mark(&pn, r);
        }
    }
    char title[128];
    snprintf(title, sizeof title, "%s vs peers, B=%d", mode, B);
    panel_write(o, &pn, title, "latency per token (us)");
}

/* (h): energy per token (NVML, GPU rows) vs ctx, one line per impl, at the layer level (op, else
 * model, when no layer row has energy); a panel per mode, at the batch (c) shows. */
static void energy_panels(out_ctx *o) {
    static const char *levels[] = {"layer", "op", "model"};
    const char *level = NULL;
    for (int l = 0; l < 3 && !level; l++)
        for (size_t i = 0; i < o->rs->n && !level; i++)
            if (o->rs->r[i].ok && is(o->rs->r[i].level, levels[l]) && o->rs->r[i].joules_per_token > 0) level = levels[l];
    for (int m = 0; m < 2; m++) {
        const char *mode = m ? "decode" : "prefill";
        panel pn = {.name = m ? "h_decode" : "h_prefill"};
        int B = level ? pick_batch(o->rs, level, mode, m ? 512 : 16, 1) : 0;
        for (size_t i = 0; B && i < o->rs->n; i++) {
            const sb_record *r = &o->rs->r[i];
            if (!r->ok || !sb_is_own_backend(r->backend) || !at(r, level, mode, B)) continue;
            char t[192];
            snprintf(t, sizeof t, "%s %s (%s)", r->layer, r->impl, r->backend);
            put(&pn, t, r, r->joules_per_token);
        }
        char title[128];
        snprintf(title, sizeof title, "%s, B=%d", mode, B);
        panel_write(o, &pn, title, "joules per token");
    }
    var(o, "h_title", "Energy per token (NVML total energy over >= 1 s of repeats), %s level", level ? level : "layer");
}

/* The context tics, labelled in k tokens (1k = 1024), at every context of the run. */
static void context_tics(out_ctx *o) {
    int lo = 0, hi = 0;
    char tics[2048] = "";
    for (size_t i = 0; i < o->rs->n; i++) {
        int c = o->rs->r[i].ctx, seen = 0;
        if (c <= 0) continue;
        for (size_t j = 0; j < i && !seen; j++) seen = o->rs->r[j].ctx == c;
        if (seen) continue;
        size_t len = strlen(tics);
        snprintf(tics + len, sizeof tics - len, "%s'%g' %d", len ? ", " : "", c / 1024.0, c);
        if (!lo || c < lo) lo = c;
        if (c > hi) hi = c;
    }
    fprintf(o->vars, "xmin = %d\nxmax = %d\n", lo ? lo : 1024, hi ? hi : 32768);
    fprintf(o->vars, "xtics_cmd = \"set xtics (%s)\"\n", *tics ? tics : "'1' 1024");
}

/* ---- crossover ------------------------------------------------------------------------------- */
/* Fastest us/token of `layer` at ctx within a group; NaN when not measured. */
static double best_at(const sb_records *rs, const sb_record *g, const char *layer, int ctx) {
    double best = NAN;
    for (size_t i = 0; i < rs->n; i++) {
        const sb_record *r = &rs->r[i];
        if (r->ok && is(r->layer, layer) && is(r->backend, g->backend) && at(r, g->level, g->mode, g->batch) && r->ctx == ctx &&
            !(r->us_per_token >= best))
            best = r->us_per_token;
    }
    return best;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* One line for a TTT layer vs attention in the group of record g. */
static void crossover_line(FILE *f, const sb_records *rs, const sb_record *g, const char *ttt, const char *prefix) {
    int ctxs[64], n = 0;
    for (size_t i = 0; i < rs->n && n < 64; i++) {
        const sb_record *r = &rs->r[i];
        if (!r->ok || !is(r->layer, ttt) || !is(r->backend, g->backend) || !at(r, g->level, g->mode, g->batch) ||
            isnan(best_at(rs, g, ATTENTION, r->ctx)))
            continue;
        int dup = 0;
        for (int k = 0; k < n; k++) dup |= ctxs[k] == r->ctx;
        if (!dup) ctxs[n++] = r->ctx;
    }
    if (!n) return;
    qsort(ctxs, (size_t)n, sizeof *ctxs, cmp_int);
    fprintf(f, "%scrossover %s vs %s (%s, %s level, %s, B=%d): ", prefix, ttt, ATTENTION, g->backend, g->level, g->mode,
            g->batch);
    double prev = 0;
    for (int k = 0; k < n; k++) {
        double d = log(best_at(rs, g, ttt, ctxs[k]) / best_at(rs, g, ATTENTION, ctxs[k])); /* < 0: TTT faster */
        if (d < 0) {
            if (k == 0) { fprintf(f, "%s faster over the whole measured range (from ctx %d)\n", ttt, ctxs[0]); return; }
            double x0 = log2(ctxs[k - 1]), x1 = log2(ctxs[k]), x = x0 + prev / (prev - d) * (x1 - x0);
            fprintf(f, "%s faster from ctx %d (crosses between %d and %d, ~%.0f by log-linear interpolation)\n", ttt, ctxs[k],
                    ctxs[k - 1], ctxs[k], pow(2, x));
            return;
        }
        prev = d;
    }
    fprintf(f, "no crossover in range (%d..%d: %s faster throughout)\n", ctxs[0], ctxs[n - 1], ATTENTION);
}

void sb_print_crossovers(FILE *f, const sb_records *rs, const char *prefix) {
    int printed = 0;
    for (size_t i = 0; i < rs->n; i++) { /* each group once: at its first attention row */
        const sb_record *g = &rs->r[i];
        if (!g->ok || !is(g->layer, ATTENTION) || !sb_is_own_backend(g->backend)) continue;
        int first = 1;
        for (size_t j = 0; j < i && first; j++) {
            const sb_record *h = &rs->r[j];
            first = !(h->ok && is(h->layer, ATTENTION) && is(h->backend, g->backend) && at(h, g->level, g->mode, g->batch));
        }
        if (!first) continue;
        const char *seen[16];
        int nseen = 0;
        for (size_t j = 0; j < rs->n; j++) {
            const char *l = rs->r[j].layer;
            if (strncmp(l, TTT_PREFIX, strlen(TTT_PREFIX)) != 0) continue;
            int dup = 0;
            for (int k = 0; k < nseen; k++) dup |= is(seen[k], l);
            if (dup || nseen == 16) continue;
            seen[nseen++] = l;
            crossover_line(f, rs, g, l, prefix);
            printed = 1;
        }
    }
    if (!printed) fprintf(f, "%scrossover: no crossover in range (no TTT layer measured next to attention)\n", prefix);
}

/* ---- seqbench plotdata CSV DIR ---------------------------------------------------------------- */
static void figure_titles(out_ctx *o, const char *csv) {
    char preset[64], run[1024];
    sb_run_preset(csv, preset, sizeof preset);
    if (*preset) var(o, "subtitle", "%s, %s, git %s, preset %s", o->rs->machine, o->rs->date, o->rs->git_sha, preset);
    else var(o, "subtitle", "%s, %s, git %s, run %s", o->rs->machine, o->rs->date, o->rs->git_sha, sb_run_name(csv, run, sizeof run));
}

/* Fig. 15's title says the level it shows: the model level, else the layer level, per mode. */
static void fig15_title(out_ctx *o, const char *prefill, const char *decode) {
    const char *one = prefill ? prefill : decode;
    if (!prefill || !decode || is(prefill, decode))
        var(o, "f15_title", "Latency per token (Fig. 15), %s level%s", one ? one : "model",
            one && is(one, "layer") ? " (no model-level rows in this run)" : "");
    else
        var(o, "f15_title", "Latency per token (Fig. 15): prefill at %s level, decode at %s level", prefill,
            decode);
}

int cmd_plotdata(int argc, char **argv) {
    if (argc != 3) return sb_usage_error("plotdata: usage: seqbench plotdata CSV DIR");
    const char *dir = argv[2];
    sb_records rs;
    int rc = sb_records_load(argv[1], &rs);
    if (rc) return rc;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) { sb_records_free(&rs); return sb_usage_error("plotdata: cannot create %s", dir); }
    char path[4300];
    snprintf(path, sizeof path, "%s/vars.gp", dir);
    out_ctx o = {.rs = &rs, .dir = dir, .vars = fopen(path, "w")};
    if (!o.vars) { sb_records_free(&rs); return sb_usage_error("plotdata: cannot write %s", path); }
    figure_titles(&o, argv[1]);
    context_tics(&o);
    const char *lp = fig15_panel(&o, "prefill", 16, "f15_prefill");
    const char *ld = fig15_panel(&o, "decode", 512, "f15_decode");
    fig15_title(&o, lp, ld);
    latency_panel(&o, "op", "prefill", 16, "c_op_prefill");
    latency_panel(&o, "op", "decode", 512, "c_op_decode");
    latency_panel(&o, "layer", "prefill", 16, "c_layer_prefill");
    latency_panel(&o, "layer", "decode", 512, "c_layer_decode");
    var(&o, "c_title", "Latency per token, op and layer levels, one line per impl");
    peak_panels(&o);
    state_panel(&o);
    speedup_panel(&o);
    peers_panel(&o, "prefill", "g_prefill");
    peers_panel(&o, "decode", "g_decode");
    var(&o, "g_title", "Peers vs seqbench");
    energy_panels(&o);
    fclose(o.vars);
    sb_print_crossovers(stdout, &rs, "");
    sb_records_free(&rs);
    return 0;
}
