/* summary.c: `seqbench summary CSV`: the per-token latency of every measured series of a results
 * CSV as one table (rows: backend layer impl level mode batch; columns: ctx), the status where a
 * point did not run, and last the series' largest noise (stdev/mean of its samples, over its ok
 * points): a number to read the others by. run_all.sh prints it at the end. */
#include "commands.h"
#include "records.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static int same_series(const sb_record *a, const sb_record *b) {
    return !strcmp(a->backend, b->backend) && !strcmp(a->layer, b->layer) && !strcmp(a->impl, b->impl) &&
           !strcmp(a->level, b->level) && !strcmp(a->mode, b->mode) && a->batch == b->batch;
}

static void ctx_label(int ctx, char *buf, size_t sz) {
    if (ctx >= 1024 && ctx % 1024 == 0) snprintf(buf, sz, "%dk", ctx / 1024);
    else snprintf(buf, sz, "%d", ctx);
}

int cmd_summary(int argc, char **argv) {
    if (argc != 2) return sb_usage_error("summary: usage: seqbench summary CSV");
    sb_records rs;
    int rc = sb_records_load(argv[1], &rs);
    if (rc) return rc;
    int *ctxs = malloc((rs.n + 1) * sizeof *ctxs), nctx = 0;
    if (!ctxs) { sb_records_free(&rs); return sb_usage_error("out of memory"); }
    for (size_t i = 0; i < rs.n; i++) {
        int dup = 0;
        for (int k = 0; k < nctx && !dup; k++) dup = ctxs[k] == rs.r[i].ctx;
        if (!dup) ctxs[nctx++] = rs.r[i].ctx;
    }
    qsort(ctxs, (size_t)nctx, sizeof *ctxs, cmp_int);
    printf("%s, %s, git %s: us per token (median)\n", rs.machine, rs.date, rs.git_sha);
    printf("%-48s", "backend layer impl level mode B");
    for (int k = 0; k < nctx; k++) {
        char l[16];
        ctx_label(ctxs[k], l, sizeof l);
        printf(" %9s", l);
    }
    printf(" %9s\n", "max noise");
    for (size_t i = 0; i < rs.n; i++) {
        const sb_record *s = &rs.r[i];
        int first = 1;
        for (size_t j = 0; j < i && first; j++) first = !same_series(&rs.r[j], s);
        if (!first) continue;
        char label[160];
        snprintf(label, sizeof label, "%s %s %s %s %s B=%d", s->backend, s->layer, s->impl, s->level, s->mode, s->batch);
        printf("%-48s", label);
        double noise = NAN;
        for (size_t j = i; j < rs.n; j++)
            if (same_series(&rs.r[j], s) && rs.r[j].ok && !(rs.r[j].noise <= noise)) noise = rs.r[j].noise;
        for (int k = 0; k < nctx; k++) {
            const sb_record *hit = NULL;
            for (size_t j = i; j < rs.n && !hit; j++)
                if (same_series(&rs.r[j], s) && rs.r[j].ctx == ctxs[k]) hit = &rs.r[j];
            if (!hit) printf(" %9s", "");
            else if (hit->ok && hit->us_per_token >= 100) printf(" %9.0f", hit->us_per_token);
            else if (hit->ok) printf(" %9.3g", hit->us_per_token);
            else printf(" %9s", hit->status);
        }
        if (isnan(noise)) printf(" %9s\n", "");
        else printf(" %8.2f%%\n", 100 * noise);
    }
    free(ctxs);
    sb_records_free(&rs);
    return 0;
}
