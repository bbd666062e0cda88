/* test_cli.c: bad input to `seqbench run` exits 2 with exactly one line on stderr and creates no
 * output file, neither the one named by --out nor the default results/ folder (SPEC §9). Each case
 * runs the binary ($SEQBENCH_BIN) in a fresh temporary folder. */
#include <criterion/criterion.h>

#include "test_util.h"
#include <criterion/parameterized.h>

#include "../registry/registry.h"
#include "../bench/csvio.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `cmd` in dir; returns the exit code; stderr in dir/stderr, stdout discarded. */
static int run_in(const char *dir, const char *cmd) {
    char full[8192], err[4200];
    snprintf(full, sizeof full, "cd %s && %s", dir, cmd);
    snprintf(err, sizeof err, "%s/stderr", dir);
    return tu_shell(full, err);
}

static int exists(const char *dir, const char *name) {
    char p[4200];
    struct stat s;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &s) == 0;
}

typedef struct {
    char args[160];
    char expect[48]; /* a word the message must contain */
    int with_out;    /* 1: --out out.csv; 0: the default results/... path */
    int needs_no_gpu;
} cli_case;

ParameterizedTestParameters(cli, bad_input) {
    static cli_case cases[] = {
        {"--layers transformerxl", "unknown layer", 1, 0},
        {"--layers attention,bogus", "unknown layer", 0, 0},
        {"--ctx 0", "positive", 1, 0},
        {"--ctx -1k", "positive", 0, 0},
        {"--ctx 8k:1k", "reversed", 1, 0},
        {"--ctx 1k:", "malformed", 1, 0},
        {"--ctx abc", "malformed", 1, 0},
        {"--preset turbo", "unknown preset", 1, 0},
        {"--preset turbo", "unknown preset", 0, 0},
        {"--backend tpu", "unknown backend", 1, 0},
        {"--levels op,kernel", "unknown level", 1, 0},
        {"--modes train", "unknown mode", 1, 0},
        {"--batch 16,,512", "batch", 1, 0},
        {"--batch x", "batch", 0, 0},
        {"--batch 0", "batch", 1, 0},
        {"--config 7b", "unknown config", 1, 0},
        {"--impl nosuchimpl", "no selected layer", 1, 0},
        {"--frobnicate", "unknown option", 1, 0},
        {"--ctx", "needs a value", 0, 0},
        {"--seed -3", "seed", 1, 0},
        {"--budget 0", "budget", 1, 0},
        {"--budget 12s", "budget", 1, 0},
        {"--backend cuda", "not available", 1, 1},
        {"--preset paper", "needs a CUDA GPU", 0, 1},
        {"--shard 0/3", "--shard wants I/N", 1, 0},
        {"--shard 4/3", "--shard wants I/N", 1, 0},
        {"--shard 3", "--shard wants I/N", 1, 0},
        {"--shard a/b", "--shard wants I/N", 0, 0},
        {"--shard 1/0", "--shard wants I/N", 1, 0},
        {"--shard -1/3", "--shard wants I/N", 1, 0},
    };
    return cr_make_param_array(cli_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(cli_case *c, cli, bad_input) {
    if (c->needs_no_gpu && sb_backend_available(SB_CUDA)) cr_skip_test("a GPU is present: '%s' is valid here", c->args);
    char tmp[] = "/tmp/sbcliXXXXXX", bin[PATH_MAX], cmd[8192], err[4200], first[4096];
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(bin, sizeof bin, "%s", tu_bin());
    snprintf(cmd, sizeof cmd, "%s run --preset ci %s%s", bin, c->with_out ? "--out out.csv " : "", c->args);
    if (strstr(c->args, "--preset")) /* the case's own preset, not ci */
        snprintf(cmd, sizeof cmd, "%s run %s%s", bin, c->with_out ? "--out out.csv " : "", c->args);
    int rc = run_in(tmp, cmd);
    snprintf(err, sizeof err, "%s/stderr", tmp);
    int lines = tu_count_lines(err, first, sizeof first);
    cr_expect_eq(rc, 2, "'%s': exit %d, expected 2", c->args, rc);
    cr_expect_eq(lines, 1, "'%s': %d lines on stderr, expected one", c->args, lines);
    cr_expect(strstr(first, c->expect) != NULL, "'%s': message '%s' does not mention '%s'", c->args, first, c->expect);
    cr_expect(!exists(tmp, "out.csv"), "'%s': an output file was created", c->args);
    cr_expect(!exists(tmp, "results"), "'%s': a results/ folder was created", c->args);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    system(cmd);
}

/* An existing file is never overwritten: without --resume the run refuses and leaves it alone. */
Test(cli, refuses_to_overwrite) {
    char tmp[] = "/tmp/sbcliXXXXXX", bin[PATH_MAX], cmd[8192], err[4200], first[4096];
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(bin, sizeof bin, "%s", tu_bin());
    snprintf(cmd, sizeof cmd, "echo precious > %s/out.csv", tmp);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s run --preset ci --out out.csv", bin);
    cr_expect_eq(run_in(tmp, cmd), 2);
    snprintf(err, sizeof err, "%s/stderr", tmp);
    cr_expect_eq(tu_count_lines(err, first, sizeof first), 1);
    cr_expect(strstr(first, "--resume") != NULL, "%s", first);
    snprintf(err, sizeof err, "%s/out.csv", tmp);
    cr_expect_eq(tu_count_lines(err, first, sizeof first), 1);
    cr_expect_str_eq(first, "precious\n");
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    system(cmd);
}

/* --dry-run lists the points of the preset and writes nothing. */
Test(cli, dry_run_lists_points) {
    char tmp[] = "/tmp/sbcliXXXXXX", bin[PATH_MAX], cmd[8192];
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(bin, sizeof bin, "%s", tu_bin());
    snprintf(cmd, sizeof cmd, "cd %s && %s run --preset ci --layers attention --levels op --modes prefill --ctx 32:128 --dry-run > list", tmp, bin);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/list", tmp);
    char first[4096];
    cr_expect_eq(tu_count_lines(cmd, first, sizeof first), 4, "header + 3 points (32, 64, 128)");
    cr_expect(strstr(first, "3 points") != NULL, "%s", first);
    cr_expect(!exists(tmp, "results"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    system(cmd);
}

/* An output folder that cannot be created or written is an error before any measurement: exit 2,
 * one line, nothing measured. Cases: a folder under /proc (not creatable, even by root), a path
 * through a regular file, and a read-only folder (skipped for root, whom permissions do not stop). */
typedef struct {
    char setup[96]; /* shell commands run in the temporary folder first */
    char out[64];
    int needs_non_root;
} out_case;

ParameterizedTestParameters(cli, unwritable_out_folder) {
    static out_case cases[] = {
        {"true", "/proc/seqbench-no-such-folder/out.csv", 0},
        {"touch afile", "afile/out.csv", 0},
        {"mkdir ro && chmod 555 ro", "ro/out.csv", 1},
        {"mkdir ro && chmod 555 ro", "ro/sub/out.csv", 1},
    };
    return cr_make_param_array(out_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(out_case *c, cli, unwritable_out_folder) {
    if (c->needs_non_root && geteuid() == 0) cr_skip_test("running as root: a read-only folder does not stop root");
    char tmp[] = "/tmp/sbcliXXXXXX", cmd[8192], err[4200], first[4096];
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(cmd, sizeof cmd, "cd %s && %s", tmp, c->setup);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s run --preset ci --out %s", tu_bin(), c->out);
    int rc = run_in(tmp, cmd);
    snprintf(err, sizeof err, "%s/stderr", tmp);
    cr_expect_eq(rc, 2, "--out %s: exit %d, expected 2", c->out, rc);
    cr_expect_eq(tu_count_lines(err, first, sizeof first), 1, "--out %s: not one line on stderr", c->out);
    cr_expect(strstr(first, "seqbench: ") == first && strstr(first, "out.csv") != NULL, "%s", first);
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", tmp, tmp);
    system(cmd);
}

/* `seqbench ARGS --out NAME` run in dir (exit 0 asserted), its CSV read into t. */
static void run_and_read(const char *dir, const char *args, const char *name, sb_table *t) {
    char cmd[8192], path[4200];
    snprintf(cmd, sizeof cmd, "%s %s --out %s", tu_bin(), args, name);
    cr_assert_eq(run_in(dir, cmd), 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(sb_table_read(path, t), SB_OK, "%s", sb_last_error());
}

/* Every measured row says how long its set-up took (setup_s); host rows have no energy columns
 * (NVML is GPU-only); --budget replaces the preset's total budget: a 1 ms budget cannot hold a
 * point, so they are `skipped` with --budget named in the note. */
Test(cli, setup_energy_and_budget_columns) {
    char tmp[] = "/tmp/sbcliXXXXXX", cmd[4200];
    cr_assert_not_null(mkdtemp(tmp));
    sb_table t;
    run_and_read(tmp, "run --preset ci --layers attention --levels layer --modes prefill --ctx 32,64", "a.csv", &t);
    int setup = sb_table_col(&t, "setup_s"), jpt = sb_table_col(&t, "joules_per_token"), watts = sb_table_col(&t, "watts"),
        status = sb_table_col(&t, "status"), note = sb_table_col(&t, "note");
    cr_assert(setup >= 0 && jpt >= 0 && watts >= 0 && status >= 0 && note >= 0);
    cr_assert_eq(t.nrows, 2);
    for (size_t r = 0; r < t.nrows; r++) {
        cr_expect_str_eq(t.rows[r][status], "ok");
        cr_expect(atof(t.rows[r][setup]) > 0, "setup_s '%s'", t.rows[r][setup]);
        cr_expect_str_eq(t.rows[r][jpt], "");
        cr_expect_str_eq(t.rows[r][watts], "");
    }
    sb_table_free(&t);
    run_and_read(tmp, "run --preset ci --layers attention --levels layer --modes prefill --ctx 32,64,128 --budget 0.001", "b.csv", &t);
    cr_assert_eq(t.nrows, 3);
    int skipped = 0;
    for (size_t r = 0; r < t.nrows; r++)
        if (!strcmp(t.rows[r][status], "skipped")) {
            skipped++;
            cr_expect(strstr(t.rows[r][note], "--budget") != NULL, "%s", t.rows[r][note]);
        }
    cr_expect_geq(skipped, 2, "the points after the first overrun a 1 ms budget");
    sb_table_free(&t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    system(cmd);
}

/* `seqbench summary` ends each series with its largest noise over its ok points. */
Test(cli, summary_noise_column) {
    char cmd[8192], out[] = "/tmp/sbsumXXXXXX";
    int fd = mkstemp(out);
    cr_assert_geq(fd, 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s summary tests/fixtures/plots.csv > %s", tu_bin(), out);
    cr_assert_eq(system(cmd), 0);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    char line[1024];
    int header = 0, rows_with_noise = 0;
    while (fgets(line, sizeof line, f)) {
        header |= strstr(line, "max noise") != NULL;
        rows_with_noise += strstr(line, "cuda attention flash op prefill B=16") && strstr(line, " 1.00%\n");
    }
    fclose(f);
    cr_expect(header, "no 'max noise' column");
    cr_expect_eq(rows_with_noise, 1, "the attention prefill series ends with its 1.00%% noise");
    unlink(out);
}

/* A CUDA decode point whose decode state and weights alone exceed the free device memory is an
 * `oom` row decided before anything is built (1.3b attention at model level, B=512, T=32k: a KV
 * cache of 2 x 512 x 32k x 2048 x 2 bytes per layer, 24 layers, ~3 TiB), and it costs no set-up. */
Test(cli, oom_decided_before_building, .timeout = 120) {
    if (!sb_backend_available(SB_CUDA)) cr_skip_test("no CUDA device");
    char tmp[] = "/tmp/sbcliXXXXXX", cmd[4200];
    cr_assert_not_null(mkdtemp(tmp));
    sb_table t;
    run_and_read(tmp, "run --preset fig15 --layers attention --levels model --modes decode --batch 512 --ctx 32k", "o.csv", &t);
    cr_assert_eq(t.nrows, 1);
    cr_expect_str_eq(t.rows[0][sb_table_col(&t, "status")], "oom");
    cr_expect(strstr(t.rows[0][sb_table_col(&t, "note")], "not built") != NULL, "%s", t.rows[0][sb_table_col(&t, "note")]);
    cr_expect_str_eq(t.rows[0][sb_table_col(&t, "setup_s")], "");
    sb_table_free(&t);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    system(cmd);
}
