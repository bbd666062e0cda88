/* test_speedgate.c: the two CI speed gates of issue 9 catch what they must, and only that.
 *   speed_gate: scripts/speed_gate.sh (callgrind instruction counts of the CPU kernels) on one or
 *     two kernels (SPEED_GATE_KERNELS), against a baseline in a temporary file (SPEED_GATE_BASE):
 *     the committed results/speed-gate/ baseline is never rewritten. An unchanged build passes
 *     twice with identical counts; a kernel doing its work twice (SEQBENCH_SPEEDGATE_SLOW, the
 *     test-only switch of bench/speedgate/sg_main.c) fails, and the output names it and the ratio.
 *     `make test` builds the gate binary (speedgate-bin); without it or valgrind: skipped.
 *   kernel_gate: scripts/kernel_compare.pl (the comparison of scripts/kernel_gate.sh) on the
 *     kernel-report fixtures of tests/fixtures/ (make_kernel_fixtures.py): a table of cases. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Cheap kernels (a few seconds each under callgrind, this 2-core box). */
#define SG_KERNEL "mamba/chunked/op/decode"
#define SG_SLOW_KERNEL "ttt_linear/dual/op/decode"

/* Runs cmd through sh; its stdout+stderr go to *text (malloc'ed). Returns the exit code. */
static int run_capture(const char *cmd, char **text) {
    char out[] = "/tmp/sbsgXXXXXX";
    int fd = mkstemp(out);
    cr_assert(fd >= 0);
    close(fd);
    size_t n = strlen(cmd) + sizeof out + 16;
    char *full = malloc(n);
    cr_assert_not_null(full);
    snprintf(full, n, "%s >%s 2>&1", cmd, out);
    int st = system(full);
    free(full);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    *text = calloc(1, 65536);
    cr_assert_not_null(*text);
    size_t got = fread(*text, 1, 65535, f);
    (*text)[got] = '\0';
    fclose(f);
    unlink(out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The Makefile's build directory: the one holding $SEQBENCH_BIN. */
static void build_dir(char *out, size_t sz) {
    const char *b = getenv("SEQBENCH_BIN");
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", b ? b : "build/seqbench");
    snprintf(out, sz, "%s", dirname(tmp));
}

/* Skips unless valgrind and the gate binary are there; fills the command prefix that runs the
 * gate on `kernels` against the baseline `base`. */
static void gate_prefix(char *out, size_t sz, const char *kernels, const char *base) {
    char build[1024], bin[1100];
    build_dir(build, sizeof build);
    snprintf(bin, sizeof bin, "%s/speedgate-cpu/speedgate", build);
    if (system("command -v valgrind >/dev/null 2>&1") != 0) cr_skip_test("valgrind not installed");
    if (access(bin, X_OK) != 0) cr_skip_test("%s not built (make speedgate-bin)", bin);
    snprintf(out, sz, "BUILD=%s SPEED_GATE_NO_BUILD=1 SPEED_GATE_BASE=%s SPEED_GATE_KERNELS='%s' scripts/speed_gate.sh",
             build, base, kernels);
}

/* A fresh temporary baseline path (the file itself does not exist yet). */
static void temp_base(char *out, size_t sz) {
    snprintf(out, sz, "/tmp/sbsgbaseXXXXXX");
    int fd = mkstemp(out);
    cr_assert(fd >= 0);
    close(fd);
    unlink(out);
}

/* The "BASE -> NEW" counts the gate printed for kernel (on its verdict line); 0 if absent. */
static int counts_of(const char *text, const char *verdict, const char *kernel, unsigned long long *base,
                     unsigned long long *now, double *ratio) {
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char v[8], k[128];
        if (sscanf(line, "%7s %127s %llu -> %llu instructions x%lf", v, k, base, now, ratio) == 5 &&
            strcmp(v, verdict) == 0 && strcmp(k, kernel) == 0)
            return 1;
    }
    return 0;
}

Test(speed_gate, unchanged_build_passes_twice_with_identical_counts, .timeout = 300) {
    char prefix[4096], base[64], cmd[4200];
    temp_base(base, sizeof base);
    gate_prefix(prefix, sizeof prefix, SG_KERNEL, base);
    char *text;
    snprintf(cmd, sizeof cmd, "%s --update", prefix);
    int rc = run_capture(cmd, &text);
    cr_assert_eq(rc, 0, "gate --update into %s: exit %d\n%s", base, rc, text);
    free(text);
    unsigned long long b[2], n[2];
    for (int run = 0; run < 2; run++) {
        double ratio;
        rc = run_capture(prefix, &text);
        cr_expect_eq(rc, 0, "unchanged run %d: exit %d\n%s", run + 1, rc, text);
        cr_expect(counts_of(text, "same", SG_KERNEL, &b[run], &n[run], &ratio),
                  "run %d: no 'same  %s' line:\n%s", run + 1, SG_KERNEL, text);
        cr_expect_eq(b[run], n[run], "run %d: %llu -> %llu instructions, not identical\n%s", run + 1, b[run], n[run],
                     text);
        cr_expect(strstr(text, "x1.0000") != NULL, "run %d: ratio not x1.0000\n%s", run + 1, text);
        free(text);
    }
    cr_expect_eq(n[0], n[1], "two unchanged runs counted %llu and %llu instructions", n[0], n[1]);
    unlink(base);
}

Test(speed_gate, kernel_doing_twice_the_work_fails_naming_it_and_the_ratio, .timeout = 300) {
    char prefix[4096], base[64], cmd[4300];
    temp_base(base, sizeof base);
    gate_prefix(prefix, sizeof prefix, SG_KERNEL "," SG_SLOW_KERNEL, base);
    char *text;
    snprintf(cmd, sizeof cmd, "%s --update", prefix);
    int rc = run_capture(cmd, &text);
    cr_assert_eq(rc, 0, "gate --update into %s: exit %d\n%s", base, rc, text);
    free(text);
    snprintf(cmd, sizeof cmd, "SEQBENCH_SPEEDGATE_SLOW=%s %s", SG_SLOW_KERNEL, prefix);
    rc = run_capture(cmd, &text);
    unsigned long long b, n;
    double ratio = 0;
    cr_expect_eq(rc, 1, "slowed %s: exit %d, expected 1\n%s", SG_SLOW_KERNEL, rc, text);
    cr_expect(counts_of(text, "FAIL", SG_SLOW_KERNEL, &b, &n, &ratio), "no 'FAIL  %s ... xRATIO' line:\n%s",
              SG_SLOW_KERNEL, text);
    cr_expect(ratio > 1.9 && ratio < 2.1, "ratio x%.4f, expected about x2\n%s", ratio, text);
    cr_expect(counts_of(text, "same", SG_KERNEL, &b, &n, &ratio), "the untouched %s is not 'same':\n%s", SG_KERNEL,
              text);
    cr_expect(strstr(text, "1 slower than +2%") != NULL, "summary does not count one slower kernel:\n%s", text);
    free(text);
    unlink(base);
}

typedef struct {
    char name[48];
    char fixture[40]; /* tests/fixtures/<fixture>.csv compared with kernels_base.csv */
    int rc;
    char expect[112]; /* in stdout+stderr */
} kg_case;

ParameterizedTestParameters(kernel_gate, fixtures) {
    static kg_case cases[] = {
        {"identical", "kernels_base", 0, "3 kernels vs tests/fixtures/kernels_base.csv: 0 failures"},
        {"new spill", "kernels_spill", 1, "mamba_scan_kernel2<16, float, false>(mamba_scan_args): new spill (32 bytes)"},
        {"+9 registers", "kernels_regs9", 1, "ttt_linear_dual_kernel2<64, 16>(ttt_core_args): 127 registers > committed 118 + 8"},
        {"+8 registers pass", "kernels_regs8", 0, "registers 118 -> 126"},
        {"more shared memory", "kernels_smem", 1, "shared memory 36864 -> 40960 bytes"},
        {"main loop +3%", "kernels_loop", 1, "64, 2> >(attn_fwd_args, float): main loop 1069 -> 1101 SASS instructions x1.0299"},
        {"main loop +1.96% passes", "kernels_loop_2pct", 0, "0 failures"},
        {"outer loop +5.8%", "kernels_outer", 1, "<64, 16>(ttt_core_args): outer loop 1029 -> 1089 SASS instructions x1.0583"},
        {"shrinkage reported", "kernels_shrink", 0, "smaller  kernels/attention_prefill.cu"},
        {"other nvcc: SASS not compared", "kernels_othernvcc", 0, "SASS not compared for 3"},
        {"no SASS counts", "kernels_nosass", 0, "SASS not compared for 3"},
        {"new kernel that spills", "kernels_new", 1, "new_kernel(float*): spills 16 bytes"},
        {"kernel gone", "kernels_gone", 0, "kernel gone: kernels/ttt_linear_dual.cu"},
        {"malformed report", "kernels_malformed", 2, "5 fields, header has 20"},
        {"missing report", "kernels_nosuchfile", 2, "cannot open"},
    };
    return cr_make_param_array(kg_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(kg_case *c, kernel_gate, fixtures) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "perl scripts/kernel_compare.pl tests/fixtures/kernels_base.csv tests/fixtures/%s.csv",
             c->fixture);
    char *text;
    int rc = run_capture(cmd, &text);
    cr_expect_eq(rc, c->rc, "%s: exit %d, expected %d\n%s", c->name, rc, c->rc, text);
    cr_expect(strstr(text, c->expect) != NULL, "%s: output lacks '%s':\n%s", c->name, c->expect, text);
    free(text);
}
