/* sgemm_probe.c: `seqbench sgemm MxKxN[,MxKxN...]`: OpenBLAS sgemm alone (y = x W^T, the
 * projection form of every cpu layer, runtime/host_blas.h) on given shapes, timed with the same
 * sample rule and thread pinning as `seqbench run` on the cpu backend. scripts/cpu_ratios.sh
 * compares it with the projection time inside the layers (issue 6: >= 80% of sgemm alone). */
#include "commands.h"
#include "meta.h"
#include "timing.h"
#include "../runtime/host_blas.h"

#include <stdio.h>
#include <stdlib.h>

static int parse_shape(const char *s, int *M, int *K, int *N, int *used) {
    return sscanf(s, "%dx%dx%d%n", M, K, N, used) == 3 && *M > 0 && *K > 0 && *N > 0;
}

static void time_shape(int M, int K, int N) {
    float *x, *W, *y;
    if (cpu_alloc(&x, (size_t)M * K, "x") || cpu_alloc(&W, (size_t)N * K, "W") || cpu_alloc(&y, (size_t)M * N, "y")) {
        printf("%d,%d,%d,,,,oom\n", M, K, N);
        return;
    }
    sb_rng r;
    sb_rng_seed(&r, 1);
    sb_fill_normal(x, (size_t)M * K, &r, 0, 1);
    sb_fill_normal(W, (size_t)N * K, &r, 0, 1);
    const sb_sample_rule rule = {.warmup = 3, .min_samples = 10, .max_samples = 100000, .target_noise = 0.005,
                                 .soft_s = 1, .hard_s = 3};
    for (int i = 0; i < rule.warmup; i++) cpu_linear(x, K, W, y, N, M, K, N);
    double ms[4096], start = sb_now_s();
    int n = 0;
    sb_running run = {0};
    while (n < 4096 && !sb_sample_done(&rule, &run, sb_now_s() - start)) {
        double t0 = sb_now_s();
        cpu_linear(x, K, W, y, N, M, K, N);
        ms[n] = (sb_now_s() - t0) * 1e3;
        sb_running_add(&run, ms[n++]);
    }
    sb_stats s;
    sb_stats_compute(ms, n, &s);
    printf("%d,%d,%d,%.4f,%.1f,%.4f,%d\n", M, K, N, s.median, 2.0 * M * K * N / (s.median * 1e6), s.noise, n);
    free(x); free(W); free(y);
}

int cmd_sgemm(int argc, char **argv) {
    if (argc != 2) return sb_usage_error("sgemm: usage: seqbench sgemm MxKxN[,MxKxN...]");
    int M, K, N, used;
    for (const char *p = argv[1]; *p;) { /* validate everything before timing anything */
        if (!parse_shape(p, &M, &K, &N, &used)) return sb_usage_error("sgemm: bad shape list '%s' (want MxKxN,...)", argv[1]);
        p += used;
        if (*p == ',') p++;
        else if (*p) return sb_usage_error("sgemm: bad shape list '%s' (want MxKxN,...)", argv[1]);
    }
    int threads = sb_pin_threads(SB_CPU);
    printf("M,K,N,median_ms,gflops,noise,samples  # OpenBLAS sgemm, %d threads\n", threads);
    for (const char *p = argv[1]; *p;) {
        parse_shape(p, &M, &K, &N, &used);
        time_shape(M, K, N);
        p += used;
        if (*p == ',') p++;
    }
    return 0;
}
