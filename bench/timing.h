/* timing.h: the sample rule of SPEC §7 as pure functions (unit-tested in tests/test_timing.c),
 * and the clock of the host.
 *
 * A point is timed by calling it `warmup` times untimed, then sampling until sb_sample_done:
 *   - never more than hard_s seconds of sampling (the hard cap wins over everything);
 *   - at least min_samples samples;
 *   - then stop as soon as the relative noise (stdev/mean) < target_noise, or soft_s seconds
 *     have been spent, or max_samples are taken. */
#ifndef SB_TIMING_H
#define SB_TIMING_H

typedef struct sb_sample_rule {
    int warmup;          /* untimed calls first (CUDA: >= 3) */
    int min_samples;     /* >= 10 for real presets */
    int max_samples;
    double target_noise; /* stdev/mean, 0.005 */
    double soft_s;       /* stop after this much sampling time once min_samples are in (2 s) */
    double hard_s;       /* never sample longer (15 s) */
} sb_sample_rule;

typedef struct sb_stats {
    int n;
    double median, min, max, mean;
    double noise; /* sample stdev / mean; 0 for n < 2 */
} sb_stats;

/* Statistics of n samples (any order; the array is not modified). n = 0 gives all zeros. */
void sb_stats_compute(const double *ms, int n, sb_stats *s);
/* 1 when sampling should stop, given the n samples so far (ms) and the time spent sampling. */
int sb_sample_done(const sb_sample_rule *r, const double *ms, int n, double elapsed_s);

/* Seconds of CLOCK_MONOTONIC. */
double sb_now_s(void);

#endif
