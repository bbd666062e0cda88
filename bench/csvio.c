/* csvio.c: see csvio.h. */
#include "csvio.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- reading ---------------------------------------------------------------------------- */
typedef struct {
    sb_table *t;
    char **row;       /* fields of the row being parsed */
    int nrow, caprow;
    size_t rows_cap;
    size_t rowno;     /* 1-based row number, for messages */
    const char *what;
    sb_status st;
} parse_ctx;

static void on_field(void *s, size_t len, void *data) {
    parse_ctx *c = data;
    if (c->st) return;
    if (c->nrow == c->caprow) {
        int cap = c->caprow ? 2 * c->caprow : 64;
        char **r = realloc(c->row, cap * sizeof *r);
        if (!r) { c->st = sb_fail(SB_ENOMEM, "out of memory reading %s", c->what); return; }
        c->row = r;
        c->caprow = cap;
    }
    char *f = malloc(len + 1);
    if (!f) { c->st = sb_fail(SB_ENOMEM, "out of memory reading %s", c->what); return; }
    if (len) memcpy(f, s, len);
    f[len] = '\0';
    c->row[c->nrow++] = f;
}

static void drop_row(parse_ctx *c) {
    for (int i = 0; i < c->nrow; i++) free(c->row[i]);
    c->nrow = 0;
}

static void on_row(int term, void *data) {
    (void)term;
    parse_ctx *c = data;
    c->rowno++;
    if (c->st) { drop_row(c); return; }
    sb_table *t = c->t;
    if (!t->header) { /* the first row is the header */
        t->header = malloc(c->nrow * sizeof(char *));
        if (!t->header) { c->st = sb_fail(SB_ENOMEM, "out of memory"); drop_row(c); return; }
        memcpy(t->header, c->row, c->nrow * sizeof(char *));
        t->ncols = c->nrow;
        c->nrow = 0;
        return;
    }
    if (c->nrow != t->ncols) {
        c->st = sb_fail(SB_EINVAL, "%s: row %zu has %d fields, the header has %d", c->what, c->rowno, c->nrow, t->ncols);
        drop_row(c);
        return;
    }
    if (t->nrows == c->rows_cap) {
        size_t cap = c->rows_cap ? 2 * c->rows_cap : 64;
        char ***r = realloc(t->rows, cap * sizeof *r);
        if (!r) { c->st = sb_fail(SB_ENOMEM, "out of memory"); drop_row(c); return; }
        t->rows = r;
        c->rows_cap = cap;
    }
    char **row = malloc(c->nrow * sizeof(char *));
    if (!row) { c->st = sb_fail(SB_ENOMEM, "out of memory"); drop_row(c); return; }
    memcpy(row, c->row, c->nrow * sizeof(char *));
    t->rows[t->nrows++] = row;
    c->nrow = 0;
}

sb_status sb_table_parse(const char *text, size_t len, const char *what, sb_table *t) {
    memset(t, 0, sizeof *t);
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0) return sb_fail(SB_ENOMEM, "csv_init failed");
    parse_ctx c = {.t = t, .what = what};
    if (csv_parse(&p, text, len, on_field, on_row, &c) != len && !c.st)
        c.st = sb_fail(SB_EINVAL, "%s: not valid CSV near row %zu (%s)", what, c.rowno + 1, csv_strerror(csv_error(&p)));
    if (!c.st && csv_fini(&p, on_field, on_row, &c) != 0 && !c.st)
        c.st = sb_fail(SB_EINVAL, "%s: not valid CSV at the end (%s)", what, csv_strerror(csv_error(&p)));
    csv_free(&p);
    drop_row(&c);
    free(c.row);
    if (!c.st && !t->header) c.st = sb_fail(SB_EINVAL, "%s: empty file (no header row)", what);
    if (c.st) sb_table_free(t);
    return c.st;
}

sb_status sb_file_read_all(const char *path, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sb_fail(SB_EIO, "%s: cannot open (%s)", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    sb_status st = buf ? SB_OK : sb_fail(SB_ENOMEM, "out of memory");
    while (!st) {
        if (n == cap) {
            char *nb = realloc(buf, (cap *= 2) + 1);
            if (!nb) { st = sb_fail(SB_ENOMEM, "out of memory reading %s", path); break; }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) st = sb_fail(SB_EIO, "%s: read error (%s)", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st) { free(buf); return st; }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return SB_OK;
}

sb_status sb_table_read(const char *path, sb_table *t) {
    memset(t, 0, sizeof *t);
    char *text;
    size_t len;
    sb_status st = sb_file_read_all(path, &text, &len);
    if (st) return st;
    st = sb_table_parse(text, len, path, t);
    free(text);
    return st;
}

void sb_table_free(sb_table *t) {
    for (size_t r = 0; r < t->nrows; r++) {
        for (int i = 0; i < t->ncols; i++) free(t->rows[r][i]);
        free(t->rows[r]);
    }
    for (int i = 0; t->header && i < t->ncols; i++) free(t->header[i]);
    free(t->rows);
    free(t->header);
    memset(t, 0, sizeof *t);
}

int sb_table_col(const sb_table *t, const char *name) {
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->header[i], name) == 0) return i;
    return -1;
}

/* ---- writing ---------------------------------------------------------------------------- */
/* A field needs quotes when a plain write would not read back the same. */
static int needs_quotes(const char *s) {
    size_t n = strlen(s);
    if (n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')) return 1;
    return strpbrk(s, ",\"\r\n") != NULL;
}

char *sb_csv_format_row(const char *const *cells, int n, size_t *len) {
    size_t cap = 2; /* '\n' and '\0' */
    for (int i = 0; i < n; i++) {
        const char *s = cells[i] ? cells[i] : "";
        cap += 1 + (needs_quotes(s) ? csv_write(NULL, 0, s, strlen(s)) : strlen(s));
    }
    char *out = malloc(cap), *p = out;
    if (!out) return NULL;
    for (int i = 0; i < n; i++) {
        const char *s = cells[i] ? cells[i] : "";
        if (i) *p++ = ',';
        if (needs_quotes(s)) p += csv_write(p, cap - (size_t)(p - out), s, strlen(s));
        else { memcpy(p, s, strlen(s)); p += strlen(s); }
    }
    *p++ = '\n';
    *p = '\0';
    *len = (size_t)(p - out);
    return out;
}

sb_status sb_csv_append_row(int fd, const char *const *cells, int n) {
    size_t len;
    char *line = sb_csv_format_row(cells, n, &len);
    if (!line) return sb_fail(SB_ENOMEM, "out of memory formatting a CSV row");
    struct stat before;
    int sized = fstat(fd, &before) == 0 && S_ISREG(before.st_mode);
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, line + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = w < 0 ? errno : ENOSPC;
            /* a full disk (or file size limit) took part of the row: take it back, so that the
             * file holds whole rows only (if that fails too, --resume cuts the torn row) */
            if (done && sized && ftruncate(fd, before.st_size) != 0) { /* the torn row stays */ }
            free(line);
            return sb_fail(SB_EIO, "writing the CSV: %s", strerror(err));
        }
        done += (size_t)w;
    }
    free(line);
    if (fsync(fd) != 0 && errno != EINVAL) return sb_fail(SB_EIO, "fsync of the CSV: %s", strerror(errno));
    return SB_OK;
}

sb_status sb_csv_trim_partial(const char *path, size_t *cut) {
    *cut = 0;
    int fd = open(path, O_RDWR);
    if (fd < 0) return sb_fail(SB_EIO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sbuf;
    if (fstat(fd, &sbuf) != 0) { close(fd); return sb_fail(SB_EIO, "%s: stat failed", path); }
    off_t end = sbuf.st_size, keep = end;
    char c;
    /* walk back to the last '\n' (rows are short: this reads a few hundred bytes at most) */
    while (keep > 0 && pread(fd, &c, 1, keep - 1) == 1 && c != '\n') keep--;
    sb_status st = SB_OK;
    if (keep != end) {
        if (ftruncate(fd, keep) != 0) st = sb_fail(SB_EIO, "%s: cannot truncate (%s)", path, strerror(errno));
        else *cut = (size_t)(end - keep);
    }
    close(fd);
    return st;
}
