/* test_cpu_kernels.c: the cpu impls against ref on shapes that the generic table of
 * test_backends.c does not reach: several query/key blocks of the flash attention (64 x 256),
 * split-KV decode (more than 512 keys in the cache with splits merged), Mamba chunks of 512 rows
 * carrying state and conv history, and widths that are not a multiple of the channel block.
 * A table: layer x level x shape x config. fp32 tolerance of SPEC §5. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"
#include "../kernels/cpu_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    char layer[16];
    sb_level level;
    int B, T, steps;
    int d_model, heads; /* 0: the tiny preset's */
} cpu_case;

ParameterizedTestParameters(cpu_kernels, match_ref) {
    static cpu_case cases[] = {
        /* 5 query blocks, 2 key blocks, a partial last block of each */
        {"attention", SB_LAYER, 2, 300, 2, 0, 0},
        {"attention", SB_OP, 1, 300, 0, 0, 0},
        /* decode at 1030..1033 keys, B*H = 4 tasks for 2 threads: 2 splits merged */
        {"attention", SB_LAYER, 1, 1030, 3, 0, 0},
        {"attention", SB_OP, 1, 1030, 3, 0, 0},
        /* head_dim 10, D 40 */
        {"attention", SB_LAYER, 3, 70, 2, 40, 4},
        /* 2 chunks + a partial one, state and conv history carried across */
        {"mamba", SB_LAYER, 2, 1100, 2, 0, 0},
        {"mamba", SB_OP, 2, 600, 2, 0, 0},
        /* E = 80: the last channel block holds 16 of 32 */
        {"mamba", SB_LAYER, 3, 40, 3, 40, 4},
        {"mamba", SB_OP, 3, 40, 3, 40, 4},
    };
    return cr_make_param_array(cpu_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(cpu_case *p, cpu_kernels, match_ref, .timeout = 120) {
    sb_config cfg = tu_config(p->layer, "tiny");
    if (p->d_model) {
        cfg.d_model = p->d_model;
        cfg.heads = p->heads;
        cfg.head_dim = p->d_model / p->heads;
        cfg.dt_rank = (p->d_model + 15) / 16;
    }
    sb_layer_opts o = {.layer = p->layer, .backend = SB_CPU, .level = p->level, .cfg = &cfg, .seed = 11,
                       .max_batch = p->B, .max_ctx = p->T + p->steps};
    char what[128];
    snprintf(what, sizeof what, "%s %s B=%d T=%d D=%d", p->layer, sb_level_name(p->level), p->B, p->T, cfg.d_model);
    tu_expect_matches_ref(&o, p->B, p->T, p->steps, 12, what);
}

/* fill_state gives a state decode can run on: finite outputs at the filled position. */
Test(cpu_kernels, fill_state_then_decode) {
    const char *layers[] = {"attention", "mamba"};
    for (int i = 0; i < 2; i++) {
        sb_config cfg = tu_config(layers[i], "tiny");
        sb_layer_opts o = {.layer = layers[i], .backend = SB_CPU, .level = SB_LAYER, .cfg = &cfg, .seed = 3,
                           .max_batch = 2, .max_ctx = 2000};
        sb_layer *L;
        cr_assert_eq(sb_layer_create(&o, &L), SB_OK, "%s", sb_last_error());
        cr_assert_eq(sb_layer_fill_state(L, 2, 1500, 9), SB_OK, "%s", sb_last_error());
        const int D = cfg.d_model;
        float *x = malloc(2 * D * sizeof(float)), *y = malloc(2 * D * sizeof(float));
        sb_rng rng;
        sb_rng_seed(&rng, 4);
        sb_layer_make_input(L, x, 2, 1, &rng);
        cr_assert_eq(sb_layer_decode(L, x, y, 2), SB_OK, "%s", sb_last_error());
        cr_expect_eq(L->pos, 1501);
        for (int j = 0; j < 2 * D; j++) cr_assert(isfinite(y[j]), "%s: y[%d] = %g", layers[i], j, y[j]);
        free(x); free(y);
        sb_layer_destroy(L);
    }
}

/* A KV cache larger than the machine is refused at setup with SB_ENOMEM (a bench point "oom"),
 * not left to the kernel's overcommit: 2 x 512 x 2^20 x 64 floats = 512 GiB. */
Test(cpu_kernels, kv_cache_that_cannot_fit_is_enomem) {
    sb_config cfg = tu_config("attention", "tiny");
    sb_layer_opts o = {.layer = "attention", .backend = SB_CPU, .level = SB_LAYER, .cfg = &cfg, .seed = 1,
                       .max_batch = 512, .max_ctx = 1 << 20};
    sb_layer *L = NULL;
    cr_expect_eq(sb_layer_create(&o, &L), SB_ENOMEM, "%s", sb_last_error());
    cr_expect_null(L);
}

/* cpu_linear_ex against a naive product: one row (the sgemv path of decode at B=1) and several
 * (sgemm), a slice of a wider weight (ldw > K), row strides, beta 0 and 1. */
Test(cpu_kernels, linear_one_row_and_many) {
    enum { K = 37, N = 29, LDW = 41, LDX = 40, LDY = 33 };
    for (int M = 1; M <= 3; M += 2)
        for (int b = 0; b <= 1; b++) {
            float x[3 * LDX], W[N * LDW], y[3 * LDY], y0[3 * LDY];
            sb_rng r;
            sb_rng_seed(&r, 5 + M + b);
            sb_fill_normal(x, sizeof x / sizeof *x, &r, 0, 1);
            sb_fill_normal(W, sizeof W / sizeof *W, &r, 0, 1);
            sb_fill_normal(y0, sizeof y0 / sizeof *y0, &r, 0, 1);
            memcpy(y, y0, sizeof y);
            cpu_linear_ex(x, LDX, W, LDW, y, LDY, M, K, N, (float)b);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < LDY; j++) {
                    double want = y0[i * LDY + j]; /* columns past N are left alone */
                    if (j < N) {
                        want = b ? want : 0;
                        for (int k = 0; k < K; k++) want += (double)x[i * LDX + k] * W[j * LDW + k];
                    }
                    cr_expect(fabs(y[i * LDY + j] - want) <= 1e-4 * (1 + fabs(want)), "M %d beta %d y[%d][%d] %g vs %g", M, b, i,
                              j, y[i * LDY + j], want);
                }
        }
}
