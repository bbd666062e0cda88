/* sweep.h: the benchmark sweep behind `seqbench run` (SPEC §4, §7, §9): presets, the parsed
 * command line, the list of points, and the measurement of one point. The driver knows layers
 * only through layers/seqbench.h; it never contains layer math. */
#ifndef SB_SWEEP_H
#define SB_SWEEP_H

#include "../registry/registry.h"
#include "meta.h"
#include "timing.h"

#include <stdint.h>

#define SB_AUTO_BACKEND (-1) /* cpu when the layer has a cpu impl at the level, else ref */
#define SB_MAX_CTX 32
#define SB_MAX_BATCH 8
#define SB_MAX_LAYERS 16
#define SB_MAX_IMPLS 8

typedef struct sb_preset {
    const char *name, *about;
    int needs_gpu;
    int backend;                 /* SB_CUDA or SB_AUTO_BACKEND */
    const char *config;
    unsigned levels, modes;      /* bit masks (1u << sb_level / sb_mode) */
    int ctx[SB_MAX_CTX], nctx;
    int batch[SB_NMODES][SB_MAX_BATCH], nbatch[SB_NMODES]; /* per mode */
    sb_sample_rule rule;
    double point_budget_s;       /* skip a point predicted to cost more; 0 = no limit */
    double total_budget_s;       /* skip points that would overrun the preset; 0 = no limit */
} sb_preset;

const sb_preset *sb_find_preset(const char *name);
/* "paper" when a CUDA device is available, else "cpu". */
const sb_preset *sb_default_preset(void);
/* Comma-separated names of every preset (for messages). */
const char *sb_preset_names(void);

/* Shard I of N (1-based) of a sweep's planned points (bench/shard.c); count 0 = the whole plan. */
typedef struct sb_shard {
    int index, count;
    char origin[80]; /* "--shard" or the Slurm variables it came from (messages) */
} sb_shard;

typedef struct sb_run_opts {
    const sb_preset *preset;
    const sb_layer_desc *layers[SB_MAX_LAYERS];
    int nlayers;
    unsigned levels, modes;
    int ctx[SB_MAX_CTX], nctx;
    int batch[SB_NMODES][SB_MAX_BATCH], nbatch[SB_NMODES];
    int backend;                  /* sb_backend or SB_AUTO_BACKEND */
    char impls[SB_MAX_IMPLS][32];
    int nimpls;                   /* 0: every impl of the backend */
    char config[16];
    char out[4096];               /* "" = the default path */
    int resume, dry_run;
    uint64_t seed;
    sb_shard shard;               /* --shard I/N, else SLURM_ARRAY_TASK_*; count 0 = unsharded */
    double total_budget_s;        /* the preset's, or --budget S (scripts/gpu-run.sh: the step's limit) */
} sb_run_opts;

/* Parses `run` options over the preset's defaults. Returns 0, or 2 after printing one line. */
int sb_parse_run_opts(int argc, char **argv, sb_run_opts *o);
/* Value lists: "1k:32k" (doubling), "1k,4k,16k", "512"; k = 1024. 0 on malformed input
 * (message in sb_last_error()). */
int sb_parse_ctx_list(const char *s, int *out, int *n, int max);
int sb_parse_batch_list(const char *s, int *out, int *n, int max);

typedef struct sb_point {
    const sb_layer_desc *desc;
    const sb_impl *impl;
    sb_backend backend;
    sb_level level;
    sb_mode mode;
    int batch, ctx;
    sb_config cfg;
} sb_point;

/* Expands the options into points (layer, level, impl, mode, batch, ascending ctx).
 * Returns the count, or -1 after printing one line (exit 2). *pts is malloc'ed. */
int sb_plan_points(const sb_run_opts *o, sb_point **pts);

/* "I/N" with 1 <= I <= N (1/1 is the whole plan: count 0). 1, or 0 with the message in sb_last_error(). */
int sb_shard_parse(const char *spec, sb_shard *s);
/* The shard of a Slurm job-array task: SLURM_ARRAY_TASK_ID, _COUNT, _MIN (and _STEP). 1 when set,
 * 0 when this is no array task (or an array of one), -1 when they do not name one of COUNT tasks (sb_last_error()). */
int sb_shard_from_slurm(sb_shard *s);
/* Keeps, in plan order, the points of shard s: the planned points are dealt to the shards by
 * predicted cost (longest first, each to the least loaded shard; see docs/DESIGN.md), so every
 * process that plans the same sweep computes the same split. Returns the count kept; *share
 * (may be NULL) gets the shard's fraction of the whole predicted cost. */
int sb_shard_select(sb_point *pts, int n, const sb_shard *s, const sb_preset *ps, double *share);
/* The cost of a point predicted before anything is measured (the budget predictor's prior rates
 * and the preset's sample rule): a deterministic function of the point and the preset. */
double sb_point_prior_s(const sb_point *p, const sb_preset *ps);

/* The outcome of one point. */
typedef struct sb_point_result {
    char status[8];       /* ok, oom, nan, skipped, error */
    char note[512];       /* what the row's note adds (state building, graph, the error) */
    sb_stats stats;
    int graph;            /* decode timed as CUDA graph replays */
    size_t peak_mem;      /* CUDA high-water mark, 0 on host backends */
    int sm_clock_mhz;     /* CUDA: mean of the per-sample NVML readings; 0 unknown */
    double build_s;       /* untimed prefill that built a decode state */
    double setup_s;       /* everything before the warm-up: create, weights, inputs, decode state */
    double joules_per_token, watts; /* CUDA energy window (NVML); 0 = not measured */
    double wall_s;        /* everything this point took */
} sb_point_result;

/* Host input rows kept between points: a smaller point reuses a prefix of a larger input, and
 * layers with the same input kind (level, width) share it (measure.c: input_rows). */
typedef struct sb_input_cache {
    const void *owner; /* the layer at op level (its own rows), NULL otherwise */
    sb_level level;
    int width, vocab;
    float *x;
    size_t rows;
} sb_input_cache;
void sb_input_cache_free(sb_input_cache *c);

/* Creates the layer, builds the state (decode), warms up, samples by `rule`, checks the output
 * for NaN/Inf. Never fails: a failure becomes the result's status and note. */
void sb_measure_point(const sb_point *p, const sb_sample_rule *rule, uint64_t seed, sb_input_cache *cache,
                      sb_point_result *r);

#endif
