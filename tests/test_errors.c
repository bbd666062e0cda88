/* test_errors.c: bad input gives exit 2, one clear line on stderr and no output file (SPEC §9,
 * §11). Each case builds a broken copy of a golden case folder and runs the binary on it. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"
#include "../runtime/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


typedef struct {
    char name[32];
    char setup[512]; /* shell commands run inside the copied case folder */
    char expect[64]; /* a word the error message must contain */
} err_case;

ParameterizedTestParameters(errors, bad_golden_input) {
    static err_case cases[] = {
        {"truncated_npy", "head -c 200 x.npy > t && mv t x.npy", "truncated"},
        {"wrong_dtype", "perl -pi -e 's/<f4/<f8/ if $. == 1' q_proj.weight.npy", "dtype"},
        {"wrong_shape", "cp k_proj.weight.npy q_proj.weight.npy.bak; cp x.npy q_proj.weight.npy", "shape"},
        {"missing_weight", "rm v_proj.weight.npy", "v_proj.weight.npy"},
        {"unknown_layer", "sed -i 's/^layer=.*/layer=transformerxl/' case.txt", "unknown layer"},
        {"bad_magic", "printf 'not numpy at all' > o_proj.weight.npy", "magic"},
    };
    return cr_make_param_array(err_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(err_case *c, errors, bad_golden_input) {
    char tmp[] = "/tmp/sbtestXXXXXX";
    cr_assert_not_null(mkdtemp(tmp));
    char cmd[4096], err[4200], first[2048];
    snprintf(cmd, sizeof cmd, "cp -r tests/golden/attention_prefill_T45 %s/case && cd %s/case && { %s; }", tmp, tmp, c->setup);
    cr_assert_eq(system(cmd), 0, "setup failed: %s", cmd);
    snprintf(err, sizeof err, "%s/stderr", tmp);
    snprintf(cmd, sizeof cmd, "%s golden %s/case", tu_bin(), tmp);
    int rc = tu_shell(cmd, err);
    int lines = tu_count_lines(err, first, sizeof first);
    cr_expect_eq(rc, 2, "%s: exit %d, expected 2", c->name, rc);
    cr_expect_eq(lines, 1, "%s: %d lines on stderr, expected one", c->name, lines);
    cr_expect(strstr(first, c->expect) != NULL, "%s: message '%s' does not mention '%s'", c->name, first, c->expect);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    system(cmd);
}

Test(errors, npy_round_trip_and_atomic_write) {
    char path[] = "/tmp/sbnpyXXXXXX";
    int fd = mkstemp(path);
    close(fd);
    float data[6] = {1, -2, 3.5f, 0, 1e-8f, -7};
    int64_t shape[2] = {2, 3};
    cr_assert_eq(sb_npy_write(path, data, 2, shape), SB_OK, "%s", sb_last_error());
    sb_npy a;
    cr_assert_eq(sb_npy_read(path, &a), SB_OK, "%s", sb_last_error());
    cr_expect_eq(a.ndim, 2);
    cr_expect_eq(a.shape[0], 2);
    cr_expect_eq(a.shape[1], 3);
    cr_expect_arr_eq(a.data, data, sizeof data);
    sb_npy_free(&a);
    /* header length is a multiple of 64 as numpy writes it */
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    cr_assert_eq(fread(pre, 1, 10, f), 10);
    fclose(f);
    cr_expect_eq((10 + (pre[8] | pre[9] << 8)) % 64, 0);
    unlink(path);
}

Test(errors, npy_rejects_trailing_bytes) {
    char path[] = "/tmp/sbnpyXXXXXX";
    int fd = mkstemp(path);
    close(fd);
    float data[2] = {1, 2};
    int64_t shape[1] = {2};
    cr_assert_eq(sb_npy_write(path, data, 1, shape), SB_OK);
    FILE *f = fopen(path, "ab");
    fputc(0, f);
    fclose(f);
    sb_npy a;
    cr_expect_eq(sb_npy_read(path, &a), SB_EIO);
    cr_expect(strstr(sb_last_error(), "trailing") != NULL, "%s", sb_last_error());
    unlink(path);
}
