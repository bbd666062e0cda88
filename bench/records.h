/* records.h: a results CSV as typed records, for the readers of results (plotdata, summary).
 * Cells that are empty or not numbers read as NaN, as do optional columns a file lacks. */
#ifndef SB_RECORDS_H
#define SB_RECORDS_H

#include "csvio.h"

typedef struct sb_record {
    const char *backend, *layer, *impl, *level, *mode, *dtype, *config, *status;
    int batch, ctx;
    double median_ms, us_per_token, pct_peak_flops, pct_peak_bw, state_bytes;
    double noise, joules_per_token; /* NaN when empty or absent (older files have no energy column) */
    int ok; /* status == ok and a positive median */
} sb_record;

typedef struct sb_records {
    sb_table t;          /* owns the strings */
    sb_record *r;
    size_t n;
    char machine[160];   /* the GPU, else "cpu_model, N threads", else the host */
    char date[16];       /* date part of the first row's utc */
    char git_sha[64];
} sb_records;

/* Returns 0, or 2 after one line on stderr (unreadable or malformed file, missing columns). */
int sb_records_load(const char *path, sb_records *rs);
void sb_records_free(sb_records *rs);
/* 1 for the backends of this program (ref, cpu, cuda); 0 for peers (SPEC §12). */
int sb_is_own_backend(const char *backend);

#endif
