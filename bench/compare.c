/* compare.c: `seqbench compare BASE NEW [--threshold 0.05] [--force]` (SPEC §10).
 *
 * Rows are matched by key (backend, layer, impl, level, mode, dtype, config, batch, ctx). For two
 * `ok` rows, with tol = max(threshold, 2 * max(noise_base, noise_new)):
 *   SLOW  new/base - 1 > tol      FAST  base/new - 1 > tol      SAME  otherwise
 * A point that was ok in BASE and is oom/nan/error in NEW is BROKEN (counts like SLOW); a skipped
 * point is not compared. Rows from different GPUs or CUDA versions are refused unless --force.
 * Exit: 0 no regression, 1 any SLOW or BROKEN, 2 bad input (malformed CSV, refused comparison). */
#include "commands.h"
#include "csvio.h"
#include "results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { C_MEDIAN = SB_NKEY, C_NOISE, C_STATUS, C_GPU, C_CUDA, C_NEEDED };

typedef struct {
    sb_table t;
    int col[C_NEEDED]; /* the key columns, then the ones compared */
} results;

static int load(const char *path, results *r) {
    if (sb_table_read(path, &r->t) != SB_OK) return sb_usage_error("compare: %s", sb_last_error());
    const char *extra[] = {"median_ms", "noise", "status", "gpu", "cuda"};
    for (int i = 0; i < C_NEEDED; i++) {
        const char *name = i < SB_NKEY ? sb_col_names[sb_key_cols[i]] : extra[i - SB_NKEY];
        if ((r->col[i] = sb_table_col(&r->t, name)) < 0) {
            sb_table_free(&r->t);
            return sb_usage_error("compare: %s: malformed results CSV (no column '%s')", path, name);
        }
    }
    return 0;
}

static void key_of(const results *r, size_t row, char *buf, size_t sz) { sb_key_join(buf, sz, r->t.rows[row], r->col); }

/* "cuda attention flash layer prefill bf16 1.3b B=16 T=1024" */
static void key_label(const results *r, size_t row, char *buf, size_t sz) {
    char *const *c = r->t.rows[row];
    const int *k = r->col;
    snprintf(buf, sz, "%s %s %s %s %s %s %s B=%s T=%s", c[k[0]], c[k[1]], c[k[2]], c[k[3]], c[k[4]], c[k[5]], c[k[6]],
             c[k[7]], c[k[8]]);
}

static long find(const results *r, const char *key) {
    char k[1024];
    for (size_t i = 0; i < r->t.nrows; i++) {
        key_of(r, i, k, sizeof k);
        if (!strcmp(k, key)) return (long)i;
    }
    return -1;
}

/* A number cell: 1 and *v when numeric, 0 when empty; -1 when malformed. */
static int number(const char *s, double *v) {
    if (!*s) return 0;
    char *end;
    *v = strtod(s, &end);
    return *end == '\0' && isfinite(*v) ? 1 : -1;
}

static int cell_is_number(const results *r, size_t row, int c, double *v, const char *path) {
    int k = number(r->t.rows[row][r->col[c]], v);
    if (k < 0) {
        sb_usage_error("compare: %s: malformed number '%s' in row %zu", path, r->t.rows[row][r->col[c]], row + 2);
        return -1;
    }
    if (!k) *v = 0;
    return k;
}

/* Refuses rows measured on different GPUs or CUDA versions. Returns 0 or 2. */
static int same_machine(const results *b, const results *n, const char *bp, const char *np) {
    char key[1024];
    for (size_t i = 0; i < n->t.nrows; i++) {
        key_of(n, i, key, sizeof key);
        long j = find(b, key);
        if (j < 0) continue;
        const char *gb = b->t.rows[j][b->col[C_GPU]], *gn = n->t.rows[i][n->col[C_GPU]];
        const char *cb = b->t.rows[j][b->col[C_CUDA]], *cn = n->t.rows[i][n->col[C_CUDA]];
        if (strcmp(gb, gn) || strcmp(cb, cn))
            return sb_usage_error("compare: refusing: %s ran on gpu '%s' cuda '%s', %s on gpu '%s' cuda '%s' (--force compares anyway)",
                                  bp, gb, cb, np, gn, cn);
    }
    return 0;
}

typedef struct { int slow, fast, same, broken, na, only_base, only_new; } tally;

/* One matched pair: prints its line, counts the verdict. Returns 0 or 2 (malformed number). */
static int compare_pair(const results *b, size_t bi, const results *n, size_t ni, double threshold, tally *t,
                        const char *bp, const char *np) {
    char label[512];
    key_label(n, ni, label, sizeof label);
    const char *sb = b->t.rows[bi][b->col[C_STATUS]], *sn = n->t.rows[ni][n->col[C_STATUS]];
    double mb, mn, nb, nn;
    int hb = cell_is_number(b, bi, C_MEDIAN, &mb, bp), hn = cell_is_number(n, ni, C_MEDIAN, &mn, np);
    if (hb < 0 || hn < 0 || cell_is_number(b, bi, C_NOISE, &nb, bp) < 0 || cell_is_number(n, ni, C_NOISE, &nn, np) < 0) return 2;
    int ok_b = !strcmp(sb, "ok") && hb && mb > 0, ok_n = !strcmp(sn, "ok") && hn && mn > 0;
    if (ok_b && ok_n) {
        double tol = fmax(threshold, 2 * fmax(nb, nn)), ratio = mn / mb;
        const char *verdict;
        if (ratio - 1 > tol) { verdict = "SLOW"; t->slow++; }
        else if (1 / ratio - 1 > tol) { verdict = "FAST"; t->fast++; }
        else { verdict = "SAME"; t->same++; }
        printf("%-64s %12.4g %12.4g %7.3f  %s (tol %.1f%%)\n", label, mb, mn, ratio, verdict, 100 * tol);
    } else if (ok_b && strcmp(sn, "skipped")) {
        t->broken++;
        printf("%-64s %12.4g %12s %7s  BROKEN (new: %s)\n", label, mb, "-", "-", sn);
    } else {
        t->na++;
        printf("%-64s %12s %12s %7s  n/a (base %s, new %s)\n", label, ok_b ? "" : "-", ok_n ? "" : "-", "-", sb, sn);
    }
    return 0;
}

int cmd_compare(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    double threshold = 0.05;
    int force = 0, np = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threshold")) {
            char *end;
            if (i + 1 >= argc) return sb_usage_error("compare: --threshold needs a value");
            threshold = strtod(argv[++i], &end);
            if (*end || !(threshold >= 0) || !isfinite(threshold))
                return sb_usage_error("compare: --threshold wants a non-negative number (0.05 = 5%%), got '%s'", argv[i]);
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return sb_usage_error("compare: unknown option '%s'", argv[i]);
        } else if (np < 2) {
            paths[np++] = argv[i];
        } else {
            return sb_usage_error("compare: two files only (BASE NEW)");
        }
    }
    if (np != 2) return sb_usage_error("compare: usage: seqbench compare BASE NEW [--threshold 0.05] [--force]");
    results b, n;
    int rc = load(paths[0], &b);
    if (rc) return rc;
    if ((rc = load(paths[1], &n))) { sb_table_free(&b.t); return rc; }
    if (!force && (rc = same_machine(&b, &n, paths[0], paths[1]))) goto done;

    printf("%-64s %12s %12s %7s  %s\n", "key (backend layer impl level mode dtype config B T)", "base_ms", "new_ms", "ratio", "verdict");
    tally t = {0};
    char key[1024], label[512];
    for (size_t i = 0; i < n.t.nrows && !rc; i++) {
        key_of(&n, i, key, sizeof key);
        long j = find(&b, key);
        if (j >= 0) rc = compare_pair(&b, (size_t)j, &n, i, threshold, &t, paths[0], paths[1]);
    }
    for (size_t i = 0; i < b.t.nrows && !rc; i++) {
        key_of(&b, i, key, sizeof key);
        if (find(&n, key) < 0) {
            key_label(&b, i, label, sizeof label);
            printf("%-64s only in base\n", label);
            t.only_base++;
        }
    }
    for (size_t i = 0; i < n.t.nrows && !rc; i++) {
        key_of(&n, i, key, sizeof key);
        if (find(&b, key) < 0) {
            key_label(&n, i, label, sizeof label);
            printf("%-64s only in new\n", label);
            t.only_new++;
        }
    }
    if (!rc) {
        printf("compare: %d SLOW, %d FAST, %d SAME, %d BROKEN, %d not comparable; %d only in base, %d only in new "
               "(threshold %.1f%%)\n", t.slow, t.fast, t.same, t.broken, t.na, t.only_base, t.only_new, 100 * threshold);
        rc = t.slow || t.broken ? 1 : 0;
    }
done:
    sb_table_free(&b.t);
    sb_table_free(&n.t);
    return rc;
}
