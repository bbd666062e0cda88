/* test_cpu_memory.c: the cpu attention prefill never builds a T x T matrix (SPEC §3.1, flash
 * style). At T = 32768 (B 1, D 64, H 4) one fp32 score matrix per head would be 4 GiB; the
 * flash impl needs the KV cache (2*T*D floats), the q/o and k/v rows (2*T*D) and one score block
 * per thread. The peak resident memory of the whole test process (getrusage ru_maxrss, reset
 * first where /proc allows) must stay within a small multiple of T*D floats. */
#include <criterion/criterion.h>

#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static double maxrss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024.0; /* kilobytes on Linux */
}

/* Resets the peak RSS to the current RSS (Linux >= 4.0); harmless where unsupported. */
static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) { fputs("5", f); fclose(f); }
}

/* AddressSanitizer's redzones and quarantine inflate the resident set by a constant factor, so an
 * RSS bound says nothing about our allocations there: the sanitizer build skips this test. */
#if defined(__SANITIZE_ADDRESS__)
#define SB_ASAN 1
#else
#define SB_ASAN 0
#endif

Test(cpu_memory, attention_prefill_workspace_is_linear_in_T, .timeout = 120) {
    if (SB_ASAN) cr_skip_test("RSS bound not meaningful under AddressSanitizer");
    const int B = 1, T = 32768;
    sb_config cfg = tu_config("attention", "tiny"); /* D 64, H 4, d 16 */
    cr_assert_eq(cfg.d_model, 64);
    cr_assert_eq(cfg.heads, 4);
    const double TD = (double)T * cfg.d_model * sizeof(float); /* 8 MiB */
    reset_peak_rss();
    const double before = maxrss_bytes();
    sb_layer_opts o = {.layer = "attention", .impl = "flash", .backend = SB_CPU, .level = SB_LAYER, .cfg = &cfg,
                       .seed = 1, .max_batch = B, .max_ctx = T};
    float *y, *yd;
    size_t ny, nyd;
    /* tu_run holds x (T*D), a staging copy (T*D), y (T*D) and the host result (T*D) */
    cr_assert_eq(tu_run(&o, B, T, 0, 2, &y, &yd, &ny, &nyd), SB_OK, "%s", sb_last_error());
    const double grown = maxrss_bytes() - before;
    for (size_t i = 0; i < ny; i += 4099) cr_assert(y[i] == y[i], "NaN at %zu", i);
    free(y);
    /* the layer's share: KV cache 2, q/o 1, k/v 1 (x T*D); the harness's 4; slack 4 */
    cr_expect(grown <= 12 * TD, "peak RSS grew by %.1f MiB at T=%d, more than 12*T*D*4 = %.1f MiB", grown / 1048576.0, T,
              12 * TD / 1048576.0);
}
