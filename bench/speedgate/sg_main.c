/* sg_main.c: build/speedgate, the program the CPU speed gate runs under callgrind (issue 9).
 *
 * For every cpu impl in the registry it runs, on one fixed small shape, single-threaded:
 *   op prefill, op decode (one step at context T), layer prefill (the projections path) and
 *   layer decode (one-row projections: an sgemm with M = 1 packs the whole weight, which doubled
 *   TTT's layer decode once while every other kernel here stayed the same),
 * each wrapped in callgrind client requests so that exactly the layer call is counted and dumped
 * under its own name ("<layer>/<impl>/<level>/<mode>"), each in its own forked process (the same
 * starting heap for every kernel). Outside valgrind the requests are no-ops, so the program also
 * runs (and checks) on its own. scripts/speed_gate.sh runs it (a CPU-only build) under callgrind.
 *
 * SEQBENCH_SPEEDGATE_SLOW=<name> runs that kernel twice inside its counted region: the test-only
 * switch with which tests/test_speedgate.c proves the gate catches a slower kernel.
 *
 * Usage: speedgate [PATTERNS]: PATTERNS = comma-separated shell globs (fnmatch) on the names, e.g.
 * "mamba/chunked/op/decode,ttt_linear/dual/op/[pd]*"; only matching kernels run (default: all).
 */
#include "../../registry/registry.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

/* The gate's shape: small enough for callgrind (~50x slower than native), large enough that
 * the kernels' inner loops dominate the count. */
enum { SG_B = 1, SG_T = 256 };

static sb_config gate_config(const char *layer) {
    sb_config c;
    sb_config_preset(layer, "tiny", &c);
    c.d_model = 128;
    c.heads = 2;
    c.head_dim = 64;
    c.dt_rank = 8;
    snprintf(c.name, sizeof c.name, "gate");
    return c;
}

/* Runs one measured call (prefill of T tokens, or one decode step at context T). */
static sb_status run_once(sb_layer *L, sb_mode mode, const void *x, void *y) {
    if (mode == SB_PREFILL) return sb_layer_prefill(L, x, y, SG_B, SG_T);
    sb_layer_rewind(L, SG_T);
    return sb_layer_decode(L, x, y, SG_B);
}

/* Counts one kernel ("<layer>/<impl>/<level>/<mode>" = name). Returns 1 on failure. */
static int gate_one(const sb_layer_desc *d, const sb_impl *im, sb_level level, sb_mode mode, const char *name) {
    sb_config cfg = gate_config(d->name);
    sb_layer_opts o = {.layer = d->name, .impl = im->name, .backend = SB_CPU, .level = level, .cfg = &cfg,
                       .seed = 1, .max_batch = SG_B, .max_ctx = SG_T + 1};
    sb_layer *L;
    if (sb_layer_create(&o, &L)) { fprintf(stderr, "speedgate: %s: %s\n", name, sb_last_error()); return 1; }
    size_t n_in = (size_t)SG_B * SG_T * sb_layer_in_dim(L), n_out = (size_t)SG_B * SG_T * sb_layer_out_dim(L);
    float *x = malloc(n_in * sizeof(float)), *y = malloc(n_out * sizeof(float));
    sb_rng rng;
    sb_rng_seed(&rng, 2);
    sb_layer_make_input(L, x, SG_B, SG_T, &rng);
    sb_status st = SB_OK;
    if (mode == SB_DECODE) st = sb_layer_prefill(L, x, y, SG_B, SG_T); /* a real state, not counted */
    const char *slow = getenv("SEQBENCH_SPEEDGATE_SLOW");
    int reps = slow && strcmp(slow, name) == 0 ? 2 : 1;
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
    for (int r = 0; !st && r < reps; r++) st = run_once(L, mode, x, y);
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT(name);
    if (st) fprintf(stderr, "speedgate: %s: %s\n", name, sb_last_error());
    else printf("%s B%d T%d D%d\n", name, SG_B, SG_T, cfg.d_model);
    free(x);
    free(y);
    sb_layer_destroy(L);
    return st != SB_OK;
}

/* Whether name matches one of the comma-separated globs of patterns (NULL: everything). */
static int selected(const char *patterns, const char *name) {
    if (!patterns || !*patterns) return 1;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", patterns);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
        if (fnmatch(p, name, 0) == 0) return 1;
    return 0;
}

/* Counts one kernel, if selected, in a child process: every kernel then starts from the same heap
 * (the parent allocates nothing), so its count does not depend on which kernels ran before it
 * (in one process a decode step counted 29229 instructions after another kernel, 28984 alone and
 * 28513 after all the others: 2.5% apart). Returns 1 on failure. */
static int gate_if_selected(const char *patterns, const sb_layer_desc *d, const sb_impl *im, sb_level level,
                            sb_mode mode) {
    char name[128];
    snprintf(name, sizeof name, "%s/%s/%s/%s", d->name, im->name, sb_level_name(level), sb_mode_name(mode));
    if (!selected(patterns, name)) return 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { perror("speedgate: fork"); return 1; }
    if (pid == 0) {
        int rc = gate_one(d, im, level, mode, name);
        fflush(stdout);
        _exit(rc);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) { fprintf(stderr, "speedgate: %s: crashed\n", name); return 1; }
    return WEXITSTATUS(st) != 0;
}

static int gate_all(const char *patterns) {
    int fails = 0;
    for (int i = 0; sb_registry[i]; i++)
        for (int j = 0; sb_impls(sb_registry[i])[j]; j++) {
            const sb_impl *im = sb_impls(sb_registry[i])[j];
            if (im->backend != SB_CPU) continue;
            if (im->levels & (1u << SB_OP)) {
                fails += gate_if_selected(patterns, sb_registry[i], im, SB_OP, SB_PREFILL);
                fails += gate_if_selected(patterns, sb_registry[i], im, SB_OP, SB_DECODE);
            }
            if (im->levels & (1u << SB_LAYER)) {
                fails += gate_if_selected(patterns, sb_registry[i], im, SB_LAYER, SB_PREFILL);
                fails += gate_if_selected(patterns, sb_registry[i], im, SB_LAYER, SB_DECODE);
            }
        }
    return fails ? 1 : 0;
}

int main(int argc, char **argv) { return gate_all(argc > 1 ? argv[1] : NULL); }
