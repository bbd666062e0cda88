/* mamba_report.c: prints the error of every Mamba cuda impl against the ref backend, per level and
 * shape, prefill and decode, relative to max|ref| (the SPEC §5 measure; tolerance 2e-2). Built by
 * tests/emu/run.sh for the CPU emulation; links as well against a real CUDA build.
 * Usage: mamba_report [D=d_model] [B T steps]... (default: tiny, D 64, and the shapes of
 * tests/test_backends.c and more; D=128 gives E 256, two channel blocks; D=96 gives E 192, which
 * the version-2 kernels refuse, so chunked falls back to version 1)
 *        mamba_report --time [T...]   (meaningful on a GPU: median time per token of every cuda impl at
 *        the 1.4b shape, op and layer level: prefill B 16 at each T (default 1024 4096), decode
 *        B 16 and 512 after fill_state; 3 warm-up calls, 10 timed, CUDA events, no L2 flush) */
#include "../test_util.h"
#include "../../bench/golden.h"
#include "../../kernels/cuda_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int d_model = 64;

static int report(const char *impl, sb_level level, int B, int T, int steps) {
    sb_config cfg = tu_config("mamba", "tiny");
    cfg.d_model = d_model;
    cfg.dt_rank = (d_model + 15) / 16;
    sb_layer_opts o = {.layer = "mamba", .impl = impl, .backend = SB_CUDA, .level = level, .cfg = &cfg, .seed = 11,
                       .max_batch = B, .max_ctx = T + steps};
    sb_layer_opts r = o;
    r.backend = SB_REF;
    r.impl = NULL;
    float *y, *yd, *yr, *ydr;
    size_t ny, nyd, nyr, nydr;
    if (tu_run(&o, B, T, steps, 3, &y, &yd, &ny, &nyd) || tu_run(&r, B, T, steps, 3, &yr, &ydr, &nyr, &nydr)) {
        printf("%-10s %-5s B %d T %5d: error: %s\n", impl, sb_level_name(level), B, T, sb_last_error());
        return 1;
    }
    double ea, er, da = 0, dr = 1;
    tu_max_err(y, yr, ny, &ea, &er);
    if (steps) tu_max_err(yd, ydr, nyd, &da, &dr);
    const int bad = !(ea <= 2e-2 * er) || (steps && !(da <= 2e-2 * dr));
    printf("D %d %-10s %-5s B %d T %5d steps %2d: prefill %.2e (max|ref| %.3g)  decode %.2e  %s\n", d_model, impl, sb_level_name(level), B,
           T, steps, ea / er, er, steps ? da / dr : 0.0, bad ? "FAIL" : "ok");
    free(y); free(yd); free(yr); free(ydr);
    return bad;
}

/* The golden cases (float64 PyTorch reference, tests/golden/mamba_*) on a cuda impl. */
static int golden(const char *impl) {
    const char *cases[] = {"tests/golden/mamba_prefill_T45", "tests/golden/mamba_prefill_T64", "tests/golden/mamba_decode_T32_S20"};
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        sb_golden_result r;
        if (sb_golden_run(cases[i], SB_CUDA, impl, &r)) {
            printf("golden %s %s: error: %s\n", cases[i], impl, sb_last_error());
            bad++;
            continue;
        }
        printf("golden %-36s %-10s y %.2e  y_decode %.2e (of max|ref|)  %s\n", cases[i], impl, r.max_abs / r.max_ref,
               r.decode_steps ? r.dec_max_abs / r.dec_max_ref : 0.0, r.pass ? "ok" : "FAIL");
        bad += !r.pass;
    }
    return bad;
}

/* ---- timing (GPU builds) ------------------------------------------------------------------- */
static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median ms of 10 calls after 3 warm-ups; decode when T_or_0 == 0 (state from fill_state). */
static sb_status time_point(const char *impl, sb_level level, int B, int T, double *ms) {
    /* Mamba's 1.4b (preset "1.3b": D 2048, E 4096, N 16, R 128); MAMBA_REPORT_PRESET=tiny for a dry run */
    sb_config cfg = tu_config("mamba", getenv("MAMBA_REPORT_PRESET") ? getenv("MAMBA_REPORT_PRESET") : "1.3b");
    const int decode = T == 0, steps = 13;
    sb_layer_opts o = {.layer = "mamba", .impl = impl, .backend = SB_CUDA, .level = level, .cfg = &cfg, .seed = 1,
                       .max_batch = B, .max_ctx = decode ? 1024 + steps : T};
    sb_layer *L = NULL;
    sb_cuda_timer *tm = NULL;
    sb_buf bx = {0}, by = {0};
    float *x = NULL;
    double samples[10];
    sb_status st = sb_layer_create(&o, &L);
    const int rows = decode ? B : B * T, in = st ? 0 : sb_layer_in_dim(L), out = st ? 0 : sb_layer_out_dim(L);
    if (!st) st = sb_cuda_timer_create(&tm);
    if (!st) st = sb_buf_alloc(&bx, SB_CUDA, SB_BF16, (size_t)rows * in);
    if (!st) st = sb_buf_alloc(&by, SB_CUDA, SB_BF16, (size_t)rows * out);
    if (!st && !(x = malloc((size_t)rows * in * sizeof(float)))) st = sb_fail(SB_ENOMEM, "out of host memory");
    if (!st) {
        sb_rng rng;
        sb_rng_seed(&rng, 2);
        sb_layer_make_input(L, x, B, decode ? 1 : T, &rng);
        st = sb_buf_upload(&bx, x, (size_t)rows * in);
    }
    if (!st && decode) st = sb_layer_fill_state(L, B, 1024, 3);
    for (int i = 0; !st && i < steps; i++) {
        if (i >= 3) st = sb_cuda_timer_start(tm);
        if (!st) st = decode ? sb_layer_decode(L, bx.p, by.p, B) : sb_layer_prefill(L, bx.p, by.p, B, T);
        if (!st && i >= 3) st = sb_cuda_timer_stop(tm, &samples[i - 3]);
    }
    if (!st) {
        qsort(samples, 10, sizeof *samples, cmp_double);
        *ms = 0.5 * (samples[4] + samples[5]);
    }
    free(x);
    sb_buf_free(&bx);
    sb_buf_free(&by);
    sb_cuda_timer_destroy(tm);
    sb_layer_destroy(L);
    return st;
}

static int time_all(int nT, const int *Ts) {
    const char *impls[] = {"chunked", "sequential"};
    printf("impl       level mode     B    T       median_ms  ns/token\n");
    for (int i = 0; i < 2; i++)
        for (int lv = SB_OP; lv <= SB_LAYER; lv++) {
            struct { int B, T; } pts[12];
            int n = 0;
            for (int k = 0; k < nT && n < 10; k++) pts[n].B = 16, pts[n++].T = Ts[k];
            pts[n].B = 16, pts[n++].T = 0;
            pts[n].B = 512, pts[n++].T = 0;
            for (int p = 0; p < n; p++) {
                double ms = 0;
                const sb_status st = time_point(impls[i], (sb_level)lv, pts[p].B, pts[p].T, &ms);
                const double tokens = pts[p].T ? (double)pts[p].B * pts[p].T : pts[p].B;
                if (st) printf("%-10s %-5s %-8s %4d %6d  %s: %s\n", impls[i], sb_level_name(lv), pts[p].T ? "prefill" : "decode",
                               pts[p].B, pts[p].T, sb_status_name(st), sb_last_error());
                else printf("%-10s %-5s %-8s %4d %6d  %9.4f  %9.2f\n", impls[i], sb_level_name(lv), pts[p].T ? "prefill" : "decode",
                            pts[p].B, pts[p].T, ms, ms * 1e6 / tokens);
                fflush(stdout);
            }
        }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--time") == 0) {
        int Ts[8] = {1024, 4096}, nT = 2;
        if (argc > 2) {
            nT = 0;
            for (int i = 2; i < argc && nT < 8; i++) Ts[nT++] = atoi(argv[i]);
        }
        return time_all(nT, Ts);
    }
    static const int def[][3] = {{2, 45, 6}, {1, 64, 18}, {3, 17, 2}, {1, 1, 3}, {2, 2, 2}, {1, 3, 2},
                                 {1, 300, 4}, {3, 129, 1}, {1, 1024, 2}};
    int shapes[16][3], n = 0, first = 1;
    if (argc > 1 && strncmp(argv[1], "D=", 2) == 0) d_model = atoi(argv[1] + 2), first = 2;
    if (argc > first) {
        for (int i = first; i + 2 < argc && n < 16; i += 3, n++)
            for (int k = 0; k < 3; k++) shapes[n][k] = atoi(argv[i + k]);
    } else {
        for (; n < (int)(sizeof def / sizeof *def); n++)
            for (int k = 0; k < 3; k++) shapes[n][k] = def[n][k];
    }
    const char *impls[] = {"chunked", "sequential"};
    int fails = 0;
    for (int i = 0; i < 2; i++)
        for (int lv = SB_OP; lv <= SB_LAYER; lv++)
            for (int s = 0; s < n; s++) fails += report(impls[i], (sb_level)lv, shapes[s][0], shapes[s][1], shapes[s][2]);
    for (int i = 0; i < 2; i++) fails += golden(impls[i]);
    printf("%d failing\n", fails);
    return fails != 0;
}
