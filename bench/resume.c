/* resume.c: see resume.h. */
#include "resume.h"
#include "commands.h"
#include "csvio.h"
#include "results.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

sb_status sb_resume_scan(const char *text, size_t len, const char *what, sb_resume_state *s) {
    memset(s, 0, sizeof *s);
    s->ncols = SB_NCOLS;
    size_t keep = len;
    while (keep > 0 && text[keep - 1] != '\n') keep--;
    s->keep = keep;
    if (keep == 0) return SB_OK; /* killed before (or while) the header was written */
    sb_table t;
    sb_status st = sb_table_parse(text, keep, what, &t);
    if (st) return st;
    /* this schema, or an older one that it extends (the same columns, fewer at the end) */
    int ok = t.ncols >= SB_NCOLS_V1 && t.ncols <= SB_NCOLS;
    for (int i = 0; ok && i < t.ncols; i++) ok = !strcmp(t.header[i], sb_col_names[i]);
    if (!ok) {
        sb_table_free(&t);
        return sb_fail(SB_EINVAL, "%s does not have the results header of this seqbench", what);
    }
    s->ncols = t.ncols;
    if (t.nrows) snprintf(s->run_id, sizeof s->run_id, "%s", t.rows[0][SB_COL_RUN_ID]);
    s->keys = calloc(t.nrows + 1, sizeof *s->keys);
    if (!s->keys) { sb_table_free(&t); return sb_fail(SB_ENOMEM, "out of memory"); }
    int idx[SB_NKEY];
    for (int k = 0; k < SB_NKEY; k++) idx[k] = (int)sb_key_cols[k];
    for (size_t r = 0; r < t.nrows; r++) {
        char *plus = strchr(t.rows[r][SB_COL_IMPL], '+');
        if (plus) *plus = '\0';
        char key[1024];
        sb_key_join(key, sizeof key, t.rows[r], idx);
        if (!(s->keys[s->nkeys] = strdup(key))) { st = sb_fail(SB_ENOMEM, "out of memory"); break; }
        s->nkeys++;
    }
    sb_table_free(&t);
    if (st) sb_resume_free(s);
    return st;
}

int sb_resume_read(const char *path, sb_resume_state *s) {
    memset(s, 0, sizeof *s);
    s->ncols = SB_NCOLS;
    if (access(path, F_OK) != 0 && errno == ENOENT) return 0; /* nothing to resume: a fresh file */
    char *text;
    size_t len;
    sb_status st = sb_file_read_all(path, &text, &len);
    if (st) return sb_usage_error("--resume: %s", sb_last_error());
    st = sb_resume_scan(text, len, path, s);
    free(text);
    if (st) return sb_usage_error("--resume: %s", sb_last_error());
    size_t cut;
    if (len != s->keep && sb_csv_trim_partial(path, &cut) == SB_OK)
        fprintf(stderr, "seqbench: resume: removed a torn last row (%zu bytes) from %s\n", cut, path);
    return 0;
}

int sb_resume_has(const sb_resume_state *s, const char *key) {
    for (size_t i = 0; i < s->nkeys; i++)
        if (!strcmp(s->keys[i], key)) return 1;
    return 0;
}

void sb_resume_free(sb_resume_state *s) {
    for (size_t i = 0; i < s->nkeys; i++) free(s->keys[i]);
    free(s->keys);
    s->keys = NULL;
    s->nkeys = 0;
}
