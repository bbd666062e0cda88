/* results.c: see results.h. */
#include "results.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SB_COL_NAME(id, name) name,
const char *const sb_col_names[SB_NCOLS] = {SB_COLUMNS(SB_COL_NAME)};
#undef SB_COL_NAME

const sb_col sb_key_cols[SB_NKEY] = {SB_COL_BACKEND, SB_COL_LAYER, SB_COL_IMPL, SB_COL_LEVEL, SB_COL_MODE,
                                     SB_COL_DTYPE, SB_COL_CONFIG, SB_COL_BATCH, SB_COL_CTX};

void sb_row_set(sb_row *r, sb_col c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->cell[c], SB_CELL, fmt, ap);
    va_end(ap);
}

void sb_row_num(sb_row *r, sb_col c, double v) {
    if (isnan(v) || isinf(v)) r->cell[c][0] = '\0';
    else snprintf(r->cell[c], SB_CELL, "%.6g", v);
}

void sb_row_count(sb_row *r, sb_col c, double v) {
    if (isnan(v) || isinf(v)) r->cell[c][0] = '\0';
    else snprintf(r->cell[c], SB_CELL, "%.0f", v);
}

void sb_row_int(sb_row *r, sb_col c, long long v) { snprintf(r->cell[c], SB_CELL, "%lld", v); }

void sb_row_note(sb_row *r, const char *fmt, ...) {
    char *note = r->cell[SB_COL_NOTE];
    size_t len = strlen(note);
    if (len && len + 2 < SB_CELL) { strcpy(note + len, "; "); len += 2; }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note + len, SB_CELL - len, fmt, ap);
    va_end(ap);
}

void sb_key_join(char *buf, size_t sz, char *const *cells, const int *colidx) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < SB_NKEY && len < sz; k++)
        len += (size_t)snprintf(buf + len, sz - len, "%s%s", k ? "|" : "", cells[colidx[k]]);
}
