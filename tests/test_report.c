/* test_report.c: `seqbench report` (bench/report.c). The page's numbers are the CSV's, read back
 * from the Markdown: every row of the CSV appears exactly once in the per-layer tables, with its
 * cells (noise as a percentage); each "at a glance" cell is the fastest ok row of our backends at
 * that point (else the status of a row that did not run); the peer table holds the peer's and our
 * fastest cells and their ratio. Checked on fixtures (with and without the SPEC §14 columns) and
 * on the committed runs. Bad input: exit 2, one line on stderr, nothing written. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "../bench/csvio.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static const char *bin(void) {
    const char *b = getenv("SEQBENCH_BIN");
    return b ? b : "build/seqbench";
}

/* Runs `seqbench ARGS` with stdout and stderr into dir/out, dir/err; returns the exit status. */
static int run_report(const char *dir, const char *args, char **out, char **err) {
    char cmd[4096], path[4200];
    snprintf(cmd, sizeof cmd, "%s %s > %s/out 2> %s/err", bin(), args, dir, dir);
    int st = system(cmd);
    snprintf(path, sizeof path, "%s/out", dir);
    *out = slurp(path);
    snprintf(path, sizeof path, "%s/err", dir);
    *err = slurp(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- reading the page back --------------------------------------------------------------------- */
#define MAXCELLS 16
/* Splits "| a | b |" into trimmed cells; returns their count (0 if the line is no table row). */
static int cells_of(char *line, char **cells) {
    if (line[0] != '|') return 0;
    int n = 0;
    char *p = line + 1;
    while (*p && n < MAXCELLS) {
        char *bar = strchr(p, '|');
        if (!bar) break;
        *bar = '\0';
        while (*p == ' ') p++;
        char *e = bar;
        while (e > p && e[-1] == ' ') *--e = '\0';
        cells[n++] = p;
        p = bar + 1;
    }
    return n;
}

static int ctx_of(const char *s) { return strchr(s, 'k') ? atoi(s) * 1024 : atoi(s); }
static const char *dash_empty(const char *s) { return strcmp(s, "–") ? s : ""; }
static int own(const char *backend) { return !strcmp(backend, "ref") || !strcmp(backend, "cpu") || !strcmp(backend, "cuda"); }

typedef struct {
    sb_table t;
    int layer, level, mode, impl, backend, batch, ctx, us, tflops, gbps, pf, pb, noise, samples, status, median;
    int *seen;
} csv_t;

static const char *at(const csv_t *c, size_t row, int col) { return c->t.rows[row][col]; }
static int row_ok(const csv_t *c, size_t i) {
    return !strcmp(at(c, i, c->status), "ok") && atof(at(c, i, c->median)) > 0 && atof(at(c, i, c->us)) > 0;
}

static void load_csv(const char *path, csv_t *c) {
    cr_assert_eq(sb_table_read(path, &c->t), SB_OK, "cannot read %s", path);
    int *cols[] = {&c->layer, &c->level, &c->mode, &c->impl, &c->backend, &c->batch, &c->ctx, &c->us, &c->tflops,
                   &c->gbps, &c->pf, &c->pb, &c->noise, &c->samples, &c->status, &c->median};
    const char *names[] = {"layer", "level", "mode", "impl", "backend", "batch", "ctx", "us_per_token", "tflops",
                           "gbps", "pct_peak_flops", "pct_peak_bw", "noise", "samples", "status", "median_ms"};
    for (int k = 0; k < 16; k++) cr_assert_geq(*cols[k] = sb_table_col(&c->t, names[k]), 0, "%s: no column %s", path, names[k]);
    c->seen = calloc(c->t.nrows + 1, sizeof *c->seen);
}

/* The CSV row of a point given as the page shows it; -1 unless exactly one. */
static long find_row(const csv_t *c, const char *layer, const char *level, const char *mode, const char *impl,
                     const char *backend, int batch, int ctx) {
    long hit = -1;
    int n = 0;
    for (size_t i = 0; i < c->t.nrows; i++)
        if (!strcmp(at(c, i, c->layer), layer) && !strcmp(at(c, i, c->level), level) && !strcmp(at(c, i, c->mode), mode) &&
            !strcmp(at(c, i, c->impl), impl) && !strcmp(at(c, i, c->backend), backend) && atoi(at(c, i, c->batch)) == batch &&
            atoi(at(c, i, c->ctx)) == ctx)
            hit = (long)i, n++;
    return n == 1 ? hit : -1;
}

/* Our fastest ok row at a point, else -1. */
static long fastest(const csv_t *c, const char *layer, const char *level, const char *mode, int batch, int ctx) {
    long best = -1;
    for (size_t i = 0; i < c->t.nrows; i++)
        if (own(at(c, i, c->backend)) && row_ok(c, i) && !strcmp(at(c, i, c->layer), layer) &&
            !strcmp(at(c, i, c->level), level) && !strcmp(at(c, i, c->mode), mode) && atoi(at(c, i, c->batch)) == batch &&
            atoi(at(c, i, c->ctx)) == ctx && (best < 0 || atof(at(c, i, c->us)) < atof(at(c, best, c->us))))
            best = (long)i;
    return best;
}

static void check_detail_row(csv_t *c, const char *layer, const char *level, const char *mode, char **cell) {
    char impl[64], backend[32];
    cr_assert_eq(sscanf(cell[0], "%63s (%31[^)])", impl, backend), 2, "impl cell '%s'", cell[0]);
    long r = find_row(c, layer, level, mode, impl, backend, atoi(cell[1]), ctx_of(cell[2]));
    cr_assert_geq(r, 0, "no single CSV row for %s %s %s %s %s B=%s T=%s", layer, level, mode, impl, backend, cell[1], cell[2]);
    c->seen[r]++;
    int cols[] = {c->us, c->tflops, c->gbps, c->pf, c->pb};
    for (int k = 0; k < 5; k++)
        cr_expect_str_eq(dash_empty(cell[3 + k]), at(c, r, cols[k]), "%s %s %s %s T=%s column %d", layer, level, mode, impl,
                         cell[2], 3 + k);
    if (*at(c, r, c->noise))
        cr_expect(fabs(atof(cell[8]) - 100 * atof(at(c, r, c->noise))) <= 0.005 + 1e-9, "noise %s vs %s", cell[8],
                  at(c, r, c->noise));
    else
        cr_expect_str_eq(cell[8], "–");
    cr_expect_str_eq(dash_empty(cell[9]), at(c, r, c->samples));
    cr_expect_str_eq(cell[10], at(c, r, c->status));
}

static void check_glance_cell(const csv_t *c, const char *layer, const char *level, const char *mode, int batch, int ctx,
                              const char *cell) {
    long best = fastest(c, layer, level, mode, batch, ctx);
    if (best >= 0) {
        cr_expect_str_eq(cell, at(c, best, c->us), "glance %s %s %s B=%d T=%d", layer, level, mode, batch, ctx);
        return;
    }
    const char *status = "–"; /* the first row that did not run */
    for (size_t i = 0; i < c->t.nrows && !strcmp(status, "–"); i++)
        if (own(at(c, i, c->backend)) && !strcmp(at(c, i, c->layer), layer) && !strcmp(at(c, i, c->level), level) &&
            !strcmp(at(c, i, c->mode), mode) && atoi(at(c, i, c->batch)) == batch && atoi(at(c, i, c->ctx)) == ctx)
            status = at(c, i, c->status);
    cr_expect_str_eq(cell, status, "glance %s %s %s B=%d T=%d", layer, level, mode, batch, ctx);
}

static void check_peer_row(const csv_t *c, char **cell) {
    char impl[64], backend[32], oimpl[64], obackend[32];
    cr_assert_eq(sscanf(cell[5], "%63s (%31[^)])", impl, backend), 2);
    cr_assert_eq(sscanf(cell[7], "%63s (%31[^)])", oimpl, obackend), 2);
    int batch = atoi(cell[3]), ctx = ctx_of(cell[4]);
    long p = find_row(c, cell[0], cell[1], cell[2], impl, backend, batch, ctx);
    long o = fastest(c, cell[0], cell[1], cell[2], batch, ctx);
    cr_assert(p >= 0 && o >= 0, "peer row %s %s", cell[0], cell[5]);
    cr_expect_str_eq(cell[6], at(c, p, c->us));
    cr_expect_str_eq(cell[8], at(c, o, c->us));
    double ratio = atof(at(c, o, c->us)) / atof(at(c, p, c->us));
    cr_expect(fabs(atof(cell[9]) - ratio) <= 0.0051 * ratio, "ratio %s vs %g", cell[9], ratio);
    /* roofline / peer: our row's time at the larger of its two ceiling fractions, over the peer's */
    double pf = atof(at(c, o, c->pf)), pb = atof(at(c, o, c->pb)), pct = pf > pb ? pf : pb;
    if (pct > 0) {
        double bound = atof(at(c, o, c->us)) * pct / 100 / atof(at(c, p, c->us));
        cr_expect(fabs(atof(cell[10]) - bound) <= 0.0051 * bound, "roofline / peer %s vs %g", cell[10], bound);
    } else {
        cr_expect_str_eq(cell[10], "–");
    }
}

typedef struct { char csv[96]; int peers; } report_case;

ParameterizedTestParameters(report, numbers_match_csv) {
    static report_case cases[] = {
        {"tests/fixtures/plots.csv", 1},
        {"tests/fixtures/plots_layer.csv", 0},
        {"results/h100-80gb-hbm3/quick-20261127T1234Z.csv", 0},
        {"results/h100-80gb-hbm3/fig15-partial-20261127T1237Z.csv", 0},
        {"results/cpu-amd-epyc-2t/cpu-20261127T125006Z.csv", 0},
    };
    return cr_make_param_array(report_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(report_case *rc, report, numbers_match_csv, .timeout = 60) {
    char dir[] = "/tmp/sbreportXXXXXX", args[1024], page_path[1200];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(args, sizeof args, "report %s --out %s", rc->csv, dir);
    char *out, *err;
    int st = run_report(dir, args, &out, &err);
    cr_assert_eq(st, 0, "report failed (%d): %s", st, err);
    cr_expect_str_empty(err);
    const char *base = strrchr(rc->csv, '/') + 1;
    snprintf(page_path, sizeof page_path, "%s/%.*s.md", dir, (int)(strlen(base) - 4), base);
    char expect_out[1300];
    snprintf(expect_out, sizeof expect_out, "%s\n", page_path);
    cr_expect_str_eq(out, expect_out, "stdout is the page's path");

    csv_t c;
    load_csv(rc->csv, &c);
    char *page = slurp(page_path);
    enum { NONE, DETAIL, GLANCE, PEERS } mode = NONE;
    char layer[64] = "", level[16] = "", md[16] = "";
    int batch = 0, ctxs[MAXCELLS] = {0}, glance_cells = 0, peer_rows = 0;
    for (char *save = NULL, *line = strtok_r(page, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *cell[MAXCELLS];
        if (!strncmp(line, "## ", 3)) { mode = NONE; continue; }
        char l1[64], l2[16], l3[16]; /* sscanf writes before it fails: parse into temporaries */
        int b;
        if (sscanf(line, "### %63s · %15s level · %15s", l1, l2, l3) == 3) {
            strcpy(layer, l1), strcpy(level, l2), strcpy(md, l3), mode = DETAIL;
            continue;
        }
        if (sscanf(line, "%15s level, %15[^,], B=%d:", l2, l3, &b) == 3) {
            strcpy(level, l2), strcpy(md, l3), batch = b, mode = GLANCE;
            continue;
        }
        int n = cells_of(line, cell);
        if (!n || !strncmp(cell[0], "---", 3)) continue;
        if (!strcmp(cell[0], "layer") && n > 5 && !strcmp(cell[5], "peer")) { mode = PEERS; continue; }
        if (mode == GLANCE && !strcmp(cell[0], "layer")) {
            for (int k = 1; k < n; k++) ctxs[k] = ctx_of(cell[k] + 2); /* "T=1k" */
            continue;
        }
        if (mode == DETAIL && strcmp(cell[0], "impl (backend)")) {
            cr_assert_eq(n, 11, "detail row: %d cells", n);
            check_detail_row(&c, layer, level, md, cell);
        } else if (mode == GLANCE) {
            for (int k = 1; k < n; k++, glance_cells++) check_glance_cell(&c, cell[0], level, md, batch, ctxs[k], cell[k]);
        } else if (mode == PEERS) {
            cr_assert_eq(n, 11);
            check_peer_row(&c, cell);
            peer_rows++;
        }
    }
    for (size_t i = 0; i < c.t.nrows; i++)
        cr_expect_eq(c.seen[i], 1, "CSV row %zu (%s %s %s %s ctx %s) is on the page %d times", i + 2, at(&c, i, c.layer),
                     at(&c, i, c.impl), at(&c, i, c.level), at(&c, i, c.mode), at(&c, i, c.ctx), c.seen[i]);
    cr_expect_gt(glance_cells, 0, "no 'at a glance' table");
    cr_expect_eq(peer_rows > 0, rc->peers, "peer rows: %d", peer_rows);
    free(c.seen);
    sb_table_free(&c.t);
    free(page);
    free(out);
    free(err);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    system(args);
}

/* ---- bad input ------------------------------------------------------------------------------- */
typedef struct {
    char args[160]; /* %s: a fresh empty directory */
    char expect[64]; /* in the one line on stderr */
} bad_case;

ParameterizedTestParameters(report, bad_input) {
    static bad_case cases[] = {
        {"report --out %s", "usage"},
        {"report tests/fixtures/no_such.csv --out %s", "no_such.csv"},
        {"report tests/fixtures/compare_malformed.csv --out %s", "compare_malformed.csv"},
        {"report tests/fixtures/compare_badquote.csv --out %s", "compare_badquote.csv"},
        {"report tests/fixtures/not_results.csv --out %s", "no column"},
        {"report tests/fixtures/report_empty.csv --out %s", "no rows"},
        {"report tests/fixtures/plots.csv --bogus --out %s", "unknown option '--bogus'"},
        {"report tests/fixtures/plots.csv tests/fixtures/plots.csv --out %s", "one CSV at a time"},
        {"report tests/fixtures/plots.csv --out %s/file", "cannot"}, /* a file where the folder should be */
        {"report tests/fixtures/plots.csv --out", "--out needs a directory"},
    };
    return cr_make_param_array(bad_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(bad_case *bc, report, bad_input, .timeout = 30) {
    char dir[] = "/tmp/sbreportXXXXXX", sub[64], args[512], path[128];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/o", dir); /* the out folder; dir holds the captured streams */
    snprintf(path, sizeof path, "%s/file", sub);
    cr_assert_eq(system((snprintf(args, sizeof args, "mkdir %s && touch %s", sub, path), args)), 0);
    snprintf(args, sizeof args, bc->args, sub);
    char *out, *err;
    int st = run_report(dir, args, &out, &err);
    cr_expect_eq(st, 2, "exit %d for '%s'", st, args);
    cr_expect_str_empty(out);
    cr_expect(strstr(err, "seqbench: ") == err && strchr(err, '\n') == err + strlen(err) - 1, "not one line: '%s'", err);
    cr_expect(strstr(err, bc->expect) != NULL, "stderr '%s' lacks '%s'", err, bc->expect);
    DIR *d = opendir(sub); /* nothing written: only the file the test made */
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));) entries += e->d_name[0] != '.';
    if (d) closedir(d);
    cr_expect_eq(entries, 1, "files left in %s", sub);
    free(out);
    free(err);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    system(args);
}
