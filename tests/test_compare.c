/* test_compare.c: `seqbench compare` (SPEC §10) on the fixtures of tests/fixtures/ (written by
 * tests/fixtures/make_fixtures.py): each case is BASE, NEW, options, the expected exit code and a
 * phrase the output must contain. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *bin(void) {
    const char *b = getenv("SEQBENCH_BIN");
    return b ? b : "build/seqbench";
}

typedef struct {
    char name[48];
    char base[48], new_[48], opts[48];
    int rc;
    char expect[80]; /* in stdout+stderr */
} cmp_case;

ParameterizedTestParameters(compare, fixtures) {
    static cmp_case cases[] = {
        {"identical", "compare_base", "compare_base", "", 0, "0 SLOW, 0 FAST, 4 SAME"},
        {"clear slowdown", "compare_base", "compare_slow", "", 1, "1.500  SLOW"},
        {"change inside the noise", "compare_base", "compare_noise", "", 0, "1.080  SAME (tol 10.0%)"},
        {"same change, noise ignored at 20%", "compare_base", "compare_noise", "--threshold 0.2", 0, "SAME (tol 20.0%)"},
        {"speed-up", "compare_base", "compare_fast", "", 0, "0.600  FAST"},
        {"speed-up is symmetric", "compare_fast", "compare_base", "", 1, "1.667  SLOW"},
        {"different GPUs refused", "compare_base", "compare_othergpu", "", 2, "refusing"},
        {"--force overrides", "compare_base", "compare_othergpu", "--force", 0, "4 SAME"},
        {"new oom is BROKEN", "compare_base", "compare_broken", "", 1, "BROKEN (new: oom)"},
        {"rows in one file only", "compare_base", "compare_only", "", 0, "only in base"},
        {"rows in one file only (new)", "compare_base", "compare_only", "", 0, "dual layer prefill bf16 1.3b B=16 T=1024         only in new"},
        {"malformed row width", "compare_base", "compare_malformed", "", 2, "has 15 fields"},
        {"malformed quote", "compare_badquote", "compare_base", "", 2, "not valid CSV"},
        {"not a results CSV", "compare_base", "not_results", "", 2, "no column"},
        {"missing file", "compare_base", "nosuchfile", "", 2, "cannot open"},
        {"bad threshold", "compare_base", "compare_slow", "--threshold -1", 2, "--threshold"},
    };
    return cr_make_param_array(cmp_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(cmp_case *c, compare, fixtures) {
    char out[] = "/tmp/sbcmpXXXXXX";
    int fd = mkstemp(out);
    cr_assert(fd >= 0);
    close(fd);
    char cmd[4096], path_b[128], path_n[128];
    snprintf(path_b, sizeof path_b, "tests/fixtures/%s%s", c->base, strchr(c->base, '.') ? "" : ".csv");
    snprintf(path_n, sizeof path_n, "tests/fixtures/%s%s", c->new_, strchr(c->new_, '.') ? "" : ".csv");
    snprintf(cmd, sizeof cmd, "%s compare %s %s %s > %s 2>&1", bin(), path_b, path_n, c->opts, out);
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    unlink(out);
    cr_expect_eq(rc, c->rc, "%s: exit %d, expected %d\n%s", c->name, rc, c->rc, text);
    cr_expect(strstr(text, c->expect) != NULL, "%s: output lacks '%s':\n%s", c->name, c->expect, text);
}
