/* fuzz_case.c: libFuzzer target for the golden case.txt parser (bench/golden.c:
 * sb_golden_parse_case). A case it accepts has a layer and positive batch, ctx and width. */
#include "../bench/golden.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    FILE *f = fmemopen((void *)data, size, "r");
    if (!f) return 0;
    sb_config cfg;
    char layer[32];
    sb_mode mode;
    int batch, ctx, steps;
    if (sb_golden_parse_case(f, "fuzz/case.txt", &cfg, layer, sizeof layer, &mode, &batch, &ctx, &steps) == SB_OK)
        if (!layer[0] || batch <= 0 || ctx <= 0 || cfg.d_model <= 0 || (mode == SB_DECODE && steps <= 0)) abort();
    fclose(f);
    return 0;
}
