/* fuzz_runopts.c: libFuzzer target for the `seqbench run` command line (bench/presets.c:
 * sb_parse_run_opts, the --ctx/--batch list parsers, and sb_plan_points). The input is the
 * arguments, one per line. Accepted options must give a plan or one error; nothing is run. */
#include "../bench/sweep.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_ARGS + 2] = {"run"};
    int argc = 1;
    for (char *save = NULL, *a = strtok_r(text, "\n", &save); a && argc <= MAX_ARGS; a = strtok_r(NULL, "\n", &save))
        argv[argc++] = a;
    sb_run_opts o;
    if (sb_parse_run_opts(argc, argv, &o) == 0) {
        if (o.nctx < 1 || o.nctx > SB_MAX_CTX || o.nlayers < 1) abort();
        for (int i = 0; i < o.nctx; i++)
            if (o.ctx[i] <= 0 || (i && o.ctx[i] <= o.ctx[i - 1])) abort(); /* positive, ascending, unique */
        sb_point *pts;
        int n = sb_plan_points(&o, &pts);
        if (n > 0) free(pts);
    }
    free(text);
    return 0;
}
