/* test_backends.c: every fast impl (cpu, cuda) against the ref backend, as a table of
 * layer x impl x level x shape, prefill and decode (SPEC §5 tolerances: fp32 1e-4 relative
 * for cpu, 2e-2 of max|ref| for cuda bf16). Outputs are poisoned before each call, inputs and
 * weights drawn fresh per case. CUDA rows skip where no device exists. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char layer[24], impl[24], preset[16];
    sb_backend backend;
    sb_level level;
    int B, T, steps;
    int share_qk, use_gate; /* TTT options (ignored by the other layers) */
} be_param;

/* B, T, decode steps, TTT options. T = 45: partial TTT mini-batch; 64: whole ones. */
static const struct { int B, T, steps, share_qk, use_gate; } shapes[] = {
    {2, 45, 6, 1, 1}, {1, 64, 18, 0, 0}, {3, 17, 2, 0, 1},
};

#define MAX_PARAMS 1024

ParameterizedTestParameters(backends, match_ref) {
    static be_param ps[MAX_PARAMS];
    static int n = 0;
    if (n) return cr_make_param_array(be_param, ps, n);
    for (int i = 0; sb_registry[i]; i++)
        for (int j = 0; sb_impls(sb_registry[i])[j]; j++) {
            const sb_impl *im = sb_impls(sb_registry[i])[j];
            if (im->backend == SB_REF) continue;
            for (int lv = SB_OP; lv <= SB_LAYER; lv++) {
                if (!(im->levels & (1u << lv))) continue;
                for (size_t s = 0; s < sizeof shapes / sizeof *shapes && n < MAX_PARAMS; s++) {
                    be_param *p = &ps[n++];
                    snprintf(p->layer, sizeof p->layer, "%s", sb_registry[i]->name);
                    snprintf(p->impl, sizeof p->impl, "%s", im->name);
                    snprintf(p->preset, sizeof p->preset, "tiny");
                    p->backend = im->backend;
                    p->level = (sb_level)lv;
                    p->B = shapes[s].B;
                    p->T = shapes[s].T;
                    p->steps = shapes[s].steps;
                    p->share_qk = shapes[s].share_qk;
                    p->use_gate = shapes[s].use_gate;
                }
            }
        }
    return cr_make_param_array(be_param, ps, n);
}

/* Compares one impl with the layer's first ref impl on the same weights and inputs. */
static void compare_with_ref(const be_param *p, uint64_t seed) {
    sb_config cfg = tu_config(p->layer, p->preset);
    cfg.share_qk = p->share_qk;
    cfg.use_gate = p->use_gate;
    sb_layer_opts o = {.layer = p->layer, .impl = p->impl, .backend = p->backend, .level = p->level, .cfg = &cfg,
                       .seed = seed, .max_batch = p->B, .max_ctx = p->T + p->steps};
    char what[128];
    snprintf(what, sizeof what, "%s %s/%s %s B=%d T=%d", p->layer, sb_backend_name(p->backend), p->impl,
             sb_level_name(p->level), p->B, p->T);
    tu_expect_matches_ref(&o, p->B, p->T, p->steps, seed + 1, what);
}

ParameterizedTest(be_param *p, backends, match_ref) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available here", sb_backend_name(p->backend));
    compare_with_ref(p, 1000 + (uint64_t)p->T * 7 + (uint64_t)p->level);
}

/* bf16 error must not grow with the context (SPEC §5): T = 1k vs 8k, one sequence, tiny widths. */
Test(backends, cuda_error_does_not_grow_with_context, .timeout = 600) {
    if (!sb_backend_available(SB_CUDA)) cr_skip_test("no CUDA device");
    for (int i = 0; sb_registry[i]; i++)
        for (int j = 0; sb_impls(sb_registry[i])[j]; j++) {
            const sb_impl *im = sb_impls(sb_registry[i])[j];
            if (im->backend != SB_CUDA || !(im->levels & (1u << SB_LAYER))) continue;
            double rel[2];
            const int Ts[2] = {1024, 8192};
            for (int k = 0; k < 2; k++) {
                sb_config cfg = tu_config(sb_registry[i]->name, "tiny");
                sb_layer_opts o = {.layer = sb_registry[i]->name, .impl = im->name, .backend = SB_CUDA, .level = SB_LAYER,
                                   .cfg = &cfg, .seed = 5, .max_batch = 1, .max_ctx = Ts[k]};
                sb_layer_opts r = o;
                r.backend = SB_REF;
                r.impl = NULL;
                float *y, *yd, *yr, *ydr;
                size_t ny, nyd, nyr, nydr;
                cr_assert_eq(tu_run(&o, 1, Ts[k], 0, 6, &y, &yd, &ny, &nyd), SB_OK, "%s", sb_last_error());
                cr_assert_eq(tu_run(&r, 1, Ts[k], 0, 6, &yr, &ydr, &nyr, &nydr), SB_OK, "%s", sb_last_error());
                /* error over the last 1024 tokens, relative to their max |ref| */
                size_t W = ny / Ts[k], off = (size_t)(Ts[k] - 1024) * W;
                double max_abs, max_ref;
                tu_max_err(y + off, yr + off, 1024 * W, &max_abs, &max_ref);
                rel[k] = max_abs / max_ref;
                free(y); free(yd); free(yr); free(ydr);
            }
            cr_expect(rel[1] <= 2e-2 && rel[1] <= 2.0 * rel[0] + 2e-3, "%s/%s: relative error %.3e at T=1k, %.3e at T=8k",
                      sb_registry[i]->name, im->name, rel[0], rel[1]);
        }
}
