/* test_sample_rule.c: the sample rule of SPEC §7 (bench/timing.h) as a table of cases: when a
 * point stops sampling, and the statistics it records; the running statistics the rule reads
 * against the sorted ones; throttled-sample counting; the energy-per-token arithmetic and its
 * NVML-free path. Pure functions, no timing involved. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "../bench/timing.h"
#include "../runtime/cuda_api.h"

#include <math.h>

/* The paper preset's rule: >= 10 samples, 0.5% noise, 2 s soft, 15 s hard. */
static const sb_sample_rule paper = {.warmup = 3, .min_samples = 10, .max_samples = 1000, .target_noise = 0.005,
                                     .soft_s = 2, .hard_s = 15};

typedef struct {
    const char *name;
    int n;            /* samples so far: n copies of 1.0 ms, the last `noisy` of them 1.5 ms */
    int noisy;
    double elapsed_s;
    int done;
} rule_case;

ParameterizedTestParameters(sample_rule, stop) {
    static rule_case cases[] = {
        {"quiet but fewer than min_samples", 9, 0, 0.01, 0},
        {"min_samples reached, quiet", 10, 0, 0.01, 1},
        {"min_samples reached, noisy, time left", 10, 3, 0.5, 0},
        {"noisy, soft limit reached", 10, 3, 2.0, 1},
        {"too few samples, soft limit reached: keep going", 4, 0, 5.0, 0},
        {"hard cap beats min_samples", 4, 0, 15.0, 1},
        {"one slow sample past the hard cap", 1, 0, 20.0, 1},
        {"max_samples reached while noisy", 1000, 400, 1.0, 1},
        {"no sample yet", 0, 0, 0.0, 0},
    };
    return cr_make_param_array(rule_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(rule_case *c, sample_rule, stop) {
    sb_running run = {0};
    for (int i = 0; i < c->n; i++) sb_running_add(&run, i >= c->n - c->noisy ? 1.5 : 1.0);
    cr_expect_eq(sb_sample_done(&paper, &run, c->elapsed_s), c->done, "%s", c->name);
}

/* The running statistics (Welford) agree with the two-pass ones on the same samples, including
 * samples far from zero where a naive sum of squares loses every digit. */
Test(sample_rule, running_matches_sorted) {
    double ms[257];
    for (int i = 0; i < 257; i++) ms[i] = 1e6 + (double)((i * 7919) % 101) * 1e-3;
    sb_running run = {0};
    for (int n = 1; n <= 257; n++) {
        sb_running_add(&run, ms[n - 1]);
        sb_stats s;
        sb_stats_compute(ms, n, &s);
        cr_assert_eq(run.n, n);
        cr_expect_float_eq(run.mean, s.mean, 1e-9 * s.mean, "n %d", n);
        cr_expect_float_eq(run.min, s.min, 0, "n %d", n);
        cr_expect_float_eq(run.max, s.max, 0, "n %d", n);
        cr_expect_float_eq(sb_running_noise(&run), s.noise, 1e-6 * s.noise + 1e-15, "n %d", n);
    }
    sb_running none = {0};
    cr_expect_float_eq(sb_running_noise(&none), 0.0, 0, "no samples, no noise");
}

/* A sample is throttled below 75% of the maximum SM clock; unknown readings (0) are ignored. */
Test(sample_rule, throttled_samples) {
    sb_clock_tally t = {0};
    const int readings[] = {1980, 1980, 0, 1484, 1485, 1200, 1755};
    for (int i = 0; i < 7; i++) sb_clock_tally_add(&t, readings[i], 1980);
    cr_expect_eq(t.n, 6, "the unknown reading is not counted");
    cr_expect_eq(t.throttled, 2, "1484 and 1200 are below 0.75 * 1980 = 1485");
    cr_expect_eq(t.min_mhz, 1200);
    cr_expect_eq(t.max_mhz, 1980);
    cr_expect_eq(sb_clock_tally_mean(&t), 1647, "(1980+1980+1484+1485+1200+1755)/6 = 1647.3");
    sb_clock_tally u = {0};
    sb_clock_tally_add(&u, 500, 0);
    cr_expect_eq(u.throttled, 0, "no maximum known: nothing flagged");
    cr_expect_eq(sb_clock_tally_mean(&(sb_clock_tally){0}), 0);
}

/* joules per token = counter delta / (calls * tokens per call), watts = delta / window. */
Test(sample_rule, energy_per_token) {
    double jpt = -1, w = -1;
    /* 700 J over 2 s, 100 calls of a prefill of 16 x 1024 tokens */
    cr_assert(sb_energy_per_token(1000000ull, 1700000ull, 2.0, 0.5, 100, 16.0 * 1024, &jpt, &w));
    cr_expect_float_eq(jpt, 700.0 / (100 * 16.0 * 1024), 1e-15);
    cr_expect_float_eq(w, 350.0, 1e-12);
    jpt = w = -1;
    cr_expect_not(sb_energy_per_token(0, 500, 0.4, 0.5, 10, 16, &jpt, &w), "a window under the minimum has no value");
    cr_expect_not(sb_energy_per_token(500, 500, 2.0, 0.5, 10, 16, &jpt, &w), "a counter that did not move has no value");
    cr_expect_not(sb_energy_per_token(600, 500, 2.0, 0.5, 10, 16, &jpt, &w), "nor one that went back");
    cr_expect_not(sb_energy_per_token(0, 500, 2.0, 0.5, 0, 16, &jpt, &w), "nor zero calls");
    cr_expect_float_eq(jpt, -1.0, 0, "outputs untouched when there is no value");
    cr_expect_float_eq(w, -1.0, 0);
}

/* Without a GPU (or NVML) the energy counter answers "unknown", and a sweep leaves the energy
 * columns empty (tests/test_cli.c checks the CSV side). */
Test(sample_rule, energy_without_nvml) {
    if (sb_backend_available(SB_CUDA)) cr_skip_test("a CUDA device is present: NVML may answer");
    unsigned long long mj = 12345;
    cr_expect_eq(sb_cuda_energy_mj(&mj), 0);
    cr_expect_eq(mj, 0ull);
    cr_expect_eq(sb_cuda_current_sm_clock_mhz(), 0);
}

Test(sample_rule, stats) {
    double ms[] = {3.0, 1.0, 2.0, 10.0};
    sb_stats s;
    sb_stats_compute(ms, 4, &s);
    cr_expect_eq(s.n, 4);
    cr_expect_float_eq(s.median, 2.5, 1e-12);
    cr_expect_float_eq(s.min, 1.0, 1e-12);
    cr_expect_float_eq(s.max, 10.0, 1e-12);
    cr_expect_float_eq(s.mean, 4.0, 1e-12);
    /* sample stdev of {1,2,3,10} = sqrt(50/3); noise = stdev / mean */
    cr_expect_float_eq(s.noise, sqrt(50.0 / 3.0) / 4.0, 1e-12);
    cr_expect_float_eq(ms[0], 3.0, 0, "the samples are not reordered");
    sb_stats_compute(ms, 1, &s);
    cr_expect_float_eq(s.median, 3.0, 0);
    cr_expect_float_eq(s.noise, 0.0, 0, "one sample has no noise estimate");
}
