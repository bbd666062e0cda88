/* test_golden_op.c: the plumbing of op-level golden cases (golden/README.md "Files"), before any
 * layer that ships such cases exists here: each layer that declares named op arrays gets a case
 * folder written by this test from its ref impl (parameters, the named input arrays, the outputs,
 * the decode tokens, final_state where the ref shows its state, a case.txt from the layer's field
 * table); the golden runner then unpacks/packs it generically and must pass on ref and cpu, and
 * must fail once an output or the final state is planted wrong. */
#include "test_util.h"
#include "../bench/golden.h"
#include "../runtime/npy.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B_ 2
#define T_ 13
#define S_ 3

static void write_npy(const char *dir, const char *name, const char *suffix, const float *data, int ndim,
                      const int64_t *shape) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s.npy", dir, name, suffix);
    cr_assert_eq(sb_npy_write(path, data, ndim, shape), SB_OK, "%s", sb_last_error());
}

/* rows [B*T, W] -> one .npy [B, T, width] per array, side by side in the rows. */
static void write_arrays(const char *dir, const char *suffix, const sb_op_array *a, int n, const float *rows, int T) {
    int W = 0, off = 0;
    for (int i = 0; i < n; i++) W += a[i].width;
    for (int i = 0; i < n; off += a[i].width, i++) {
        float *arr = malloc((size_t)B_ * T * a[i].width * sizeof(float));
        cr_assert_not_null(arr);
        for (size_t r = 0; r < (size_t)B_ * T; r++) memcpy(arr + r * a[i].width, rows + r * W + off, a[i].width * sizeof(float));
        const int64_t shape[3] = {B_, T, a[i].width};
        write_npy(dir, a[i].name, suffix, arr, 3, shape);
        free(arr);
    }
}

static void write_case_txt(const char *dir, const sb_layer_desc *d, const sb_config *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/case.txt", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "layer=%s\nlevel=op\nmode=decode\nbatch=%d\nctx=%d\ndecode_steps=%d\nseed=1\n", d->name, B_, T_, S_);
    for (const sb_config_field *fl = d->fields; fl->keys; fl++) {
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)strcspn(fl->keys, "|"), fl->keys);
        const char *member = (const char *)c + fl->offset;
        if (fl->kind == SB_FIELD_INT) fprintf(f, "%s=%d\n", key, *(const int *)member);
        else if (fl->kind == SB_FIELD_FLOAT) fprintf(f, "%s=%.9g\n", key, *(const float *)member);
        else fprintf(f, "%s=%g\n", key, fl->def);
    }
    fclose(f);
}

/* Runs rows through L (prefill of T tokens, or decode one token at a time). */
static void run_rows(sb_layer *L, const float *x, float *y, int T, int decode) {
    const int wi = sb_layer_in_dim(L), wo = sb_layer_out_dim(L);
    for (int s = 0; s < (decode ? T : 1); s++) {
        const int n = decode ? 1 : T;
        float *xi = malloc((size_t)B_ * n * wi * sizeof(float)), *yo = malloc((size_t)B_ * n * wo * sizeof(float));
        for (int b = 0; b < B_; b++)
            memcpy(xi + (size_t)b * n * wi, x + ((size_t)b * T + s) * wi, (size_t)n * wi * sizeof(float));
        cr_assert_eq(decode ? sb_layer_decode(L, xi, yo, B_) : sb_layer_prefill(L, xi, yo, B_, n), SB_OK, "%s", sb_last_error());
        for (int b = 0; b < B_; b++)
            memcpy(y + ((size_t)b * T + s) * wo, yo + (size_t)b * n * wo, (size_t)n * wo * sizeof(float));
        free(xi);
        free(yo);
    }
}

/* The case folder of layer d, computed by its ref impl; returns 1 if it holds a final_state. */
static int make_case(const char *dir, const sb_layer_desc *d) {
    sb_config cfg = tu_config(d->name, "tiny");
    sb_layer_opts o = {.layer = d->name, .backend = SB_REF, .level = SB_OP, .cfg = &cfg, .seed = 7, .max_batch = B_,
                       .max_ctx = T_ + S_};
    sb_layer *L;
    cr_assert_eq(sb_layer_create(&o, &L), SB_OK, "%s", sb_last_error());
    for (int i = 0; i < L->params.count; i++) {
        const sb_param *p = &L->params.p[i];
        int64_t shape[4];
        for (int k = 0; k < p->ndim; k++) shape[k] = p->shape[k];
        write_npy(dir, p->name, "", p->host, p->ndim, shape);
    }
    sb_op_array in[SB_MAX_OP_ARRAYS], out[SB_MAX_OP_ARRAYS];
    const int nin = d->op_arrays(&cfg, 0, in), nout = d->op_arrays(&cfg, 1, out);
    const int wi = sb_layer_in_dim(L), wo = sb_layer_out_dim(L);
    float *x = malloc((size_t)B_ * T_ * wi * sizeof(float)), *y = malloc((size_t)B_ * T_ * wo * sizeof(float));
    float *xd = malloc((size_t)B_ * S_ * wi * sizeof(float)), *yd = malloc((size_t)B_ * S_ * wo * sizeof(float));
    sb_rng rng;
    sb_rng_seed(&rng, 11);
    sb_layer_make_input(L, x, B_, T_, &rng);
    sb_layer_make_input(L, xd, B_, S_, &rng);
    run_rows(L, x, y, T_, 0);
    /* final_state: after the prompt, or after the decode tokens too (desc->final_state_after_decode) */
    if (d->final_state_after_decode) run_rows(L, xd, yd, S_, 1);
    int state = 0;
    if (d->state_shape && L->impl->read_state) {
        int shape[4];
        const int nd = d->state_shape(&cfg, B_, shape);
        size_t n = 1;
        int64_t s64[4];
        for (int k = 0; k < nd; k++) n *= (size_t)(s64[k] = shape[k]);
        float *st = malloc(n * sizeof(float));
        cr_assert_eq(L->impl->read_state(L, st), SB_OK, "%s", sb_last_error());
        write_npy(dir, "final_state", "", st, nd, s64);
        free(st);
        state = 1;
    }
    if (!d->final_state_after_decode) run_rows(L, xd, yd, S_, 1);
    write_arrays(dir, "", in, nin, x, T_);
    write_arrays(dir, "_decode", in, nin, xd, S_);
    write_arrays(dir, "", out, nout, y, T_);
    write_arrays(dir, "_decode", out, nout, yd, S_);
    write_case_txt(dir, d, &cfg);
    free(x); free(y); free(xd); free(yd);
    sb_layer_destroy(L);
    return state;
}

/* Adds 1 to element 5 of DIR/name.npy. */
static void plant(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    sb_npy a;
    cr_assert_eq(sb_npy_read(path, &a), SB_OK, "%s", sb_last_error());
    a.data[5] += 1.0f;
    cr_assert_eq(sb_npy_write(path, a.data, a.ndim, a.shape), SB_OK, "%s", sb_last_error());
    sb_npy_free(&a);
}

static void expect_run(const char *dir, sb_backend be, int want_pass, int want_state, const char *what) {
    sb_golden_result r;
    cr_assert_eq(sb_golden_run(dir, be, NULL, &r), SB_OK, "%s on %s: %s", what, sb_backend_name(be), sb_last_error());
    cr_expect_eq(r.level, SB_OP, "%s", what);
    cr_expect_eq(r.pass, want_pass, "%s on %s: pass %d (y %.3e tol %.3e, decode %.3e, state %.3e)", what, sb_backend_name(be),
                 r.pass, r.y.max_abs, r.y.tol, r.dec.max_abs, r.state.max_abs);
    if (be == SB_REF) cr_expect_eq(r.state_checked, want_state, "%s: final_state checked %d", what, r.state_checked);
}

Test(golden_op, cases_written_from_the_ref_pass_and_planted_errors_fail) {
    int layers_with_arrays = 0;
    for (int i = 0; sb_registry[i]; i++) {
        const sb_layer_desc *d = sb_registry[i];
        if (!d->op_arrays) continue;
        layers_with_arrays++;
        char dir[] = "/tmp/sbgoldenopXXXXXX", cmd[4200];
        cr_assert_not_null(mkdtemp(dir));
        const int state = make_case(dir, d);
        expect_run(dir, SB_REF, 1, state, d->name);
        if (sb_find_impl(d, SB_CPU, SB_OP, NULL)) expect_run(dir, SB_CPU, 1, state, d->name);
        sb_op_array out[SB_MAX_OP_ARRAYS];
        sb_config cfg = tu_config(d->name, "tiny");
        d->op_arrays(&cfg, 1, out);
        char name[80];
        snprintf(name, sizeof name, "%s_decode", out[0].name);
        plant(dir, name);
        expect_run(dir, SB_REF, 0, state, "a wrong decode output");
        make_case(dir, d); /* a fresh case for each planted error */
        plant(dir, out[0].name);
        expect_run(dir, SB_REF, 0, state, "a wrong prefill output");
        if (state) {
            make_case(dir, d);
            plant(dir, "final_state");
            expect_run(dir, SB_REF, 0, 1, "a wrong final_state");
        }
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        cr_expect_eq(system(cmd), 0);
    }
    cr_expect_geq(layers_with_arrays, 2, "attention and mamba declare named op arrays");
}
