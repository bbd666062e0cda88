/* attention_bench.cu: stand-alone timing of the CUDA attention kernels at the 1.3b shape
 * (H 32, d 64), outside the sweep driver: prefill (versions 1, 2, 3 and tile variants of
 * versions 2 and 3) in TFLOP/s, decode (versions 1 and 2) in GB/s against a device-to-device
 * copy, version 2/3 vs version 1 spot checks, rope_scatter in GB/s, and the layer (prefill, and
 * a decode step replayed from a CUDA graph). Not part of the library (the Makefile does not see
 * dev/). Runs in ~15 s on an H100; the numbers in the kernel headers come from it.
 *
 *   make -j2 && nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -DSB_HAVE_CUDA \
 *       -Ikernels -Ilayers dev/attention_bench.cu build/libseqbench.a -lcublasLt -lcublas -o build/attention_bench
 *   build/attention_bench [quick]
 */
#include "../kernels/attention_prefill.cu" /* the kernels themselves: tile variants below */
#include "attention_prefill_wgmma.cuh"   /* version 3 (wgmma), not in the library */
#include "../kernels/attention_decode.cuh"
#include "../kernels/attention_rope.cuh"
#include "../layers/seqbench.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#define CHECK(x)                                                                                        \
    do {                                                                                                \
        sb_status st_ = (x);                                                                            \
        if (st_) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, sb_last_error()); exit(1); }      \
    } while (0)
#define CK(x)                                                                                           \
    do {                                                                                                \
        cudaError_t e_ = (x);                                                                           \
        if (e_ != cudaSuccess) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); exit(1); } \
    } while (0)

/* median over `reps` samples of the mean time of `iters` calls, in ms */
static double time_ms(const std::function<void()> &f, int iters, int reps = 5) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    f();
    f();
    CK(cudaStreamSynchronize(sb_stream()));
    std::vector<float> t;
    for (int r = 0; r < reps; r++) {
        CK(cudaEventRecord(a, sb_stream()));
        for (int i = 0; i < iters; i++) f();
        CK(cudaEventRecord(b, sb_stream()));
        CK(cudaEventSynchronize(b));
        float ms;
        CK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms / iters);
    }
    CK(cudaGetLastError());
    std::sort(t.begin(), t.end());
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return t[t.size() / 2];
}

struct bufs {
    bf16 *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr;
    attn_fwd_args a{};
};

static bufs make_prefill(int B, int T, int H, int d) {
    bufs s;
    const size_t n = (size_t)B * T * H * d;
    CK(cudaMalloc(&s.q, n * 2));
    CK(cudaMalloc(&s.k, n * 2));
    CK(cudaMalloc(&s.v, n * 2));
    CK(cudaMalloc(&s.o, n * 2));
    CHECK(attention_fill_kv_random(s.k, s.v, B, H, T, d, T, 1));
    CHECK(attention_fill_kv_random(s.q, s.o, 1, 1, B * T * H, d, B * T * H, 2));
    s.a = attn_fwd_args{s.q, (long)H * d, s.k, s.v, s.o, (long)H * d, B, T, H, d, T, 0};
    return s;
}
static void free_bufs(bufs &s) {
    cudaFree(s.q); cudaFree(s.k); cudaFree(s.v); cudaFree(s.o);
}

static double max_diff(const bf16 *x, const bf16 *y, size_t n, double *max_ref) {
    std::vector<bf16> a(n), b(n);
    CK(cudaMemcpy(a.data(), x, n * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(b.data(), y, n * 2, cudaMemcpyDeviceToHost));
    double m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double u = __bfloat162float(a[i]), w = __bfloat162float(b[i]);
        if (!(fabs(u - w) <= m)) m = fabs(u - w);
        r = std::max(r, fabs(w));
    }
    *max_ref = r;
    return m;
}

/* version (2, 3) or a launcher of a version-3 variant against version 1 */
static void check_vs_v1(const char *name, const std::function<sb_status(const attn_fwd_args *)> &run, int B, int T,
                        int H, int d) {
    bufs s = make_prefill(B, T, H, d);
    bf16 *o1;
    const size_t n = (size_t)B * T * H * d;
    CK(cudaMalloc(&o1, n * 2));
    CHECK(run(&s.a));
    attn_fwd_args a1 = s.a;
    a1.o = o1;
    CHECK(attention_prefill(1, &a1));
    CK(cudaDeviceSynchronize());
    double ref, e = max_diff(s.o, o1, n, &ref);
    printf("check prefill %-14s vs v1  B %d T %5d H %d d %3d: max|diff| %.3e  max|v1| %.3e  rel %.2e %s\n", name, B,
           T, H, d, e, ref, e / ref, e <= 2e-2 * ref ? "ok" : "FAIL");
    cudaFree(o1);
    free_bufs(s);
}

static void bench_prefill_variant(const char *name, const std::function<sb_status(const attn_fwd_args *)> &run, int B,
                                  int T) {
    const int H = 32, d = 64;
    bufs s = make_prefill(B, T, H, d);
    const double flops = 4.0 * B * H * (double)T * T * d / 2;
    const int iters = std::max(1, (int)(2e12 / flops));
    double ms = time_ms([&] { CHECK(run(&s.a)); }, iters);
    printf("prefill %-26s B %2d T %5d: %9.3f ms  %6.1f TFLOP/s\n", name, B, T, ms, flops / ms / 1e9);
    free_bufs(s);
}

static void bench_prefill(int version, int B, int T, int H, int d) {
    bufs s = make_prefill(B, T, H, d);
    const double flops = 4.0 * B * H * (double)T * T * d / 2;
    const int iters = std::max(1, (int)(2e12 / flops));
    double ms = time_ms([&] { CHECK(attention_prefill(version, &s.a)); }, iters, version == 1 ? 1 : 5);
    printf("prefill v%d B %2d T %5d H %d d %3d: %9.3f ms  %6.1f TFLOP/s\n", version, B, T, H, d, ms, flops / ms / 1e9);
    free_bufs(s);
}

static double copy_gbps(size_t bytes) {
    void *a, *b;
    CK(cudaMalloc(&a, bytes));
    CK(cudaMalloc(&b, bytes));
    CK(cudaMemset(a, 0, bytes));
    double ms = time_ms([&] { CK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, sb_stream())); }, 5);
    cudaFree(a);
    cudaFree(b);
    return 2.0 * bytes / ms / 1e6; /* read + write */
}

static void bench_decode(int B, int T, int H, int d, double copy) {
    const size_t cache = (size_t)B * H * T * d;
    bf16 *k, *v, *q, *o, *o1;
    float *ws;
    CK(cudaMalloc(&k, cache * 2));
    CK(cudaMalloc(&v, cache * 2));
    CK(cudaMalloc(&q, (size_t)B * H * d * 2));
    CK(cudaMalloc(&o, (size_t)B * H * d * 2));
    CK(cudaMalloc(&o1, (size_t)B * H * d * 2));
    const size_t wsf = attention_decode_workspace_floats(B, H, d);
    CK(cudaMalloc(&ws, wsf * 4));
    CHECK(attention_fill_kv_random(k, v, B, H, T, d, T, 3));
    CHECK(attention_fill_kv_random(q, o, 1, 1, B * H, d, B * H, 4));
    attn_fwd_args a{q, (long)H * d, k, v, o, (long)H * d, B, 1, H, d, T, T - 1};
    const double bytes = 2.0 * cache * 2;
    attn_decode_plan p = attn_decode_make_plan(B, H, T, sb_num_sms());
    for (int version = 1; version <= 2; version++) {
        double ms = time_ms([&] { CHECK(attention_decode(version, &a, ws, wsf)); }, 10);
        printf("decode  v%d B %3d T %5d H %d d %3d (splits %2d): %8.3f ms  %7.1f GB/s  %5.1f%% of copy\n", version, B,
               T, H, d, version == 2 ? p.splits : 1, ms, bytes / ms / 1e6, 100 * bytes / ms / 1e6 / copy);
    }
    /* split vs no split vs the prefill kernel (version 1, T = 1) */
    attn_fwd_args a1 = a;
    a1.o = o1;
    CHECK(attention_decode(2, &a, ws, wsf));
    CHECK(attention_prefill(1, &a1));
    CK(cudaDeviceSynchronize());
    double ref, e = max_diff(o, o1, (size_t)B * H * d, &ref);
    printf("check decode v2 vs prefill v1: max|diff| %.3e  max|ref| %.3e %s\n", e, ref, e <= 2e-2 * ref ? "ok" : "FAIL");
    cudaFree(k); cudaFree(v); cudaFree(q); cudaFree(o); cudaFree(o1); cudaFree(ws);
}

/* The layer through the public interface (1.3b, flash): prefill with its GEMMs and RoPE, and a
 * decode step at ctx 32k replayed from a CUDA graph (as the sweep driver does), checked against
 * the same step run directly. */
static void bench_layer(int B, int T, int Bd, int Td) {
    sb_config cfg;
    sb_config_preset("attention", "1.3b", &cfg);
    const int D = cfg.d_model;
    sb_layer_opts o{};
    o.layer = "attention";
    o.impl = "flash";
    o.backend = SB_CUDA;
    o.level = SB_LAYER;
    o.cfg = &cfg;
    o.seed = 1;
    o.max_batch = B;
    o.max_ctx = T;
    sb_layer *L;
    sb_buf x{}, y{};
    CHECK(sb_layer_create(&o, &L));
    CHECK(sb_buf_alloc(&x, SB_CUDA, SB_BF16, (size_t)B * T * D));
    CHECK(sb_buf_alloc(&y, SB_CUDA, SB_BF16, (size_t)B * T * D));
    CHECK(attention_fill_kv_random((bf16 *)x.p, (bf16 *)y.p, 1, 1, B * T, D, B * T, 5));
    double ms = time_ms([&] { CHECK(sb_layer_prefill(L, x.p, y.p, B, T)); }, 1);
    printf("layer prefill 1.3b B %d T %d: %.3f ms  %.1f TFLOP/s (attention + 4 projections)\n", B, T, ms,
           sb_layer_flops(L, SB_PREFILL, B, T) / ms / 1e9);
    sb_buf_free(&x);
    sb_buf_free(&y);
    sb_layer_destroy(L);

    o.max_batch = Bd;
    o.max_ctx = Td + 1;
    CHECK(sb_layer_create(&o, &L));
    CHECK(sb_buf_alloc(&x, SB_CUDA, SB_BF16, (size_t)Bd * D));
    CHECK(sb_buf_alloc(&y, SB_CUDA, SB_BF16, (size_t)Bd * D));
    CHECK(attention_fill_kv_random((bf16 *)x.p, (bf16 *)y.p, 1, 1, Bd, D, Bd, 6));
    CHECK(sb_layer_fill_state(L, Bd, Td, 7));
    CHECK(sb_layer_decode(L, x.p, y.p, Bd)); /* warm-up outside the capture */
    sb_layer_rewind(L, Td);
    ms = time_ms([&] { sb_layer_rewind(L, Td); CHECK(sb_layer_decode(L, x.p, y.p, Bd)); }, 10);
    std::vector<float> direct((size_t)Bd * D), graphed((size_t)Bd * D);
    CHECK(sb_buf_download(&y, direct.data(), direct.size()));
    cudaGraph_t g;
    cudaGraphExec_t ge;
    sb_layer_rewind(L, Td);
    CK(cudaStreamBeginCapture(sb_stream(), cudaStreamCaptureModeThreadLocal));
    sb_status st = sb_layer_decode(L, x.p, y.p, Bd);
    CK(cudaStreamEndCapture(sb_stream(), &g));
    CHECK(st);
    CK(cudaGraphInstantiate(&ge, g, 0));
    CK(cudaMemsetAsync(y.p, 0, (size_t)Bd * D * 2, sb_stream()));
    double gms = time_ms([&] { CK(cudaGraphLaunch(ge, sb_stream())); }, 10);
    CHECK(sb_buf_download(&y, graphed.data(), graphed.size()));
    double diff = 0;
    for (size_t i = 0; i < direct.size(); i++) diff = std::max(diff, (double)fabsf(direct[i] - graphed[i]));
    const double kv = 2.0 * Bd * Td * D * 2;
    printf("layer decode 1.3b B %d ctx %d: %.3f ms direct, %.3f ms from a CUDA graph (%.0f GB/s of KV), "
           "graph vs direct max|diff| %.1e %s\n", Bd, Td, ms, gms, kv / gms / 1e6, diff, diff == 0 ? "ok" : "FAIL");
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
    sb_buf_free(&x);
    sb_buf_free(&y);
    sb_layer_destroy(L);
}

static void bench_rope(int B, int T, int H, int d) {
    const size_t rows = (size_t)B * T, D = (size_t)H * d;
    bf16 *qkv, *k, *v;
    CK(cudaMalloc(&qkv, rows * 3 * D * 2));
    CK(cudaMalloc(&k, rows * D * 2));
    CK(cudaMalloc(&v, rows * D * 2));
    CK(cudaMemset(qkv, 0, rows * 3 * D * 2));
    double ms = time_ms([&] { CHECK(attention_rope_scatter(qkv, qkv, 3 * D, B, T, H, d, 0, 1, 10000.0f, k, v, T)); }, 5);
    const double bytes = rows * 3 * D * 2 + rows * 3 * D * 2; /* q|k|v read, q rewritten, k, v to the cache */
    printf("rope_scatter B %d T %d H %d d %d: %.3f ms  %.0f GB/s\n", B, T, H, d, ms, bytes / ms / 1e6);
    cudaFree(qkv); cudaFree(k); cudaFree(v);
}

int main(int argc, char **argv) {
    const bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("device %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    auto v = [](int version) {
        return [version](const attn_fwd_args *a) { return version == 3 ? attention_prefill_v3(a) : attention_prefill(version, a); };
    };
    check_vs_v1("v2", v(2), 2, 3000, 8, 64);
    check_vs_v1("v2", v(2), 1, 1000, 4, 128);
    check_vs_v1("v2", v(2), 3, 333, 4, 16);
    const bool sm90 = attention_prefill_supports(3, 64);
    if (sm90) {
        check_vs_v1("v3", v(3), 2, 3000, 8, 64);
        check_vs_v1("v3", v(3), 1, 1000, 4, 128);
        check_vs_v1("v3", v(3), 3, 77, 2, 64);
        check_vs_v1("v3 BC 128", launch_v3<wg_cfg<64, 2, 128, 1>>, 2, 1000, 2, 64);
        check_vs_v1("v3 1 wg", launch_v3<wg_cfg<64, 1, 64, 3>>, 2, 1000, 2, 64);
    }
    bench_prefill(1, 16, 1024, 32, 64);
    const int Ts[] = {1024, 2048, 4096, 8192, 16384, 32768};
    for (int version = 2; version <= (sm90 ? 3 : 2); version++) {
        for (int T : Ts) {
            if (quick && T > 8192) break;
            bench_prefill(version, 16, T, 32, 64);
        }
        bench_prefill(version, 8, 8192, 32, 64); /* the issue's 64k-token shape */
        bench_prefill(version, 16, 4096, 16, 128);
    }
    bench_prefill_variant("v2 4w x 32 rows", launch_v2<flash_cfg<64, 4, 2, 64, 2>>, 16, 4096);
    bench_prefill_variant("v2 8w x 16 rows", launch_v2<flash_cfg<64, 8, 1, 64, 1>>, 16, 4096);
    bench_prefill_variant("v2 4w x 16 rows", launch_v2<flash_cfg<64, 4, 1, 64, 3>>, 16, 4096);
    if (sm90) {
        bench_prefill_variant("v3 2wg BC 64 (v3)", launch_v3<wg_cfg<64, 2, 64, 2>>, 16, 4096);
        bench_prefill_variant("v3 2wg BC 128", launch_v3<wg_cfg<64, 2, 128, 1>>, 16, 4096);
        bench_prefill_variant("v3 1wg BC 64", launch_v3<wg_cfg<64, 1, 64, 3>>, 16, 4096);
        bench_prefill_variant("v3 1wg BC 128", launch_v3<wg_cfg<64, 1, 128, 2>>, 16, 4096);
    }
    const double copy = copy_gbps((size_t)2 << 30);
    printf("device-to-device copy: %.1f GB/s (read + write)\n", copy);
    bench_decode(16, 32768, 32, 64, copy);
    bench_decode(16, 4096, 32, 64, copy);
    bench_decode(512, 4096, 32, 64, copy);
    if (!quick) bench_decode(512, 8192, 32, 64, copy);
    bench_rope(16, 4096, 32, 64);
    bench_layer(16, 4096, 16, 32768);
    return 0;
}
