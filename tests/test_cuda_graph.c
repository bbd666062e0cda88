/* test_cuda_graph.c: the CUDA entry points the benchmark driver adds to runtime/cuda_api.h (graph
 * of one decode step, event timer on sb_stream()): capture and replay work, a capture that
 * synchronizes or enqueues nothing fails cleanly and leaves the stream usable. Skips without a
 * GPU; without nvcc the stubs must answer SB_ENOTSUP. Also the device-side conversions and the
 * device NaN/Inf count of the output check. */
#include <criterion/criterion.h>

#include "../runtime/cuda_api.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N 4096

Test(cuda_graph, stubs_without_a_device) {
    if (sb_backend_available(SB_CUDA)) cr_skip_test("a CUDA device is present");
    sb_cuda_graph *g = (sb_cuda_graph *)1;
    cr_expect_neq(sb_cuda_graph_begin(), SB_OK);
    cr_expect_neq(sb_cuda_graph_end(&g), SB_OK);
    cr_expect_null(g);
    sb_cuda_graph_destroy(NULL);
}

Test(cuda_graph, capture_replay_and_clean_failures) {
    if (!sb_backend_available(SB_CUDA)) cr_skip_test("no CUDA device");
    void *buf;
    cr_assert_eq(sb_cuda_malloc(&buf, N * sizeof(float)), SB_OK, "%s", sb_last_error());
    float *host = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) host[i] = 1.0f;

    /* a memset captured once, replayed onto fresh data */
    cr_assert_eq(sb_cuda_graph_begin(), SB_OK, "%s", sb_last_error());
    sb_status st = sb_cuda_memset0(buf, N * sizeof(float));
    sb_cuda_graph *g = NULL;
    sb_status end = sb_cuda_graph_end(&g);
    cr_assert_eq(st, SB_OK, "%s", sb_last_error());
    cr_assert_eq(end, SB_OK, "%s", sb_last_error());
    cr_assert_not_null(g);
    cr_assert_eq(sb_cuda_upload_f32(buf, SB_F32, host, N), SB_OK, "the capture must not have run the memset");
    sb_cuda_timer *t;
    cr_assert_eq(sb_cuda_timer_create(&t), SB_OK);
    double ms = -1;
    cr_assert_eq(sb_cuda_timer_start(t), SB_OK);
    cr_assert_eq(sb_cuda_graph_replay(g), SB_OK, "%s", sb_last_error());
    cr_assert_eq(sb_cuda_timer_stop(t, &ms), SB_OK, "%s", sb_last_error());
    cr_expect(ms >= 0 && ms < 1000, "replay took %g ms", ms);
    cr_assert_eq(sb_cuda_download_f32(host, buf, SB_F32, N), SB_OK);
    for (int i = 0; i < N; i++) cr_assert_eq(host[i], 0.0f, "element %d not cleared by the replay", i);
    sb_cuda_graph_destroy(g);

    /* a synchronizing call inside the capture: fails, the stream works afterwards */
    cr_assert_eq(sb_cuda_graph_begin(), SB_OK);
    st = sb_cuda_sync();
    end = sb_cuda_graph_end(&g);
    cr_expect_neq(st == SB_OK && end == SB_OK, 1, "a synchronizing capture must fail");
    cr_expect_null(g);
    cr_expect_eq(sb_cuda_memset0(buf, N * sizeof(float)), SB_OK, "%s", sb_last_error());
    cr_expect_eq(sb_cuda_sync(), SB_OK, "stream unusable after a failed capture: %s", sb_last_error());

    /* nothing enqueued: no graph */
    cr_assert_eq(sb_cuda_graph_begin(), SB_OK);
    cr_expect_neq(sb_cuda_graph_end(&g), SB_OK);
    cr_expect_null(g);
    cr_expect_eq(sb_cuda_sync(), SB_OK);

    /* the L2 flush and the NVML clock answer */
    cr_expect_eq(sb_cuda_flush_l2(), SB_OK, "%s", sb_last_error());
    cr_expect_eq(sb_cuda_sync(), SB_OK);
    cr_expect_geq(sb_cuda_current_sm_clock_mhz(), 0);
    sb_cuda_timer_destroy(t);
    sb_cuda_free(buf);
    free(host);
}

/* fp32 -> bf16 -> fp32, round to nearest even (finite values). */
static float bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The conversions run on the device now (runtime/cuda_runtime.cu): f32 -> bf16/i32 -> f32 equals
 * the host's rounding, and the output check counts NaN/Inf on the device. */
Test(cuda_graph, device_conversions_and_nonfinite_count) {
    if (!sb_backend_available(SB_CUDA)) cr_skip_test("no CUDA device");
    enum { M = 1000 };
    float x[M], y[M];
    for (int i = 0; i < M; i++) x[i] = (float)(i - 500) * 1.001f + 0.25f;
    void *d;
    cr_assert_eq(sb_cuda_malloc(&d, M * sizeof(float)), SB_OK, "%s", sb_last_error());
    const sb_dtype dts[] = {SB_F32, SB_BF16, SB_I32};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(sb_cuda_upload_f32(d, dts[k], x, M), SB_OK, "%s", sb_last_error());
        cr_assert_eq(sb_cuda_download_f32(y, d, dts[k], M), SB_OK, "%s", sb_last_error());
        for (int i = 0; i < M; i++) {
            float want = dts[k] == SB_F32 ? x[i] : dts[k] == SB_I32 ? (float)(int)x[i] : bf16_round(x[i]);
            cr_assert_float_eq(y[i], want, 0, "dtype %d, element %d: %g -> %g, want %g", (int)dts[k], i, x[i], y[i], want);
        }
    }
    x[3] = NAN;
    x[700] = INFINITY;
    x[999] = -INFINITY;
    for (int k = 0; k < 2; k++) {
        size_t bad = 0;
        cr_assert_eq(sb_cuda_upload_f32(d, dts[k], x, M), SB_OK, "%s", sb_last_error());
        cr_assert_eq(sb_cuda_count_nonfinite(d, dts[k], M, &bad), SB_OK, "%s", sb_last_error());
        cr_expect_eq(bad, 3, "dtype %d: %zu", (int)dts[k], bad);
        cr_assert_eq(sb_cuda_count_nonfinite(d, dts[k], 3, &bad), SB_OK);
        cr_expect_eq(bad, 0, "the first 3 values are finite");
    }
    sb_cuda_free(d);
}
