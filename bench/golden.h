/* golden.h: run one golden case folder (SPEC §11, ../shared/golden/README.md) on a backend. */
#ifndef SB_GOLDEN_H
#define SB_GOLDEN_H

#include "../registry/registry.h"

#include <stdio.h>

typedef struct sb_golden_result {
    char layer[32], mode[16];
    double max_abs, max_ref, tol;         /* prefill output y */
    double dec_max_abs, dec_max_ref, dec_tol; /* decode outputs y_decode (decode cases) */
    int decode_steps;
    int pass;
} sb_golden_result;

/* Tolerance of SPEC §5 for a backend, given max|ref| of the tensor. */
double sb_tolerance(sb_backend be, double max_ref);
/* Parse DIR/case.txt into cfg (and the case's layer, mode, batch, ctx, decode steps). */
sb_status sb_golden_read_case(const char *dir, sb_config *cfg, char *layer, size_t layer_sz,
                              sb_mode *mode, int *batch, int *ctx, int *steps);
/* The same from an open case.txt (`path` names it in messages; fuzz/ feeds it from memory). */
sb_status sb_golden_parse_case(FILE *f, const char *path, sb_config *cfg, char *layer, size_t layer_sz,
                               sb_mode *mode, int *batch, int *ctx, int *steps);
/* Returns SB_OK when the case ran (res->pass says whether it matched); an error for bad input. */
sb_status sb_golden_run(const char *dir, sb_backend be, const char *impl, sb_golden_result *res);

#endif
