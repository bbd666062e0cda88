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

void sb_running_add(sb_running *r, double v) {
    r->n++;
    if (r->n == 1) r->min = r->max = v;
    if (v < r->min) r->min = v;
    if (v > r->max) r->max = v;
    double d = v - r->mean;
    r->mean += d / r->n;
    r->m2 += d * (v - r->mean);
}

double sb_running_noise(const sb_running *r) {
    if (r->n < 2 || !(r->mean > 0)) return 0;
    double var = r->m2 / (r->n - 1);
    return var > 0 ? sqrt(var) / r->mean : 0;
}

int sb_sample_done(const sb_sample_rule *r, const sb_running *s, double elapsed_s) {
    if (elapsed_s >= r->hard_s) return 1;
    if (s->n < r->min_samples) return 0;
    if (s->n >= r->max_samples || elapsed_s >= r->soft_s) return 1;
    return sb_running_noise(s) < r->target_noise;
}

void sb_clock_tally_add(sb_clock_tally *t, int mhz, int max_clock_mhz) {
    if (mhz <= 0) return;
    if (!t->n || mhz < t->min_mhz) t->min_mhz = mhz;
    if (!t->n || mhz > t->max_mhz) t->max_mhz = mhz;
    t->n++;
    t->sum_mhz += mhz;
    if (max_clock_mhz > 0 && mhz < SB_THROTTLE_FRACTION * max_clock_mhz) t->throttled++;
}

int sb_clock_tally_mean(const sb_clock_tally *t) { return t->n ? (int)lround(t->sum_mhz / t->n) : 0; }

int sb_energy_per_token(unsigned long long mj0, unsigned long long mj1, double window_s, double min_window_s,
                        long calls, double tokens_per_call, double *joules_per_token, double *watts) {
    if (!(window_s >= min_window_s) || !(window_s > 0) || calls <= 0 || !(tokens_per_call > 0) || mj1 <= mj0) return 0;
    double joules = (double)(mj1 - mj0) * 1e-3;
    *joules_per_token = joules / ((double)calls * tokens_per_call);
    *watts = joules / window_s;
    return 1;
}

double sb_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
