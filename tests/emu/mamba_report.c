/* mamba_report.c: prints the error of every Mamba cuda impl against the ref backend, per level and
 * shape, prefill and decode, relative to max|ref| (the SPEC §5 measure; tolerance 2e-2). Built by
 * tests/emu/run.sh for the CPU emulation; links as well against a real CUDA build.
 * Usage: mamba_report [D=d_model] [B T steps]... (default: tiny, D 64, and the shapes of
 * tests/test_backends.c and more; D=128 gives E 256, two channel blocks; D=96 gives E 192, which
 * the version-2 kernels refuse, so chunked falls back to version 1) */
#include "../test_util.h"
#include "../../bench/golden.h"

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

int main(int argc, char **argv) {
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
