/* test_util.h: helpers shared by the Criterion tests. */
#ifndef SB_TEST_UTIL_H
#define SB_TEST_UTIL_H

#include "../registry/registry.h"

#include <stddef.h>

/* Max |a-b| and max |b| over n elements (NaN in a gives max_abs = NaN). */
void tu_max_err(const float *a, const float *b, size_t n, double *max_abs, double *max_ref);

/* Runs a layer: prefill of T tokens then `steps` decode steps, on inputs drawn from `seed`
 * (the same inputs for every backend/impl). Output buffers are
 * poisoned with NaN before every call. Returns malloc'ed host outputs:
 * *y = [B*T*out_dim] (model level: [B*vocab]), *yd = [steps][B*out_dim] (NULL if steps == 0).
 * Returns the status; on failure the message is in sb_last_error(). */
sb_status tu_run(const sb_layer_opts *o, int B, int T, int steps, uint64_t seed, float **y, float **yd,
                 size_t *ny, size_t *nyd);

/* Runs o's impl and the layer's first ref impl (o with backend ref, impl NULL) on the same weights
 * and inputs (tu_run: prefill of T tokens, then `steps` decode steps, inputs from input_seed);
 * asserts that both ran and gave as many outputs, and expects the prefill outputs and the decode
 * outputs each within sb_tolerance(o->backend, max|ref|) of ref (SPEC §5). `what` names the case
 * in the messages. For Criterion tests (a failed assertion ends the calling test). */
void tu_expect_matches_ref(const sb_layer_opts *o, int B, int T, int steps, uint64_t input_seed, const char *what);

/* Fill a buffer with NaN so that an element the layer does not write fails the comparison. */
sb_status tu_poison(sb_buf *b);

/* A config for tests: the tiny preset of a layer, with the given TTT options. */
sb_config tu_config(const char *layer, const char *preset);

/* The seqbench binary under test: $SEQBENCH_BIN (absolute), else build/seqbench. */
const char *tu_bin(void);
/* Runs a shell command with stdout discarded and stderr into errfile; returns its exit code. */
int tu_shell(const char *cmd, const char *errfile);
/* Lines in a file (-1 if it cannot be read); the first one copied into first. */
int tu_count_lines(const char *path, char *first, size_t sz);

#endif
