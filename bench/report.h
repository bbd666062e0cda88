/* report.h: what `seqbench plotdata` (plotdata.c) and `seqbench report` (report.c) share about
 * reading one run: its preset (from the file name) and the crossover lines. */
#ifndef SB_REPORT_H
#define SB_REPORT_H

#include "records.h"

#include <stddef.h>
#include <stdio.h>

/* The preset a run was made with, read from the file name `seqbench run` gives it
 * (<preset>-<utc>.csv, also <preset>-<anything>.csv); "" when the name names no preset. */
const char *sb_run_preset(const char *csv_path, char *buf, size_t sz);

/* The run's name: the CSV's file name without ".csv" (as plots/make_plots.sh names its folder). */
const char *sb_run_name(const char *csv_path, char *buf, size_t sz);

/* For every own backend, level, mode and batch measured with attention and a TTT layer: the
 * context where the TTT layer's fastest per-token latency drops below attention's, one line each,
 * each starting with `prefix` (plotdata.c). */
void sb_print_crossovers(FILE *f, const sb_records *rs, const char *prefix);

#endif
