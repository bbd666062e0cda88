/* timing.h: the sample rule of SPEC §7 as pure functions (unit-tested in tests/test_sample_rule.c),
 * the arithmetic of clock throttling and energy per token, and the clock of the host.
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
    double energy_s;     /* CUDA: after sampling, a window of repeats this long for NVML energy; 0 = none */
} sb_sample_rule;

typedef struct sb_stats {
    int n;
    double median, min, max, mean;
    double noise; /* sample stdev / mean; 0 for n < 2 */
} sb_stats;

/* Statistics of n samples (any order; the array is not modified). n = 0 gives all zeros. */
void sb_stats_compute(const double *ms, int n, sb_stats *s);

/* Running mean and variance (Welford), min and max: what the stop rule needs after every sample,
 * in O(1) per sample (the median is computed once, at the end, by sb_stats_compute). */
typedef struct sb_running {
    int n;
    double mean, m2, min, max;
} sb_running;
void sb_running_add(sb_running *r, double v);
double sb_running_noise(const sb_running *r); /* sample stdev / mean; 0 for n < 2 */

/* 1 when sampling should stop, given the samples so far and the time spent sampling. */
int sb_sample_done(const sb_sample_rule *r, const sb_running *s, double elapsed_s);

/* SM clock per sample (GPU): a sample is throttled when the clock read right after it is below
 * SB_THROTTLE_FRACTION of the device's maximum (nvbench's default threshold, 75%). */
#define SB_THROTTLE_FRACTION 0.75
typedef struct sb_clock_tally {
    int n, throttled;      /* samples with a clock reading, of them below the threshold */
    int min_mhz, max_mhz;
    double sum_mhz;
} sb_clock_tally;
/* mhz <= 0 (unknown) is ignored; max_clock_mhz <= 0 flags nothing. */
void sb_clock_tally_add(sb_clock_tally *t, int mhz, int max_clock_mhz);
int sb_clock_tally_mean(const sb_clock_tally *t); /* rounded mean MHz, 0 without readings */

/* Energy per token from NVML's total-energy counter (millijoules) read before and after a window
 * of `calls` calls of `tokens_per_call` tokens that took window_s seconds. Returns 1 and sets
 * joules per token and mean watts when the window is long enough (>= min_window_s) and the
 * counter moved forward; else 0 (the columns stay empty). */
int sb_energy_per_token(unsigned long long mj0, unsigned long long mj1, double window_s, double min_window_s,
                        long calls, double tokens_per_call, double *joules_per_token, double *watts);

/* Seconds of CLOCK_MONOTONIC. */
double sb_now_s(void);

#endif
