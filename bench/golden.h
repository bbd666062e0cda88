/* golden.h: run one golden case folder (SPEC §11, ../shared/golden/README.md) on a backend. */
#ifndef SB_GOLDEN_H
#define SB_GOLDEN_H

#include "../registry/registry.h"

#include <stdio.h>

/* The worst error of a tensor (or of the worst of several) against its reference. */
typedef struct sb_golden_err {
    double max_abs, max_ref, tol;
} sb_golden_err;

typedef struct sb_golden_result {
    char layer[32], mode[16];
    sb_level level;
    sb_golden_err y;     /* prefill outputs (y; op level: the worst of the named output arrays) */
    sb_golden_err dec;   /* decode outputs (<name>_decode, decode cases) */
    sb_golden_err state; /* final_state (when state_checked) */
    int decode_steps, state_checked;
    int pass;
} sb_golden_result;

/* A parsed case.txt: the generic keys, and the config from the layer's field table. */
typedef struct sb_golden_case {
    char layer[32];
    const sb_layer_desc *desc;
    sb_level level;
    sb_mode mode;
    int batch, ctx, steps;
    sb_config cfg;
} sb_golden_case;

/* Tolerance of SPEC §5 for a backend, given max|ref| of the tensor. */
double sb_tolerance(sb_backend be, double max_ref);
/* Parse DIR/case.txt: layer, level, mode, batch, ctx, decode_steps, and every key of the layer's
 * config field table (sb_layer_desc.fields); other keys are informative. */
sb_status sb_golden_read_case(const char *dir, sb_golden_case *gc);
/* The same from an open case.txt (`path` names it in messages; fuzz/ feeds it from memory). */
sb_status sb_golden_parse_case(FILE *f, const char *path, sb_golden_case *gc);
/* Returns SB_OK when the case ran (res->pass says whether it matched); an error for bad input.
 * Layer level: x.npy -> y.npy. Op level: the descriptor's named op arrays (op_arrays) packed
 * into op rows and unpacked from them; decode tokens from <name>_decode.npy; final_state.npy
 * compared with the impl's read_state where both exist. */
sb_status sb_golden_run(const char *dir, sb_backend be, const char *impl, sb_golden_result *res);

#endif
