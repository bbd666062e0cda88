/* golden.c: golden cases (SPEC §11) and `seqbench golden DIR`. */
#include "golden.h"
#include "commands.h"
#include "../runtime/npy.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

double sb_tolerance(sb_backend be, double max_ref) {
    return be == SB_CUDA ? 2e-2 * max_ref : 1e-4 * (max_ref > 1.0 ? max_ref : 1.0);
}

static int set_int(const char *v, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno || x < INT_MIN || x > INT_MAX) return 0;
    *out = (int)x;
    return 1;
}
static int set_float(const char *v, float *out) {
    char *end;
    double x = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || !(fabs(x) <= FLT_MAX)) return 0; /* NaN, Inf, beyond float */
    *out = (float)x;
    return 1;
}

sb_status sb_golden_read_case(const char *dir, sb_config *c, char *layer, size_t layer_sz,
                              sb_mode *mode, int *batch, int *ctx, int *steps) {
    char path[4096];
    snprintf(path, sizeof path, "%s/case.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return sb_fail(SB_EIO, "%s: cannot open (is %s a golden case folder?)", path, dir);
    sb_status st = sb_golden_parse_case(f, path, c, layer, layer_sz, mode, batch, ctx, steps);
    fclose(f);
    return st;
}

sb_status sb_golden_parse_case(FILE *f, const char *path, sb_config *c, char *layer, size_t layer_sz,
                               sb_mode *mode, int *batch, int *ctx, int *steps) {
    char line[1024];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "golden");
    c->rope_theta = 10000.0f;
    c->eps = 1e-6f;
    c->d_conv = 4;
    *layer = '\0';
    *batch = *ctx = -1;
    *steps = 0;
    *mode = SB_PREFILL;
    sb_status st = SB_OK;
    int lineno = 0;
    while (!st && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq || line[0] == '#') continue;
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        int ok = 1, dummy;
        if (!strcmp(k, "layer")) snprintf(layer, layer_sz, "%s", v);
        else if (!strcmp(k, "mode")) ok = sb_parse_mode(v, mode);
        else if (!strcmp(k, "level")) ok = !strcmp(v, "layer") || !strcmp(v, "op");
        else if (!strcmp(k, "batch")) ok = set_int(v, batch);
        else if (!strcmp(k, "ctx")) ok = set_int(v, ctx);
        else if (!strcmp(k, "decode_steps")) ok = set_int(v, steps);
        else if (!strcmp(k, "d_model")) ok = set_int(v, &c->d_model);
        else if (!strcmp(k, "heads")) ok = set_int(v, &c->heads);
        else if (!strcmp(k, "head_dim")) ok = set_int(v, &c->head_dim);
        else if (!strcmp(k, "mini_batch")) ok = set_int(v, &c->mini_batch);
        else if (!strcmp(k, "ttt_base_lr")) ok = set_float(v, &c->ttt_base_lr);
        else if (!strcmp(k, "use_gate")) ok = set_int(v, &c->use_gate);
        else if (!strcmp(k, "share_qk")) ok = set_int(v, &c->share_qk);
        else if (!strcmp(k, "pre_conv")) ok = set_int(v, &dummy) && dummy == 0; /* a block option, not the layer's */
        else if (!strcmp(k, "conv_kernel") || !strcmp(k, "d_conv")) ok = set_int(v, &c->d_conv);
        else if (!strcmp(k, "rope_theta")) ok = set_float(v, &c->rope_theta);
        else if (!strcmp(k, "eps")) ok = set_float(v, &c->eps);
        else if (!strcmp(k, "d_state")) ok = set_int(v, &c->d_state);
        else if (!strcmp(k, "expand")) ok = set_int(v, &c->expand);
        else if (!strcmp(k, "dt_rank")) ok = set_int(v, &c->dt_rank);
        /* seed, max_abs_y, notes, d_inner (= expand*d_model): informative */
        if (!ok) st = sb_fail(SB_EINVAL, "%s:%d: bad value for %s: '%s'", path, lineno, k, v);
    }
    if (st) return st;
    if (!*layer) return sb_fail(SB_EINVAL, "%s: no layer= line", path);
    if (*batch <= 0 || *ctx <= 0 || c->d_model <= 0)
        return sb_fail(SB_EINVAL, "%s: batch, ctx and d_model must be positive", path);
    if (*mode == SB_DECODE && *steps <= 0) return sb_fail(SB_EINVAL, "%s: decode case without decode_steps", path);
    return SB_OK;
}

/* Loads DIR/name.npy and checks it is [B, T, W]. */
static sb_status load_rows(const char *dir, const char *name, int B, int T, int W, sb_npy *a) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    sb_status st = sb_npy_read(path, a);
    if (st) return st;
    int shape[3] = {B, T, W};
    if (!sb_npy_has_shape(a, 3, shape)) {
        sb_npy_free(a);
        return sb_fail(SB_EINVAL, "%s: shape does not match [%d,%d,%d] from case.txt", path, B, T, W);
    }
    return SB_OK;
}

static void max_err(const float *out, const float *ref, size_t n, double *max_abs, double *max_ref) {
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)out[i] - ref[i]);
        if (!(e <= *max_abs)) *max_abs = e; /* NaN sticks */
        if (fabs(ref[i]) > *max_ref) *max_ref = fabs(ref[i]);
    }
}

/* Runs the layer over the prefill input and, for decode cases, the single-token steps. */
static sb_status run_case(sb_layer *L, const sb_npy *x, const sb_npy *xd, float *y, float *yd, int B, int T, int S) {
    const int D = L->cfg.d_model;
    sb_buf bx = {0}, by = {0};
    sb_dtype dt = sb_backend_act_dtype(L->backend);
    sb_status st = sb_buf_alloc(&bx, L->backend, dt, (size_t)B * T * D);
    if (!st) st = sb_buf_alloc(&by, L->backend, dt, (size_t)B * T * D);
    if (!st) st = sb_buf_upload(&bx, x->data, x->n);
    if (!st) st = sb_layer_prefill(L, bx.p, by.p, B, T);
    if (!st) st = sb_buf_download(&by, y, (size_t)B * T * D);
    float *step_in = malloc((size_t)B * D * sizeof(float)), *step_out = malloc((size_t)B * D * sizeof(float));
    if (!step_in || !step_out) st = st ? st : sb_fail(SB_ENOMEM, "out of host memory");
    for (int s = 0; !st && s < S; s++) {
        for (int b = 0; b < B; b++) memcpy(step_in + (size_t)b * D, xd->data + ((size_t)b * S + s) * D, D * sizeof(float));
        st = sb_buf_upload(&bx, step_in, (size_t)B * D);
        if (!st) st = sb_layer_decode(L, bx.p, by.p, B);
        if (!st) st = sb_buf_download(&by, step_out, (size_t)B * D);
        for (int b = 0; !st && b < B; b++) memcpy(yd + ((size_t)b * S + s) * D, step_out + (size_t)b * D, D * sizeof(float));
    }
    free(step_in); free(step_out);
    sb_buf_free(&bx); sb_buf_free(&by);
    return st;
}

sb_status sb_golden_run(const char *dir, sb_backend be, const char *impl, sb_golden_result *res) {
    memset(res, 0, sizeof *res);
    sb_config cfg;
    sb_mode mode;
    int B, T, S;
    sb_status st = sb_golden_read_case(dir, &cfg, res->layer, sizeof res->layer, &mode, &B, &T, &S);
    if (st) return st;
    snprintf(res->mode, sizeof res->mode, "%s", sb_mode_name(mode));
    if (mode == SB_PREFILL) S = 0;
    res->decode_steps = S;
    const int D = cfg.d_model;
    sb_npy x = {0}, y = {0}, xd = {0}, yd = {0};
    float *out = NULL, *outd = NULL;
    sb_layer *L = NULL;
    if ((st = load_rows(dir, "x.npy", B, T, D, &x))) goto done;
    if ((st = load_rows(dir, "y.npy", B, T, D, &y))) goto done;
    if (S && (st = load_rows(dir, "x_decode.npy", B, S, D, &xd))) goto done;
    if (S && (st = load_rows(dir, "y_decode.npy", B, S, D, &yd))) goto done;
    sb_layer_opts o = {.layer = res->layer, .impl = impl, .backend = be, .level = SB_LAYER, .cfg = &cfg,
                       .seed = 0, .max_batch = B, .max_ctx = T + S, .weights_dir = dir};
    if ((st = sb_layer_create(&o, &L))) goto done;
    out = malloc(y.n * sizeof(float));
    outd = malloc((S ? yd.n : 1) * sizeof(float));
    if (!out || !outd) { st = sb_fail(SB_ENOMEM, "out of host memory"); goto done; }
    if ((st = run_case(L, &x, &xd, out, outd, B, T, S))) goto done;
    max_err(out, y.data, y.n, &res->max_abs, &res->max_ref);
    res->tol = sb_tolerance(be, res->max_ref);
    res->pass = res->max_abs <= res->tol;
    if (S) {
        max_err(outd, yd.data, yd.n, &res->dec_max_abs, &res->dec_max_ref);
        res->dec_tol = sb_tolerance(be, res->dec_max_ref);
        res->pass = res->pass && res->dec_max_abs <= res->dec_tol;
    }
done:
    sb_layer_destroy(L);
    free(out); free(outd);
    sb_npy_free(&x); sb_npy_free(&y); sb_npy_free(&xd); sb_npy_free(&yd);
    return st;
}

/* ---- seqbench golden DIR ---------------------------------------------------------------- */
static int is_case_dir(const char *dir) {
    char path[4096];
    struct stat sbuf;
    snprintf(path, sizeof path, "%s/case.txt", dir);
    return stat(path, &sbuf) == 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Prints one line per case; returns 0 pass, 1 mismatch, 2 bad input. */
static int run_one(const char *dir, sb_backend be, const char *impl) {
    sb_golden_result r;
    sb_status st = sb_golden_run(dir, be, impl, &r);
    if (st) {
        fprintf(stderr, "seqbench: %s\n", sb_last_error());
        return st == SB_ENOTSUP ? 3 : 2;
    }
    printf("%-4s %-40s %-6s y: max_abs %.3e (max|ref| %.3g, tol %.2e)", r.pass ? "PASS" : "FAIL", dir,
           sb_backend_name(be), r.max_abs, r.max_ref, r.tol);
    if (r.decode_steps)
        printf("  y_decode[%d]: max_abs %.3e (max|ref| %.3g, tol %.2e)", r.decode_steps, r.dec_max_abs, r.dec_max_ref, r.dec_tol);
    printf("\n");
    return r.pass ? 0 : 1;
}

int cmd_golden(int argc, char **argv) {
    const char *dir = NULL, *impl = NULL;
    sb_backend be = SB_REF;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            if (!sb_parse_backend(argv[++i], &be)) return sb_usage_error("unknown backend '%s' (ref, cpu, cuda)", argv[i]);
        } else if (!strcmp(argv[i], "--impl") && i + 1 < argc) {
            impl = argv[++i];
        } else if (argv[i][0] == '-') {
            return sb_usage_error("golden: unknown option '%s'", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            return sb_usage_error("golden: one DIR only");
        }
    }
    if (!dir) return sb_usage_error("golden: missing DIR (a case folder, or a folder of case folders)");
    if (!sb_backend_available(be)) return sb_usage_error("backend %s is not available here", sb_backend_name(be));
    if (is_case_dir(dir)) {
        int rc = run_one(dir, be, impl);
        return rc == 3 ? 2 : rc;
    }
    DIR *d = opendir(dir);
    if (!d) return sb_usage_error("%s: not a golden case folder (no case.txt) nor a folder", dir);
    char *names[1024];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && is_case_dir(sub)) names[n++] = strdup(sub);
    }
    closedir(d);
    if (!n) return sb_usage_error("%s: no golden case folders inside", dir);
    qsort(names, n, sizeof *names, cmp_str);
    int fails = 0, errors = 0, skipped = 0;
    for (int i = 0; i < n; i++) {
        int rc = run_one(names[i], be, impl);
        fails += rc == 1;
        errors += rc == 2;
        skipped += rc == 3;
        free(names[i]);
    }
    printf("golden: %d cases, %d passed, %d failed, %d errors, %d unsupported on %s\n", n, n - fails - errors - skipped,
           fails, errors, skipped, sb_backend_name(be));
    return errors ? 2 : fails ? 1 : 0;
}
