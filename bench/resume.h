/* resume.h: what `seqbench run --resume` continues (SPEC §8): the points already in a results
 * file, and the cut of a row torn by a kill or a full disk. */
#ifndef SB_RESUME_H
#define SB_RESUME_H

#include "../layers/seqbench.h"

#include <stddef.h>

typedef struct sb_resume_state {
    char **keys;      /* the point key of every complete row (impl without a "+..." suffix) */
    size_t nkeys;
    int ncols;        /* the width of the file's header: this schema or an older one it extends */
    size_t keep;      /* bytes up to the end of the last complete line; the rest is a torn row */
    char run_id[48];  /* the run_id of its first row, "" if it has none */
} sb_resume_state;

/* Scans the text of a results file: the complete lines must be CSV with the results header (an
 * older schema's is accepted); a torn last line is left out (s->keep). No complete line at all
 * is an empty state (ncols = SB_NCOLS): the header was never written. SB_EINVAL with a message
 * naming `what` for anything else. */
sb_status sb_resume_scan(const char *text, size_t len, const char *what, sb_resume_state *s);
/* Reads `path` for --resume: a missing file is an empty state; a valid file's torn last row is
 * cut off (a note on stderr). Returns 0, or 2 after one line on stderr (file left untouched). */
int sb_resume_read(const char *path, sb_resume_state *s);
/* 1 if the key is among the file's points. */
int sb_resume_has(const sb_resume_state *s, const char *key);
void sb_resume_free(sb_resume_state *s);

#endif
