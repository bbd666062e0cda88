/* test_sample_rule.c: the sample rule of SPEC §7 (bench/timing.h) as a table of cases: when a
 * point stops sampling, and the statistics it records. Pure functions, no timing involved. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "../bench/timing.h"

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
    double ms[1000];
    for (int i = 0; i < c->n; i++) ms[i] = i >= c->n - c->noisy ? 1.5 : 1.0;
    cr_expect_eq(sb_sample_done(&paper, ms, c->n, c->elapsed_s), c->done, "%s", c->name);
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
