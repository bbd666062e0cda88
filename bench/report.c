/* report.c: `seqbench report CSV [--out DIR] [--figures DIR]`: one Markdown page per run, written
 * next to the CSV (results/<machine>/<run>.md) or into DIR: the machine, one table per layer x
 * level x mode (us/token, TFLOP/s, GB/s, % of each ceiling, noise, samples, status), the points
 * that did not run and why, the TTT/attention crossovers, ours vs the peers, the figures of
 * plots/make_plots.sh (relative links) and the commands that reproduce the run.
 *
 * The numbers are the CSV's cells as written (6 significant digits), noise as a percentage, so a
 * reader (and tests/test_report.c) can match the page to the CSV. The page is written to a
 * temporary file and renamed: bad input leaves nothing behind. */
#include "commands.h"
#include "records.h"
#include "report.h"
#include "sweep.h"

#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the run's preset, from its file name ------------------------------------------------------ */
const char *sb_run_preset(const char *csv_path, char *buf, size_t sz) {
    const char *base = strrchr(csv_path, '/');
    base = base ? base + 1 : csv_path;
    buf[0] = '\0';
    /* the longest prefix ending before a '-' that names a preset ("cpu-full-<utc>" is cpu-full) */
    for (const char *dash = strchr(base, '-'); dash; dash = strchr(dash + 1, '-')) {
        char cand[64];
        size_t n = (size_t)(dash - base);
        if (n >= sizeof cand) break;
        memcpy(cand, base, n);
        cand[n] = '\0';
        if (sb_find_preset(cand)) snprintf(buf, sz, "%s", cand);
    }
    return buf;
}

const char *sb_run_name(const char *csv_path, char *buf, size_t sz) {
    const char *base = strrchr(csv_path, '/');
    base = base ? base + 1 : csv_path;
    size_t n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".csv")) n -= 4;
    snprintf(buf, sz, "%.*s", (int)n, base);
    return buf;
}

/* ---- cells ------------------------------------------------------------------------------------- */
typedef struct {
    const sb_records *rs;
    char common_note[256]; /* a leading note clause every noted row shares (the FLOP convention) */
    int us, pct_flops, pct_bw, tflops, gbps, noise, samples, note, run_id, utc, host, cpu_model, threads, gpu, gpu_sms, clock, cuda, driver, blas;
} page;

static const char *cell(const page *pg, size_t row, int col) { return col >= 0 ? pg->rs->t.rows[row][col] : ""; }
static const char *or_dash(const char *s) { return *s ? s : "–"; }
static int is(const char *a, const char *b) { return !strcmp(a, b); }
static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

static double num(const char *s) {
    char *end;
    double v = *s ? strtod(s, &end) : NAN;
    return *s && !*end ? v : NAN;
}

static void ctx_label(int ctx, char *buf, size_t sz) {
    if (ctx >= 1024 && ctx % 1024 == 0) snprintf(buf, sz, "%dk", ctx / 1024);
    else snprintf(buf, sz, "%d", ctx);
}

/* The distinct non-empty values of a column, in order of appearance, joined by ", ". */
static void distinct(const page *pg, int col, char *buf, size_t sz) {
    buf[0] = '\0';
    for (size_t i = 0; col >= 0 && i < pg->rs->n; i++) {
        const char *v = cell(pg, i, col);
        int seen = !*v;
        for (size_t j = 0; j < i && !seen; j++) seen = is(cell(pg, j, col), v);
        if (seen) continue;
        size_t len = strlen(buf);
        snprintf(buf + len, sz - len, "%s%s", len ? ", " : "", v);
    }
}

/* min..max of a numeric column over the rows where it is a number; 0 when there is none. */
static int range_of(const page *pg, int col, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; col >= 0 && i < pg->rs->n; i++) {
        double v = num(cell(pg, i, col));
        if (isnan(v)) continue;
        *lo = fmin(*lo, v);
        *hi = fmax(*hi, v);
    }
    return *lo <= *hi;
}

/* The ceiling a percentage column was taken against: rate / pct * 100, over the rows with both. */
static int ceiling_of(const page *pg, int rate_col, double (*pct)(const sb_record *), double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (size_t i = 0; rate_col >= 0 && i < pg->rs->n; i++) {
        double rate = num(cell(pg, i, rate_col)), p = pct(&pg->rs->r[i]);
        if (!(rate > 0) || !(p > 0)) continue;
        *lo = fmin(*lo, rate / p * 100);
        *hi = fmax(*hi, rate / p * 100);
    }
    return *lo <= *hi;
}
static double pct_flops(const sb_record *r) { return r->pct_peak_flops; }
static double pct_bw(const sb_record *r) { return r->pct_peak_bw; }

/* The first "; "-separated clause of the notes when every non-empty note starts with it: said
 * once in the machine table instead of in every note listed. */
static void find_common_note(page *pg) {
    pg->common_note[0] = '\0';
    for (size_t i = 0; pg->note >= 0 && i < pg->rs->n; i++) {
        const char *n = cell(pg, i, pg->note);
        if (!*n) continue;
        if (!pg->common_note[0]) snprintf(pg->common_note, sizeof pg->common_note, "%.*s", (int)strcspn(n, ";"), n);
        size_t len = strlen(pg->common_note);
        if (strncmp(n, pg->common_note, len) != 0 || (n[len] && n[len] != ';')) { pg->common_note[0] = '\0'; return; }
    }
}

/* A row's note without the common clause. */
static const char *own_note(const page *pg, size_t row) {
    const char *n = cell(pg, row, pg->note);
    size_t len = strlen(pg->common_note);
    if (!len) return n;
    n += len;
    return n + strspn(n, "; ");
}

static int is_range(double lo, double hi) { return fabs(hi - lo) > 5e-4 * fabs(hi); }

static void range_text(char *buf, size_t sz, double lo, double hi, const char *unit) {
    if (!is_range(lo, hi)) snprintf(buf, sz, "%.4g %s", lo, unit);
    else snprintf(buf, sz, "%.4g–%.4g %s", lo, hi, unit);
}

/* ---- sections ---------------------------------------------------------------------------------- */
static void machine_table(FILE *f, const page *pg, const char *csv_name) {
    char v[1024], w[1024];
    double lo, hi;
    fprintf(f, "## Machine\n\n| | |\n| --- | --- |\n");
    distinct(pg, pg->host, v, sizeof v);
    fprintf(f, "| host | %s |\n", or_dash(v));
    distinct(pg, pg->cpu_model, v, sizeof v);
    distinct(pg, pg->threads, w, sizeof w);
    fprintf(f, "| CPU | %s; threads used: %s |\n", or_dash(v), or_dash(w));
    distinct(pg, pg->gpu, v, sizeof v);
    if (*v) {
        distinct(pg, pg->gpu_sms, w, sizeof w);
        fprintf(f, "| GPU | %s, %s SMs |\n", v, or_dash(w));
        if (range_of(pg, pg->clock, &lo, &hi)) fprintf(f, "| SM clock during the points | %.0f–%.0f MHz |\n", lo, hi);
        distinct(pg, pg->cuda, v, sizeof v);
        distinct(pg, pg->driver, w, sizeof w);
        fprintf(f, "| CUDA runtime / driver | %s / %s |\n", or_dash(v), or_dash(w));
    } else {
        fprintf(f, "| GPU | none |\n");
    }
    distinct(pg, pg->blas, v, sizeof v);
    if (*v) fprintf(f, "| BLAS | %s |\n", v);
    if (ceiling_of(pg, pg->tflops, pct_flops, &lo, &hi)) {
        if (hi < 1) range_text(v, sizeof v, lo * 1e3, hi * 1e3, "GFLOP/s");
        else range_text(v, sizeof v, lo, hi, "TFLOP/s");
        fprintf(f, "| FLOP/s ceiling (of `pct_peak_flops`) | %s |\n", v);
    } else {
        fprintf(f, "| FLOP/s ceiling | none in this run (no `pct_peak_flops`) |\n");
    }
    if (ceiling_of(pg, pg->gbps, pct_bw, &lo, &hi)) {
        range_text(v, sizeof v, lo, hi, "GB/s");
        /* cpu rows: each against a read of its own bytes (cache-aware), hence a range */
        fprintf(f, "| %s | %s |\n",
                is_range(lo, hi) ? "bandwidth ceilings (of `pct_peak_bw`; per row on a CPU: a read of the row's bytes)"
                                 : "bandwidth ceiling (of `pct_peak_bw`)", v);
    } else {
        fprintf(f, "| bandwidth ceiling | none in this run (no `pct_peak_bw`) |\n");
    }
    if (*pg->common_note) fprintf(f, "| note shared by every row that has one | %s |\n", pg->common_note);
    distinct(pg, pg->run_id, v, sizeof v);
    fprintf(f, "| run id | %s |\n", or_dash(v));
    fprintf(f, "| first / last row (UTC) | %s / %s |\n", or_dash(cell(pg, 0, pg->utc)), or_dash(cell(pg, pg->rs->n - 1, pg->utc)));
    fprintf(f, "| CSV | [%s](%s), %zu rows |\n\n", csv_name, csv_name, pg->rs->n);
}

/* Order of the rows of one table: ours before peers, then backend and impl by first appearance,
 * batch, context (qsort_r over row indexes). */
static size_t first_of(const sb_records *rs, size_t i) {
    const sb_record *r = &rs->r[i];
    for (size_t j = 0; j < i; j++)
        if (is(rs->r[j].backend, r->backend) && is(rs->r[j].impl, r->impl)) return j;
    return i;
}
static int cmp_rows(const void *pa, const void *pb, void *arg) {
    const sb_records *rs = arg;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    const sb_record *x = &rs->r[a], *y = &rs->r[b];
    int px = !sb_is_own_backend(x->backend), py = !sb_is_own_backend(y->backend);
    if (px != py) return px - py;
    size_t fa = first_of(rs, a), fb = first_of(rs, b);
    if (fa != fb) return fa < fb ? -1 : 1;
    if (x->batch != y->batch) return x->batch < y->batch ? -1 : 1;
    return (x->ctx > y->ctx) - (x->ctx < y->ctx);
}

static void escaped(FILE *f, const char *s) { /* a table cell: a '|' would end it */
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
}

static void noise_cell(FILE *f, const char *s) {
    double v = num(s);
    if (isnan(v)) fputs("–", f);
    else fprintf(f, "%.2f%%", v * 100);
}

/* One table: the rows of (layer, level, mode), then the notes of the rows that did not run. */
static void layer_table(FILE *f, const page *pg, const char *layer, const char *level, const char *mode, size_t *idx) {
    size_t n = 0;
    for (size_t i = 0; i < pg->rs->n; i++) {
        const sb_record *r = &pg->rs->r[i];
        if (is(r->layer, layer) && is(r->level, level) && is(r->mode, mode)) idx[n++] = i;
    }
    if (!n) return;
    qsort_r(idx, n, sizeof *idx, cmp_rows, (void *)pg->rs);
    fprintf(f, "### %s · %s level · %s\n\n", layer, level, mode);
    fprintf(f, "| impl (backend) | B | T | µs/token | TFLOP/s | GB/s | %% peak FLOP/s | %% peak BW | noise | samples | status |\n");
    fprintf(f, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    int not_run = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = idx[k];
        const sb_record *r = &pg->rs->r[i];
        char t[16];
        ctx_label(r->ctx, t, sizeof t);
        fprintf(f, "| ");
        escaped(f, r->impl);
        fprintf(f, " (%s) | %d | %s | %s | %s | %s | %s | %s | ", r->backend, r->batch, t,
                or_dash(cell(pg, i, pg->us)), or_dash(cell(pg, i, pg->tflops)), or_dash(cell(pg, i, pg->gbps)),
                or_dash(cell(pg, i, pg->pct_flops)), or_dash(cell(pg, i, pg->pct_bw)));
        noise_cell(f, cell(pg, i, pg->noise));
        fprintf(f, " | %s | %s |\n", or_dash(cell(pg, i, pg->samples)), r->status);
        not_run += !is(r->status, "ok");
    }
    fprintf(f, "\n");
    if (!not_run) return;
    fprintf(f, "Not measured:\n\n");
    for (size_t k = 0; k < n; k++) {
        const sb_record *r = &pg->rs->r[idx[k]];
        if (is(r->status, "ok")) continue;
        char t[16];
        ctx_label(r->ctx, t, sizeof t);
        fprintf(f, "- %s (%s) B=%d T=%s: **%s**: %s\n", r->impl, r->backend, r->batch, t, r->status,
                or_dash(own_note(pg, idx[k])));
    }
    fprintf(f, "\n");
}

static void layer_tables(FILE *f, const page *pg, size_t *idx) {
    fprintf(f, "## Per layer, level and mode\n\n");
    fprintf(f, "µs/token = median call time / tokens in the call (B·T prefill, B decode); TFLOP/s and GB/s from "
               "the analytic counts (SPEC §6); %% of the ceilings above; noise = stdev/mean of the samples; "
               "T in k tokens (1k = 1024).\n\n");
    for (size_t i = 0; i < pg->rs->n; i++) {
        const char *layer = pg->rs->r[i].layer;
        int first = 1;
        for (size_t j = 0; j < i && first; j++) first = !is(pg->rs->r[j].layer, layer);
        if (!first) continue;
        for (int l = 0; l < SB_NLEVELS; l++)
            for (int m = 0; m < SB_NMODES; m++) layer_table(f, pg, layer, sb_level_name((sb_level)l), sb_mode_name((sb_mode)m), idx);
    }
}

/* ---- at a glance: the fastest impl of each layer per context ------------------------------------ */
/* The sorted distinct values of an int field over our rows of (level, mode[, batch]). */
static int group_values(const sb_records *rs, const char *level, const char *mode, int batch, int want_ctx, int *out, int max) {
    int n = 0;
    for (size_t i = 0; i < rs->n; i++) {
        const sb_record *r = &rs->r[i];
        if (!sb_is_own_backend(r->backend) || !is(r->level, level) || !is(r->mode, mode) || (batch && r->batch != batch)) continue;
        int v = want_ctx ? r->ctx : r->batch, seen = 0;
        for (int k = 0; k < n && !seen; k++) seen = out[k] == v;
        if (!seen && n < max) out[n++] = v;
    }
    qsort(out, (size_t)n, sizeof *out, cmp_int);
    return n;
}

/* The cell of `layer` at one point: the fastest ok row's us_per_token as the CSV has it, else the
 * status of a row that did not run, else a dash. */
static void glance_cell(FILE *f, const page *pg, const char *layer, const char *level, const char *mode, int batch, int ctx) {
    const sb_records *rs = pg->rs;
    const sb_record *best = NULL, *other = NULL;
    for (size_t i = 0; i < rs->n; i++) {
        const sb_record *r = &rs->r[i];
        if (!sb_is_own_backend(r->backend) || !is(r->layer, layer) || !is(r->level, level) || !is(r->mode, mode) ||
            r->batch != batch || r->ctx != ctx)
            continue;
        if (r->ok && (!best || r->us_per_token < best->us_per_token)) best = r;
        if (!r->ok && !other) other = r;
    }
    if (best) fprintf(f, " %s |", rs->t.rows[best - rs->r][pg->us]);
    else fprintf(f, " %s |", other ? other->status : "–");
}

static void glance_section(FILE *f, const page *pg) {
    const sb_records *rs = pg->rs;
    fprintf(f, "## At a glance: µs per token, fastest impl of each layer\n\n");
    for (int l = 0; l < SB_NLEVELS; l++)
        for (int m = 0; m < SB_NMODES; m++) {
            const char *level = sb_level_name((sb_level)l), *mode = sb_mode_name((sb_mode)m);
            int batches[16], ctxs[64];
            int nb = group_values(rs, level, mode, 0, 0, batches, 16);
            for (int b = 0; b < nb; b++) {
                int nc = group_values(rs, level, mode, batches[b], 1, ctxs, 64);
                fprintf(f, "%s level, %s, B=%d:\n\n| layer |", level, mode, batches[b]);
                for (int k = 0; k < nc; k++) {
                    char t[16];
                    ctx_label(ctxs[k], t, sizeof t);
                    fprintf(f, " T=%s |", t);
                }
                fprintf(f, "\n| --- |");
                for (int k = 0; k < nc; k++) fprintf(f, " ---: |");
                fprintf(f, "\n");
                for (size_t i = 0; i < rs->n; i++) {
                    const sb_record *r = &rs->r[i];
                    if (!sb_is_own_backend(r->backend) || !is(r->level, level) || !is(r->mode, mode) || r->batch != batches[b]) continue;
                    int first = 1;
                    for (size_t j = 0; j < i && first; j++)
                        first = !(sb_is_own_backend(rs->r[j].backend) && is(rs->r[j].layer, r->layer) && is(rs->r[j].level, level) &&
                                  is(rs->r[j].mode, mode) && rs->r[j].batch == batches[b]);
                    if (!first) continue;
                    fprintf(f, "| %s |", r->layer);
                    for (int k = 0; k < nc; k++) glance_cell(f, pg, r->layer, level, mode, batches[b], ctxs[k]);
                    fprintf(f, "\n");
                }
                fprintf(f, "\n");
            }
        }
}

static void crossover_section(FILE *f, const page *pg) {
    fprintf(f, "## Crossover: where TTT beats attention\n\n");
    sb_print_crossovers(f, pg->rs, "- ");
    fprintf(f, "\n");
}

/* The roofline time of a point per token, from our row: the time at which its FLOPs or its bytes
 * would run at the row's ceilings, t * max(pct_peak_flops, pct_peak_bw) / 100 (a missing or NaN
 * fraction counts as none); NAN when the row has neither. */
static double roofline_us(const sb_record *r) {
    double pf = r->pct_peak_flops > 0 ? r->pct_peak_flops : 0, pb = r->pct_peak_bw > 0 ? r->pct_peak_bw : 0;
    double pct = pf > pb ? pf : pb;
    return pct > 0 ? r->us_per_token * pct / 100 : NAN;
}

/* Ours (fastest impl of the layer) / the peer at the same point; < 1: ours faster. The last
 * column bounds what any kernel could show against this peer: the roofline time / the peer's,
 * so a target such as "2x faster than the peer" is out of reach wherever it exceeds 0.5. */
static void peers_section(FILE *f, const page *pg) {
    const sb_records *rs = pg->rs;
    int any = 0;
    fprintf(f, "## Ours vs peers\n\n");
    for (size_t i = 0; i < rs->n; i++) {
        const sb_record *p = &rs->r[i];
        if (sb_is_own_backend(p->backend) || !p->ok) continue;
        const sb_record *best = NULL;
        for (size_t j = 0; j < rs->n; j++) {
            const sb_record *r = &rs->r[j];
            if (r->ok && sb_is_own_backend(r->backend) && is(r->layer, p->layer) && is(r->level, p->level) &&
                is(r->mode, p->mode) && r->batch == p->batch && r->ctx == p->ctx && (!best || r->us_per_token < best->us_per_token))
                best = r;
        }
        if (!best) continue;
        if (!any++)
            fprintf(f, "Our fastest impl at the peer's point; ours / peer < 1: ours faster. roofline / peer: the "
                       "time at the row's ceilings (FLOPs at `pct_peak_flops`' ceiling or bytes at `pct_peak_bw`'s, "
                       "whichever takes longer) over the peer's time, the lowest ours / peer any kernel could reach.\n\n"
                       "| layer | level | mode | B | T | peer | peer µs/token | ours | ours µs/token | ours / peer | roofline / peer |\n"
                       "| --- | --- | --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: |\n");
        char t[16];
        ctx_label(p->ctx, t, sizeof t);
        int uc = pg->us;
        char bound[16] = "–";
        double roof = roofline_us(best);
        if (roof > 0) snprintf(bound, sizeof bound, "%.3g", roof / p->us_per_token);
        fprintf(f, "| %s | %s | %s | %d | %s | %s (%s) | %s | %s (%s) | %s | %.3g | %s |\n", p->layer, p->level, p->mode, p->batch,
                t, p->impl, p->backend, rs->t.rows[i][uc], best->impl, best->backend, rs->t.rows[best - rs->r][uc],
                best->us_per_token / p->us_per_token, bound);
    }
    if (!any) fprintf(f, "No peer measured at a point of ours in this run (peers: bench/peers/, `scripts/gpu-run.sh OUT peers`).\n");
    fprintf(f, "\n");
}

/* The path of `to` relative to the directory `from` (both existing), into buf. */
static int relative_path(const char *from, const char *to, char *buf, size_t sz) {
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(from, a) || !realpath(to, b)) return 0;
    size_t common = 0; /* the longest prefix of whole path components the two share */
    while (a[common] && a[common] == b[common]) common++;
    if (!(a[common] == '\0' && (b[common] == '/' || b[common] == '\0')))
        while (common > 0 && a[common] != '/') common--;
    buf[0] = '\0';
    for (const char *s = a + common; *s; s++)
        if (*s == '/') strncat(buf, "../", sz - strlen(buf) - 1);
    const char *rest = b + common + (b[common] == '/');
    if (*rest) strncat(buf, rest, sz - strlen(buf) - 1);
    else if (!*buf) snprintf(buf, sz, ".");
    size_t len = strlen(buf);
    if (len && buf[len - 1] == '/') buf[len - 1] = '\0';
    return 1;
}

static void figures_section(FILE *f, const char *outdir, const char *figdir) {
    char rel[PATH_MAX], pattern[PATH_MAX + 16];
    glob_t g = {0};
    snprintf(pattern, sizeof pattern, "%s/fig_*.png", figdir);
    fprintf(f, "## Figures\n\n");
    if (!relative_path(outdir, figdir, rel, sizeof rel) || glob(pattern, 0, NULL, &g) != 0) {
        fprintf(f, "None drawn yet at `%s`: `plots/make_plots.sh CSV` draws them (then run `seqbench report` again).\n\n", figdir);
        globfree(&g);
        return;
    }
    fprintf(f, "Drawn by `plots/make_plots.sh` (SVG next to each PNG).\n\n");
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *base = strrchr(g.gl_pathv[i], '/') + 1;
        fprintf(f, "![%.*s](%s/%s)\n\n", (int)(strcspn(base, ".")), base, rel, base);
    }
    globfree(&g);
}

/* The distinct values of a record field over our own rows, joined by ',' (ctx in k tokens). */
static void own_list(const sb_records *rs, const char *(*field)(const sb_record *), char *buf, size_t sz) {
    buf[0] = '\0';
    for (size_t i = 0; i < rs->n; i++) {
        if (!sb_is_own_backend(rs->r[i].backend)) continue;
        const char *v = field(&rs->r[i]);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = sb_is_own_backend(rs->r[j].backend) && is(field(&rs->r[j]), v);
        if (seen) continue;
        size_t len = strlen(buf);
        snprintf(buf + len, sz - len, "%s%s", len ? "," : "", v);
    }
}
static const char *f_layer(const sb_record *r) { return r->layer; }
static const char *f_level(const sb_record *r) { return r->level; }
static const char *f_mode(const sb_record *r) { return r->mode; }
static const char *f_backend(const sb_record *r) { return r->backend; }

static void ctx_list(const sb_records *rs, char *buf, size_t sz) {
    int c[64], n = 0;
    for (size_t i = 0; i < rs->n && n < 64; i++) {
        int seen = 0;
        for (int k = 0; k < n && !seen; k++) seen = c[k] == rs->r[i].ctx;
        if (!seen && rs->r[i].ctx > 0 && sb_is_own_backend(rs->r[i].backend)) c[n++] = rs->r[i].ctx;
    }
    qsort(c, (size_t)n, sizeof *c, cmp_int);
    buf[0] = '\0';
    for (int k = 0; k < n; k++) {
        char t[16];
        ctx_label(c[k], t, sizeof t);
        size_t len = strlen(buf);
        snprintf(buf + len, sz - len, "%s%s", k ? "," : "", t);
    }
}

static void reproduce_section(FILE *f, const page *pg, const char *preset) {
    const sb_records *rs = pg->rs;
    char layers[512], levels[64], modes[64], ctx[256], backends[64], gpu[256];
    own_list(rs, f_layer, layers, sizeof layers);
    own_list(rs, f_level, levels, sizeof levels);
    own_list(rs, f_mode, modes, sizeof modes);
    own_list(rs, f_backend, backends, sizeof backends);
    ctx_list(rs, ctx, sizeof ctx);
    distinct(pg, pg->gpu, gpu, sizeof gpu);
    fprintf(f, "## Reproduce\n\n");
    fprintf(f, "On %s%s, with the code of the run%s:\n\n```sh\n", *gpu ? "a machine with an " : "a CPU machine (", *gpu ? gpu : "no GPU)",
            strstr(rs->git_sha, "-dirty") ? " (its tree had uncommitted changes: `-dirty`; this checks out the commit under them)" : "");
    char sha[64];
    snprintf(sha, sizeof sha, "%.*s", (int)strcspn(rs->git_sha, "-"), rs->git_sha);
    fprintf(f, "git checkout %s\nmake\n", sha);
    if (*layers) {
        fprintf(f, "csv=$(build/seqbench run");
        if (*preset) fprintf(f, " --preset %s", preset);
        fprintf(f, " --layers %s --levels %s --modes %s --ctx %s", layers, levels, modes, ctx);
        if (!*preset && !strchr(backends, ',')) fprintf(f, " --backend %s", backends);
        fprintf(f, ")\n");
    } else {
        fprintf(f, "csv=results/<machine>/peers.csv   # peer rows only\n");
    }
    for (size_t i = 0; i < rs->n; i++)
        if (!sb_is_own_backend(rs->r[i].backend)) {
            fprintf(f, "# peer rows: scripts/gpu-run.sh OUTDIR peers (bench/peers/, SPEC §12)\n");
            break;
        }
    fprintf(f, "plots/make_plots.sh \"$csv\"\nbuild/seqbench report \"$csv\"\n```\n");
    if (!*preset)
        fprintf(f, "\nThe file name names no preset: the command lists the run's axes over the default preset; batches and the "
                   "sampling rule may differ.\n");
}

/* ---- seqbench report ------------------------------------------------------------------------ */
static int write_page(FILE *f, const page *pg, const char *csv, const char *outdir, const char *figdir) {
    char name[PATH_MAX], preset[64], run[PATH_MAX];
    snprintf(name, sizeof name, "%s", csv);
    const char *base = basename(name);
    sb_run_name(csv, run, sizeof run);
    sb_run_preset(csv, preset, sizeof preset);
    const sb_records *rs = pg->rs;
    fprintf(f, "# Run %s\n\n", run);
    fprintf(f, "%s · %s · git `%s` · preset %s · %zu rows", rs->machine, rs->date, rs->git_sha, *preset ? preset : "not named",
            rs->n);
    static const char *statuses[] = {"ok", "oom", "nan", "skipped", "error"};
    for (int s = 0; s < 5; s++) {
        int c = 0;
        for (size_t i = 0; i < rs->n; i++) c += is(rs->r[i].status, statuses[s]);
        if (c) fprintf(f, ", %d %s", c, statuses[s]);
    }
    fprintf(f, "\n\nWritten by `seqbench report` from the CSV below; every number is the CSV's.\n\n");
    char csv_rel[PATH_MAX], csv_dir[PATH_MAX], link[PATH_MAX * 2];
    snprintf(csv_dir, sizeof csv_dir, "%s", csv);
    if (relative_path(outdir, dirname(csv_dir), csv_rel, sizeof csv_rel))
        snprintf(link, sizeof link, "%s%s%s", is(csv_rel, ".") ? "" : csv_rel, is(csv_rel, ".") ? "" : "/", base);
    else snprintf(link, sizeof link, "%s", csv);
    machine_table(f, pg, link);
    glance_section(f, pg);
    crossover_section(f, pg);
    peers_section(f, pg);
    figures_section(f, outdir, figdir);
    size_t *idx = malloc((rs->n + 1) * sizeof *idx);
    if (!idx) return 0;
    layer_tables(f, pg, idx);
    free(idx);
    reproduce_section(f, pg, preset);
    return !ferror(f);
}

static page page_of(const sb_records *rs) {
    const sb_table *t = &rs->t;
    return (page){.rs = rs, .us = sb_table_col(t, "us_per_token"), .pct_flops = sb_table_col(t, "pct_peak_flops"),
                  .pct_bw = sb_table_col(t, "pct_peak_bw"), .tflops = sb_table_col(t, "tflops"), .gbps = sb_table_col(t, "gbps"),
                  .noise = sb_table_col(t, "noise"), .samples = sb_table_col(t, "samples"), .note = sb_table_col(t, "note"),
                  .run_id = sb_table_col(t, "run_id"), .utc = sb_table_col(t, "utc"), .host = sb_table_col(t, "host"),
                  .cpu_model = sb_table_col(t, "cpu_model"), .threads = sb_table_col(t, "threads"), .gpu = sb_table_col(t, "gpu"),
                  .gpu_sms = sb_table_col(t, "gpu_sms"), .clock = sb_table_col(t, "gpu_clock_mhz"), .cuda = sb_table_col(t, "cuda"),
                  .driver = sb_table_col(t, "driver"), .blas = sb_table_col(t, "blas")};
}

/* Default figure folder: where plots/make_plots.sh draws them, plots/out/<folder of the CSV>/<run>/
 * in the checkout the binary was built in (build/seqbench -> ./plots). */
static void default_figdir(const char *csv, char *buf, size_t sz) {
    char exe[PATH_MAX] = "", a[PATH_MAX], run[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *root = dirname(dirname(exe));
    snprintf(a, sizeof a, "%s", csv);
    snprintf(buf, sz, "%s/plots/out/%s/%s", root, basename(dirname(a)), sb_run_name(csv, run, sizeof run));
}

int cmd_report(int argc, char **argv) {
    const char *csv = NULL, *outdir = NULL, *figdir = NULL;
    for (int i = 1; i < argc; i++) {
        if (is(argv[i], "--out") || is(argv[i], "--figures")) {
            if (i + 1 >= argc) return sb_usage_error("report: %s needs a directory", argv[i]);
            *(is(argv[i], "--out") ? &outdir : &figdir) = argv[i + 1];
            i++;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return sb_usage_error("report: unknown option '%s' (usage: seqbench report CSV [--out DIR] [--figures DIR])", argv[i]);
        } else if (csv) {
            return sb_usage_error("report: one CSV at a time (usage: seqbench report CSV [--out DIR] [--figures DIR])");
        } else {
            csv = argv[i];
        }
    }
    if (!csv) return sb_usage_error("report: usage: seqbench report CSV [--out DIR] [--figures DIR]");
    sb_records rs;
    int rc = sb_records_load(csv, &rs);
    if (rc) return rc;
    if (!rs.n) { sb_records_free(&rs); return sb_usage_error("report: %s: no rows", csv); }
    char dirbuf[PATH_MAX], figbuf[PATH_MAX], path[PATH_MAX * 2], tmp[PATH_MAX * 2 + 16], name[PATH_MAX];
    snprintf(dirbuf, sizeof dirbuf, "%s", csv);
    if (!outdir) outdir = dirname(dirbuf);
    if (!figdir) default_figdir(csv, figbuf, sizeof figbuf), figdir = figbuf;
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) { sb_records_free(&rs); return sb_usage_error("report: cannot create %s: %s", outdir, strerror(errno)); }
    snprintf(path, sizeof path, "%s/%s.md", outdir, sb_run_name(csv, name, sizeof name));
    snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0) close(fd), unlink(tmp);
        sb_records_free(&rs);
        return sb_usage_error("report: cannot write in %s: %s", outdir, strerror(errno));
    }
    page pg = page_of(&rs);
    find_common_note(&pg);
    int ok = write_page(f, &pg, csv, outdir, figdir);
    ok = fclose(f) == 0 && ok;
    sb_records_free(&rs);
    if (!ok || chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return sb_usage_error("report: cannot write %s", path);
    }
    printf("%s\n", path);
    return 0;
}
