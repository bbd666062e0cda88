/* test_util.c: see test_util.h. */
#include "test_util.h"
#include "../bench/golden.h"

#include <criterion/criterion.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>

void tu_max_err(const float *a, const float *b, size_t n, double *max_abs, double *max_ref) {
    *max_abs = 0;
    *max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= *max_abs)) *max_abs = e;
        if (fabs(b[i]) > *max_ref) *max_ref = fabs(b[i]);
    }
}

sb_status tu_poison(sb_buf *b) {
    float *nan = malloc(b->n * sizeof(float));
    if (!nan) return sb_fail(SB_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->n; i++) nan[i] = NAN;
    sb_status st = sb_buf_upload(b, nan, b->n);
    free(nan);
    return st;
}

sb_config tu_config(const char *layer, const char *preset) {
    sb_config c;
    sb_config_preset(layer, preset, &c);
    return c;
}

sb_status tu_run(const sb_layer_opts *o, int B, int T, int steps, uint64_t seed, float **y, float **yd,
                 size_t *ny, size_t *nyd) {
    *y = *yd = NULL;
    sb_layer *L;
    sb_status st = sb_layer_create(o, &L);
    if (st) return st;
    const int in = sb_layer_in_dim(L), out = sb_layer_out_dim(L);
    const size_t rows_p = sb_layer_out_rows(L, SB_PREFILL, B, T);
    *ny = rows_p * out;
    *nyd = (size_t)steps * B * out;
    float *x = malloc((size_t)B * (T + steps) * in * sizeof(float)), *xs = malloc((size_t)B * in * sizeof(float));
    *y = malloc(*ny * sizeof(float));
    *yd = steps ? malloc(*nyd * sizeof(float)) : NULL;
    sb_buf bx = {0}, by = {0};
    if (!x || !xs || !*y || (steps && !*yd)) { st = sb_fail(SB_ENOMEM, "out of memory"); goto done; }
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    /* one input of T+steps tokens: the first T go to prefill, the rest one by one */
    sb_layer_make_input(L, x, B, T + steps, &rng);
    float *xp = malloc((size_t)B * T * in * sizeof(float));
    if (!xp) { st = sb_fail(SB_ENOMEM, "out of memory"); goto done; }
    for (int b = 0; b < B; b++)
        memcpy(xp + (size_t)b * T * in, x + (size_t)b * (T + steps) * in, (size_t)T * in * sizeof(float));
    st = sb_buf_alloc(&bx, o->backend, sb_layer_in_dtype(L), (size_t)B * T * in);
    if (!st) st = sb_buf_alloc(&by, o->backend, sb_backend_act_dtype(o->backend), *ny > (size_t)B * out ? *ny : (size_t)B * out);
    if (!st) st = sb_buf_upload(&bx, xp, (size_t)B * T * in);
    free(xp);
    if (!st) st = tu_poison(&by);
    if (!st) st = sb_layer_prefill(L, bx.p, by.p, B, T);
    if (!st) st = sb_buf_download(&by, *y, *ny);
    for (int s = 0; !st && s < steps; s++) {
        for (int b = 0; b < B; b++)
            memcpy(xs + (size_t)b * in, x + ((size_t)b * (T + steps) + T + s) * in, (size_t)in * sizeof(float));
        st = sb_buf_upload(&bx, xs, (size_t)B * in);
        if (!st) st = tu_poison(&by);
        if (!st) st = sb_layer_decode(L, bx.p, by.p, B);
        if (!st) st = sb_buf_download(&by, *yd + (size_t)s * B * out, (size_t)B * out);
    }
done:
    sb_buf_free(&bx);
    sb_buf_free(&by);
    free(x);
    free(xs);
    sb_layer_destroy(L);
    if (st) { free(*y); free(*yd); *y = *yd = NULL; }
    return st;
}

void tu_expect_matches_ref(const sb_layer_opts *o, int B, int T, int steps, uint64_t input_seed, const char *what) {
    sb_layer_opts r = *o;
    r.backend = SB_REF;
    r.impl = NULL;
    float *y, *yd, *yr, *ydr;
    size_t ny, nyd, nyr, nydr;
    cr_assert_eq(tu_run(o, B, T, steps, input_seed, &y, &yd, &ny, &nyd), SB_OK, "%s: %s", what, sb_last_error());
    cr_assert_eq(tu_run(&r, B, T, steps, input_seed, &yr, &ydr, &nyr, &nydr), SB_OK, "%s: ref: %s", what, sb_last_error());
    cr_assert_eq(ny, nyr, "%s: %zu outputs, ref %zu", what, ny, nyr);
    double max_abs, max_ref;
    tu_max_err(y, yr, ny, &max_abs, &max_ref);
    cr_expect(max_abs <= sb_tolerance(o->backend, max_ref), "%s prefill: max_abs %.3e, max|ref| %.3g, tol %.3e", what,
              max_abs, max_ref, sb_tolerance(o->backend, max_ref));
    if (steps) {
        tu_max_err(yd, ydr, nyd, &max_abs, &max_ref);
        cr_expect(max_abs <= sb_tolerance(o->backend, max_ref), "%s decode x%d: max_abs %.3e, max|ref| %.3g, tol %.3e", what,
                  steps, max_abs, max_ref, sb_tolerance(o->backend, max_ref));
    }
    free(y); free(yd); free(yr); free(ydr);
}

const char *tu_bin(void) {
    static char path[PATH_MAX];
    if (!path[0]) {
        const char *b = getenv("SEQBENCH_BIN");
        char *abs = realpath(b ? b : "build/seqbench", NULL);
        snprintf(path, sizeof path, "%s", abs ? abs : "build/seqbench");
        free(abs);
    }
    return path;
}

int tu_shell(const char *cmd, const char *errfile) {
    char full[8192];
    snprintf(full, sizeof full, "%s >/dev/null 2>%s", cmd, errfile);
    int rc = system(full);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int tu_count_lines(const char *path, char *first, size_t sz) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    char line[4096];
    first[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        if (!n) snprintf(first, sz, "%s", line);
        n++;
    }
    fclose(f);
    return n;
}
