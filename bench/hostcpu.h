/* hostcpu.h: what the CPU can do, for the BLAS core choice (bench/blas_core.c) and the CPU
 * roofline (SPEC §14): its vector features (cpuid, with the OS's consent to the wider registers),
 * its fp32 FLOPs per cycle per core, a measured clock, the hardware FLOP/s ceiling, a
 * STREAM-like memory bandwidth probe and the read bandwidth of a working set by size (`seqbench
 * stream`). */
#ifndef SB_HOSTCPU_H
#define SB_HOSTCPU_H

#include <stddef.h>

enum {
    SB_CPUF_SSE3 = 1u << 0,
    SB_CPUF_SSE42 = 1u << 1,
    SB_CPUF_AVX = 1u << 2,
    SB_CPUF_AVX2 = 1u << 3,
    SB_CPUF_FMA = 1u << 4,
    SB_CPUF_AVX512 = 1u << 5,     /* F, CD, BW, DQ and VL: what OpenBLAS's SkylakeX kernels use */
    SB_CPUF_AVX512BF16 = 1u << 6,
    SB_CPUF_AMX = 1u << 7,        /* AMX-TILE and AMX-BF16 */
};

typedef enum { SB_VENDOR_OTHER, SB_VENDOR_INTEL, SB_VENDOR_AMD } sb_cpu_vendor;

typedef struct sb_cpu_features {
    unsigned flags;        /* SB_CPUF_* the CPU has and the OS enabled */
    sb_cpu_vendor vendor;
    int family, model;     /* cpuid's display family and model (0x19, 0x11 for Zen 4) */
} sb_cpu_features;

/* This CPU's (zeros off x86). */
void sb_cpu_features_detect(sb_cpu_features *f);
/* fp32 FLOPs one core retires per cycle at most (multiply-add = 2): FMA units x lanes x 2.
 * AVX-512: 64 on Intel (two 512-bit FMA ports on server parts), 32 on AMD Zen 4 (its 512-bit
 * FMAs are double-pumped 256-bit units); AVX2+FMA: 32 (16 on Zen 1); AVX: 16; else 8. */
int sb_cpu_flops_per_cycle(const sb_cpu_features *f);

/* The clock under load in Hz, measured on `threads` threads at once (a chain of dependent integer
 * adds, one per cycle), the slowest thread's; 0 when it cannot be measured (non-x86). Once per
 * process per thread count. */
double sb_cpu_measured_hz(int threads);

/* The CPU's fp32 ceiling for `threads` threads: min(threads, cores) x measured clock x FLOPs per
 * cycle; 0 when unknown. */
double sb_cpu_hw_peak_flops(int threads);
/* "2 cores x 3.70 GHz x 32 FLOP/cycle" for notes. */
void sb_cpu_hw_peak_describe(int threads, char *buf, size_t sz);

/* Memory bandwidth in bytes/s measured now with `threads` threads on arrays of `bytes_per_array`
 * (far beyond the last-level cache): the best of a few repetitions of each STREAM-like kernel.
 * read: sum(a), the better of the two read kernels below; triad: a = b + s*c (3 arrays counted, no
 * write-allocate, as STREAM). */
typedef struct sb_stream_result {
    double read_bps, copy_bps, triad_bps;
    size_t bytes_per_array;
} sb_stream_result;
int sb_stream_measure(int threads, size_t bytes_per_array, int reps, sb_stream_result *r);
/* Read bandwidth in bytes/s of `threads` threads on ONE buffer of about `bytes`: the ceiling of a
 * cpu row whose working set is `bytes` (a cache-aware roofline: what the memory level that holds
 * it delivers). The buffer is sb_cpu_read_buffer_bytes(bytes), first touched by the threads that
 * read it (each its static share); the best rep of two read kernels (8 ymm add chains, and one
 * chain, which reads DRAM faster), reps of >= 1 ms (passes in one parallel region) until 20 ms
 * are timed, at least 5 each. Measured once per process, thread count and bucket;
 * 0 when the buffer cannot be allocated. */
double sb_cpu_read_bw(int threads, size_t bytes);
/* The buffer sb_cpu_read_bw(., bytes) reads: `bytes` clamped to [256 KiB, 1 GiB] and rounded up
 * to a quarter octave 2^(k/4) (then to whole 256-byte blocks), so a sweep measures each bucket once. */
size_t sb_cpu_read_buffer_bytes(size_t bytes);

/* The DRAM bandwidth of the run for `threads` threads, named in cpu rows' notes and by `info`:
 * sb_cpu_read_bw on SB_CPU_DRAM_PROBE_BYTES, far beyond a last-level cache. */
#define SB_CPU_DRAM_PROBE_BYTES ((size_t)128 << 20)
double sb_cpu_peak_bw(int threads);

#endif
