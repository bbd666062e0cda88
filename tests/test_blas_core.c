/* test_blas_core.c: the OpenBLAS core choice (bench/blas_core.c, issue 14) as a table of
 * (core OpenBLAS chose, CPU, cores the library offers) -> cores to try, best first; the start-up
 * switch through the binary (a pretended fallback: SEQBENCH_BLAS_ASSUME_CORE); the check's sgemm
 * error; and the fp32 FLOPs per cycle behind the CPU's FLOP/s ceiling. OPENBLAS_CORETYPE itself is
 * never set here (the machine may set it: then the binary must keep it, which is tested instead). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "test_util.h"
#include "../bench/blas_core.h"
#include "../bench/csvio.h"
#include "../bench/hostcpu.h"
#include "../bench/timing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AVX2_FMA (SB_CPUF_SSE3 | SB_CPUF_SSE42 | SB_CPUF_AVX | SB_CPUF_AVX2 | SB_CPUF_FMA)
#define AVX512 (AVX2_FMA | SB_CPUF_AVX512)
#define SPR (AVX512 | SB_CPUF_AVX512BF16 | SB_CPUF_AMX)

/* What an installed OpenBLAS has kernels for, by version/build. */
static const char *const lib_0321[] = {"Cooperlake", "SkylakeX", "Zen", "Haswell", "Sandybridge", "Nehalem", "Prescott", NULL};
static const char *const lib_0326[] = {"SapphireRapids", "Cooperlake", "SkylakeX", "Zen", "Haswell", "Sandybridge",
                                       "Nehalem", "Prescott", NULL};
static const char *const lib_no_avx512[] = {"Zen", "Haswell", "Sandybridge", "Nehalem", "Prescott", NULL};
enum { LIB_0321, LIB_0326, LIB_NO_AVX512 }; /* cases hold indexes: Criterion runs them in other processes */
static const char *const *const libs[] = {lib_0321, lib_0326, lib_no_avx512};
static const char *const *offered_by;
static int offered(const char *core) {
    for (int i = 0; offered_by[i]; i++)
        if (!strcasecmp(offered_by[i], core)) return 1;
    return 0;
}

typedef struct {
    char what[64];
    char current[24];
    sb_cpu_features cpu;
    int lib;
    char expect[80]; /* cores to try, comma-separated, best first; "" = keep the current one */
} choice_case;

static choice_case choice_cases[] = {
    {"Xeon model 207, 0.3.21 falls back", "Prescott", {SPR, SB_VENDOR_INTEL, 6, 207}, LIB_0321,
     "Cooperlake,SkylakeX,Haswell,Zen,Sandybridge,Nehalem"},
    {"Xeon model 207, newer OpenBLAS falls back", "Prescott", {SPR, SB_VENDOR_INTEL, 6, 207}, LIB_0326,
     "SapphireRapids,Cooperlake,SkylakeX,Haswell,Zen,Sandybridge,Nehalem"},
    {"Sapphire Rapids known", "SapphireRapids", {SPR, SB_VENDOR_INTEL, 6, 143}, LIB_0326, ""},
    {"core names are case-blind", "PRESCOTT", {SPR, SB_VENDOR_INTEL, 6, 207}, LIB_0326,
     "SapphireRapids,Cooperlake,SkylakeX,Haswell,Zen,Sandybridge,Nehalem"},
    {"EPYC Zen 4, 0.3.21", "Cooperlake", {AVX512 | SB_CPUF_AVX512BF16, SB_VENDOR_AMD, 0x19, 0x11}, LIB_0321, ""},
    {"EPYC Zen 3 known", "Zen", {AVX2_FMA, SB_VENDOR_AMD, 0x19, 0x01}, LIB_0321, ""},
    {"EPYC Zen 3, old OpenBLAS falls back", "Prescott", {AVX2_FMA, SB_VENDOR_AMD, 0x19, 0x01}, LIB_0321,
     "Zen,Haswell,Sandybridge,Nehalem"},
    {"EPYC Zen 4 on an AVX2-only OpenBLAS", "Zen", {AVX512 | SB_CPUF_AVX512BF16, SB_VENDOR_AMD, 0x19, 0x11}, LIB_NO_AVX512, ""},
    {"Broadwell Xeon known", "Haswell", {AVX2_FMA, SB_VENDOR_INTEL, 6, 79}, LIB_0321, ""},
    {"Broadwell Xeon falls back", "Prescott", {AVX2_FMA, SB_VENDOR_INTEL, 6, 79}, LIB_0321,
     "Haswell,Zen,Sandybridge,Nehalem"},
    {"Skylake-SP Xeon known", "SkylakeX", {AVX512, SB_VENDOR_INTEL, 6, 85}, LIB_0326, ""},
    {"Skylake-SP Xeon falls back to Haswell", "Haswell", {AVX512, SB_VENDOR_INTEL, 6, 85}, LIB_0321, "SkylakeX"},
    {"Sandy Bridge Xeon falls back", "Prescott", {SB_CPUF_SSE3 | SB_CPUF_SSE42 | SB_CPUF_AVX, SB_VENDOR_INTEL, 6, 45},
     LIB_0321, "Sandybridge,Nehalem"},
    {"AVX-512 CPU, OS without AVX state", "Nehalem", {SB_CPUF_SSE3 | SB_CPUF_SSE42, SB_VENDOR_INTEL, 6, 85}, LIB_0326, ""},
    {"a core this table does not know", "NeoverseN1", {0, SB_VENDOR_OTHER, 0, 0}, LIB_0326, ""},
    {"Excavator known (AVX2, FMA4)", "Excavator", {AVX2_FMA, SB_VENDOR_AMD, 0x15, 0x60}, LIB_0321, ""},
};

ParameterizedTestParameters(blas_core, choice) {
    return cr_make_param_array(choice_case, choice_cases, sizeof choice_cases / sizeof *choice_cases);
}

ParameterizedTest(choice_case *c, blas_core, choice) {
    offered_by = libs[c->lib];
    const char *out[8];
    int n = sb_blas_better_cores(c->current, &c->cpu, offered, out, 8);
    char got[200] = "";
    for (int i = 0; i < n; i++) {
        strcat(got, i ? "," : "");
        strcat(got, out[i]);
    }
    cr_expect_str_eq(got, c->expect, "%s: got [%s], want [%s]", c->what, got, c->expect);
}

Test(blas_core, at_most_max) {
    offered_by = lib_0326;
    const char *out[2];
    sb_cpu_features spr = {SPR, SB_VENDOR_INTEL, 6, 207};
    cr_expect_eq(sb_blas_better_cores("Prescott", &spr, offered, out, 2), 2);
}

Test(blas_core, check_sgemm_matches_naive) {
    cr_expect_leq(sb_blas_sgemm_error(), 1e-5, "the loaded OpenBLAS core's sgemm vs a naive product: %g",
                  sb_blas_sgemm_error());
}

Test(blas_core, describe_names_library_version_core) {
    char d[128];
    sb_blas_describe(d, sizeof d);
    int major = -1, minor = -1;
    char core[64] = "";
    cr_expect_eq(sscanf(d, "OpenBLAS %d.%d.%*d %63s", &major, &minor, core), 3, "'%s'", d);
    cr_expect(core[0] != '\0', "'%s' names no core", d);
}

/* Through the binary: with OpenBLAS pretending to have fallen back to Prescott, the binary checks
 * and switches to the best core this CPU and library allow (one stderr line), or keeps a
 * machine-set OPENBLAS_CORETYPE and says so; with no better core it says nothing. */
Test(blas_core, cli_switches_from_a_fallback) {
    sb_cpu_features f;
    sb_cpu_features_detect(&f);
    const char *better[8];
    int n = sb_blas_better_cores("Prescott", &f, sb_blas_offers, better, 8);
    char dir[] = "/tmp/sb_blas_XXXXXX", cmd[4400], err[64], first[600];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(err, sizeof err, "%s/stderr", dir);
    snprintf(cmd, sizeof cmd, "SEQBENCH_BLAS_ASSUME_CORE=Prescott OMP_NUM_THREADS=1 %s sgemm 64x64x64", tu_bin());
    cr_assert_eq(tu_shell(cmd, err), 0);
    int lines = tu_count_lines(err, first, sizeof first);
    const char *machine = getenv("OPENBLAS_CORETYPE");
    if (n == 0) {
        cr_expect_eq(lines, 0, "no better core, yet: %s", first);
    } else if (machine && machine[0]) {
        cr_expect_eq(lines, 1);
        cr_expect(strstr(first, "from the environment kept"), "%s", first);
    } else {
        cr_expect_eq(lines, 1);
        cr_expect(strstr(first, "chose its Prescott kernels on this CPU; using "), "%s", first);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* FLOPs per cycle per core: lanes x FMA units x 2. */
Test(hostcpu, flops_per_cycle) {
    struct { sb_cpu_features f; int want; } cases[] = {
        {{SPR, SB_VENDOR_INTEL, 6, 143}, 64},                         /* 2 x 512-bit FMA */
        {{AVX512 | SB_CPUF_AVX512BF16, SB_VENDOR_AMD, 0x19, 0x11}, 32}, /* Zen 4: 2 x 256-bit */
        {{AVX2_FMA, SB_VENDOR_AMD, 0x19, 0x01}, 32},                  /* Zen 3 */
        {{AVX2_FMA, SB_VENDOR_AMD, 0x17, 0x01}, 16},                  /* Zen 1: 128-bit units */
        {{AVX2_FMA, SB_VENDOR_INTEL, 6, 79}, 32},                     /* Broadwell */
        {{SB_CPUF_SSE3 | SB_CPUF_AVX, SB_VENDOR_INTEL, 6, 45}, 16},   /* Sandy Bridge */
        {{SB_CPUF_SSE3, SB_VENDOR_OTHER, 0, 0}, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_expect_eq(sb_cpu_flops_per_cycle(&cases[i].f), cases[i].want, "case %zu", i);
}

Test(hostcpu, clock_and_bandwidth_are_plausible) {
    double hz = sb_cpu_measured_hz(1);
    cr_expect(hz > 2e8 && hz < 8e9, "measured clock %g Hz", hz);
    sb_stream_result r;
    cr_assert_eq(sb_stream_measure(1, 16 << 20, 2, &r), 0);
    cr_expect(r.read_bps > 1e8 && r.triad_bps > 1e8 && r.copy_bps > 1e8, "%g %g %g", r.read_bps, r.copy_bps, r.triad_bps);
}

/* sb_cpu_read_bw's buffers: the row's bytes clamped to [256 KiB, 1 GiB], rounded up to 2^(k/4)
 * and then to whole 256-byte blocks. */
Test(hostcpu, read_buffer_buckets) {
    const size_t KiB = 1024, MiB = KiB * KiB;
    struct { size_t bytes, want; } cases[] = {
        {0, 256 * KiB},
        {1000, 256 * KiB},
        {256 * KiB, 256 * KiB},
        {256 * KiB + 1, 311808},         /* 2^18.25 = 311743.5 -> 1218 blocks of 256 */
        {311808, 311808},
        {8 * MiB - 1, 8 * MiB},
        {8 * MiB, 8 * MiB},
        {8 * MiB + 1, 9975808},          /* 2^23.25 = 9975792.6 -> 38968 blocks */
        {15 * MiB, 16 * MiB},            /* 2^23.75 = 14.27 MiB < 15 MiB <= 16 MiB */
        {128 * MiB, 128 * MiB},
        {1024 * MiB, 1024 * MiB},
        {(size_t)5 << 30, 1024 * MiB},   /* capped */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_expect_eq(sb_cpu_read_buffer_bytes(cases[i].bytes), cases[i].want, "%zu bytes -> %zu, want %zu", cases[i].bytes,
                     sb_cpu_read_buffer_bytes(cases[i].bytes), cases[i].want);
}

/* Measured once per thread count and bucket: a second call in the same bucket returns the same
 * number without reading (a measurement times at least 20 ms of reading by construction). */
Test(hostcpu, read_bw_is_measured_and_cached) {
    double bw = sb_cpu_read_bw(1, (size_t)1 << 20);
    cr_assert(bw > 1e8, "read of 1 MiB: %g bytes/s", bw);
    double t0 = sb_now_s();
    double again = sb_cpu_read_bw(1, ((size_t)1 << 20) - 4096); /* same bucket */
    double dt = sb_now_s() - t0;
    cr_expect_eq(again, bw, "%g then %g", bw, again);
    cr_expect(dt < 0.02, "the cached call took %g s", dt);
}

static void remove_dir(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* `seqbench stream` refuses bad arguments with exit 2, one line on stderr and nothing measured. */
typedef struct { char args[48]; } stream_case;
ParameterizedTestParameters(hostcpu, stream_bad_args) {
    static stream_case cases[] = {{"--mib"}, {"--curve --mib"}, {"--mib 0"}, {"--mib -4"}, {"--mib 2x"}, {"--curves"}, {"8"}};
    return cr_make_param_array(stream_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(stream_case *c, hostcpu, stream_bad_args) {
    char dir[] = "/tmp/sb_stream_XXXXXX", cmd[4400], err[64], out[64], first[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(err, sizeof err, "%s/stderr", dir);
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(cmd, sizeof cmd, "{ %s stream %s > %s; }", tu_bin(), c->args, out); /* tu_shell sends the group's stdout away */
    cr_expect_eq(tu_shell(cmd, err), 2, "stream %s", c->args);
    cr_expect_eq(tu_count_lines(err, first, sizeof first), 1, "stream %s: %s", c->args, first);
    cr_expect(strstr(first, "usage: seqbench stream"), "stream %s: %s", c->args, first);
    cr_expect_eq(tu_count_lines(out, first, sizeof first), 0, "stream %s wrote: %s", c->args, first);
    remove_dir(dir);
}

/* The note's bandwidth ceiling (GB/s) and the MiB of the buffer it read; 0 if the note has none. */
static int note_bw_ceiling(const char *note, double *gbps, double *mib) {
    const char *at = strstr(note, "bandwidth ceiling ");
    return at && sscanf(at, "bandwidth ceiling %lf GB/s = read of a %lf MiB buffer this run", gbps, mib) == 2;
}

/* A cpu row names the BLAS library, version and core, and carries both CPU ceilings (SPEC §14):
 * the hardware FLOP/s and a read of a buffer of the row's bytes, whose GB/s (gbps * 100 /
 * pct_peak_bw) is the one its note names (printed to 4 digits: within 0.5%), of the buffer
 * sb_cpu_read_buffer_bytes gives for the row's bytes; the shared note names the DRAM read. */
Test(hostcpu, cpu_rows_name_blas_and_their_ceilings) {
    char dir[] = "/tmp/sb_roof_XXXXXX", cmd[4400], err[64], csv[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(err, sizeof err, "%s/stderr", dir);
    snprintf(csv, sizeof csv, "%s/out.csv", dir);
    snprintf(cmd, sizeof cmd, "%s run --preset ci --layers mamba,attention --levels layer,model --modes decode --ctx 32 --backend cpu --out %s",
             tu_bin(), csv);
    cr_assert_eq(tu_shell(cmd, err), 0);
    sb_table t;
    cr_assert_eq(sb_table_read(csv, &t), SB_OK);
    int blas = sb_table_col(&t, "blas"), bw = sb_table_col(&t, "pct_peak_bw"), fl = sb_table_col(&t, "pct_peak_flops"),
        note = sb_table_col(&t, "note"), gbps = sb_table_col(&t, "gbps"), bytes = sb_table_col(&t, "bytes");
    cr_assert(blas >= 0 && bw >= 0 && fl >= 0 && note >= 0 && gbps >= 0 && bytes >= 0);
    cr_assert_gt(t.nrows, 0);
    char want[128];
    sb_blas_describe(want, sizeof want);
    for (size_t i = 0; i < t.nrows; i++) {
        const char *n = t.rows[i][note];
        cr_expect_str_eq(t.rows[i][blas], want);
        cr_expect(atof(t.rows[i][fl]) > 0, "pct_peak_flops '%s'", t.rows[i][fl]);
        cr_expect(strstr(n, "FLOP/cycle (best sgemm 1024^3 this run"), "%s", n);
        cr_expect(strstr(n, "; DRAM read ") && strstr(n, " GB/s (128 MiB)"), "%s", n);
        cr_expect(!strchr(n, ','), "a comma in the note: %s", n);
        double ceiling = 0, mib = 0;
        cr_assert(atof(t.rows[i][bw]) > 0 && note_bw_ceiling(n, &ceiling, &mib), "row %zu: pct_peak_bw '%s', note %s", i,
                  t.rows[i][bw], n);
        double recovered = atof(t.rows[i][gbps]) * 100 / atof(t.rows[i][bw]);
        cr_expect(fabs(recovered - ceiling) <= 0.005 * ceiling, "row %zu: gbps/pct -> %g GB/s, note %g GB/s", i, recovered, ceiling);
        double want_mib = sb_cpu_read_buffer_bytes((size_t)atof(t.rows[i][bytes])) / 1048576.0;
        cr_expect(fabs(mib - want_mib) <= 0.005 * want_mib, "row %zu: a %g MiB buffer for %s bytes, want %g", i, mib,
                  t.rows[i][bytes], want_mib);
    }
    sb_table_free(&t);
    remove_dir(dir);
}
