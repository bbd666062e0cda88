/* test_cuda_graph.c: the CUDA entry points the benchmark driver adds to runtime/cuda_api.h (graph
 * of one decode step, event timer on sb_stream()): capture and replay work, a capture that
 * synchronizes or enqueues nothing fails cleanly and leaves the stream usable. Skips without a
 * GPU; without nvcc the stubs must answer SB_ENOTSUP. */
#include <criterion/criterion.h>

#include "../runtime/cuda_api.h"

#include <stdlib.h>

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
