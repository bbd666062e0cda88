/* meta.c: host and GPU metadata (SPEC §8), thread pinning, and `seqbench info`.
 * CPU facts come from hwloc (model, cores, threads); the clock from sysfs or /proc/cpuinfo; GPU
 * facts from sb_cuda_get_info (runtime/cuda_api.h); the git sha from `git rev-parse` next to the
 * binary at run time, else the SB_GIT_SHA the Makefile passed at build time. */
#include "meta.h"
#include "blas_core.h"
#include "hostcpu.h"
#include "timing.h"
#include "../runtime/host_blas.h"
#include "commands.h"

#include <ctype.h>
#include <hwloc.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SB_GIT_SHA
#define SB_GIT_SHA ""
#endif

void sb_utc_now(char *buf, size_t sz, int compact) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sz, compact ? "%Y%m%dT%H%M%SZ" : "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* First line of a shell command's stdout, "" on failure. */
static void command_line(const char *cmd, char *out, size_t sz) {
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (!fgets(out, (int)sz, p)) out[0] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    if (pclose(p) != 0) out[0] = '\0';
}

/* The sha of the checkout the binary was built in, "-dirty" when tracked files differ;
 * $SEQBENCH_GIT_SHA first (a binary carried to a machine without the repository's .git). */
static void git_sha(char *out, size_t sz) {
    char exe[4096], cmd[4600], dirty[8];
    const char *env = getenv("SEQBENCH_GIT_SHA");
    if (env && env[0]) { snprintf(out, sz, "%s", env); return; }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        if (!strchr(exe, '\'')) {
            snprintf(cmd, sizeof cmd, "git -C '%s' rev-parse --short=12 HEAD 2>/dev/null", exe);
            command_line(cmd, out, sz);
            if (out[0]) {
                snprintf(cmd, sizeof cmd, "git -C '%s' status --porcelain --untracked-files=no 2>/dev/null | head -c 1", exe);
                command_line(cmd, dirty, sizeof dirty);
                if (dirty[0]) strncat(out, "-dirty", sz - strlen(out) - 1);
            }
        }
    }
    if (!out[0]) snprintf(out, sz, "%s", SB_GIT_SHA[0] ? SB_GIT_SHA : "unknown");
}

/* "cpu MHz : 2596.1" from /proc/cpuinfo, or the max frequency from cpufreq. */
static double cpu_mhz(void) {
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "r");
    double khz = 0;
    if (f) {
        if (fscanf(f, "%lf", &khz) != 1) khz = 0;
        fclose(f);
        if (khz > 0) return khz / 1000.0;
    }
    f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[512];
    double mhz = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0) {
            char *colon = strchr(line, ':');
            if (colon) mhz = atof(colon + 1);
            break;
        }
    fclose(f);
    return mhz;
}

static void cpu_facts(sb_meta *m) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return;
    if (hwloc_topology_load(topo) == 0) {
        m->cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        m->pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
        hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
        const char *model = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
        if (model) snprintf(m->cpu_model, sizeof m->cpu_model, "%s", model);
    }
    hwloc_topology_destroy(topo);
    m->cpu_mhz = cpu_mhz();
}

static void version_string(int v, char *buf, size_t sz) {
    if (v > 0) snprintf(buf, sz, "%d.%d", v / 1000, (v % 1000) / 10);
    else buf[0] = '\0';
}

void sb_meta_collect(sb_meta *m) {
    memset(m, 0, sizeof *m);
    char utc[32];
    sb_utc_now(utc, sizeof utc, 1);
    snprintf(m->run_id, sizeof m->run_id, "%s-%04x", utc, (unsigned)getpid() & 0xffff);
    git_sha(m->git_sha, sizeof m->git_sha);
    if (gethostname(m->host, sizeof m->host) != 0) snprintf(m->host, sizeof m->host, "unknown");
    m->host[sizeof m->host - 1] = '\0';
    cpu_facts(m);
    sb_blas_describe(m->blas, sizeof m->blas);
    m->have_gpu = sb_cuda_get_info(&m->gpu) == SB_OK;
    if (m->have_gpu) {
        version_string(m->gpu.runtime_version, m->cuda, sizeof m->cuda);
        if (m->gpu.driver[0]) snprintf(m->driver, sizeof m->driver, "%s", m->gpu.driver);
        else version_string(m->gpu.driver_version, m->driver, sizeof m->driver); /* the driver API version */
    }
}

/* Lower-case, runs of anything but [a-z0-9] -> one '-', no leading/trailing '-'. */
static void slugify(const char *s, char *out, size_t sz) {
    size_t n = 0;
    int dash = 0;
    for (; *s && n + 1 < sz; s++) {
        if (isalnum((unsigned char)*s)) {
            if (dash && n) out[n++] = '-';
            if (n + 1 < sz) out[n++] = (char)tolower((unsigned char)*s);
            dash = 0;
        } else {
            dash = 1;
        }
    }
    out[n] = '\0';
}

void sb_machine_slug(const sb_meta *m, char *buf, size_t sz) {
    char s[160];
    if (m->have_gpu) {
        slugify(m->gpu.name, s, sizeof s);
        const char *p = strncmp(s, "nvidia-", 7) == 0 ? s + 7 : s;
        snprintf(buf, sz, "%s", p[0] ? p : "gpu");
    } else {
        slugify(m->cpu_model[0] ? m->cpu_model : "unknown", s, sizeof s);
        snprintf(buf, sz, "cpu-%s-%dt", s, m->pus > 0 ? m->pus : 1);
    }
}

double sb_cpu_best_sgemm_flops(int threads) {
    static double all_threads = -1;
    if (all_threads < 0) {
        enum { N = 1024, REPS = 5 };
        float *a, *b, *c;
        all_threads = 0;
        if (!cpu_alloc(&a, (size_t)N * N, "peak probe") && !cpu_alloc(&b, (size_t)N * N, "peak probe") &&
            !cpu_alloc(&c, (size_t)N * N, "peak probe")) {
            sb_rng r;
            sb_rng_seed(&r, 3);
            sb_fill_normal(a, (size_t)N * N, &r, 0, 1);
            sb_fill_normal(b, (size_t)N * N, &r, 0, 1);
            cpu_linear(a, N, b, c, N, N, N, N); /* warm-up: OpenBLAS buffers, thread pool */
            double best = 1e30;
            for (int i = 0; i < REPS; i++) {
                double t0 = sb_now_s();
                cpu_linear(a, N, b, c, N, N, N, N);
                double t = sb_now_s() - t0;
                if (t < best) best = t;
            }
            all_threads = 2.0 * N * N * N / best;
            free(a); free(b); free(c);
        }
    }
    int max = omp_get_max_threads();
    return all_threads * (threads < max ? (double)threads / max : 1.0);
}

const sb_cpu_roof *sb_cpu_roofline(int threads) {
    static sb_cpu_roof roofs[256];
    int i = threads < 1 ? 1 : threads > 255 ? 255 : threads;
    sb_cpu_roof *r = &roofs[i];
    if (r->note[0]) return r;
    r->peak_flops = sb_cpu_hw_peak_flops(threads);
    r->best_sgemm = sb_cpu_best_sgemm_flops(threads);
    r->peak_bw = sb_cpu_peak_bw(threads);
    char hw[96];
    sb_cpu_hw_peak_describe(threads, hw, sizeof hw);
    /* no comma: notes stay one plain field (tests cut the first columns with cut -d,) */
    snprintf(r->note, sizeof r->note,
             "CPU ceilings: %.1f GFLOP/s = %s (best sgemm 1024^3 this run %.1f GFLOP/s); DRAM read %.1f GB/s (%zu MiB)",
             r->peak_flops / 1e9, hw, r->best_sgemm / 1e9, r->peak_bw / 1e9, SB_CPU_DRAM_PROBE_BYTES >> 20);
    return r;
}

int sb_pin_threads(sb_backend be) {
    int threads = be == SB_CPU ? omp_get_max_threads() : 1;
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) return threads;
    if (hwloc_topology_load(topo) == 0) {
        int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
        hwloc_obj_type_t unit = threads > cores ? HWLOC_OBJ_PU : HWLOC_OBJ_CORE; /* SMT: one per PU */
        int units = hwloc_get_nbobjs_by_type(topo, unit);
        if (units > 0) {
#pragma omp parallel num_threads(threads)
            {
                hwloc_obj_t o = hwloc_get_obj_by_type(topo, unit, (unsigned)(omp_get_thread_num() % units));
                if (o) hwloc_set_cpubind(topo, o->cpuset, HWLOC_CPUBIND_THREAD);
            }
        }
    }
    hwloc_topology_destroy(topo);
    return threads;
}

/* ---- seqbench info [--slug | --has-gpu] ---------------------------------------------------- */
int cmd_info(int argc, char **argv) {
    int slug_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--slug")) slug_only = 1;
        else if (!strcmp(argv[i], "--has-gpu")) return sb_backend_available(SB_CUDA) ? 0 : 1; /* for scripts */
        else return sb_usage_error("info: unknown option '%s' (info [--slug | --has-gpu])", argv[i]);
    }
    sb_meta m;
    sb_meta_collect(&m);
    char slug[160];
    sb_machine_slug(&m, slug, sizeof slug);
    if (slug_only) {
        printf("%s\n", slug);
        return 0;
    }
    printf("machine      %s\n", slug);
    printf("host         %s\n", m.host);
    printf("git_sha      %s\n", m.git_sha);
    printf("cpu_model    %s\n", m.cpu_model[0] ? m.cpu_model : "unknown");
    printf("cpu          %d cores, %d hardware threads, %d OpenMP threads\n", m.cores, m.pus, omp_get_max_threads());
    int th = omp_get_max_threads();
    const sb_cpu_roof *roof = sb_cpu_roofline(th);
    char hw[96];
    sb_cpu_hw_peak_describe(th, hw, sizeof hw);
    printf("blas         %s\n", m.blas);
    printf("cpu_peak     %.1f GFLOP/s fp32 = %s (best OpenBLAS sgemm 1024^3 now: %.1f)\n", roof->peak_flops / 1e9, hw,
           roof->best_sgemm / 1e9);
    printf("cpu_bw       %.1f GB/s (DRAM: read of %zu MiB now, %d threads; cpu rows: a read of their bytes, seqbench stream --curve)\n",
           roof->peak_bw / 1e9, SB_CPU_DRAM_PROBE_BYTES >> 20, th);
    printf("cuda_built   %s\n", sb_cuda_compiled() ? "yes" : "no");
    if (!m.have_gpu) {
        printf("gpu          none (%s)\n", sb_last_error());
        return 0;
    }
    printf("gpu          %s, %d SMs, sm_%d%d\n", m.gpu.name, m.gpu.sms, m.gpu.cc_major, m.gpu.cc_minor);
    printf("gpu_clock    %d MHz max, %d MHz now (NVML)\n", m.gpu.sm_clock_mhz, sb_cuda_current_sm_clock_mhz());
    printf("gpu_memory   %.1f GiB, L2 %.1f MiB, %d-bit bus at %d MHz\n", m.gpu.mem_bytes / 1073741824.0,
           m.gpu.l2_bytes / 1048576.0, m.gpu.mem_bus_bits, m.gpu.mem_clock_mhz);
    printf("gpu_peak     %.0f TFLOP/s bf16 dense, %.0f GB/s\n", m.gpu.peak_bf16_tflops, m.gpu.peak_bw_gbps);
    printf("cuda         runtime %s, driver %s\n", m.cuda, m.driver);
    return 0;
}
