/* predict.h: the cost of a sweep point before it runs (bench/sweep.c budgets and ETA), from the
 * points measured so far in the same sweep. Pure functions of the history; tested in
 * tests/test_predict.c.
 *
 *   call     the median of the closest measured point of the same series (layer, impl, level,
 *            backend, mode, config), scaled by the analytic FLOP count (else by tokens); with
 *            none, the FLOP rate of another layer at the same backend, level and mode; else a
 *            rough rate per backend.
 *   set-up   creating the layer, its weights, the input rows and the decode state (measure.c's
 *            setup_s): a + b * (B*T) through the two nearest measured points of the same layer,
 *            level, backend, mode and config (any impl or batch), constant with one; with none,
 *            the last set-up measured at the same backend and level. A decode state that has to
 *            be built by a prefill (the impl has no fill_state, at either level) is added as a
 *            prefill call while no set-up of its group is measured.
 *   sampling the sample rule's warm-up and sample counts at the predicted call time, plus the
 *            CUDA energy window (rule.energy_s). */
#ifndef SB_PREDICT_H
#define SB_PREDICT_H

#include "sweep.h"

typedef struct sb_measured {
    const sb_point *p;
    double call_s;  /* median of the measured point */
    double setup_s; /* its measured set-up */
} sb_measured;

typedef struct sb_history {
    sb_measured *v;
    int n, cap;
} sb_history;

void sb_history_add(sb_history *h, const sb_point *p, double call_s, double setup_s);
void sb_history_free(sb_history *h);

/* The counts of p at (mode, B, T): the one count function of every level (model/counts.c), which
 * the rows and the predictor share. */
sb_counts sb_point_counts(const sb_point *p, sb_mode mode, int B, int T);
double sb_point_flops(const sb_point *p, sb_mode mode, int B, int T);
double sb_point_bytes(const sb_point *p, sb_mode mode, int B, int T);

/* Seconds of p's set-up; *found = 0 when no point of its set-up group was measured yet. */
double sb_predict_setup_s(const sb_history *h, const sb_point *p, int *found);
/* Whole seconds of p; *call_s: one call, *setup_s: set-up incl. any state-building prefill. */
double sb_predict_point_s(const sb_history *h, const sb_point *p, const sb_sample_rule *rule, double *call_s,
                          double *setup_s);

#endif
