/* shard.c: `seqbench run --shard I/N` (SPEC §14): which planned points shard I of N measures.
 *
 * The split is a greedy longest-processing-time schedule over the predicted cost of every point:
 * points sorted by cost, longest first (ties: plan order), each dealt to the shard with the least
 * predicted load so far (ties: the lowest shard). The cost is the sweep's own prediction before
 * anything is measured (sb_point_prior_s: prior rates per backend, the preset's sample rule), so
 * it is a pure function of the plan: every array task computes the same split without talking to
 * the others, and the union of the N shards is the plan, each point once. Splitting by index
 * would give one shard all the long contexts (the plan runs in increasing context). */
#include "sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SB_MAX_SHARDS 4096

/* A positive decimal integer filling the whole string, at most SB_MAX_SHARDS. */
static int parse_small(const char *s, int *v) {
    char *end;
    if (*s < '0' || *s > '9') return 0;
    long x = strtol(s, &end, 10);
    if (*end || x < 0 || x > SB_MAX_SHARDS) return 0;
    *v = (int)x;
    return 1;
}

int sb_shard_parse(const char *spec, sb_shard *s) {
    memset(s, 0, sizeof *s);
    char buf[32];
    const char *slash = strchr(spec, '/');
    if (!slash || strlen(spec) >= sizeof buf) goto bad;
    memcpy(buf, spec, (size_t)(slash - spec));
    buf[slash - spec] = '\0';
    if (!parse_small(buf, &s->index) || !parse_small(slash + 1, &s->count)) goto bad;
    if (s->count < 1 || s->index < 1 || s->index > s->count) goto bad;
    snprintf(s->origin, sizeof s->origin, "--shard");
    if (s->count == 1) memset(s, 0, sizeof *s); /* 1/1: the whole plan, an unsharded run */
    return 1;
bad:
    memset(s, 0, sizeof *s);
    sb_fail(SB_EINVAL, "--shard wants I/N with 1 <= I <= N <= %d (shards count from 1, e.g. 2/3), got '%s'",
            SB_MAX_SHARDS, spec);
    return 0;
}

/* An environment variable as an integer: 1, 0 when unset, -1 when malformed. */
static int env_int(const char *name, long *v) {
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    *v = strtol(s, &end, 10);
    if (*end) return sb_fail(SB_EINVAL, "%s='%s' is not an integer", name, s), -1;
    return 1;
}

int sb_shard_from_slurm(sb_shard *s) {
    memset(s, 0, sizeof *s);
    long id = 0, count = 0, min = 0, step = 1;
    int has_id = env_int("SLURM_ARRAY_TASK_ID", &id), has_count = env_int("SLURM_ARRAY_TASK_COUNT", &count);
    if (has_id < 0 || has_count < 0 || env_int("SLURM_ARRAY_TASK_MIN", &min) < 0 || env_int("SLURM_ARRAY_TASK_STEP", &step) < 0)
        return -1;
    if (!has_id) return 0;
    if (!has_count) return sb_fail(SB_EINVAL, "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (give --shard I/N)"), -1;
    if (step < 1) step = 1;
    long k = id - min;
    if (count < 1 || count > SB_MAX_SHARDS || k < 0 || k % step || k / step >= count)
        return sb_fail(SB_EINVAL, "array task %ld (min %ld, step %ld) is not one of %ld evenly spaced tasks: "
                       "submit a range such as --array=0-%ld, or give --shard I/N", id, min, step, count, count - 1), -1;
    if (count == 1) return 0; /* an array of one task: the whole plan */
    s->index = (int)(k / step) + 1;
    s->count = (int)count;
    snprintf(s->origin, sizeof s->origin, "SLURM_ARRAY_TASK_ID=%ld of %ld", id, count);
    return 1;
}

/* The model level's counts live in its instance; before a run, its cost is its layer-level
 * mixer's times the number of layers. A point predicted beyond the preset's per-point budget is
 * written as skipped at little cost, so no prediction counts for more than that budget. */
static double point_cost(const sb_point *p, const sb_preset *ps) {
    sb_point q = *p;
    double times = 1;
    if (q.level == SB_MODEL) {
        q.level = SB_LAYER;
        times = q.cfg.n_layers > 0 ? q.cfg.n_layers : 1;
    }
    double c = times * sb_point_prior_s(&q, ps);
    return ps->point_budget_s > 0 && c > ps->point_budget_s ? ps->point_budget_s : c;
}

typedef struct {
    double cost;
    int index;
} costed;

static int longest_first(const void *a, const void *b) {
    const costed *x = a, *y = b;
    if (x->cost != y->cost) return x->cost < y->cost ? 1 : -1;
    return (x->index > y->index) - (x->index < y->index);
}

int sb_shard_select(sb_point *pts, int n, const sb_shard *s, const sb_preset *ps, double *share) {
    if (share) *share = 1;
    if (s->count <= 1 || n <= 0) return n;
    costed *order = malloc((size_t)n * sizeof *order);
    int *owner = malloc((size_t)n * sizeof *owner);
    double *load = calloc((size_t)s->count, sizeof *load);
    if (!order || !owner || !load) {
        free(order); free(owner); free(load);
        return -1;
    }
    for (int i = 0; i < n; i++) order[i] = (costed){point_cost(&pts[i], ps), i};
    qsort(order, (size_t)n, sizeof *order, longest_first);
    double total = 0;
    for (int k = 0; k < n; k++) {
        int least = 0;
        for (int j = 1; j < s->count; j++)
            if (load[j] < load[least]) least = j;
        load[least] += order[k].cost;
        owner[order[k].index] = least;
        total += order[k].cost;
    }
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (owner[i] == s->index - 1) pts[kept++] = pts[i];
    if (share) *share = total > 0 ? load[s->index - 1] / total : 0;
    free(order);
    free(owner);
    free(load);
    return kept;
}
