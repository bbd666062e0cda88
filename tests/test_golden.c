/* test_golden.c: every golden case of tests/golden/ (the upstream set) and tests/golden_more/ (our own cases of
 * other shapes, scripts/golden/make_cases.py) on every backend that is available here (SPEC §11). A table:
 * case x backend. A backend without an impl for the layer is skipped. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "../bench/golden.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char dir[128];
    sb_backend backend;
} golden_param;

#define MAX_CASES 128
static const char *const golden_dirs[] = {"tests/golden", "tests/golden_more"};

static int is_case_name(const char *name) { return name[0] != '.' && strchr(name, '_') != NULL; }

/* Case folders inside dir (0 when dir is missing). */
static int count_cases(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += is_case_name(e->d_name);
    closedir(d);
    return n;
}

ParameterizedTestParameters(golden, matches_reference) {
    static golden_param params[MAX_CASES * SB_NBACKENDS];
    static int n = 0;
    if (n == 0)
        for (size_t g = 0; g < sizeof golden_dirs / sizeof *golden_dirs; g++) {
            DIR *d = opendir(golden_dirs[g]);
            struct dirent *e;
            while (d && (e = readdir(d)) && n <= MAX_CASES * SB_NBACKENDS - SB_NBACKENDS)
                if (is_case_name(e->d_name))
                    for (int b = 0; b < SB_NBACKENDS; b++) {
                        snprintf(params[n].dir, sizeof params[n].dir, "%s/%s", golden_dirs[g], e->d_name);
                        params[n++].backend = (sb_backend)b;
                    }
            if (d) closedir(d);
        }
    return cr_make_param_array(golden_param, params, n);
}

ParameterizedTest(golden_param *p, golden, matches_reference) {
    if (!sb_backend_available(p->backend)) cr_skip_test("%s: backend %s not available here", p->dir, sb_backend_name(p->backend));
    sb_golden_result r;
    sb_status st = sb_golden_run(p->dir, p->backend, NULL, &r);
    if (st == SB_EINVAL && strstr(sb_last_error(), "has no impl"))
        cr_skip_test("%s: %s", p->dir, sb_last_error());
    cr_assert_eq(st, SB_OK, "%s on %s: %s", p->dir, sb_backend_name(p->backend), sb_last_error());
    cr_expect(r.y.max_abs <= r.y.tol, "%s on %s: y max_abs %.3e > tol %.3e", p->dir, sb_backend_name(p->backend), r.y.max_abs,
              r.y.tol);
    if (r.decode_steps)
        cr_expect(r.dec.max_abs <= r.dec.tol, "%s on %s: y_decode max_abs %.3e > tol %.3e", p->dir,
                  sb_backend_name(p->backend), r.dec.max_abs, r.dec.tol);
    if (r.state_checked)
        cr_expect(r.state.max_abs <= r.state.tol, "%s on %s: final_state max_abs %.3e > tol %.3e", p->dir,
                  sb_backend_name(p->backend), r.state.max_abs, r.state.tol);
    cr_expect(r.pass, "%s on %s: not a pass", p->dir, sb_backend_name(p->backend));
}

Test(golden, every_case_folder_is_found) {
    int n = count_cases("tests/golden"), more = count_cases("tests/golden_more");
    cr_assert_gt(n, 0, "tests/golden missing: run the tests from the repository root");
    cr_expect_geq(n, 18, "expected the 18 golden cases, found %d", n);
    cr_expect_geq(more, 14, "expected the 14 cases of tests/golden_more, found %d", more);
    cr_expect_leq(n + more, MAX_CASES, "%d cases, more than MAX_CASES: raise it", n + more);
}
