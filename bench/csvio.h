/* csvio.h: CSV files through libcsv (SPEC §8): a whole-file reader into a table of strings, and
 * a row writer that appends one complete row with a single write() and makes it durable
 * (fsync), so that a killed sweep leaves only whole rows (at worst one torn last line, which
 * sb_csv_trim_partial removes). Quoting is libcsv's (csv_write); a field is quoted only when it
 * holds a comma, quote, CR/LF or leading/trailing blank, so numbers stay plain for awk and
 * gnuplot. */
#ifndef SB_CSVIO_H
#define SB_CSVIO_H

#include "../registry/registry.h"

#include <stddef.h>

typedef struct sb_table {
    int ncols;      /* width of the header row */
    char **header;  /* [ncols] */
    size_t nrows;
    char ***rows;   /* [nrows][ncols], every row as wide as the header */
} sb_table;

/* Reads a CSV file whose first row is the header. SB_EIO if it cannot be opened; SB_EINVAL
 * (message names the row) if it is empty, not valid CSV, or a row's width differs from the
 * header's. */
sb_status sb_table_read(const char *path, sb_table *t);
/* Same, from memory (tests, fuzz/, and the reader above). */
sb_status sb_table_parse(const char *text, size_t len, const char *what, sb_table *t);
void sb_table_free(sb_table *t);
/* The whole file into a malloc'ed, NUL-terminated buffer. SB_EIO (message) if unreadable. */
sb_status sb_file_read_all(const char *path, char **text, size_t *len);
/* Column index of a header name, -1 if absent. */
int sb_table_col(const sb_table *t, const char *name);

/* Formats one row (fields joined by commas, CRLF-free "\n" ending) into a malloc'ed string. */
char *sb_csv_format_row(const char *const *cells, int n, size_t *len);
/* Appends one row to fd with a single write() followed by fsync(). When the write fails part way
 * (full disk, EFBIG) the part written is truncated away again: the file keeps whole rows. */
sb_status sb_csv_append_row(int fd, const char *const *cells, int n);
/* If the file does not end with '\n' (a row torn by a kill), cut it back to the last '\n'.
 * Sets *cut to the bytes removed. */
sb_status sb_csv_trim_partial(const char *path, size_t *cut);

#endif
