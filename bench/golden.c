/* golden.c: golden cases (SPEC §11) and `seqbench golden DIR`. */
#include "golden.h"
#include "commands.h"
#include "../runtime/npy.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

double sb_tolerance(sb_backend be, double max_ref) {
    return be == SB_CUDA ? 2e-2 * max_ref : 1e-4 * (max_ref > 1.0 ? max_ref : 1.0);
}

/* ---- case.txt ---------------------------------------------------------------------------- */
#define MAX_KEYS 128

typedef struct {
    char key[64], value[960];
    int line;
} kv;

/* The key=value lines of an open case.txt (comments and lines without '=' skipped). */
static void read_lines(FILE *f, kv *kvs, int *n) {
    char line[1024];
    int lineno = 0;
    *n = 0;
    while (fgets(line, sizeof line, f) && *n < MAX_KEYS) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq || line[0] == '#') continue;
        *eq = '\0';
        kv *e = &kvs[(*n)++];
        snprintf(e->key, sizeof e->key, "%s", line);
        snprintf(e->value, sizeof e->value, "%s", eq + 1);
        e->line = lineno;
    }
}

static int set_int(const char *v, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno || x < INT_MIN || x > INT_MAX) return 0;
    *out = (int)x;
    return 1;
}

/* The keys of every case (golden/README.md "Files"); 0 for another key. */
static int case_key(sb_golden_case *gc, const kv *e, int *ok) {
    const char *k = e->key, *v = e->value;
    if (!strcmp(k, "layer")) *ok = 1;
    else if (!strcmp(k, "mode")) *ok = sb_parse_mode(v, &gc->mode);
    else if (!strcmp(k, "level")) *ok = sb_parse_level(v, &gc->level) && gc->level != SB_MODEL;
    else if (!strcmp(k, "batch")) *ok = set_int(v, &gc->batch);
    else if (!strcmp(k, "ctx")) *ok = set_int(v, &gc->ctx);
    else if (!strcmp(k, "decode_steps")) *ok = set_int(v, &gc->steps);
    else return 0;
    return 1;
}

sb_status sb_golden_read_case(const char *dir, sb_golden_case *gc) {
    char path[4096];
    snprintf(path, sizeof path, "%s/case.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return sb_fail(SB_EIO, "%s: cannot open (is %s a golden case folder?)", path, dir);
    sb_status st = sb_golden_parse_case(f, path, gc);
    fclose(f);
    return st;
}

sb_status sb_golden_parse_case(FILE *f, const char *path, sb_golden_case *gc) {
    static _Thread_local kv kvs[MAX_KEYS];
    int n;
    read_lines(f, kvs, &n);
    memset(gc, 0, sizeof *gc);
    for (int i = 0; i < n; i++)
        if (!strcmp(kvs[i].key, "layer")) snprintf(gc->layer, sizeof gc->layer, "%s", kvs[i].value);
    if (!gc->layer[0]) return sb_fail(SB_EINVAL, "%s: no layer= line", path);
    gc->desc = sb_find_layer(gc->layer);
    if (!gc->desc) return sb_fail(SB_EINVAL, "%s: unknown layer '%s'", path, gc->layer);
    /* defaults from the layer's field table; every field the case names overrides its default;
     * keys the layer does not read (seed, max_abs_y, notes, d_inner, ...) are informative */
    sb_config_defaults(gc->desc, &gc->cfg);
    snprintf(gc->cfg.name, sizeof gc->cfg.name, "golden");
    gc->level = SB_LAYER;
    gc->mode = SB_PREFILL;
    gc->batch = gc->ctx = -1;
    for (int i = 0; i < n; i++) {
        const kv *e = &kvs[i];
        int ok = 1;
        if (!case_key(gc, e, &ok)) {
            const sb_config_field *f = sb_config_field_find(gc->desc, e->key);
            ok = !f || sb_config_field_set(f, &gc->cfg, e->value) == SB_OK;
        }
        if (!ok) return sb_fail(SB_EINVAL, "%s:%d: bad value for %s: '%s'", path, e->line, e->key, e->value);
    }
    if (gc->desc->finish_config) SB_TRY(gc->desc->finish_config(&gc->cfg, gc->level));
    if (gc->batch <= 0 || gc->ctx <= 0 || (gc->level == SB_LAYER && gc->cfg.d_model <= 0))
        return sb_fail(SB_EINVAL, "%s: batch, ctx%s must be positive", path, gc->level == SB_LAYER ? " and d_model" : "");
    if (gc->mode == SB_DECODE && gc->steps <= 0) return sb_fail(SB_EINVAL, "%s: decode case without decode_steps", path);
    if (gc->mode == SB_PREFILL) gc->steps = 0;
    return SB_OK;
}

/* ---- the arrays of a case ------------------------------------------------------------------ */
/* Layer level: x -> y, D wide. Op level: the descriptor's named op arrays. */
static sb_status case_arrays(const sb_golden_case *gc, const sb_layer *L, int outputs, sb_op_array *a, int *n) {
    if (gc->level == SB_LAYER) {
        a[0] = (sb_op_array){outputs ? "y" : "x", outputs ? sb_layer_out_dim(L) : sb_layer_in_dim(L)};
        *n = 1;
        return SB_OK;
    }
    if (!gc->desc->op_arrays)
        return sb_fail(SB_ENOTSUP, "layer %s has no named op arrays: op-level golden cases cannot run", gc->layer);
    *n = gc->desc->op_arrays(&gc->cfg, outputs, a);
    int sum = 0;
    for (int i = 0; i < *n; i++) sum += a[i].width;
    const int want = outputs ? sb_layer_out_dim(L) : sb_layer_in_dim(L);
    if (sum != want)
        return sb_fail(SB_EINVAL, "layer %s: its op %s arrays are %d wide, its op rows %d", gc->layer,
                       outputs ? "output" : "input", sum, want);
    return SB_OK;
}

/* Loads DIR/<name><suffix>.npy and checks it is [B, T, ...] with `width` elements per token. */
static sb_status load_array(const char *dir, const char *name, const char *suffix, int B, int T, int width, sb_npy *a) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s.npy", dir, name, suffix);
    SB_TRY(sb_npy_read(path, a));
    int64_t per_token = 1;
    for (int i = 2; i < a->ndim; i++) per_token *= a->shape[i];
    if (a->ndim < 2 || a->shape[0] != B || a->shape[1] != T || per_token != width) {
        char got[64];
        sb_npy_shape_str(got, sizeof got, a->ndim, a->shape, NULL);
        sb_npy_free(a);
        return sb_fail(SB_EINVAL, "%s: shape %s does not match [%d,%d,...] with %d per token from case.txt", path, got, B, T,
                       width);
    }
    return SB_OK;
}

/* rows[B*T, W] (W = sum of widths) <-> the arrays, each [B*T, width], side by side. */
static sb_status pack_inputs(const char *dir, const char *suffix, const sb_op_array *a, int n, int B, int T, float *rows) {
    int W = 0, off = 0;
    for (int i = 0; i < n; i++) W += a[i].width;
    for (int i = 0; i < n; off += a[i].width, i++) {
        sb_npy arr;
        SB_TRY(load_array(dir, a[i].name, suffix, B, T, a[i].width, &arr));
        for (size_t r = 0; r < (size_t)B * T; r++)
            memcpy(rows + r * W + off, arr.data + r * a[i].width, (size_t)a[i].width * sizeof(float));
        sb_npy_free(&arr);
    }
    return SB_OK;
}

static void max_err_strided(const float *out, size_t ld, const float *ref, size_t rows, int w, double *max_abs, double *max_ref) {
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < w; c++) {
            double e = fabs((double)out[r * ld + c] - ref[r * w + c]);
            if (!(e <= *max_abs)) *max_abs = e; /* NaN sticks */
            if (fabs(ref[r * w + c]) > *max_ref) *max_ref = fabs(ref[r * w + c]);
        }
}

/* Compares each output array of rows [B*T, W] with DIR/<name><suffix>.npy (SPEC §5: per tensor);
 * keeps the worst array's errors (largest max_abs / tol) in *e. */
static sb_status compare_outputs(const char *dir, const char *suffix, const sb_op_array *a, int n, int B, int T,
                                 const float *rows, sb_backend be, sb_golden_err *e) {
    int W = 0, off = 0;
    for (int i = 0; i < n; i++) W += a[i].width;
    double worst = -1;
    for (int i = 0; i < n; off += a[i].width, i++) {
        sb_npy ref;
        SB_TRY(load_array(dir, a[i].name, suffix, B, T, a[i].width, &ref));
        double max_abs = 0, max_ref = 0;
        max_err_strided(rows + off, W, ref.data, (size_t)B * T, a[i].width, &max_abs, &max_ref);
        sb_npy_free(&ref);
        double tol = sb_tolerance(be, max_ref), ratio = max_abs / tol;
        if (!(ratio <= worst)) { /* NaN: the worst */
            worst = ratio;
            *e = (sb_golden_err){max_abs, max_ref, tol};
        }
    }
    return SB_OK;
}

/* DIR/final_state.npy vs the impl's state in the spec's layout (impl->read_state); *checked = 0
 * when the case has no final_state or the layer/impl cannot show its state. */
static sb_status compare_state(const char *dir, sb_layer *L, int B, sb_golden_err *e, int *checked) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/final_state.npy", dir);
    *checked = 0;
    if (stat(path, &st) != 0 || !L->desc->state_shape || !L->impl->read_state) return SB_OK;
    int shape[4];
    const int nd = L->desc->state_shape(&L->cfg, B, shape);
    sb_npy ref;
    SB_TRY(sb_npy_read(path, &ref));
    if (!sb_npy_has_shape(&ref, nd, shape)) {
        sb_npy_free(&ref);
        return sb_fail(SB_EINVAL, "%s: shape does not match the layer's state layout", path);
    }
    float *got = malloc(ref.n * sizeof(float));
    sb_status s = got ? L->impl->read_state(L, got) : sb_fail(SB_ENOMEM, "out of host memory");
    if (!s) {
        double max_abs = 0, max_ref = 0;
        max_err_strided(got, 1, ref.data, ref.n, 1, &max_abs, &max_ref);
        *e = (sb_golden_err){max_abs, max_ref, sb_tolerance(L->backend, max_ref)};
        *checked = 1;
    }
    free(got);
    sb_npy_free(&ref);
    return s;
}

/* Runs rows through the layer: prefill (T tokens) or one decode step (T = 1, decode = 1). */
static sb_status run_rows(sb_layer *L, const float *x, float *y, int B, int T, int decode) {
    const size_t in = (size_t)B * T * sb_layer_in_dim(L), out = (size_t)B * T * sb_layer_out_dim(L);
    const sb_dtype dt = sb_backend_act_dtype(L->backend);
    sb_buf bx = {0}, by = {0};
    sb_status st = sb_buf_alloc(&bx, L->backend, dt, in);
    if (!st) st = sb_buf_alloc(&by, L->backend, dt, out);
    if (!st) st = sb_buf_upload(&bx, x, in);
    if (!st) st = decode ? sb_layer_decode(L, bx.p, by.p, B) : sb_layer_prefill(L, bx.p, by.p, B, T);
    if (!st) st = sb_buf_download(&by, y, out);
    sb_buf_free(&bx);
    sb_buf_free(&by);
    return st;
}

/* The S decode tokens one step at a time: xd [B,S,W_in] -> yd [B,S,W_out]. */
static sb_status run_decode(sb_layer *L, const float *xd, float *yd, int B, int S) {
    const int wi = sb_layer_in_dim(L), wo = sb_layer_out_dim(L);
    float *step_in = malloc((size_t)B * wi * sizeof(float)), *step_out = malloc((size_t)B * wo * sizeof(float));
    sb_status st = step_in && step_out ? SB_OK : sb_fail(SB_ENOMEM, "out of host memory");
    for (int s = 0; !st && s < S; s++) {
        for (int b = 0; b < B; b++) memcpy(step_in + (size_t)b * wi, xd + ((size_t)b * S + s) * wi, wi * sizeof(float));
        st = run_rows(L, step_in, step_out, B, 1, 1);
        for (int b = 0; !st && b < B; b++) memcpy(yd + ((size_t)b * S + s) * wo, step_out + (size_t)b * wo, wo * sizeof(float));
    }
    free(step_in);
    free(step_out);
    return st;
}

typedef struct {
    sb_op_array in[SB_MAX_OP_ARRAYS], out[SB_MAX_OP_ARRAYS];
    int nin, nout;
    float *x, *y, *xd, *yd;
} case_io;

static sb_status alloc_io(case_io *io, const sb_layer *L, int B, int T, int S) {
    const size_t wi = sb_layer_in_dim(L), wo = sb_layer_out_dim(L), bt = (size_t)B * T, bs = (size_t)B * (S ? S : 1);
    io->x = malloc(bt * wi * sizeof(float));
    io->y = malloc(bt * wo * sizeof(float));
    io->xd = malloc(bs * wi * sizeof(float));
    io->yd = malloc(bs * wo * sizeof(float));
    return io->x && io->y && io->xd && io->yd ? SB_OK : sb_fail(SB_ENOMEM, "out of host memory");
}

static void free_io(case_io *io) {
    free(io->x); free(io->y); free(io->xd); free(io->yd);
}

/* Prefill, the final state where the layer keeps it after the prompt, decode steps, the final
 * state where it is taken after them (sb_layer_desc.final_state_after_decode). */
static sb_status run_and_compare(const char *dir, const sb_golden_case *gc, sb_layer *L, case_io *io, sb_golden_result *res) {
    const int B = gc->batch, T = gc->ctx, S = gc->steps;
    const int state_late = S && gc->desc->final_state_after_decode;
    SB_TRY(pack_inputs(dir, "", io->in, io->nin, B, T, io->x));
    SB_TRY(run_rows(L, io->x, io->y, B, T, 0));
    SB_TRY(compare_outputs(dir, "", io->out, io->nout, B, T, io->y, L->backend, &res->y));
    if (!state_late) SB_TRY(compare_state(dir, L, B, &res->state, &res->state_checked));
    if (S) {
        SB_TRY(pack_inputs(dir, "_decode", io->in, io->nin, B, S, io->xd));
        SB_TRY(run_decode(L, io->xd, io->yd, B, S));
        SB_TRY(compare_outputs(dir, "_decode", io->out, io->nout, B, S, io->yd, L->backend, &res->dec));
    }
    if (state_late) SB_TRY(compare_state(dir, L, B, &res->state, &res->state_checked));
    res->pass = res->y.max_abs <= res->y.tol && (!S || res->dec.max_abs <= res->dec.tol) &&
                (!res->state_checked || res->state.max_abs <= res->state.tol);
    return SB_OK;
}

sb_status sb_golden_run(const char *dir, sb_backend be, const char *impl, sb_golden_result *res) {
    memset(res, 0, sizeof *res);
    sb_golden_case gc;
    SB_TRY(sb_golden_read_case(dir, &gc));
    snprintf(res->layer, sizeof res->layer, "%s", gc.layer);
    snprintf(res->mode, sizeof res->mode, "%s", sb_mode_name(gc.mode));
    res->level = gc.level;
    res->decode_steps = gc.steps;
    sb_layer_opts o = {.layer = gc.layer, .impl = impl, .backend = be, .level = gc.level, .cfg = &gc.cfg,
                       .seed = 0, .max_batch = gc.batch, .max_ctx = gc.ctx + gc.steps, .weights_dir = dir};
    sb_layer *L = NULL;
    case_io io = {0};
    sb_status st = sb_layer_create(&o, &L);
    if (!st) st = case_arrays(&gc, L, 0, io.in, &io.nin);
    if (!st) st = case_arrays(&gc, L, 1, io.out, &io.nout);
    if (!st) st = alloc_io(&io, L, gc.batch, gc.ctx, gc.steps);
    if (!st) st = run_and_compare(dir, &gc, L, &io, res);
    free_io(&io);
    sb_layer_destroy(L);
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
           sb_backend_name(be), r.y.max_abs, r.y.max_ref, r.y.tol);
    if (r.decode_steps)
        printf("  y_decode[%d]: max_abs %.3e (max|ref| %.3g, tol %.2e)", r.decode_steps, r.dec.max_abs, r.dec.max_ref, r.dec.tol);
    if (r.state_checked)
        printf("  final_state: max_abs %.3e (max|ref| %.3g, tol %.2e)", r.state.max_abs, r.state.max_ref, r.state.tol);
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
