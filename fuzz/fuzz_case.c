/* fuzz_case.c: libFuzzer target for the golden case.txt parser (bench/golden.c:
 * sb_golden_parse_case). A case it accepts has a known layer, positive batch and ctx, and (layer level) a positive width. */
#include "../bench/golden.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f) return 0;
    sb_golden_case gc;
    if (sb_golden_parse_case(f, "fuzz/case.txt", &gc) == SB_OK)
        if (!gc.desc || gc.batch <= 0 || gc.ctx <= 0 || (gc.level == SB_LAYER && gc.cfg.d_model <= 0) ||
            (gc.mode == SB_DECODE && gc.steps <= 0))
            abort();
    fclose(f);
    return 0;
}
