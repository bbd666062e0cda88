/* hostcpu.c: CPU features, measured clock, hardware FLOP/s ceiling and the STREAM-like bandwidth
 * probe (hostcpu.h). Features come from cpuid through GCC's __builtin_cpu_supports, which also
 * checks that the OS saves the wide registers (XGETBV), so a feature listed here can be used. */
#include "hostcpu.h"
#include "timing.h"

#include <hwloc.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define SB_X86 1
#endif

#ifdef SB_X86
/* AMX-TILE and AMX-BF16 (cpuid leaf 7: EDX bits 24 and 22) with the tile state enabled by the OS
 * (XCR0 bits 17-18). By cpuid, not __builtin_cpu_supports: clang 14 (the fuzz build) has no
 * "amx-*" names there. */
static int cpu_has_amx(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    if (!((edx >> 24) & 1) || !((edx >> 22) & 1)) return 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !((ecx >> 27) & 1)) return 0; /* OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((lo >> 17) & 3) == 3;
}
#endif

void sb_cpu_features_detect(sb_cpu_features *f) {
    memset(f, 0, sizeof *f);
#ifdef SB_X86
    __builtin_cpu_init();
    /* __builtin_cpu_supports takes only literal names, hence no table */
    if (__builtin_cpu_supports("sse3")) f->flags |= SB_CPUF_SSE3;
    if (__builtin_cpu_supports("sse4.2")) f->flags |= SB_CPUF_SSE42;
    if (__builtin_cpu_supports("avx")) f->flags |= SB_CPUF_AVX;
    if (__builtin_cpu_supports("avx2")) f->flags |= SB_CPUF_AVX2;
    if (__builtin_cpu_supports("fma")) f->flags |= SB_CPUF_FMA;
    if (__builtin_cpu_supports("avx512bf16")) f->flags |= SB_CPUF_AVX512BF16;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        f->flags |= SB_CPUF_AVX512;
    else
        f->flags &= ~SB_CPUF_AVX512BF16; /* no bf16 kernels without the AVX-512 base */
    if (cpu_has_amx()) f->flags |= SB_CPUF_AMX;
    f->vendor = __builtin_cpu_is("intel") ? SB_VENDOR_INTEL : __builtin_cpu_is("amd") ? SB_VENDOR_AMD : SB_VENDOR_OTHER;
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        int base_family = (eax >> 8) & 0xf, base_model = (eax >> 4) & 0xf;
        f->family = base_family == 0xf ? base_family + (int)((eax >> 20) & 0xff) : base_family;
        f->model = base_family == 0x6 || base_family == 0xf ? (int)(((eax >> 16) & 0xf) << 4) + base_model : base_model;
    }
#endif
}

int sb_cpu_flops_per_cycle(const sb_cpu_features *f) {
    const int fma = 2; /* a multiply-add is 2 FLOPs */
    if (f->flags & SB_CPUF_AVX512) return f->vendor == SB_VENDOR_AMD ? 2 * 8 * fma : 2 * 16 * fma;
    if ((f->flags & (SB_CPUF_AVX2 | SB_CPUF_FMA)) == (SB_CPUF_AVX2 | SB_CPUF_FMA)) {
        int zen1 = f->vendor == SB_VENDOR_AMD && f->family == 0x17 && f->model < 0x30; /* 128-bit FMA units */
        return zen1 ? 2 * 4 * fma : 2 * 8 * fma;
    }
    if (f->flags & SB_CPUF_AVX) return 8 * 2; /* one 8-wide add and one 8-wide multiply per cycle */
    return 4 * 2;
}

/* ---- clock -------------------------------------------------------------------------------- */
/* Cycles/s of this thread: 16 dependent adds per iteration cost 16 cycles (latency 1); the loop
 * counter runs beside them. Best of a few tries (a preempted try only reads low). */
static double thread_hz(void) {
#ifdef SB_X86
    enum { ITERS = 400000, TRIES = 5 };
    double best = 0;
    for (int t = 0; t < TRIES; t++) {
        uint64_t x = 0;
        double t0 = sb_now_s();
        for (int i = 0; i < ITERS; i++)
            __asm__ volatile(".rept 16\n\taddq $1, %0\n\t.endr" : "+r"(x));
        double dt = sb_now_s() - t0;
        if (dt > 0 && 16.0 * ITERS / dt > best) best = 16.0 * ITERS / dt;
    }
    return best;
#else
    return 0;
#endif
}

double sb_cpu_measured_hz(int threads) {
    static double cached[1024];
    if (threads < 1) threads = 1;
    if (threads >= 1024) threads = 1023;
    if (cached[threads] > 0) return cached[threads];
    double slowest = 1e300;
#pragma omp parallel num_threads(threads) reduction(min : slowest)
    slowest = thread_hz();
    cached[threads] = slowest < 1e300 ? slowest : 0;
    return cached[threads];
}

static int physical_cores(void) {
    static int cores = -1;
    if (cores >= 0) return cores;
    cores = 0;
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return cores;
    if (hwloc_topology_load(topo) == 0) cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    hwloc_topology_destroy(topo);
    return cores;
}

/* Threads that run on distinct cores (hardware threads of one core share its FMA units). */
static int busy_cores(int threads) {
    int cores = physical_cores();
    return cores > 0 && threads > cores ? cores : threads;
}

double sb_cpu_hw_peak_flops(int threads) {
    sb_cpu_features f;
    sb_cpu_features_detect(&f);
    return busy_cores(threads) * sb_cpu_measured_hz(threads) * sb_cpu_flops_per_cycle(&f);
}

void sb_cpu_hw_peak_describe(int threads, char *buf, size_t sz) {
    sb_cpu_features f;
    sb_cpu_features_detect(&f);
    int cores = busy_cores(threads);
    snprintf(buf, sz, "%d core%s x %.2f GHz (measured) x %d FLOP/cycle", cores, cores == 1 ? "" : "s",
             sb_cpu_measured_hz(threads) / 1e9, sb_cpu_flops_per_cycle(&f));
}

/* ---- bandwidth ---------------------------------------------------------------------------- */
/* Two read kernels, as a read's ceiling is the better of them and neither wins everywhere (AMD
 * EPYC Zen 4, 2 threads, interleaved): the wide one, 64 lanes per block = 8 independent 8-wide add
 * chains (one ymm accumulator each under AVX2), hides the add latency, so the loads bound it: 2.5x
 * the narrow one on a buffer in L2 or L3 (~200 vs ~78 GB/s). The narrow one, 8 lanes = one chain
 * (as a plain sum), has few loads in flight and reads DRAM ~15% faster (47-51 vs 39-40 GB/s on
 * 256 MiB), where the prefetchers, not the core, set the pace. */
enum { READ_WIDE = 64 }; /* floats per block of the wide kernel: buffers are whole blocks */

/* read_<lanes>(a, n, threads, passes): reads a[0..n) `passes` times with `threads` threads in one
 * parallel region (a fork and join per pass would dominate a pass over a cache-sized buffer);
 * each thread reads the same static share of the blocks every pass, the share its first touch
 * (touch_blocks) placed; the sum keeps the loads live. */
#define SB_READ_KERNEL(LANES)                                                                             \
    static double read_##LANES(const float *a, size_t n, int threads, int passes) {                     \
        size_t blocks = n / LANES;                                                                        \
        double total = 0;                                                                                 \
        _Pragma("omp parallel num_threads(threads) reduction(+ : total)") {                               \
            float acc[LANES] = {0};                                                                       \
            for (int k = 0; k < passes; k++) {                                                            \
                _Pragma("omp for schedule(static) nowait") for (size_t b = 0; b < blocks; b++)            \
                    for (int l = 0; l < LANES; l++) acc[l] += a[b * LANES + l];                           \
            }                                                                                             \
            for (int l = 0; l < LANES; l++) total += acc[l];                                              \
        }                                                                                                 \
        for (int k = 0; k < passes; k++) /* the tail, under a block */                                    \
            for (size_t i = blocks * LANES; i < n; i++) total += a[i];                                    \
        return total;                                                                                     \
    }
SB_READ_KERNEL(8)
SB_READ_KERNEL(64)
#undef SB_READ_KERNEL
_Static_assert(READ_WIDE == 64, "read_64 is the wide kernel");

typedef double (*read_kernel)(const float *a, size_t n, int threads, int passes);
static const read_kernel read_kernels[] = {read_8, read_64};
enum { READ_NKERNELS = sizeof read_kernels / sizeof *read_kernels };

/* Seconds for `passes` reads of a[0..n) by kernel `kern`; the sum into *sink. */
static double time_read(int kern, const float *a, size_t n, int threads, int passes, double *sink) {
    double t0 = sb_now_s();
    *sink += read_kernels[kern](a, n, threads, passes);
    return sb_now_s() - t0;
}

/* First touch of a[0..n) by the thread that reads it (the kernels' static share of whole wide
 * blocks: a narrow block's owner differs at most at the edge of a share). */
static void touch_blocks(float *a, size_t n, int threads) {
    size_t blocks = n / READ_WIDE;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t b = 0; b < blocks; b++)
        for (int l = 0; l < READ_WIDE; l++) a[b * READ_WIDE + l] = 1.0f;
    for (size_t i = blocks * READ_WIDE; i < n; i++) a[i] = 1.0f;
}

static void copy_pass(float *a, const float *b, size_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i];
}

static void triad_pass(float *a, const float *b, const float *c, size_t n, int threads) {
#pragma omp parallel for simd num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0f * c[i];
}

int sb_stream_measure(int threads, size_t bytes_per_array, int reps, sb_stream_result *r) {
    memset(r, 0, sizeof *r);
    size_t n = bytes_per_array / sizeof(float);
    float *a = aligned_alloc(64, n * sizeof(float)), *b = aligned_alloc(64, n * sizeof(float)),
          *c = aligned_alloc(64, n * sizeof(float));
    if (!a || !b || !c) {
        free(a); free(b); free(c);
        return -1;
    }
#pragma omp parallel for num_threads(threads) schedule(static) /* first touch by the thread that uses it */
    for (size_t i = 0; i < n; i++) { a[i] = 1.0f; b[i] = 2.0f; c[i] = 0.5f; }
    double best_read = 1e300, best_copy = 1e300, best_triad = 1e300, sink = 0;
    for (int k = 0; k < reps; k++) {
        for (int kern = 0; kern < READ_NKERNELS; kern++) {
            double t = time_read(kern, a, n, threads, 1, &sink);
            if (t < best_read) best_read = t;
        }
        double t1 = sb_now_s();
        copy_pass(c, b, n, threads);
        double t2 = sb_now_s();
        triad_pass(a, b, c, n, threads);
        double t3 = sb_now_s();
        if (t2 - t1 < best_copy) best_copy = t2 - t1;
        if (t3 - t2 < best_triad) best_triad = t3 - t2;
    }
    double bytes = (double)n * sizeof(float);
    r->read_bps = bytes / best_read;
    r->copy_bps = 2 * bytes / best_copy;
    r->triad_bps = 3 * bytes / best_triad;
    r->bytes_per_array = n * sizeof(float);
    free(a); free(b); free(c);
    return sink == -1 ? 1 : 0; /* keeps the sums live */
}

/* ---- the read ceiling of a working set ------------------------------------------------------- */
enum {
    READ_MIN_LOG2 = 18, READ_MAX_LOG2 = 30,                 /* buffers of 256 KiB .. 1 GiB */
    READ_BUCKETS_PER_OCTAVE = 4,
    READ_NBUCKETS = (READ_MAX_LOG2 - READ_MIN_LOG2) * READ_BUCKETS_PER_OCTAVE + 1,
    READ_MAX_THREADS = 256,
};
static const double READ_REP_S = 1e-3;  /* a timed rep reads for at least this long ... */
static const double READ_TOTAL_S = 0.02; /* ... and the reps together at least this long */
static const int READ_MIN_REPS = 5;

/* 2^(k/4) bytes from 256 KiB up, rounded up to whole read blocks (a power of two is exact). */
static size_t read_bucket_bytes(int k) {
    const size_t block = READ_WIDE * sizeof(float);
    double b = exp2(READ_MIN_LOG2 + (double)k / READ_BUCKETS_PER_OCTAVE);
    return ((size_t)ceil(b) + block - 1) / block * block;
}

/* The bucket of `bytes`: the smallest whose buffer holds them, the last one else. */
static int read_bucket(size_t bytes) {
    int k = 0;
    while (k < READ_NBUCKETS - 1 && read_bucket_bytes(k) < bytes) k++;
    return k;
}

size_t sb_cpu_read_buffer_bytes(size_t bytes) { return read_bucket_bytes(read_bucket(bytes)); }

/* Best bytes/s of reads of one buffer of `bytes` with `threads` threads, over both read kernels:
 * passes per rep doubled per kernel until a rep reads for READ_REP_S (fork and join then weigh
 * little), then reps of each kernel in turn until READ_TOTAL_S of reading is timed (at least
 * READ_MIN_REPS each); the best rep, as STREAM. 0 if no memory. */
static double measure_read(int threads, size_t bytes) {
    size_t n = bytes / sizeof(float);
    float *a = aligned_alloc(64, n * sizeof(float));
    if (!a) return 0;
    touch_blocks(a, n, threads);
    double sink = 0, best_bps = 0, timed = 0;
    int passes[READ_NKERNELS];
    for (int kern = 0; kern < READ_NKERNELS; kern++) {
        passes[kern] = 1;
        double t = time_read(kern, a, n, threads, 1, &sink); /* also the warm-up */
        while (t < READ_REP_S && passes[kern] < (1 << 24)) t = time_read(kern, a, n, threads, passes[kern] *= 2, &sink);
    }
    for (int rep = 0; rep < READ_MIN_REPS || timed < READ_TOTAL_S; rep++)
        for (int kern = 0; kern < READ_NKERNELS; kern++) {
            double t = time_read(kern, a, n, threads, passes[kern], &sink);
            timed += t;
            if ((double)passes[kern] * bytes / t > best_bps) best_bps = (double)passes[kern] * bytes / t;
        }
    free(a);
    return sink == -1 ? 0 : best_bps; /* the test keeps the sums live */
}

double sb_cpu_read_bw(int threads, size_t bytes) {
    static double cached[READ_MAX_THREADS][READ_NBUCKETS];
    int i = threads < 1 ? 1 : threads >= READ_MAX_THREADS ? READ_MAX_THREADS - 1 : threads, k = read_bucket(bytes);
    if (cached[i][k] <= 0) cached[i][k] = measure_read(i, read_bucket_bytes(k));
    return cached[i][k];
}

double sb_cpu_peak_bw(int threads) { return sb_cpu_read_bw(threads, SB_CPU_DRAM_PROBE_BYTES); }
