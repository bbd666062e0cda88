/* test_ttt_cuda.c: the TTT cuda impls against ref at the head dims the benchmarks use (d 64 at 125m
 * and 1.3b, and 32, 128), where the shared tables (tiny config, d 16) do not reach: each head dim is
 * its own kernel instantiation. A table of layer x d x level x impl (kernel version), prefill ending in a
 * partial mini-batch and decode steps across a boundary. Skips without a CUDA device (runs on the
 * CPU model of the GPU under `make emu-test`). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    char layer[16];
    int D, H;       /* head dim D/H */
    sb_level level;
    char impl[16];  /* "dual" (the fastest prefill kernel for the shape) or the oracle "dual_simple" (version 1) */
    int B, T, steps;
} ttt_cuda_case;

static ttt_cuda_case cases[] = {
    {"ttt_linear", 128, 2, SB_OP, "dual_simple", 2, 45, 4},    /* d 64 */
    {"ttt_linear", 128, 2, SB_OP, "dual", 2, 45, 4},
    {"ttt_linear", 128, 2, SB_LAYER, "dual", 1, 45, 4},
    {"ttt_linear", 64, 2, SB_OP, "dual", 1, 37, 12},    /* d 32 */
    {"ttt_linear", 256, 2, SB_OP, "dual", 1, 20, 13},   /* d 128 (version 1 only) */
    {"ttt_mlp", 128, 2, SB_OP, "dual_simple", 2, 45, 4},       /* d 64 */
    {"ttt_mlp", 128, 2, SB_OP, "dual", 2, 45, 4},
    {"ttt_mlp", 128, 2, SB_LAYER, "dual", 1, 45, 4},
    {"ttt_mlp", 64, 2, SB_OP, "dual", 1, 37, 12},       /* d 32 */
};

ParameterizedTestParameters(ttt_cuda, impls_match_ref_at_benchmark_head_dims) {
    return cr_make_param_array(ttt_cuda_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(ttt_cuda_case *c, ttt_cuda, impls_match_ref_at_benchmark_head_dims, .timeout = 120) {
    if (!sb_backend_available(SB_CUDA)) cr_skip_test("no CUDA device");
    sb_config cfg = tu_config(c->layer, "tiny");
    cfg.d_model = c->D;
    cfg.heads = c->H;
    cfg.head_dim = c->D / c->H;
    cfg.share_qk = cfg.use_gate = 1; /* the benchmark's Mamba backbone */
    snprintf(cfg.name, sizeof cfg.name, "custom");
    sb_layer_opts o = {.layer = c->layer, .impl = c->impl, .backend = SB_CUDA, .level = c->level, .cfg = &cfg, .seed = 5,
                       .max_batch = c->B, .max_ctx = c->T + c->steps};
    char what[128];
    snprintf(what, sizeof what, "%s/%s d %d %s B %d T %d", c->layer, c->impl, cfg.head_dim, sb_level_name(c->level),
             c->B, c->T);
    tu_expect_matches_ref(&o, c->B, c->T, c->steps, 9, what);
}
