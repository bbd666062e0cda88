/* test_decode.c: decode after prefill equals prefill of the longer sequence (SPEC §5), for
 * every layer x impl x level this build has, on small shapes that cross TTT mini-batches. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"
#include "../bench/golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char layer[24], impl[24];
    sb_backend backend;
    sb_level level;
    int B, T, steps;
} dec_param;

#define MAX_PARAMS 512

static const int shapes[][3] = {{2, 13, 5}, {1, 32, 3}, {3, 7, 20}}; /* B, T, steps */

ParameterizedTestParameters(decode, equals_longer_prefill) {
    static dec_param ps[MAX_PARAMS];
    static int n = 0;
    if (n) return cr_make_param_array(dec_param, ps, n);
    for (int i = 0; sb_registry[i]; i++)
        for (int j = 0; sb_impls(sb_registry[i])[j]; j++) {
            const sb_impl *im = sb_impls(sb_registry[i])[j];
            for (int lv = SB_OP; lv <= SB_LAYER; lv++) {
                if (!(im->levels & (1u << lv))) continue;
                for (size_t s = 0; s < sizeof shapes / sizeof *shapes && n < MAX_PARAMS; s++) {
                    dec_param *p = &ps[n++];
                    snprintf(p->layer, sizeof p->layer, "%s", sb_registry[i]->name);
                    snprintf(p->impl, sizeof p->impl, "%s", im->name);
                    p->backend = im->backend;
                    p->level = (sb_level)lv;
                    p->B = shapes[s][0];
                    p->T = shapes[s][1];
                    p->steps = shapes[s][2];
                }
            }
        }
    return cr_make_param_array(dec_param, ps, n);
}

ParameterizedTest(dec_param *p, decode, equals_longer_prefill) {
    if (!sb_backend_available(p->backend)) cr_skip_test("backend %s not available", sb_backend_name(p->backend));
    sb_config cfg = tu_config(p->layer, "tiny");
    sb_layer_opts o = {.layer = p->layer, .impl = p->impl, .backend = p->backend, .level = p->level, .cfg = &cfg,
                       .seed = 7, .max_batch = p->B, .max_ctx = p->T + p->steps};
    float *y1, *yd1, *y2, *yd2;
    size_t ny1, nyd1, ny2, nyd2;
    /* run A: prefill T, then `steps` decodes; run B: prefill T+steps on the same tokens */
    sb_status st = tu_run(&o, p->B, p->T, p->steps, 99, &y1, &yd1, &ny1, &nyd1);
    cr_assert_eq(st, SB_OK, "%s", sb_last_error());
    st = tu_run(&o, p->B, p->T + p->steps, 0, 99, &y2, &yd2, &ny2, &nyd2);
    cr_assert_eq(st, SB_OK, "%s", sb_last_error());
    const size_t W = ny2 / ((size_t)p->B * (p->T + p->steps));
    /* gather the long prefill's rows at positions T..T+steps-1, per step [B, W] */
    float *want = malloc(nyd1 * sizeof(float));
    for (int s = 0; s < p->steps; s++)
        for (int b = 0; b < p->B; b++)
            memcpy(want + ((size_t)s * p->B + b) * W, y2 + ((size_t)b * (p->T + p->steps) + p->T + s) * W, W * sizeof(float));
    double max_abs, max_ref;
    tu_max_err(yd1, want, nyd1, &max_abs, &max_ref);
    double tol = sb_tolerance(p->backend, max_ref);
    cr_expect(max_abs <= tol, "%s/%s/%s/%s B=%d T=%d steps=%d: decode vs prefill max_abs %.3e > %.3e", p->layer,
              sb_backend_name(p->backend), p->impl, sb_level_name(p->level), p->B, p->T, p->steps, max_abs, tol);
    /* and the first T rows agree between the two prefills */
    float *head = malloc(ny1 * sizeof(float));
    for (int b = 0; b < p->B; b++)
        memcpy(head + (size_t)b * p->T * W, y2 + (size_t)b * (p->T + p->steps) * W, (size_t)p->T * W * sizeof(float));
    tu_max_err(y1, head, ny1, &max_abs, &max_ref);
    cr_expect(max_abs <= sb_tolerance(p->backend, max_ref), "prefill T vs prefill T+steps differ on the first T rows: %.3e", max_abs);
    free(want); free(head); free(y1); free(yd1); free(y2); free(yd2);
}
