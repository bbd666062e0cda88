/* test_shard.c: `seqbench run --shard I/N` and `seqbench merge` (SPEC §14): the ci preset split in
 * 3 and merged is exactly the unsharded point set; the shards are disjoint and balanced, taken
 * from the Slurm array variables when set; merge refuses inputs of different GPUs, a point
 * measured twice (unless --keep-newer) and foreign files with exit 2 and no output, and exits 1,
 * naming what is absent, when points are missing. */
#include <criterion/criterion.h>

#include "../bench/csvio.h"
#include "../bench/results.h"
#include "test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A small sharded sweep for the merge cases (seconds), and the full ci preset for the split. */
#define SMALL "--preset ci --layers attention,mamba --ctx 32,64"
#define MAXKEYS 512

typedef struct {
    char dir[64];
} scratch;

static void scratch_make(scratch *s) {
    snprintf(s->dir, sizeof s->dir, "/tmp/sbshardXXXXXX");
    cr_assert_not_null(mkdtemp(s->dir));
}

static void scratch_drop(scratch *s) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s->dir);
    system(cmd);
}

/* Runs `seqbench ARGS` in the scratch folder (stdout to out.txt, stderr to err.txt); its exit code. */
static int sb(const scratch *s, const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s >out.txt 2>err.txt", s->dir, tu_bin(), args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void read_text(const scratch *s, const char *name, char *buf, size_t sz) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, sz - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static int exists(const scratch *s, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    return access(path, F_OK) == 0;
}

/* The keys `seqbench run OPTS --dry-run` lists (out.txt: a title, then one key a line). */
static int dry_run_keys(const scratch *s, const char *opts, char keys[][256], int max) {
    char args[1024], text[1 << 16];
    snprintf(args, sizeof args, "run %s --dry-run", opts);
    cr_assert_eq(sb(s, args), 0, "dry run of '%s' failed", opts);
    read_text(s, "out.txt", text, sizeof text);
    int n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strchr(line, '|') && n < max) snprintf(keys[n++], 256, "%s", line);
    return n;
}

/* The keys of a results CSV's rows (impl without a "+graph" suffix). */
static int csv_keys(const scratch *s, const char *name, char keys[][256], int max, sb_table *t) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    cr_assert_eq(sb_table_read(path, t), SB_OK, "%s", sb_last_error());
    int idx[SB_NKEY];
    for (int k = 0; k < SB_NKEY; k++) idx[k] = (int)sb_key_cols[k];
    int n = 0;
    for (size_t r = 0; r < t->nrows && n < max; r++) {
        t->rows[r][SB_COL_IMPL][strcspn(t->rows[r][SB_COL_IMPL], "+")] = '\0';
        sb_key_join(keys[n++], 256, t->rows[r], idx);
    }
    return n;
}

static int count_of(char keys[][256], int n, const char *key) {
    int c = 0;
    for (int i = 0; i < n; i++) c += !strcmp(keys[i], key);
    return c;
}

/* Shards 1..3 of OPTS into s1.csv, s2.csv, s3.csv. */
static void run_shards(const scratch *s, const char *opts) {
    for (int i = 1; i <= 3; i++) {
        char args[1024];
        snprintf(args, sizeof args, "run %s --shard %d/3 --out s%d.csv", opts, i, i);
        cr_assert_eq(sb(s, args), 0, "shard %d/3 of '%s' failed", i, opts);
    }
}

/* The ci preset in 3 shards, merged: exactly the points of the unsharded plan, each once, every
 * row marked with its shard; merge --plan agrees (exit 0). */
Test(shard, ci_split_in_3_and_merged_is_the_plan, .timeout = 300) {
    static char plan[MAXKEYS][256], merged[MAXKEYS][256], shard[MAXKEYS][256];
    scratch s;
    scratch_make(&s);
    int np = dry_run_keys(&s, "--preset ci", plan, MAXKEYS);
    cr_assert_gt(np, 30);
    run_shards(&s, "--preset ci");
    sb_table t;
    for (int i = 1; i <= 3; i++) {
        char name[16], want[8];
        snprintf(name, sizeof name, "s%d.csv", i);
        snprintf(want, sizeof want, "%d/3", i);
        int n = csv_keys(&s, name, shard, MAXKEYS, &t);
        cr_expect_geq(n, np / 3 - 2, "shard %d: %d of %d points: not balanced", i, n, np);
        for (size_t r = 0; r < t.nrows; r++) cr_expect_str_eq(t.rows[r][SB_COL_SHARD], want);
        sb_table_free(&t);
    }
    cr_assert_eq(sb(&s, "merge all.csv s1.csv s2.csv s3.csv"), 0);
    int nm = csv_keys(&s, "all.csv", merged, MAXKEYS, &t);
    cr_expect_eq(t.ncols, SB_NCOLS);
    sb_table_free(&t);
    cr_expect_eq(nm, np, "%d merged rows for %d planned points", nm, np);
    for (int i = 0; i < np; i++) cr_expect_eq(count_of(merged, nm, plan[i]), 1, "point %s merged %d times", plan[i], count_of(merged, nm, plan[i]));
    cr_assert_eq(sb(&s, "run --preset ci --dry-run"), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cp %s/out.txt %s/plan.txt", s.dir, s.dir);
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(sb(&s, "merge again.csv s1.csv s2.csv s3.csv --plan plan.txt"), 0);
    scratch_drop(&s);
}

/* The dry-run lists of the shards partition the plan; the cost split is balanced, not by index. */
Test(shard, dry_runs_partition_the_plan) {
    static char plan[MAXKEYS][256], part[MAXKEYS][256];
    scratch s;
    scratch_make(&s);
    int np = dry_run_keys(&s, "--preset cpu", plan, MAXKEYS), total = 0;
    for (int i = 1; i <= 4; i++) {
        char opts[64], text[256];
        snprintf(opts, sizeof opts, "--preset cpu --shard %d/4", i);
        int n = dry_run_keys(&s, opts, part + total, MAXKEYS - total);
        read_text(&s, "out.txt", text, sizeof text);
        cr_expect(strstr(text, "% of the predicted cost") != NULL, "%s", text);
        cr_expect_gt(n, 0);
        total += n;
    }
    cr_expect_eq(total, np);
    for (int i = 0; i < np; i++) cr_expect_eq(count_of(part, total, plan[i]), 1, "%s", plan[i]);
    /* every shard gets some of the longest contexts (a split by index would give them to one) */
    for (int i = 1; i <= 4; i++) {
        char opts[64];
        snprintf(opts, sizeof opts, "--preset cpu --shard %d/4", i);
        int n = dry_run_keys(&s, opts, part, MAXKEYS), longest = 0;
        for (int k = 0; k < n; k++) longest += strstr(part[k], "|8192") != NULL;
        cr_expect_gt(longest, 0, "shard %d/4 has no 8k point", i);
    }
    scratch_drop(&s);
}

/* A Slurm array task is a shard: task 5 of an array 4-6 is shard 2/3; an array of one is the
 * whole plan; a task that is not one of COUNT is refused with exit 2. */
Test(shard, from_slurm_array_variables) {
    scratch s;
    scratch_make(&s);
    char a[4096], b[4096];
    cr_assert_eq(sb(&s, "run " SMALL " --dry-run --shard 2/3"), 0);
    read_text(&s, "out.txt", a, sizeof a);
    cr_assert_eq(sb(&s, "run " SMALL " --dry-run --shard 1/1"), 0);
    read_text(&s, "out.txt", b, sizeof b);
    cr_expect(strncmp(b, "preset ci: 16 points", 20) == 0, "%s", b);
    setenv("SLURM_ARRAY_TASK_ID", "5", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "4", 1);
    cr_expect_eq(sb(&s, "run " SMALL " --dry-run"), 0);
    read_text(&s, "out.txt", b, sizeof b);
    cr_expect_str_eq(a, b);
    setenv("SLURM_ARRAY_TASK_ID", "9", 1);
    cr_expect_eq(sb(&s, "run " SMALL " --dry-run"), 2);
    read_text(&s, "err.txt", b, sizeof b);
    cr_expect(strstr(b, "not one of 3") != NULL, "%s", b);
    cr_expect_eq(sb(&s, "run " SMALL " --dry-run --shard 3/3"), 0, "--shard wins over the environment");
    unsetenv("SLURM_ARRAY_TASK_ID");
    unsetenv("SLURM_ARRAY_TASK_COUNT");
    unsetenv("SLURM_ARRAY_TASK_MIN");
    scratch_drop(&s);
}

/* Copies IN to OUT through the sweep's writer, the first `width` columns only, and column `col`
 * (if >= 0) set to `value` in every row. */
static void rewrite(const scratch *s, const char *in, const char *out, int width, int col, const char *value) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s->dir, in);
    sb_table t;
    cr_assert_eq(sb_table_read(path, &t), SB_OK, "%s", sb_last_error());
    snprintf(path, sizeof path, "%s/%s", s->dir, out);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(sb_csv_append_row(fd, (const char *const *)t.header, width), SB_OK);
    for (size_t r = 0; r < t.nrows; r++) {
        const char *cells[SB_NCOLS];
        for (int c = 0; c < width; c++) cells[c] = c == col ? value : t.rows[r][c];
        cr_assert_eq(sb_csv_append_row(fd, cells, width), SB_OK);
    }
    close(fd);
    sb_table_free(&t);
}

static void expect_refused(const scratch *s, const char *args, const char *phrase) {
    char err[4096];
    cr_expect_eq(sb(s, args), 2, "merge %s: not refused", args);
    read_text(s, "err.txt", err, sizeof err);
    cr_expect(strstr(err, phrase) != NULL, "'%s': message '%s' lacks '%s'", args, err, phrase);
    char *nl = strchr(err, '\n');
    cr_expect(nl && nl[1] == '\0', "'%s': not one line on stderr: %s", args, err);
    char out[64] = "";
    cr_assert_eq(sscanf(args, "merge %63s", out), 1);
    cr_expect(!exists(s, out), "'%s' wrote %s", args, out);
}

/* Bad input exits 2 with one line and no output: a shard from another GPU, a point twice, an
 * existing OUT, a file that is not a results CSV, no input. --force / --keep-newer override. */
Test(shard, merge_refuses_bad_input, .timeout = 120) {
    scratch s;
    scratch_make(&s);
    run_shards(&s, SMALL);
    rewrite(&s, "s2.csv", "s2gpu.csv", SB_NCOLS, SB_COL_GPU, "NVIDIA A100-SXM4-80GB");
    expect_refused(&s, "merge m.csv s1.csv s2gpu.csv s3.csv", "gpu");
    expect_refused(&s, "merge m.csv s1.csv s2.csv s3.csv s2.csv", "measured twice");
    rewrite(&s, "s3.csv", "s3sha.csv", SB_NCOLS, SB_COL_GIT_SHA, "0123456789ab");
    expect_refused(&s, "merge m.csv s1.csv s2.csv s3sha.csv", "git sha");
    expect_refused(&s, "merge m.csv s1.csv no_such_file.csv", "cannot open");
    expect_refused(&s, "merge m.csv", "usage");
    expect_refused(&s, "merge m.csv s1.csv --frobnicate", "unknown option");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "printf 'a,b\\n1,2\\n' > %s/foreign.csv", s.dir);
    cr_assert_eq(system(cmd), 0);
    expect_refused(&s, "merge m.csv s1.csv foreign.csv", "results header");
    cr_expect_eq(sb(&s, "merge m.csv s1.csv s2gpu.csv s3.csv --force"), 0);
    cr_expect_eq(sb(&s, "merge m.csv s1.csv"), 2, "an existing OUT is overwritten");
    read_text(&s, "err.txt", cmd, sizeof cmd);
    cr_expect(strstr(cmd, "exists") != NULL, "%s", cmd);
    cr_expect_eq(sb(&s, "merge k.csv s1.csv s2.csv s3.csv s2.csv --keep-newer"), 0);
    sb_table t;
    char path[256];
    snprintf(path, sizeof path, "%s/k.csv", s.dir);
    cr_assert_eq(sb_table_read(path, &t), SB_OK);
    cr_expect_eq(t.nrows, 16);
    sb_table_free(&t);
    scratch_drop(&s);
}

/* A shard missing: exit 1, the union written, the absent shard and the count named; with --plan
 * every missing point is named. A CSV of the first schema (no SPEC §14 columns) is accepted. */
Test(shard, merge_reports_missing_points, .timeout = 120) {
    scratch s;
    scratch_make(&s);
    run_shards(&s, SMALL);
    char err[8192];
    cr_expect_eq(sb(&s, "merge m.csv s1.csv s3.csv"), 1);
    read_text(&s, "err.txt", err, sizeof err);
    cr_expect(strstr(err, "shard 2/3: no row") != NULL, "%s", err);
    cr_expect(exists(&s, "m.csv"));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd %s && %s run " SMALL " --dry-run > plan.txt 2>/dev/null", s.dir, tu_bin());
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(sb(&s, "merge p.csv s1.csv s3.csv --plan plan.txt"), 1);
    read_text(&s, "err.txt", err, sizeof err);
    cr_expect(strstr(err, "merge: missing: cpu|") != NULL, "%s", err);
    /* the first schema: the shards without the SPEC §14 columns */
    for (int i = 1; i <= 3; i++) {
        char in[16], out[16];
        snprintf(in, sizeof in, "s%d.csv", i);
        snprintf(out, sizeof out, "v1_%d.csv", i);
        rewrite(&s, in, out, SB_NCOLS_V1, -1, NULL);
    }
    cr_expect_eq(sb(&s, "merge v1.csv v1_1.csv v1_2.csv v1_3.csv --plan plan.txt"), 0);
    expect_refused(&s, "merge m2.csv v1_1.csv s2.csv v1_3.csv", "schemas");
    scratch_drop(&s);
}
