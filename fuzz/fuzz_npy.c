/* fuzz_npy.c: libFuzzer target for the .npy reader (runtime/npy.c: sb_npy_read_stream over the
 * bytes, as sb_npy_read reads a file). A read array must hold exactly the floats its shape says. */
#include "../runtime/npy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0; /* fmemopen wants a buffer */
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return 0;
    sb_npy a;
    if (sb_npy_read_stream(f, "fuzz.npy", &a) == SB_OK) {
        size_t n = 1;
        for (int i = 0; i < a.ndim; i++) n *= (size_t)a.shape[i];
        if (n != a.n || a.n * sizeof(float) > size) abort();
        volatile float sink = 0;
        for (size_t i = 0; i < a.n; i++) sink = a.data[i]; /* every float readable */
        (void)sink;
        sb_npy_free(&a);
    }
    fclose(f);
    return 0;
}
