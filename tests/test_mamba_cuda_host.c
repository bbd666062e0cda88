/* test_mamba_cuda_host.c: the host-side decisions of the Mamba CUDA impl (kernels/mamba_cuda_host.c),
 * checked without a GPU: the time-split plan of the scan as a table of shapes, the x_proj row order
 * and A pre-scaled for exp2. (The kernels themselves run on the CPU under `make emu-test`.) */
#include <criterion/criterion.h>

#include "../kernels/mamba_cuda_host.h"

#include <math.h>

/* channel blocks, T, slots -> expected S (0: only check the invariants) */
static const struct { long long blocks; int T, slots, S; } plans[] = {
    {512, 32768, 528, 1},  /* 1.4b, B 16: 512 blocks fill an H100 (132 SMs x 4): plain version 2 */
    {512, 1024, 528, 1},
    {32, 32768, 528, 16},  /* 1.4b, B 1: 32 blocks -> 16 segments of 2048 tokens */
    {32, 1024, 528, 16},   /* segments of 64 tokens */
    {32, 100, 528, 3},     /* 100/32 -> 3 segments of 48 */
    {192, 8192, 528, 2},   /* 125m, B 16: 192 blocks -> 2 segments, one wave */
    {264, 8192, 528, 2},   /* exactly half a wave: 2 segments fill it */
    {265, 8192, 528, 1},   /* more than half: no split */
    {1, 64, 528, 2},       /* tiny, B 1, T 64: the table tests reach version 3 */
    {2, 45, 528, 1},       /* T < 2 * MIN_SEG: no split */
    {1, 8192, 528, 64},    /* capped at MAMBA_MAX_SEG */
    {1, 1, 528, 1},
    {3, 31, 528, 1},
    {1, 1000003, 528, 0},
    {7, 777, 100, 0},
};

Test(mamba_cuda_host, scan_plan) {
    for (size_t i = 0; i < sizeof plans / sizeof *plans; i++) {
        int S = -1, len = -1;
        mamba_scan_plan(plans[i].blocks, plans[i].T, plans[i].slots, &S, &len);
        const int T = plans[i].T;
        if (plans[i].S) cr_expect_eq(S, plans[i].S, "case %zu: S %d, want %d", i, S, plans[i].S);
        cr_expect(S >= 1 && S <= MAMBA_MAX_SEG, "case %zu: S %d", i, S);
        cr_expect((long long)S * len >= T && (long long)(S - 1) * len < T, "case %zu: %d x %d does not tile T %d", i, S, len, T);
        if (S > 1) {
            cr_expect(len % MAMBA_SCAN_TC == 0 && len >= MAMBA_MIN_SEG, "case %zu: segment length %d", i, len);
            cr_expect(2 * plans[i].blocks <= plans[i].slots, "case %zu: split although the blocks fill the GPU", i);
            cr_expect(S * plans[i].blocks <= plans[i].slots, "case %zu: %d segments overflow one wave", i, S);
        }
    }
}

Test(mamba_cuda_host, xproj_ld_is_16_byte_rows) {
    const int RN[][2] = {{4, 16}, {128, 16}, {48, 16}, {3, 5}, {1, 1}};
    for (size_t i = 0; i < sizeof RN / sizeof *RN; i++) {
        const int ld = mamba_xproj_ld(RN[i][0], RN[i][1]);
        cr_expect(ld % 8 == 0 && ld >= RN[i][0] + 2 * RN[i][1] && ld < RN[i][0] + 2 * RN[i][1] + 8);
    }
}

Test(mamba_cuda_host, xproj_rows_b_c_first) {
    enum { R = 3, N = 2, E = 5 };
    float w[(R + 2 * N) * E], out[(R + 2 * N) * E];
    for (int i = 0; i < (R + 2 * N) * E; i++) w[i] = (float)i;
    mamba_xproj_bc_first(w, R, N, E, out);
    for (int r = 0; r < R + 2 * N; r++) {
        const int src = r < 2 * N ? R + r : r - 2 * N; /* B|C rows first, then dt */
        for (int e = 0; e < E; e++) cr_expect_eq(out[r * E + e], w[src * E + e], "row %d col %d", r, e);
    }
}

Test(mamba_cuda_host, a2_is_a_times_log2e) {
    const float alog[] = {0.0f, logf(2.0f), logf(16.0f), -3.0f};
    float a2[4];
    mamba_a2_from_alog(alog, 4, a2);
    for (int i = 0; i < 4; i++) {
        const double want = -exp((double)alog[i]) / log(2.0); /* exp(d*A) = 2^(d*A/ln 2) */
        cr_expect(fabs(a2[i] - want) <= 1e-6 * fabs(want), "%d: %g vs %g", i, a2[i], want);
    }
}
