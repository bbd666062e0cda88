/* fuzz_csv.c: libFuzzer target for the results CSV reader (bench/csvio.c: sb_table_parse, the
 * reader behind compare, plotdata, summary and --resume). Any input must give a table or one
 * error; a table must be rectangular. */
#include "../bench/csvio.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sb_table t;
    if (sb_table_parse((const char *)data, size, "fuzz", &t) != SB_OK) return 0;
    size_t cells = 0;
    for (int i = 0; i < t.ncols; i++) cells += strlen(t.header[i]);
    for (size_t r = 0; r < t.nrows; r++)
        for (int i = 0; i < t.ncols; i++) cells += strlen(t.rows[r][i]); /* every cell readable */
    if (t.ncols > 0 && sb_table_col(&t, t.header[t.ncols - 1]) < 0) abort();
    if (cells > size) abort(); /* a cell holds bytes of the input, never more */
    sb_table_free(&t);
    return 0;
}
