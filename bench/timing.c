/* timing.c: see timing.h. */
#include "timing.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void sb_stats_compute(const double *ms, int n, sb_stats *s) {
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n <= 0) return;
    double *sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) { s->median = s->min = s->max = s->mean = ms[0]; return; }
    memcpy(sorted, ms, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    s->min = sorted[0];
    s->max = sorted[n - 1];
    s->median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += sorted[i];
    s->mean = sum / n;
    if (n > 1 && s->mean > 0) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (sorted[i] - s->mean) * (sorted[i] - s->mean);
        s->noise = sqrt(ss / (n - 1)) / s->mean;
    }
    free(sorted);
}

int sb_sample_done(const sb_sample_rule *r, const double *ms, int n, double elapsed_s) {
    if (elapsed_s >= r->hard_s) return 1;
    if (n < r->min_samples) return 0;
    if (n >= r->max_samples || elapsed_s >= r->soft_s) return 1;
    sb_stats s;
    sb_stats_compute(ms, n, &s);
    return s.noise < r->target_noise;
}

double sb_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
