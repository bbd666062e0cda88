/* hostcpu.c: CPU features, measured clock, hardware FLOP/s ceiling and the STREAM-like bandwidth
 * probe (hostcpu.h). Features come from cpuid through GCC's __builtin_cpu_supports, which also
 * checks that the OS saves the wide registers (XGETBV), so a feature listed here can be used. */
#include "hostcpu.h"
#include "timing.h"

#include <hwloc.h>
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
static double read_pass(const float *a, size_t n, int threads) {
    float s = 0;
#pragma omp parallel for simd num_threads(threads) schedule(static) reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += a[i];
    return s;
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
        double t0 = sb_now_s();
        sink += read_pass(a, n, threads);
        double t1 = sb_now_s();
        copy_pass(c, b, n, threads);
        double t2 = sb_now_s();
        triad_pass(a, b, c, n, threads);
        double t3 = sb_now_s();
        if (t1 - t0 < best_read) best_read = t1 - t0;
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

double sb_cpu_peak_bw(int threads) {
    static double peak[256];
    int i = threads < 1 ? 1 : threads > 255 ? 255 : threads;
    if (peak[i] > 0) return peak[i];
    sb_stream_result r;
    if (sb_stream_measure(i, (size_t)128 << 20, 5, &r) == 0) peak[i] = r.read_bps > r.triad_bps ? r.read_bps : r.triad_bps;
    return peak[i];
}
