/* records.c: see records.h. */
#include "records.h"
#include "commands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double num(const char *s) {
    char *end;
    if (!s || !*s) return NAN;
    double v = strtod(s, &end);
    return *end ? NAN : v;
}

int sb_is_own_backend(const char *b) { return !strcmp(b, "ref") || !strcmp(b, "cpu") || !strcmp(b, "cuda"); }

int sb_records_load(const char *path, sb_records *rs) {
    memset(rs, 0, sizeof *rs);
    if (sb_table_read(path, &rs->t) != SB_OK) return sb_usage_error("%s", sb_last_error());
    static const char *need[] = {"backend", "layer", "impl", "level", "mode", "dtype", "config", "status", "batch", "ctx",
                                 "median_ms", "us_per_token", "pct_peak_flops", "pct_peak_bw", "state_bytes",
                                 "utc", "git_sha", "gpu", "cpu_model", "threads", "host"};
    enum { N = sizeof need / sizeof *need };
    int c[N];
    for (int i = 0; i < N; i++)
        if ((c[i] = sb_table_col(&rs->t, need[i])) < 0) {
            sb_table_free(&rs->t);
            return sb_usage_error("%s: malformed results CSV (no column '%s')", path, need[i]);
        }
    rs->r = calloc(rs->t.nrows + 1, sizeof *rs->r);
    if (!rs->r) { sb_table_free(&rs->t); return sb_usage_error("out of memory"); }
    /* optional: SPEC §14 columns, absent from files of the first schema */
    const int c_noise = sb_table_col(&rs->t, "noise"), c_jpt = sb_table_col(&rs->t, "joules_per_token");
    const char *gpu = NULL, *cpu = NULL, *host = NULL;
    int threads = 0;
    for (size_t i = 0; i < rs->t.nrows; i++) {
        char **row = rs->t.rows[i];
        sb_record *r = &rs->r[rs->n++];
        r->backend = row[c[0]]; r->layer = row[c[1]]; r->impl = row[c[2]]; r->level = row[c[3]];
        r->mode = row[c[4]]; r->dtype = row[c[5]]; r->config = row[c[6]]; r->status = row[c[7]];
        r->batch = atoi(row[c[8]]);
        r->ctx = atoi(row[c[9]]);
        r->median_ms = num(row[c[10]]);
        r->us_per_token = num(row[c[11]]);
        r->pct_peak_flops = num(row[c[12]]);
        r->pct_peak_bw = num(row[c[13]]);
        r->state_bytes = num(row[c[14]]);
        r->noise = c_noise >= 0 ? num(row[c_noise]) : NAN;
        r->joules_per_token = c_jpt >= 0 ? num(row[c_jpt]) : NAN;
        r->ok = !strcmp(r->status, "ok") && r->median_ms > 0 && r->us_per_token > 0;
        /* date and sha of the first row; the machine is its GPU, else its CPU */
        if (!rs->date[0]) snprintf(rs->date, sizeof rs->date, "%.10s", row[c[15]]);
        if (!rs->git_sha[0]) snprintf(rs->git_sha, sizeof rs->git_sha, "%s", row[c[16]]);
        if (row[c[17]][0] && !gpu) gpu = row[c[17]];
        if (!cpu && row[c[18]][0]) cpu = row[c[18]];
        if (atoi(row[c[19]]) > threads) threads = atoi(row[c[19]]);
        if (!host) host = row[c[20]];
    }
    if (gpu) snprintf(rs->machine, sizeof rs->machine, "%s", gpu);
    else if (cpu) snprintf(rs->machine, sizeof rs->machine, "%s, %d thread%s", cpu, threads, threads == 1 ? "" : "s");
    else snprintf(rs->machine, sizeof rs->machine, "%s", host ? host : "unknown machine");
    return 0;
}

void sb_records_free(sb_records *rs) {
    free(rs->r);
    sb_table_free(&rs->t);
    memset(rs, 0, sizeof *rs);
}
