/* merge.c: `seqbench merge OUT IN... [--force] [--keep-newer] [--plan FILE]` (SPEC §14): the union
 * of the CSVs of one sharded sweep (`seqbench run --shard I/N`, scripts/slurm/) into one CSV.
 *
 * The inputs must be one sweep: the same schema (a results header of this seqbench, with or
 * without the SPEC §14 columns), git sha, GPU and CUDA version, CPU model (rows of the host
 * backends), config, and, for sharded rows, the same shard count, plan size and preset (the note
 * says "shard I/N of the P points of preset X"); --force merges anyway (the output then has the
 * widest header). A point (the key of SPEC §10) in two rows is an error; --keep-newer keeps the row
 * with the later `utc`. Missing points: with --plan (the output of `seqbench run ... --dry-run`),
 * every planned key absent from the union is named; else the plan size recorded by the shards
 * gives their count, and shards with no row are named.
 * Exit: 0 complete, 1 points missing (OUT is still written), 2 bad input (nothing written). */
#include "commands.h"
#include "csvio.h"
#include "results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *path;
    sb_table t;
} input;

typedef struct {
    int file;
    size_t row;
    char key[512]; /* the point's key, impl without a "+graph" launch suffix */
} row_ref;

/* What the rows of one sweep share; the first value seen, and where. */
enum { S_GIT_SHA, S_GPU, S_CUDA, S_CPU_MODEL, S_CONFIG, S_SHARDS, S_PLANNED, S_PRESET, S_N };
static const char *const shared_names[S_N] = {"git sha", "gpu", "cuda version", "cpu model", "config",
                                              "shard count", "plan size", "preset"};

typedef struct {
    char value[S_N][160];
    int set[S_N];
    const char *where[S_N]; /* file of the first value */
    size_t row[S_N];
} sweep_id;

/* The plan a sharded row records in its note (sweep.c fill_meta). 1 when it has one. */
static int shard_note(const char *note, int *index, int *count, int *planned, char *preset, size_t sz) {
    char name[64];
    for (const char *s = strstr(note, "shard "); s; s = strstr(s + 1, "shard "))
        if (sscanf(s, "shard %d/%d of the %d points of preset %63[^; ]", index, count, planned, name) == 4) {
            snprintf(preset, sz, "%s", name);
            return 1;
        }
    return 0;
}

/* Checks one row against the values seen so far. Returns 0, or 2 after the message. */
static int check_same(sweep_id *id, int k, const char *value, const char *path, size_t row) {
    if (!id->set[k]) {
        snprintf(id->value[k], sizeof id->value[k], "%s", value);
        id->set[k] = 1;
        id->where[k] = path;
        id->row[k] = row;
        return 0;
    }
    if (!strcmp(id->value[k], value)) return 0;
    return sb_usage_error("merge: refusing to mix sweeps: %s row %zu has %s '%s', %s row %zu has '%s' (--force merges anyway)",
                          id->where[k], id->row[k] + 2, shared_names[k], id->value[k], path, row + 2, value);
}

static int check_row(sweep_id *id, const input *in, size_t r, unsigned char *shard_seen, int force) {
    char **c = in->t.rows[r];
    int index, count, planned;
    char preset[64], num[32];
    int sharded = shard_note(c[SB_COL_NOTE], &index, &count, &planned, preset, sizeof preset);
    if (sharded && index >= 1 && index <= count && count <= 4096 && shard_seen) shard_seen[index - 1] = 1;
    if (force) return 0;
    int rc = check_same(id, S_GIT_SHA, c[SB_COL_GIT_SHA], in->path, r) || check_same(id, S_GPU, c[SB_COL_GPU], in->path, r) ||
             check_same(id, S_CUDA, c[SB_COL_CUDA], in->path, r) || check_same(id, S_CONFIG, c[SB_COL_CONFIG], in->path, r);
    if (!rc && (!strcmp(c[SB_COL_BACKEND], "ref") || !strcmp(c[SB_COL_BACKEND], "cpu")))
        rc = check_same(id, S_CPU_MODEL, c[SB_COL_CPU_MODEL], in->path, r);
    if (!rc && sharded) {
        snprintf(num, sizeof num, "%d", count);
        rc = check_same(id, S_SHARDS, num, in->path, r);
        snprintf(num, sizeof num, "%d", planned);
        if (!rc) rc = check_same(id, S_PLANNED, num, in->path, r);
        if (!rc) rc = check_same(id, S_PRESET, preset, in->path, r);
    }
    return rc ? 2 : 0;
}

/* A results header of this seqbench: the first schema, or it plus some of the later columns. */
static int load(input *in, const char *path, int *width, int force) {
    in->path = path;
    if (sb_table_read(path, &in->t) != SB_OK) return sb_usage_error("merge: %s", sb_last_error());
    int ok = in->t.ncols >= SB_NCOLS_V1 && in->t.ncols <= SB_NCOLS;
    for (int i = 0; ok && i < in->t.ncols; i++) ok = !strcmp(in->t.header[i], sb_col_names[i]);
    if (!ok) return sb_usage_error("merge: %s does not have the results header of this seqbench", path);
    if (*width && *width != in->t.ncols && !force)
        return sb_usage_error("merge: refusing to mix schemas: %s has %d columns, an earlier input %d (--force merges anyway)",
                              path, in->t.ncols, *width);
    if (in->t.ncols > *width) *width = in->t.ncols;
    return 0;
}

static int by_key(const void *a, const void *b) {
    const row_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    return x->file != y->file ? x->file - y->file : (x->row > y->row) - (x->row < y->row);
}

static const char *cell(const input *ins, const row_ref *r, int col) { return ins[r->file].t.rows[r->row][col]; }

/* Sorts the rows by key and removes repeated points: an error, or (keep_newer) the row with the
 * later utc stays (the later input on a tie). Returns the count kept, or -1 after the message. */
static long dedupe(row_ref *v, size_t n, const input *ins, int keep_newer) {
    qsort(v, n, sizeof *v, by_key);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && !strcmp(v[k - 1].key, v[i].key)) {
            if (!keep_newer) {
                sb_usage_error("merge: point %s is measured twice: %s row %zu and %s row %zu (--keep-newer keeps the newer row)",
                               v[i].key, ins[v[k - 1].file].path, v[k - 1].row + 2, ins[v[i].file].path, v[i].row + 2);
                return -1;
            }
            if (strcmp(cell(ins, &v[i], SB_COL_UTC), cell(ins, &v[k - 1], SB_COL_UTC)) >= 0) v[k - 1] = v[i];
            continue;
        }
        v[k++] = v[i];
    }
    return (long)k;
}

static int key_listed(const row_ref *v, size_t n, const char *key) {
    size_t lo = 0, hi = n; /* v is sorted by key */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(v[mid].key, key);
        if (!c) return 1;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* --plan FILE: `seqbench run ... --dry-run` output, one key per line after the title. Prints
 * each planned point not in the union; returns the count, or -1 (unreadable file, or a merged
 * point the plan does not have) after the message. */
static long missing_from_plan(const char *plan, const row_ref *v, size_t n) {
    FILE *f = fopen(plan, "r");
    if (!f) return sb_usage_error("merge: --plan %s: %s", plan, strerror(errno)), -1;
    char line[1024];
    long missing = 0, planned = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strchr(line, '|')) continue; /* the title */
        planned++;
        if (!key_listed(v, n, line)) {
            fprintf(stderr, "merge: missing: %s\n", line);
            missing++;
        }
    }
    fclose(f);
    if (!planned) return sb_usage_error("merge: --plan %s lists no point (want the output of seqbench run ... --dry-run)", plan), -1;
    if ((long)n + missing != planned)
        return sb_usage_error("merge: the inputs hold %ld points that --plan %s does not list", (long)n + missing - planned, plan), -1;
    return missing;
}

/* Without --plan: the plan size and shard count recorded by sharded rows. */
static long missing_from_notes(const sweep_id *id, size_t n, const unsigned char *shard_seen) {
    if (!id->set[S_PLANNED]) return 0; /* unsharded inputs record no plan */
    long planned = atol(id->value[S_PLANNED]), shards = atol(id->value[S_SHARDS]);
    for (long i = 0; shard_seen && i < shards; i++)
        if (!shard_seen[i]) fprintf(stderr, "merge: shard %ld/%ld: no row in the inputs\n", i + 1, shards);
    if ((long)n > planned) return sb_usage_error("merge: %zu points in the inputs, more than the %ld planned", n, planned), -1;
    return planned - (long)n;
}

/* Stable order for the output: increasing context, as a sweep runs (inputs in command-line order). */
static const input *order_ins;
static int by_context(const void *a, const void *b) {
    const row_ref *x = a, *y = b;
    long cx = atol(cell(order_ins, x, SB_COL_CTX)), cy = atol(cell(order_ins, y, SB_COL_CTX));
    if (cx != cy) return cx < cy ? -1 : 1;
    if (x->file != y->file) return x->file - y->file;
    return (x->row > y->row) - (x->row < y->row);
}

/* Writes the header and the rows into a new file beside OUT, then renames it: OUT appears whole. */
static int write_out(const char *out, const input *ins, row_ref *v, size_t n, int width) {
    order_ins = ins;
    qsort(v, n, sizeof *v, by_context);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) return sb_usage_error("merge: %s: %s", tmp, strerror(errno));
    sb_status st = sb_csv_append_row(fd, sb_col_names, width);
    const char *cells[SB_NCOLS];
    for (size_t i = 0; i < n && st == SB_OK; i++) {
        const input *in = &ins[v[i].file];
        for (int c = 0; c < width; c++) cells[c] = c < in->t.ncols ? in->t.rows[v[i].row][c] : "";
        st = sb_csv_append_row(fd, cells, width);
    }
    close(fd);
    if (st != SB_OK || rename(tmp, out) != 0) {
        unlink(tmp);
        return sb_usage_error("merge: writing %s: %s", out, st != SB_OK ? sb_last_error() : strerror(errno));
    }
    return 0;
}

/* The rows of every input as references with their keys. */
static row_ref *collect(const input *ins, int nin, size_t *n) {
    size_t total = 0;
    for (int f = 0; f < nin; f++) total += ins[f].t.nrows;
    row_ref *v = calloc(total + 1, sizeof *v);
    if (!v) return NULL;
    int idx[SB_NKEY];
    for (int k = 0; k < SB_NKEY; k++) idx[k] = (int)sb_key_cols[k];
    *n = 0;
    for (int f = 0; f < nin; f++)
        for (size_t r = 0; r < ins[f].t.nrows; r++) {
            char *cells[SB_NCOLS], impl[SB_CELL];
            for (int c = 0; c < SB_NCOLS_V1; c++) cells[c] = ins[f].t.rows[r][c];
            snprintf(impl, sizeof impl, "%s", cells[SB_COL_IMPL]);
            impl[strcspn(impl, "+")] = '\0';
            cells[SB_COL_IMPL] = impl;
            row_ref *x = &v[(*n)++];
            x->file = f;
            x->row = r;
            sb_key_join(x->key, sizeof x->key, cells, idx);
        }
    return v;
}

static const char usage[] = "merge: usage: seqbench merge OUT IN... [--force] [--keep-newer] [--plan FILE]";

int cmd_merge(int argc, char **argv) {
    const char *out = NULL, *plan = NULL;
    const char **paths = calloc((size_t)argc, sizeof *paths);
    int npaths = 0, force = 0, keep_newer = 0;
    if (!paths) return sb_usage_error("out of memory");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force")) force = 1;
        else if (!strcmp(argv[i], "--keep-newer")) keep_newer = 1;
        else if (!strcmp(argv[i], "--plan")) {
            if (i + 1 >= argc) { free(paths); return sb_usage_error("merge: --plan needs a file"); }
            plan = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            free(paths);
            return sb_usage_error("merge: unknown option '%s'", argv[i]);
        } else if (!out) out = argv[i];
        else paths[npaths++] = argv[i];
    }
    if (!out || !npaths) { free(paths); return sb_usage_error("%s", usage); }
    if (access(out, F_OK) == 0) { free(paths); return sb_usage_error("merge: %s exists: it is never overwritten", out); }

    input *ins = calloc((size_t)npaths, sizeof *ins);
    sweep_id id = {0};
    unsigned char *shard_seen = calloc(4096, 1);
    row_ref *v = NULL;
    size_t n = 0;
    int width = 0, rc = ins && shard_seen ? 0 : sb_usage_error("out of memory"), loaded = 0;
    for (int f = 0; f < npaths && !rc; f++, loaded++) rc = load(&ins[f], paths[f], &width, force);
    for (int f = 0; f < npaths && !rc; f++)
        for (size_t r = 0; r < ins[f].t.nrows && !rc; r++) rc = check_row(&id, &ins[f], r, shard_seen, force);
    if (!rc && !(v = collect(ins, npaths, &n))) rc = sb_usage_error("out of memory");
    long kept = rc ? 0 : dedupe(v, n, ins, keep_newer), missing = 0;
    if (kept < 0) rc = 2;
    if (!rc) missing = plan ? missing_from_plan(plan, v, (size_t)kept) : missing_from_notes(&id, (size_t)kept, shard_seen);
    if (missing < 0) rc = 2;
    if (!rc) rc = write_out(out, ins, v, (size_t)kept, width);
    if (!rc) {
        fprintf(stderr, "merge: %d file%s, %ld points -> %s", npaths, npaths == 1 ? "" : "s", kept, out);
        if (plan || id.set[S_PLANNED]) fprintf(stderr, "; %ld planned point%s missing", missing, missing == 1 ? "" : "s");
        fputc('\n', stderr);
        printf("%s\n", out);
        rc = missing > 0 ? 1 : 0;
    }
    for (int f = 0; f < loaded; f++) sb_table_free(&ins[f].t);
    free(ins);
    free(v);
    free(shard_seen);
    free(paths);
    return rc;
}
