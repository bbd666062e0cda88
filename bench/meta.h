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
    char cuda[16], driver[32]; /* "13.0", "580.159.04" (NVML; else the driver API version); empty without a GPU */
} sb_meta;

/* Fills m (never fails: unknown fields stay empty/zero). */
void sb_meta_collect(sb_meta *m);
/* "h100-80gb-hbm3" for a GPU machine, "cpu-<model>-<pus>t" otherwise. */
void sb_machine_slug(const sb_meta *m, char *buf, size_t sz);
/* The CPU's fp32 ceiling for pct_peak_flops: OpenBLAS sgemm measured on this machine (a 1024^3
 * product, best of 5, all OpenMP threads), not clock x FMA width: on VMs the reported clock and
 * the vector units (AVX2 vs AVX-512, Zen 4's double-pumped 512-bit FMA, turbo) make a datasheet
 * peak wrong by up to 2x either way (seen here: 247 GFLOP/s measured, 166 "peak" from 2 cores x
 * 2596 MHz x 32). Measured once per process; per-thread share for fewer threads. */
double sb_cpu_peak_flops(int threads);

/* Binds the OpenMP threads to distinct cores with hwloc (thread i -> core i mod cores) and
 * returns how many threads the backend runs with: the OpenMP thread count for cpu, 1 for ref
 * and cuda (their host side is one thread). */
int sb_pin_threads(sb_backend be);

/* "2024-11-27T11:42:00Z" for now. */
void sb_utc_now(char *buf, size_t sz, int compact);

#endif
