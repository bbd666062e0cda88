/* check.c: `seqbench check [--backend B] [--layers L,..]`: every registered impl but the layer's
 * oracle (its first ref impl; other ref impls such as a chunked form are checked too) against that
 * oracle on small shapes (tiny config, the benchmark's TTT options), prefill and a few decode steps,
 * same weights and inputs, SPEC §5 tolerances (bench/golden.h sb_tolerance). Prints a table; exit 1
 * on any mismatch or failure, 0 otherwise. This is what a GPU machine runs first.
 * (tests/test_backends.c does the same inside the test suite with its own code.) */
#include "commands.h"
#include "golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* B, T, decode steps: a partial TTT mini-batch, and a decode run across a mini-batch boundary. */
static const struct { int B, T, steps; } shapes[] = {{2, 45, 4}, {1, 33, 17}};

typedef struct {
    float *y, *yd; /* prefill output [rows*out], decode outputs [steps][B*out] */
    size_t ny, nyd;
} outputs;

static void outputs_free(outputs *o) { free(o->y); free(o->yd); memset(o, 0, sizeof *o); }

/* Prefill of T tokens then `steps` single-token decodes; inputs from `seed`, identical for every impl. */
static sb_status run_impl(const sb_layer_opts *opts, int B, int T, int steps, uint64_t seed, outputs *res) {
    memset(res, 0, sizeof *res);
    sb_layer *L;
    sb_status st = sb_layer_create(opts, &L);
    if (st) return st;
    const int in = sb_layer_in_dim(L), out = sb_layer_out_dim(L), S = T + steps;
    res->ny = sb_layer_out_rows(L, SB_PREFILL, B, T) * out;
    res->nyd = (size_t)steps * B * out;
    float *x = malloc((size_t)B * S * in * sizeof(float)), *xp = malloc((size_t)B * T * in * sizeof(float));
    float *tok = malloc((size_t)B * in * sizeof(float));
    res->y = malloc(res->ny * sizeof(float));
    res->yd = malloc((res->nyd ? res->nyd : 1) * sizeof(float));
    sb_buf bx = {0}, by = {0};
    if (!x || !xp || !tok || !res->y || !res->yd) { st = sb_fail(SB_ENOMEM, "out of host memory"); goto done; }
    sb_rng rng;
    sb_rng_seed(&rng, seed);
    sb_layer_make_input(L, x, B, S, &rng);
    for (int b = 0; b < B; b++) memcpy(xp + (size_t)b * T * in, x + (size_t)b * S * in, (size_t)T * in * sizeof(float));
    size_t ycap = res->ny > (size_t)B * out ? res->ny : (size_t)B * out;
    if ((st = sb_buf_alloc(&bx, opts->backend, sb_layer_in_dtype(L), (size_t)B * T * in))) goto done;
    if ((st = sb_buf_alloc(&by, opts->backend, sb_backend_act_dtype(opts->backend), ycap))) goto done;
    if ((st = sb_buf_upload(&bx, xp, (size_t)B * T * in))) goto done;
    if ((st = sb_layer_prefill(L, bx.p, by.p, B, T))) goto done;
    if ((st = sb_buf_download(&by, res->y, res->ny))) goto done;
    for (int s = 0; s < steps; s++) {
        for (int b = 0; b < B; b++) memcpy(tok + (size_t)b * in, x + ((size_t)b * S + T + s) * in, (size_t)in * sizeof(float));
        if ((st = sb_buf_upload(&bx, tok, (size_t)B * in))) goto done;
        if ((st = sb_layer_decode(L, bx.p, by.p, B))) goto done;
        if ((st = sb_buf_download(&by, res->yd + (size_t)s * B * out, (size_t)B * out))) goto done;
    }
done:
    sb_buf_free(&bx);
    sb_buf_free(&by);
    free(x); free(xp); free(tok);
    sb_layer_destroy(L);
    if (st) outputs_free(res);
    return st;
}

/* max |a - ref| (NaN propagates) and max |ref|. */
static void max_err(const float *a, const float *ref, size_t n, double *err, double *mref) {
    *err = 0;
    *mref = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - ref[i]);
        if (!(e <= *err)) *err = e;
        if (fabs(ref[i]) > *mref) *mref = fabs(ref[i]);
    }
}

/* One impl x level x shape. Returns 1 pass, 0 fail. */
static int check_one(const sb_layer_desc *d, const sb_impl *im, sb_level lv, int B, int T, int steps) {
    sb_config cfg;
    sb_config_preset(d->name, "tiny", &cfg);
    uint64_t seed = 1000 + (uint64_t)T * 7 + (uint64_t)B;
    sb_layer_opts o = {.layer = d->name, .impl = im->name, .backend = im->backend, .level = lv, .cfg = &cfg,
                       .seed = seed, .max_batch = B, .max_ctx = T + steps};
    sb_layer_opts r = o;
    r.backend = SB_REF;
    r.impl = NULL;
    outputs got, want;
    printf("%-11s %-12s %-5s %-5s B=%d T=%-3d +%-2d ", d->name, im->name, sb_backend_name(im->backend), sb_level_name(lv), B, T, steps);
    if (run_impl(&r, B, T, steps, seed, &want) != SB_OK) { printf("ERROR ref: %s\n", sb_last_error()); return 0; }
    if (run_impl(&o, B, T, steps, seed, &got) != SB_OK) {
        printf("ERROR %s\n", sb_last_error());
        outputs_free(&want);
        return 0;
    }
    double e, m, ed = 0, md = 0;
    max_err(got.y, want.y, want.ny, &e, &m);
    if (steps) max_err(got.yd, want.yd, want.nyd, &ed, &md);
    double tol = sb_tolerance(im->backend, m), told = sb_tolerance(im->backend, md);
    int pass = e <= tol && (!steps || ed <= told);
    printf("prefill %.2e (tol %.2e)  decode %.2e (tol %.2e)  %s\n", e, tol, ed, told, pass ? "ok" : "MISMATCH");
    outputs_free(&got);
    outputs_free(&want);
    return pass;
}

int cmd_check(int argc, char **argv) {
    int only_backend = -1;
    const char *layers = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            sb_backend be;
            if (!sb_parse_backend(argv[++i], &be)) return sb_usage_error("check: unknown backend '%s' (ref, cpu, cuda)", argv[i]);
            only_backend = (int)be;
        } else if (!strcmp(argv[i], "--layers") && i + 1 < argc) {
            layers = argv[++i];
        } else {
            return sb_usage_error("check: unknown option '%s' (check [--backend B] [--layers L,..])", argv[i]);
        }
    }
    if (layers) { /* validate the names before running anything */
        char buf[512];
        snprintf(buf, sizeof buf, "%s", layers);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            if (!sb_find_layer(tok)) return sb_usage_error("check: unknown layer '%s'", tok);
    }
    int checked = 0, failed = 0, unavailable = 0;
    for (int i = 0; sb_registry[i]; i++) {
        const sb_layer_desc *d = sb_registry[i];
        if (layers) {
            char pat[64];
            snprintf(pat, sizeof pat, ",%s,", d->name);
            char list[520];
            snprintf(list, sizeof list, ",%s,", layers);
            if (!strstr(list, pat)) continue;
        }
        for (int j = 0; sb_impls(d)[j]; j++) {
            const sb_impl *im = sb_impls(d)[j];
            if (only_backend >= 0 && (int)im->backend != only_backend) continue;
            if (!sb_backend_available(im->backend)) {
                printf("%-11s %-12s %-5s skipped: backend not available here\n", d->name, im->name, sb_backend_name(im->backend));
                unavailable++;
                continue;
            }
            for (int lv = SB_OP; lv <= SB_LAYER; lv++) {
                if (!(im->levels & (1u << lv)) || im == sb_find_impl(d, SB_REF, (sb_level)lv, NULL)) continue; /* the oracle */
                for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
                    checked++;
                    failed += !check_one(d, im, (sb_level)lv, shapes[s].B, shapes[s].T, shapes[s].steps);
                }
            }
        }
    }
    if (!checked && !unavailable) printf("check: no impl besides the oracle registered for the selection; nothing to compare\n");
    printf("check: %d comparisons, %d failed, %d impls skipped (backend not available)\n", checked, failed, unavailable);
    return failed ? 1 : 0;
}
