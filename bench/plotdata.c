/* plotdata.c: `seqbench plotdata CSV DIR`: turns a results CSV into what the gnuplot scripts of
 * plots/ read (gnuplot cannot read quoted CSV reliably): one whitespace-separated .dat file per
 * series, "ctx value" lines sorted by ctx under a "ctx <title>" header line, named
 * DIR/<figure>_<panel>__<n>.dat; and DIR/vars.gp with the titles, the subtitle (machine, date,
 * git sha) and the ctx range. It also prints, for every group measured with both, the context
 * where a TTT layer's per-token latency drops below attention's.
 *
 * Only `ok` rows of this program's backends are plotted, except (e) (analytic state sizes, any
 * status, so oom points show too) and (g) (peers). Where a layer has several impls, figures (a),
 * (b) and the crossover use the fastest at each context ("what a user would pick"). */
#include "commands.h"
#include "records.h"

#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Names the figures rely on (conventions of SPEC §2/§13, not layer math). */
#define ATTENTION "attention"
#define TTT_PREFIX "ttt"
#define SLOW_IMPL "primal"
#define FAST_IMPL "dual"

/* ---- series: (ctx, value) points under a title, the minimum kept per ctx ---------------------- */
typedef struct { int ctx; double v; } pt;
typedef struct { char title[192]; pt *p; int n, cap; } series;
typedef struct { series *s; int n, cap; } sset;

static void put(sset *ss, const char *title, int ctx, double v) {
    if (!(v > 0) || !isfinite(v)) return; /* log axes: only positive values */
    series *s = NULL;
    for (int i = 0; i < ss->n && !s; i++)
        if (!strcmp(ss->s[i].title, title)) s = &ss->s[i];
    if (!s) {
        if (ss->n == ss->cap) {
            int cap = ss->cap ? 2 * ss->cap : 16;
            series *ns = realloc(ss->s, (size_t)cap * sizeof *ns);
            if (!ns) return;
            ss->s = ns;
            ss->cap = cap;
        }
        s = &ss->s[ss->n++];
        memset(s, 0, sizeof *s);
        snprintf(s->title, sizeof s->title, "%s", title);
        for (char *c = s->title; *c; c++) if (*c == ' ' || *c == '"') *c = '_'; /* one word for columnhead */
    }
    for (int i = 0; i < s->n; i++)
        if (s->p[i].ctx == ctx) {
            if (v < s->p[i].v) s->p[i].v = v;
            return;
        }
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        pt *np = realloc(s->p, (size_t)cap * sizeof *np);
        if (!np) return;
        s->p = np;
        s->cap = cap;
    }
    s->p[s->n++] = (pt){ctx, v};
}

static int cmp_pt(const void *a, const void *b) { return ((const pt *)a)->ctx - ((const pt *)b)->ctx; }

static void sset_free(sset *ss) {
    for (int i = 0; i < ss->n; i++) free(ss->s[i].p);
    free(ss->s);
    memset(ss, 0, sizeof *ss);
}

typedef struct {
    const sb_records *rs;
    const char *dir;
    FILE *vars;
} out_ctx;

static void var(out_ctx *o, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void var(out_ctx *o, const char *name, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *c = buf; *c; c++) if (*c == '"' || *c == '\\') *c = '\''; /* a safe gnuplot string */
    fprintf(o->vars, "%s = \"%s\"\n", name, buf);
}

/* Writes every series as DIR/<prefix>__<n>.dat and the value range as <prefix>_ymin/_ymax in
 * vars.gp (a panel with a single value needs an explicit y range). Returns how many files. */
static int write_sset(out_ctx *o, sset *ss, const char *prefix) {
    int files = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < ss->n; i++) {
        series *s = &ss->s[i];
        qsort(s->p, (size_t)s->n, sizeof *s->p, cmp_pt);
        char path[4300];
        snprintf(path, sizeof path, "%s/%s__%02d.dat", o->dir, prefix, i);
        FILE *f = fopen(path, "w");
        if (!f) continue;
        fprintf(f, "ctx %s\n", s->title);
        for (int j = 0; j < s->n; j++) {
            fprintf(f, "%d %.6g\n", s->p[j].ctx, s->p[j].v);
            lo = fmin(lo, s->p[j].v);
            hi = fmax(hi, s->p[j].v);
        }
        fclose(f);
        files++;
    }
    if (files) fprintf(o->vars, "%s_ymin = %.6g\n%s_ymax = %.6g\n", prefix, lo, prefix, hi);
    sset_free(ss);
    return files;
}

/* ---- selections -------------------------------------------------------------------------------- */
static int is(const char *a, const char *b) { return !strcmp(a, b); }

/* impl without a launch suffix ("flash+graph" -> "flash") compared with name. */
static int impl_is(const char *impl, const char *name) {
    size_t n = strcspn(impl, "+");
    return strlen(name) == n && !strncmp(impl, name, n);
}

/* The batch a panel shows: `prefer` if measured, else the smallest (prefill) or largest (decode). */
static int pick_batch(const sb_records *rs, const char *level, const char *mode, int prefer, int own) {
    int best = 0;
    for (size_t i = 0; i < rs->n; i++) {
        const sb_record *r = &rs->r[i];
        if (!r->ok || !is(r->level, level) || !is(r->mode, mode) || sb_is_own_backend(r->backend) != own) continue;
        if (r->batch == prefer) return prefer;
        if (!best || (is(mode, "prefill") ? r->batch < best : r->batch > best)) best = r->batch;
    }
    return best;
}

static int level_has(const sb_records *rs, const char *level) {
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].ok && is(rs->r[i].level, level) && sb_is_own_backend(rs->r[i].backend)) return 1;
    return 0;
}

/* (a), (b), (c): per-token latency vs ctx at one level and mode; by_impl: a line per impl. */
static void latency_panel(out_ctx *o, const char *level, const char *mode, int prefer_batch, int by_impl, const char *prefix,
                          const char *title_var) {
    int B = pick_batch(o->rs, level, mode, prefer_batch, 1);
    sset ss = {0};
    for (size_t i = 0; B && i < o->rs->n; i++) {
        const sb_record *r = &o->rs->r[i];
        if (!r->ok || !sb_is_own_backend(r->backend) || !is(r->level, level) || !is(r->mode, mode) || r->batch != B) continue;
        char t[192];
        if (by_impl) snprintf(t, sizeof t, "%s/%s(%s)", r->layer, r->impl, r->backend);
        else snprintf(t, sizeof t, "%s(%s)", r->layer, r->backend);
        put(&ss, t, r->ctx, r->us_per_token);
    }
    write_sset(o, &ss, prefix);
    var(o, title_var, "%s, %s level, B=%d", mode, level, B);
}

/* (d): % of peak FLOP/s and bandwidth at the layer level (op when no layer rows). */
static void peak_panels(out_ctx *o) {
    const char *level = level_has(o->rs, "layer") ? "layer" : "op";
    sset fl = {0}, bw = {0};
    for (int m = 0; m < 2; m++) {
        const char *mode = m ? "decode" : "prefill";
        int B = pick_batch(o->rs, level, mode, m ? 512 : 16, 1);
        for (size_t i = 0; B && i < o->rs->n; i++) {
            const sb_record *r = &o->rs->r[i];
            if (!r->ok || !sb_is_own_backend(r->backend) || !is(r->level, level) || !is(r->mode, mode) || r->batch != B) continue;
            char t[192];
            snprintf(t, sizeof t, "%s/%s(%s)/%s", r->layer, r->impl, r->backend, mode);
            put(&fl, t, r->ctx, r->pct_peak_flops);
            put(&bw, t, r->ctx, r->pct_peak_bw);
        }
    }
    write_sset(o, &fl, "d_flops");
    write_sset(o, &bw, "d_bw");
    var(o, "d_title", "achieved / peak, %s level", level);
}

/* (e): state (recurrent state or KV cache) bytes per sequence, analytic, any status. */
static void state_panel(out_ctx *o) {
    const char *level = "layer";
    int any = 0;
    for (size_t i = 0; i < o->rs->n && !any; i++) any = is(o->rs->r[i].level, "layer") && o->rs->r[i].state_bytes > 0;
    if (!any) level = "op";
    sset ss = {0};
    for (int pass = 0; pass < 2 && !ss.n; pass++) /* decode rows first: the state decode keeps */
        for (size_t i = 0; i < o->rs->n; i++) {
            const sb_record *r = &o->rs->r[i];
            if (!sb_is_own_backend(r->backend) || !is(r->level, level) || (!pass && !is(r->mode, "decode")) || r->batch <= 0) continue;
            char t[192];
            snprintf(t, sizeof t, "%s(%s)", r->layer, r->dtype);
            put(&ss, t, r->ctx, r->state_bytes / r->batch);
        }
    write_sset(o, &ss, "e_state");
    var(o, "e_title", "state per sequence (KV cache or recurrent state), %s level", level);
}

/* (f): median(primal) / median(dual) for the same point. */
static void speedup_panel(out_ctx *o) {
    sset ss = {0};
    for (size_t i = 0; i < o->rs->n; i++) {
        const sb_record *d = &o->rs->r[i];
        if (!d->ok || !sb_is_own_backend(d->backend) || !impl_is(d->impl, FAST_IMPL)) continue;
        for (size_t j = 0; j < o->rs->n; j++) {
            const sb_record *p = &o->rs->r[j];
            if (!p->ok || !impl_is(p->impl, SLOW_IMPL) || !is(p->layer, d->layer) || !is(p->backend, d->backend) ||
                !is(p->level, d->level) || !is(p->mode, d->mode) || p->batch != d->batch || p->ctx != d->ctx)
                continue;
            char t[192];
            snprintf(t, sizeof t, "%s(%s)/%s/%s/B=%d", d->layer, d->backend, d->level, d->mode, d->batch);
            put(&ss, t, d->ctx, p->median_ms / d->median_ms);
        }
    }
    write_sset(o, &ss, "f_speedup");
    var(o, "f_title", "TTT " SLOW_IMPL " / " FAST_IMPL " time (speedup of the dual form)");
}

/* (g): peers (other backends, SPEC §12) and our fastest impl of the same layer, level, batch. */
static void peers_panel(out_ctx *o) {
    for (int m = 0; m < 2; m++) {
        const char *mode = m ? "decode" : "prefill";
        sset ss = {0};
        int B = 0;
        for (size_t i = 0; i < o->rs->n && !B; i++) /* the batch of the first peer row of this mode */
            if (o->rs->r[i].ok && !sb_is_own_backend(o->rs->r[i].backend) && is(o->rs->r[i].mode, mode)) B = o->rs->r[i].batch;
        for (size_t i = 0; B && i < o->rs->n; i++) {
            const sb_record *p = &o->rs->r[i];
            if (!p->ok || sb_is_own_backend(p->backend) || !is(p->mode, mode) || p->batch != B) continue;
            char t[192];
            snprintf(t, sizeof t, "%s/%s(%s)", p->layer, p->impl, p->backend);
            put(&ss, t, p->ctx, p->us_per_token);
            for (size_t j = 0; j < o->rs->n; j++) { /* ours at the same point */
                const sb_record *r = &o->rs->r[j];
                if (!r->ok || !sb_is_own_backend(r->backend) || !is(r->layer, p->layer) || !is(r->level, p->level) ||
                    !is(r->mode, mode) || r->batch != B)
                    continue;
                snprintf(t, sizeof t, "%s/seqbench-best(%s)", r->layer, r->backend);
                put(&ss, t, r->ctx, r->us_per_token);
            }
        }
        write_sset(o, &ss, m ? "g_decode" : "g_prefill");
        var(o, m ? "g_decode_title" : "g_prefill_title", "%s vs peers, B=%d", mode, B);
    }
}

/* ---- crossover ------------------------------------------------------------------------------- */
/* Fastest us/token of `layer` at ctx within a group; NaN when not measured. */
static double best_at(const sb_records *rs, const sb_record *g, const char *layer, int ctx) {
    double best = NAN;
    for (size_t i = 0; i < rs->n; i++) {
        const sb_record *r = &rs->r[i];
        if (r->ok && is(r->layer, layer) && is(r->backend, g->backend) && is(r->level, g->level) && is(r->mode, g->mode) &&
            r->batch == g->batch && r->ctx == ctx && !(r->us_per_token >= best))
            best = r->us_per_token;
    }
    return best;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* One line for a TTT layer vs attention in the group of record g. */
static void crossover_line(const sb_records *rs, const sb_record *g, const char *ttt) {
    int ctxs[64], n = 0;
    for (size_t i = 0; i < rs->n && n < 64; i++) {
        const sb_record *r = &rs->r[i];
        if (!r->ok || !is(r->layer, ttt) || !is(r->backend, g->backend) || !is(r->level, g->level) || !is(r->mode, g->mode) ||
            r->batch != g->batch || isnan(best_at(rs, g, ATTENTION, r->ctx)))
            continue;
        int dup = 0;
        for (int k = 0; k < n; k++) dup |= ctxs[k] == r->ctx;
        if (!dup) ctxs[n++] = r->ctx;
    }
    if (!n) return;
    qsort(ctxs, (size_t)n, sizeof *ctxs, cmp_int);
    printf("crossover %s vs %s (%s, %s level, %s, B=%d): ", ttt, ATTENTION, g->backend, g->level, g->mode, g->batch);
    double prev = 0;
    for (int k = 0; k < n; k++) {
        double d = log(best_at(rs, g, ttt, ctxs[k]) / best_at(rs, g, ATTENTION, ctxs[k])); /* < 0: TTT faster */
        if (d < 0) {
            if (k == 0) { printf("%s faster over the whole measured range (from ctx %d)\n", ttt, ctxs[0]); return; }
            double x0 = log2(ctxs[k - 1]), x1 = log2(ctxs[k]), x = x0 + prev / (prev - d) * (x1 - x0);
            printf("%s faster from ctx %d (crosses between %d and %d, ~%.0f by log-linear interpolation)\n", ttt, ctxs[k],
                   ctxs[k - 1], ctxs[k], pow(2, x));
            return;
        }
        prev = d;
    }
    printf("no crossover in range (%d..%d: %s faster throughout)\n", ctxs[0], ctxs[n - 1], ATTENTION);
}

static void crossovers(const sb_records *rs) {
    int printed = 0;
    for (size_t i = 0; i < rs->n; i++) { /* each group once: at its first attention row */
        const sb_record *g = &rs->r[i];
        if (!g->ok || !is(g->layer, ATTENTION) || !sb_is_own_backend(g->backend)) continue;
        int first = 1;
        for (size_t j = 0; j < i && first; j++) {
            const sb_record *h = &rs->r[j];
            first = !(h->ok && is(h->layer, ATTENTION) && is(h->backend, g->backend) && is(h->level, g->level) &&
                      is(h->mode, g->mode) && h->batch == g->batch);
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
            crossover_line(rs, g, l);
            printed = 1;
        }
    }
    if (!printed) printf("crossover: no crossover in range (no TTT layer measured next to attention)\n");
}

/* ---- seqbench plotdata CSV DIR ---------------------------------------------------------------- */
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
    var(&o, "subtitle", "%s, %s, git %s", rs.machine, rs.date, rs.git_sha);
    int lo = 0, hi = 0;
    for (size_t i = 0; i < rs.n; i++) {
        if (rs.r[i].ctx > 0 && (!lo || rs.r[i].ctx < lo)) lo = rs.r[i].ctx;
        if (rs.r[i].ctx > hi) hi = rs.r[i].ctx;
    }
    fprintf(o.vars, "xmin = %d\nxmax = %d\n", lo ? lo : 1024, hi ? hi : 32768);
    latency_panel(&o, "model", "prefill", 16, 0, "a_model_prefill", "a_title");
    latency_panel(&o, "model", "decode", 512, 0, "b_model_decode", "b_title");
    latency_panel(&o, "op", "prefill", 16, 1, "c_op_prefill", "c_op_prefill_title");
    latency_panel(&o, "op", "decode", 512, 1, "c_op_decode", "c_op_decode_title");
    latency_panel(&o, "layer", "prefill", 16, 1, "c_layer_prefill", "c_layer_prefill_title");
    latency_panel(&o, "layer", "decode", 512, 1, "c_layer_decode", "c_layer_decode_title");
    peak_panels(&o);
    state_panel(&o);
    speedup_panel(&o);
    peers_panel(&o);
    fclose(o.vars);
    crossovers(&rs);
    sb_records_free(&rs);
    return 0;
}
