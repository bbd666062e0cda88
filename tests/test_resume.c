/* test_resume.c: a sweep killed mid-way loses no finished row and `--resume` completes it with
 * every point exactly once under one header (SPEC §8); a row torn by the kill is cut off; and
 * fields with commas, quotes and newlines round-trip through the libcsv writer and reader of
 * bench/csvio.h. */
#include <criterion/criterion.h>

#include "../bench/csvio.h"
#include "../bench/results.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A ci sweep long enough to be interrupted: the ci preset samples every point for 20 ms. */
#define SWEEP "run --preset ci --ctx 64,128,256"

static const char *bin(void) {
    const char *b = getenv("SEQBENCH_BIN");
    return b ? b : "build/seqbench";
}

static int lines_in(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

/* The keys of the planned points, from --dry-run (one "a|b|...|ctx" per line after a title). */
static int planned_keys(char keys[][256], int max) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s " SWEEP " --dry-run", bin());
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[512];
    int n = 0;
    cr_assert_not_null(fgets(line, sizeof line, p), "no dry-run output");
    while (n < max && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(keys[n++], 256, "%s", line);
    }
    pclose(p);
    return n;
}

/* Checks `path` holds exactly the planned points once each, under one header of ncols columns. */
static void expect_complete_at(const char *path, int ncols) {
    static char planned[512][256];
    int np = planned_keys(planned, 512);
    cr_assert_gt(np, 8);
    sb_table t;
    cr_assert_eq(sb_table_read(path, &t), SB_OK, "%s", sb_last_error());
    cr_assert_eq(t.ncols, ncols);
    for (int i = 0; i < ncols; i++) cr_expect_str_eq(t.header[i], sb_col_names[i]);
    cr_expect_eq((int)t.nrows, np, "%zu rows for %d planned points", t.nrows, np);
    int idx[SB_NKEY];
    for (int k = 0; k < SB_NKEY; k++) idx[k] = (int)sb_key_cols[k];
    for (int i = 0; i < np; i++) {
        int seen = 0;
        for (size_t r = 0; r < t.nrows; r++) {
            char key[1024];
            sb_key_join(key, sizeof key, t.rows[r], idx);
            seen += !strcmp(key, planned[i]);
        }
        cr_expect_eq(seen, 1, "point %s appears %d times", planned[i], seen);
    }
    for (size_t r = 0; r < t.nrows; r++) cr_expect_str_neq(t.rows[r][SB_COL_RUN_ID], "run_id", "a second header row");
    sb_table_free(&t);
}

static void expect_complete(const char *path) { expect_complete_at(path, SB_NCOLS); }

static int run_resume(const char *out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s " SWEEP " --out %s --resume >/dev/null 2>&1", bin(), out);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(resume, sigkill_then_resume, .timeout = 60) {
    char dir[] = "/tmp/sbresXXXXXX", out[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/sweep.csv", dir);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "exec %s " SWEEP " --out %s", bin(), out);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* wait for the header and a few rows, then kill without warning */
    struct timespec nap = {0, 1000000};
    int status = 0, exited = 0;
    for (int i = 0; i < 20000 && lines_in(out) < 4; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) { exited = 1; break; }
        nanosleep(&nap, NULL);
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "the sweep ended before it could be killed: make SWEEP longer");
    int rows_at_kill = lines_in(out) - 1;
    cr_expect_geq(rows_at_kill, 3);
    cr_expect_eq(run_resume(out), 0);
    expect_complete(out);
    /* a second resume finds nothing to do and changes nothing */
    int lines = lines_in(out);
    cr_expect_eq(run_resume(out), 0);
    cr_expect_eq(lines_in(out), lines);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}

/* A kill in the middle of a write leaves a row without its newline: resume cuts it off. */
Test(resume, torn_last_row, .timeout = 60) {
    char dir[] = "/tmp/sbresXXXXXX", out[256], cmd[4096];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/sweep.csv", dir);
    snprintf(cmd, sizeof cmd, "%s " SWEEP " --out %s >/dev/null 2>&1 && head -n 6 %s > %s.tmp && "
             "printf 'run_id,utc,\"torn' >> %s.tmp && mv %s.tmp %s", bin(), out, out, out, out, out, out);
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(run_resume(out), 0);
    expect_complete(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}

/* A file of the first schema (SPEC §8, ending at `note`) is continued at its own width (SPEC §14):
 * its 43-column rows and the appended ones share one header. */
Test(resume, older_schema_kept, .timeout = 60) {
    char dir[] = "/tmp/sbresXXXXXX", out[256], cmd[4096];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/sweep.csv", dir);
    snprintf(cmd, sizeof cmd, "%s " SWEEP " --out %s >/dev/null 2>&1 && head -n 6 %s | cut -d, -f1-%d > %s.tmp && "
             "mv %s.tmp %s", bin(), out, out, SB_NCOLS_V1, out, out, out);
    cr_assert_eq(system(cmd), 0); /* (the first rows' notes hold no comma: cut is exact there) */
    cr_expect_eq(run_resume(out), 0);
    expect_complete_at(out, SB_NCOLS_V1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}

/* A resume onto a file that is not a results CSV is bad input: exit 2, file untouched. */
Test(resume, refuses_foreign_file) {
    char dir[] = "/tmp/sbresXXXXXX", out[256], cmd[4096];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/other.csv", dir);
    FILE *f = fopen(out, "w");
    fputs("a,b,c\n1,2,3\n", f);
    fclose(f);
    cr_expect_eq(run_resume(out), 2);
    cr_expect_eq(lines_in(out), 2);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}

Test(resume, csv_round_trip) {
    const char *cells[] = {"plain", "with, comma", "with \"quotes\"", "", "multi\nline", " lead and trail ",
                           "a,\"b\",c", "1.5e-3", "note: FLOPs; \"x\", y"};
    const int n = sizeof cells / sizeof *cells;
    char path[] = "/tmp/sbcsvXXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *header[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"};
    cr_assert_eq(sb_csv_append_row(fd, header, n), SB_OK);
    cr_assert_eq(sb_csv_append_row(fd, cells, n), SB_OK);
    cr_assert_eq(sb_csv_append_row(fd, cells, n), SB_OK);
    close(fd);
    sb_table t;
    cr_assert_eq(sb_table_read(path, &t), SB_OK, "%s", sb_last_error());
    cr_assert_eq(t.ncols, n);
    cr_assert_eq(t.nrows, 2);
    for (size_t r = 0; r < 2; r++)
        for (int i = 0; i < n; i++) cr_expect_str_eq(t.rows[r][i], cells[i], "row %zu cell %d", r, i);
    cr_expect_eq(sb_table_col(&t, "c4"), 4);
    cr_expect_eq(sb_table_col(&t, "nope"), -1);
    sb_table_free(&t);
    /* plain cells stay unquoted (awk- and gnuplot-friendly), the others are quoted by libcsv */
    size_t len;
    char *line = sb_csv_format_row(cells, 3, &len);
    cr_expect_str_eq(line, "plain,\"with, comma\",\"with \"\"quotes\"\"\"\n");
    free(line);
    unlink(path);
}
