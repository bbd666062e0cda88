/* blas_core.c: choosing, checking and naming the OpenBLAS core (blas_core.h). */
#include "blas_core.h"
#include "../runtime/host_blas.h"

#include <cblas.h>
#include <ctype.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

/* How good a core's sgemm kernels are, by the widest instructions they use (OpenBLAS's names,
 * kernel/x86_64 and driver/others/dynamic.c): 1 SSE-era (Prescott is the fallback for a CPU it
 * does not know), 2 SSE4.2, 3 AVX, 4 AVX2+FMA, 5 AVX-512, 6 + BF16, 7 + AMX. */
static const struct {
    const char *name;
    int tier;
} known_cores[] = {
    {"Unknown", 0},    {"Katmai", 1},     {"Coppermine", 1},   {"Northwood", 1},     {"Prescott", 1},
    {"Banias", 1},     {"Athlon", 1},     {"Opteron", 1},      {"Opteron_SSE3", 1},  {"Barcelona", 1},
    {"Nano", 1},       {"Bobcat", 1},     {"Atom", 1},         {"Core2", 1},         {"Penryn", 1},
    {"Dunnington", 1}, {"Nehalem", 2},    {"Sandybridge", 3},  {"Bulldozer", 3},     {"Piledriver", 3},
    {"Steamroller", 3}, {"Excavator", 4}, {"Haswell", 4},      {"Zen", 4},           {"SkylakeX", 5},
    {"Cooperlake", 6}, {"SapphireRapids", 7},
};

/* The cores we may ask for, best first, with the CPU features their kernels execute. Zen's
 * kernels are Haswell's with AMD's blocking: preferred on AMD, Haswell elsewhere. */
static const struct {
    const char *name;
    int tier;
    unsigned needs;
    sb_cpu_vendor vendor; /* SB_VENDOR_OTHER: any */
} candidates[] = {
    {"SapphireRapids", 7, SB_CPUF_AVX512 | SB_CPUF_AVX512BF16 | SB_CPUF_AMX, SB_VENDOR_OTHER},
    {"Cooperlake", 6, SB_CPUF_AVX512 | SB_CPUF_AVX512BF16, SB_VENDOR_OTHER},
    {"SkylakeX", 5, SB_CPUF_AVX512, SB_VENDOR_OTHER},
    {"Zen", 4, SB_CPUF_AVX2 | SB_CPUF_FMA, SB_VENDOR_AMD},
    {"Haswell", 4, SB_CPUF_AVX2 | SB_CPUF_FMA, SB_VENDOR_OTHER},
    {"Zen", 4, SB_CPUF_AVX2 | SB_CPUF_FMA, SB_VENDOR_OTHER},
    {"Sandybridge", 3, SB_CPUF_AVX, SB_VENDOR_OTHER},
    {"Nehalem", 2, SB_CPUF_SSE42, SB_VENDOR_OTHER},
};

static int core_tier(const char *name) {
    for (size_t i = 0; i < sizeof known_cores / sizeof *known_cores; i++)
        if (!strcasecmp(name, known_cores[i].name)) return known_cores[i].tier;
    return -1;
}

int sb_blas_better_cores(const char *current, const sb_cpu_features *f, int (*offered)(const char *core),
                         const char **out, int max) {
    int have = current ? core_tier(current) : -1, n = 0;
    if (have < 0) return 0;
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates && n < max; i++) {
        if (candidates[i].tier <= have) break;
        if (candidates[i].vendor != SB_VENDOR_OTHER && candidates[i].vendor != f->vendor) continue;
        if ((f->flags & candidates[i].needs) != candidates[i].needs || !offered(candidates[i].name)) continue;
        int dup = 0; /* Zen is listed twice (AMD first) */
        for (int j = 0; j < n; j++) dup |= !strcmp(out[j], candidates[i].name);
        if (!dup) out[n++] = candidates[i].name;
    }
    return n;
}

int sb_blas_offers(const char *core) {
    char sym[64] = "gotoblas_";
    size_t n = strlen(sym);
    for (const char *c = core; *c && n + 1 < sizeof sym; c++) sym[n++] = (char)toupper((unsigned char)*c);
    sym[n] = '\0';
    return dlsym(RTLD_DEFAULT, sym) != NULL;
}

/* "OpenBLAS 0.3.21" from openblas_get_config() ("OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY ..."). */
static void library_version(char *buf, size_t sz) {
    const char *cfg = openblas_get_config();
    int words = 0;
    size_t n = 0;
    for (const char *c = cfg ? cfg : ""; *c && n + 1 < sz; c++) {
        if (*c == ' ' && ++words == 2) break;
        buf[n++] = *c;
    }
    buf[n] = '\0';
    if (!n) snprintf(buf, sz, "OpenBLAS");
}

void sb_blas_describe(char *buf, size_t sz) {
    char lib[64];
    library_version(lib, sizeof lib);
    snprintf(buf, sz, "%s %s", lib, openblas_get_corename());
}

double sb_blas_sgemm_error(void) {
    static const int shapes[][3] = {{67, 129, 93}, {256, 256, 256}, {1, 768, 2304}}; /* M, K, N: edges, blocks, gemv */
    double worst = 0;
    sb_rng r;
    sb_rng_seed(&r, 11);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        float *x = malloc(sizeof(float) * M * K), *W = malloc(sizeof(float) * N * K), *y = malloc(sizeof(float) * M * N);
        if (!x || !W || !y) { free(x); free(W); free(y); return INFINITY; }
        sb_fill_normal(x, (size_t)M * K, &r, 0, 1);
        sb_fill_normal(W, (size_t)N * K, &r, 0, 1);
        cpu_linear(x, K, W, y, N, M, K, N);
        double err = 0, scale = 1;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double ref = 0;
                for (int k = 0; k < K; k++) ref += (double)x[(size_t)i * K + k] * W[(size_t)j * K + k];
                double e = fabs(y[(size_t)i * N + j] - ref);
                if (!(e <= err)) err = e; /* NaN counts as the worst */
                if (fabs(ref) > scale) scale = fabs(ref);
            }
        free(x); free(W); free(y);
        if (!(err / scale <= worst)) worst = err / scale;
    }
    return worst;
}

/* ---- start-up ----------------------------------------------------------------------------- */
enum { CHECK_OK = 0, CHECK_WRONG = 1, CHECK_NOT_TAKEN = 3 };

/* The child's side: is the core OpenBLAS loaded the one asked for, and are its products right? */
static int core_check_child(const char *core) {
    if (strcasecmp(openblas_get_corename(), core) != 0) return CHECK_NOT_TAKEN;
    return sb_blas_sgemm_error() <= 1e-4 ? CHECK_OK : CHECK_WRONG;
}

/* Runs this binary with OPENBLAS_CORETYPE=core as the core check's child. 0 if the core passed,
 * else why not in `why`. */
static int check_core(char **argv, const char *core, char *why, size_t sz) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { snprintf(why, sz, "cannot fork"); return -1; }
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) { dup2(devnull, 1); dup2(devnull, 2); }
        setenv("OPENBLAS_CORETYPE", core, 1);
        setenv("SEQBENCH_BLAS_CHECK", core, 1);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) { snprintf(why, sz, "lost the check's child"); return -1; }
    if (WIFEXITED(st) && WEXITSTATUS(st) == CHECK_OK) return 0;
    if (WIFSIGNALED(st)) snprintf(why, sz, "its sgemm died of signal %d", WTERMSIG(st));
    else if (WEXITSTATUS(st) == CHECK_NOT_TAKEN) snprintf(why, sz, "OpenBLAS did not take OPENBLAS_CORETYPE=%s", core);
    else if (WEXITSTATUS(st) == CHECK_WRONG) snprintf(why, sz, "its sgemm differs from a naive product");
    else snprintf(why, sz, "the check exited with %d", WEXITSTATUS(st));
    return -1;
}

int sb_blas_startup(char **argv) {
    const char *checking = getenv("SEQBENCH_BLAS_CHECK");
    if (checking) return core_check_child(checking);
    const char *set = getenv("OPENBLAS_CORETYPE"), *switched = getenv("SEQBENCH_BLAS_SWITCHED");
    /* test hook: pretend OpenBLAS chose this core (tests/test_blas_core.c drives the switch on any CPU) */
    const char *assumed = getenv("SEQBENCH_BLAS_ASSUME_CORE");
    const char *current = assumed && assumed[0] ? assumed : openblas_get_corename();
    char lib[64];
    library_version(lib, sizeof lib);
    if (switched) {
        fprintf(stderr, "seqbench: %s chose its %s kernels on this CPU; using %s (checked against a naive sgemm; "
                        "set OPENBLAS_CORETYPE to choose)\n", lib, switched, openblas_get_corename());
        unsetenv("SEQBENCH_BLAS_SWITCHED");
        return -1;
    }
    sb_cpu_features f;
    sb_cpu_features_detect(&f);
    const char *better[8];
    int n = sb_blas_better_cores(current, &f, sb_blas_offers, better, 8);
    if (n == 0) return -1;
    if (set && set[0]) {
        fprintf(stderr, "seqbench: OPENBLAS_CORETYPE=%s from the environment kept (%s runs its %s kernels; "
                        "this CPU could run %s)\n", set, lib, openblas_get_corename(), better[0]);
        return -1;
    }
    char why[8][160], tried[1400] = "";
    for (int i = 0; i < n; i++) {
        if (check_core(argv, better[i], why[i], sizeof why[i]) != 0) {
            size_t len = strlen(tried);
            snprintf(tried + len, sizeof tried - len, "%s%s: %s", len ? "; " : "", better[i], why[i]);
            continue;
        }
        setenv("OPENBLAS_CORETYPE", better[i], 1);
        setenv("SEQBENCH_BLAS_SWITCHED", current, 1);
        fflush(NULL);
        execv("/proc/self/exe", argv);
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv("SEQBENCH_BLAS_SWITCHED");
        size_t len = strlen(tried);
        snprintf(tried + len, sizeof tried - len, "%s%s: cannot re-execute", len ? "; " : "", better[i]);
        break;
    }
    fprintf(stderr, "seqbench: %s chose its %s kernels on this CPU and no better core passed the check (%s), so %s stays\n",
            lib, current, tried, current);
    return -1;
}
