/* meta.h: host and GPU metadata written into every results row (SPEC §8), the machine slug that
 * names results/<machine-slug>/, the peaks behind pct_peak_*, and thread pinning (hwloc). */
#ifndef SB_META_H
#define SB_META_H

#include "../kernels/cuda_api.h"
#include "../layers/seqbench.h"

#include <stddef.h>

typedef struct sb_meta {
    char run_id[48];
    char git_sha[64];     /* "unknown" if neither git nor the build knew it */
    char host[128];
    char cpu_model[128];
    int cores, pus;       /* physical cores and hardware threads (hwloc) */
    double cpu_mhz;       /* 0 when unknown */
    int have_gpu;
    sb_cuda_info gpu;     /* zeros without a GPU */
    char cuda[16], driver[16]; /* "12.4"; empty without a GPU */
} sb_meta;

/* Fills m (never fails: unknown fields stay empty/zero). */
void sb_meta_collect(sb_meta *m);
/* "h100-80gb-hbm3" for a GPU machine, "cpu-<model>-<pus>t" otherwise. */
void sb_machine_slug(const sb_meta *m, char *buf, size_t sz);
/* Peak fp32 FLOP/s of `threads` cores: threads x clock x 32 FLOP/cycle (AVX2: two 8-wide FMA
 * units, multiply-add = 2). 0 when the clock is unknown. */
double sb_cpu_peak_flops(const sb_meta *m, int threads);
#define SB_CPU_FLOP_PER_CYCLE 32

/* Binds the OpenMP threads to distinct cores with hwloc (thread i -> core i mod cores) and
 * returns how many threads the backend runs with: the OpenMP thread count for cpu, 1 for ref
 * and cuda (their host side is one thread). */
int sb_pin_threads(sb_backend be);

/* "2024-11-27T11:42:00Z" for now. */
void sb_utc_now(char *buf, size_t sz, int compact);

#endif
