/* test_resume.c: a sweep killed mid-way loses no finished row and `--resume` completes it with
 * every point exactly once under one header (SPEC §8); a row torn by the kill is cut off; kill -9
 * at random moments over many trials, SIGTERM/SIGINT (exit 143/130, rows kept) and a full disk
 * (the file size limit) all end in a complete file after --resume; and fields with commas, quotes
 * and newlines round-trip through the libcsv writer and reader of bench/csvio.h. */
#include <criterion/criterion.h>

#include "../bench/csvio.h"
#include "../bench/results.h"
#include "../bench/resume.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

/* A fresh folder for one test, and the sweep's file in it. */
typedef struct {
    char dir[32], out[64];
} scratch;

static scratch scratch_new(void) {
    scratch t;
    snprintf(t.dir, sizeof t.dir, "/tmp/sbresXXXXXX");
    cr_assert_not_null(mkdtemp(t.dir));
    snprintf(t.out, sizeof t.out, "%s/sweep.csv", t.dir);
    return t;
}

static void scratch_remove(const scratch *t) {
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
    system(cmd);
}

static int run_resume(const char *out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s " SWEEP " --out %s --resume >/dev/null 2>&1", bin(), out);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --resume finishes the sweep in out: exit 0, every point once. */
static void expect_resume_completes(const char *out) {
    cr_expect_eq(run_resume(out), 0);
    expect_complete(out);
}

Test(resume, sigkill_then_resume, .timeout = 60) {
    scratch t = scratch_new();
    const char *out = t.out;
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
    expect_resume_completes(out);
    /* a second resume finds nothing to do and changes nothing */
    int lines = lines_in(out);
    cr_expect_eq(run_resume(out), 0);
    cr_expect_eq(lines_in(out), lines);
    scratch_remove(&t);
}

/* Starts `seqbench SWEEP --out out --resume` in the background: stdout to /dev/null, stderr to
 * errfd (or /dev/null when -1), under a file size limit when fsize > 0. */
static pid_t start_sweep(const char *out, int errfd, rlim_t fsize) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(errfd >= 0 ? errfd : null, 2);
        if (fsize) {
            struct rlimit rl = {fsize, fsize};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "exec %s " SWEEP " --out %s --resume", bin(), out);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits up to ms milliseconds for pid; 1 if it exited (status in *status). */
static int wait_ms(pid_t pid, int ms, int *status) {
    struct timespec nap = {0, 2000000};
    for (int t = 0; t <= ms; t += 2) {
        if (waitpid(pid, status, WNOHANG) == pid) return 1;
        nanosleep(&nap, NULL);
    }
    return 0;
}

static char *slurp(const char *path, size_t *len) {
    char *text = NULL;
    if (sb_file_read_all(path, &text, len) != SB_OK) { *len = 0; return strdup(""); }
    return text;
}

/* No point twice among the complete rows of text (the torn tail aside). */
static void expect_no_doubles(const char *text, size_t len, const char *what) {
    sb_resume_state s;
    cr_assert_eq(sb_resume_scan(text, len, "the sweep's file", &s), SB_OK, "%s: %s", what, sb_last_error());
    for (size_t i = 0; i < s.nkeys; i++)
        for (size_t j = i + 1; j < s.nkeys; j++) cr_expect_str_neq(s.keys[i], s.keys[j], "%s: point twice", what);
    sb_resume_free(&s);
}

/* kill -9 at random moments (from before the header is written to after the last row), then
 * --resume each time: every complete row from before a kill is still there, byte for byte; no
 * point appears twice; a sweep that ends leaves a complete file with no torn row. 20 trials,
 * about 20 s. */
Test(resume, kill9_loop, .timeout = 120) {
    scratch t = scratch_new();
    const char *out = t.out;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    char *kept = strdup("");
    size_t kept_len = 0;
    int kills = 0, completed = 0;
    for (int trial = 0; trial < 20; trial++) {
        pid_t pid = start_sweep(out, -1, 0);
        int status, delay = rand() % 1500;
        int exited = wait_ms(pid, delay, &status);
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            kills++;
        }
        size_t len;
        char *text = slurp(out, &len);
        char what[96];
        snprintf(what, sizeof what, "trial %d, kill after %d ms (seed %u)", trial, delay, seed);
        cr_assert(len >= kept_len && memcmp(text, kept, kept_len) == 0, "%s: a row written before was lost", what);
        expect_no_doubles(text, len, what);
        if (exited) { /* the sweep finished in time: whole, and start another */
            cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the sweep failed", what);
            cr_assert(len > 0 && text[len - 1] == '\n', "%s: a torn row after a finished sweep", what);
            expect_complete(out);
            unlink(out);
            len = 0;
            completed++;
        }
        while (len > 0 && text[len - 1] != '\n') len--; /* a torn tail is --resume's to cut */
        free(kept);
        kept = text;
        kept_len = len;
    }
    cr_expect_geq(kills, 10, "only %d of 20 trials were killed", kills);
    cr_expect_eq(run_resume(out), 0);
    size_t len;
    char *text = slurp(out, &len);
    cr_expect(len >= kept_len && memcmp(text, kept, kept_len) == 0, "the final resume lost a row");
    cr_expect(len > 0 && text[len - 1] == '\n', "a torn row left after resume");
    free(text);
    free(kept);
    expect_complete(out);
    cr_log_info("kill9_loop: %d kills, %d sweeps finished in a trial (seed %u)", kills, completed, seed);
    scratch_remove(&t);
}

/* SIGTERM (a scheduler's time limit) or SIGINT (Ctrl-C) mid-sweep: the point in flight is dropped,
 * every finished row stays, one line says how many and how to go on, exit 128 + signal, soon. */
static void signal_then_resume(int sig, int code, const char *name) {
    scratch t = scratch_new();
    const char *out = t.out;
    char err[256];
    snprintf(err, sizeof err, "%s/stderr", t.dir);
    int errfd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = start_sweep(out, errfd, 0);
    close(errfd);
    int status = 0;
    for (int i = 0; i < 15000 && lines_in(out) < 4; i++) /* up to 30 s: a loaded machine, ASan */
        cr_assert(!wait_ms(pid, 2, &status), "the sweep ended before the signal");
    kill(pid, sig);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int exited = wait_ms(pid, 10000, &status);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (!exited) { kill(pid, SIGKILL); waitpid(pid, &status, 0); }
    cr_assert(exited, "%s: still running 10 s after the signal", name);
    double waited = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    cr_expect_lt(waited, 5.0, "%s: %.1f s from the signal to the exit", name, waited);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == code, "%s: exit status %d, expected exit %d", name, status, code);
    int rows = lines_in(out) - 1;
    size_t len;
    char *text = slurp(err, &len), want[160];
    snprintf(want, sizeof want, "interrupted by %s: %d rows kept in %s", name, rows, out);
    cr_expect(strstr(text, want) != NULL, "stderr lacks '%s':\n%s", want, text);
    cr_expect(strstr(text, "--resume") != NULL, "no word on how to continue");
    free(text);
    text = slurp(out, &len);
    cr_expect(len > 0 && text[len - 1] == '\n', "%s left a torn row", name);
    free(text);
    expect_resume_completes(out);
    scratch_remove(&t);
}

Test(resume, sigterm_keeps_rows, .timeout = 60) { signal_then_resume(SIGTERM, 143, "SIGTERM"); }
Test(resume, sigint_keeps_rows, .timeout = 60) { signal_then_resume(SIGINT, 130, "SIGINT"); }

/* A full disk mid-sweep, as the file size limit (RLIMIT_FSIZE; no root needed): the failed write
 * is reported, the part of the row it wrote is taken back, the finished rows stay; --resume (with
 * room again) completes the sweep with nothing lost or doubled. */
Test(resume, full_disk_then_resume, .timeout = 60) {
    scratch t = scratch_new();
    const char *out = t.out;
    int fds[2];
    cr_assert_eq(pipe(fds), 0); /* stderr through a pipe: the limit applies to files only */
    const rlim_t limit = 6000;
    pid_t pid = start_sweep(out, fds[1], limit);
    close(fds[1]);
    static char err[1 << 16];
    size_t n = 0;
    ssize_t got;
    while ((got = read(fds[0], err + n, sizeof err - 1 - n)) > 0) n += (size_t)got;
    err[n] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit status %d, expected exit 1", status);
    cr_expect(strstr(err, "File too large") != NULL, "the write error is not reported:\n%s", err);
    int rows = lines_in(out) - 1;
    char want[160];
    snprintf(want, sizeof want, "%d rows kept in %s", rows, out);
    cr_expect(strstr(err, want) != NULL, "stderr lacks '%s':\n%s", want, err);
    cr_expect_geq(rows, 2);
    struct stat st;
    cr_assert_eq(stat(out, &st), 0);
    cr_expect_leq(st.st_size, (off_t)limit);
    size_t len;
    char *text = slurp(out, &len);
    cr_expect(len > 0 && text[len - 1] == '\n', "the failed write left a torn row");
    expect_no_doubles(text, len, "after the full disk");
    free(text);
    expect_resume_completes(out);
    scratch_remove(&t);
}

/* A file killed between its creation and its header is empty: --resume starts it afresh. */
Test(resume, empty_file_starts_afresh, .timeout = 60) {
    scratch t = scratch_new();
    const char *out = t.out;
    fclose(fopen(out, "w"));
    expect_resume_completes(out);
    scratch_remove(&t);
}

/* A kill in the middle of a write leaves a row without its newline: resume cuts it off. */
Test(resume, torn_last_row, .timeout = 60) {
    scratch t = scratch_new();
    const char *out = t.out;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s " SWEEP " --out %s >/dev/null 2>&1 && head -n 6 %s > %s.tmp && "
             "printf 'run_id,utc,\"torn' >> %s.tmp && mv %s.tmp %s", bin(), out, out, out, out, out, out);
    cr_assert_eq(system(cmd), 0);
    expect_resume_completes(out);
    scratch_remove(&t);
}

/* A file of the first schema (SPEC §8, ending at `note`) is continued at its own width (SPEC §14):
 * its 43-column rows and the appended ones share one header. */
Test(resume, older_schema_kept, .timeout = 60) {
    scratch t = scratch_new();
    const char *out = t.out;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s " SWEEP " --out %s >/dev/null 2>&1", bin(), out);
    cr_assert_eq(system(cmd), 0);
    /* its header and first 5 rows, cut to the first schema's columns by the CSV reader and writer
     * (not by `cut`: a note may hold a quoted comma, e.g. "one sample: ..., over the cap") */
    sb_table tb;
    cr_assert_eq(sb_table_read(out, &tb), SB_OK, "%s", sb_last_error());
    cr_assert_geq(tb.nrows, 5);
    int fd = open(out, O_WRONLY | O_TRUNC);
    cr_assert(fd >= 0);
    cr_assert_eq(sb_csv_append_row(fd, (const char *const *)tb.header, SB_NCOLS_V1), SB_OK);
    for (size_t r = 0; r < 5; r++) cr_assert_eq(sb_csv_append_row(fd, (const char *const *)tb.rows[r], SB_NCOLS_V1), SB_OK);
    close(fd);
    sb_table_free(&tb);
    cr_expect_eq(run_resume(out), 0);
    expect_complete_at(out, SB_NCOLS_V1);
    scratch_remove(&t);
}

/* A resume onto a file that is not a results CSV is bad input: exit 2, file untouched. */
Test(resume, refuses_foreign_file) {
    scratch t = scratch_new();
    const char *out = t.out;
    FILE *f = fopen(out, "w");
    fputs("a,b,c\n1,2,3\n", f);
    fclose(f);
    cr_expect_eq(run_resume(out), 2);
    cr_expect_eq(lines_in(out), 2);
    scratch_remove(&t);
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
