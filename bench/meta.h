/* meta.h: host and GPU metadata written into every results row (SPEC §8), the machine slug that
 * names results/<machine-slug>/, the peaks behind pct_peak_*, and thread pinning (hwloc). */
#ifndef SB_META_H
#define SB_META_H

#include "../runtime/cuda_api.h"
#include "../registry/registry.h"

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
    char blas[96];        /* "OpenBLAS 0.3.21 Cooperlake": library, version, core (the cpu backend's) */
} sb_meta;

/* Fills m (never fails: unknown fields stay empty/zero). */
void sb_meta_collect(sb_meta *m);
/* "h100-80gb-hbm3" for a GPU machine, "cpu-<model>-<pus>t" otherwise. */
void sb_machine_slug(const sb_meta *m, char *buf, size_t sz);
/* The best OpenBLAS sgemm of the run (a 1024^3 product, best of 5, all OpenMP threads; per-thread
 * share for fewer threads), stated beside the hardware ceiling (bench/hostcpu.h) in cpu rows'
 * notes: pct_peak_flops is relative to the hardware (SPEC §14), which a mis-chosen BLAS core or a
 * VM's clock cannot flatter. Measured once per process. */
double sb_cpu_best_sgemm_flops(int threads);

/* The CPU ceilings shared by the host rows with `threads` threads (measured once per process and
 * thread count): hardware fp32 FLOP/s, DRAM read bandwidth (bytes/s, sb_cpu_peak_bw), and a note
 * that says where they come from and names the run's best sgemm. A row's own bandwidth ceiling
 * is a read of its bytes (sb_cpu_read_bw, bench/sweep.c). */
typedef struct sb_cpu_roof {
    double peak_flops, peak_bw, best_sgemm;
    char note[256];
} sb_cpu_roof;
const sb_cpu_roof *sb_cpu_roofline(int threads);

/* Binds the OpenMP threads to distinct cores with hwloc (thread i -> core i mod cores) and
 * returns how many threads the backend runs with: the OpenMP thread count for cpu, 1 for ref
 * and cuda (their host side is one thread). */
int sb_pin_threads(sb_backend be);

/* "2024-11-27T11:42:00Z" for now. */
void sb_utc_now(char *buf, size_t sz, int compact);

#endif
