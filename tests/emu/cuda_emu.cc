/* cuda_emu.cc: the CPU emulation behind cuda_emu.h (fibers, barriers, delayed cp.async) and the
 * seqbench CUDA helpers of kernels/cuda_api.h and cuda_common.cuh done on the host (memory with a
 * guard page, conversions, a plain fp32-accumulating GEMM standing in for cuBLAS). */
#include "../../kernels/cuda_common.cuh"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

uint3 emu_threadIdx, emu_blockIdx;
dim3 emu_blockDim, emu_gridDim;

/* ---- fibers --------------------------------------------------------------------------------------- */
enum { RUNNABLE, AT_BARRIER, DONE };
struct pending_copy { void *dst; const void *src; };
struct fiber {
    ucontext_t ctx;
    int state;
    uint3 tid;
    std::vector<pending_copy> copies;
};

static const size_t STACK = 256 * 1024;
static std::vector<fiber> fibers;
static std::vector<char *> stacks;
static ucontext_t sched_ctx;
static fiber *cur;
static const std::function<void()> *cur_fn;
static std::vector<float> shfl_slots;
static std::mt19937 order_rng(12345);

static void die(const char *msg) {
    fprintf(stderr, "cuda_emu: %s (block %u,%u,%u thread %u)\n", msg, emu_blockIdx.x, emu_blockIdx.y, emu_blockIdx.z,
            cur ? cur->tid.x : 0u);
    abort();
}

static void trampoline(void) {
    (*cur_fn)();
    if (!cur->copies.empty()) die("thread exited with cp.async copies never waited for");
    cur->state = DONE;
    /* uc_link returns to the scheduler */
}

void emu_syncthreads(void) {
    cur->state = AT_BARRIER;
    swapcontext(&cur->ctx, &sched_ctx);
}

static int linear_tid(void) { return (int)(cur->tid.x + emu_blockDim.x * (cur->tid.y + emu_blockDim.y * cur->tid.z)); }

float emu_shfl_xor(float v, int lane_mask) {
    const int t = linear_tid(), lane = t % 32, src = t - lane + (lane ^ lane_mask);
    shfl_slots[t] = v;
    emu_syncthreads();
    if (src >= (int)shfl_slots.size()) die("shuffle source outside the block");
    const float r = shfl_slots[src];
    emu_syncthreads();
    return r;
}

void emu_cp_async16(void *smem, const void *gmem) {
    if (((uintptr_t)smem & 15) || ((uintptr_t)gmem & 15)) die("cp.async 16: misaligned address");
    cur->copies.push_back({smem, gmem});
}

void emu_cp_async_wait_all(void) {
    for (const pending_copy &c : cur->copies) memcpy(c.dst, c.src, 16);
    cur->copies.clear();
}

static void run_block(unsigned nthreads, const std::function<void()> &fn) {
    if (fibers.size() < nthreads) fibers.resize(nthreads);
    while (stacks.size() < nthreads) stacks.push_back((char *)malloc(STACK));
    shfl_slots.assign(nthreads, NAN);
    cur_fn = &fn;
    for (unsigned i = 0; i < nthreads; i++) {
        fiber &f = fibers[i];
        f.state = RUNNABLE;
        f.copies.clear();
        f.tid = uint3{i % emu_blockDim.x, (i / emu_blockDim.x) % emu_blockDim.y, i / (emu_blockDim.x * emu_blockDim.y)};
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = stacks[i];
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = &sched_ctx;
        makecontext(&f.ctx, trampoline, 0);
    }
    std::vector<unsigned> order(nthreads);
    for (unsigned i = 0; i < nthreads; i++) order[i] = i;
    for (;;) {
        std::shuffle(order.begin(), order.end(), order_rng); /* a new interleaving every phase */
        for (unsigned i : order) {
            if (fibers[i].state != RUNNABLE) continue;
            cur = &fibers[i];
            emu_threadIdx = cur->tid;
            swapcontext(&sched_ctx, &cur->ctx);
        }
        cur = nullptr;
        bool any_waiting = false;
        for (unsigned i = 0; i < nthreads; i++)
            if (fibers[i].state == AT_BARRIER) { fibers[i].state = RUNNABLE; any_waiting = true; }
        if (!any_waiting) break;
    }
}

void emu_run_grid(const char *name, dim3 grid, dim3 block, const std::function<void()> &fn) {
    static const int trace = getenv("EMU_TRACE") && atoi(getenv("EMU_TRACE"));
    if (trace) fprintf(stderr, "emu launch %s grid (%u,%u,%u) block (%u,%u,%u)\n", name, grid.x, grid.y, grid.z, block.x, block.y, block.z);
    const unsigned nthreads = block.x * block.y * block.z;
    if (nthreads == 0 || nthreads > 1024) die("block size outside 1..1024");
    emu_gridDim = grid;
    emu_blockDim = block;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                emu_blockIdx = uint3{x, y, z};
                run_block(nthreads, fn);
            }
}

/* ---- "device" memory: ends at a PROT_NONE page, starts as NaN bytes ------------------------------- */
struct mapping { void *base; size_t len; size_t bytes; };
static std::map<void *, mapping> maps;
static size_t live_bytes, peak_bytes;

extern "C" int sb_cuda_compiled(void) { return 1; }
extern "C" int sb_cuda_device_count(void) { return 1; }

extern "C" sb_status sb_cuda_malloc(void **p, size_t bytes) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), body = (bytes + 15) / 16 * 16;
    const size_t len = (body + page - 1) / page * page + page;
    char *base = (char *)mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return sb_fail(SB_ENOMEM, "emu: mmap of %zu bytes failed", len);
    mprotect(base + len - page, page, PROT_NONE);
    char *ptr = base + len - page - body;
    memset(ptr, 0xff, body);
    maps[ptr] = mapping{base, len, bytes};
    live_bytes += bytes;
    if (live_bytes > peak_bytes) peak_bytes = live_bytes;
    *p = ptr;
    return SB_OK;
}

extern "C" void sb_cuda_free(void *p) {
    if (!p) return;
    auto it = maps.find(p);
    if (it == maps.end()) { fprintf(stderr, "cuda_emu: free of an unknown pointer\n"); abort(); }
    live_bytes -= it->second.bytes;
    munmap(it->second.base, it->second.len);
    maps.erase(it);
}

extern "C" size_t sb_cuda_peak_mem_bytes(void) { return peak_bytes; }
extern "C" void sb_cuda_reset_peak_mem(void) { peak_bytes = live_bytes; }
extern "C" sb_status sb_cuda_memset0(void *p, size_t bytes) { memset(p, 0, bytes); return SB_OK; }
extern "C" sb_status sb_cuda_sync(void) { return SB_OK; }

extern "C" sb_status sb_cuda_upload_f32(void *dst, sb_dtype dt, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (dt == SB_BF16) ((bf16 *)dst)[i] = __float2bfloat16_rn(src[i]);
        else if (dt == SB_I32) ((int *)dst)[i] = (int)src[i];
        else ((float *)dst)[i] = src[i];
    }
    return SB_OK;
}

extern "C" sb_status sb_cuda_download_f32(float *dst, const void *src, sb_dtype dt, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = dt == SB_BF16 ? (float)((const bf16 *)src)[i] : dt == SB_I32 ? (float)((const int *)src)[i] : ((const float *)src)[i];
    return SB_OK;
}

extern "C" sb_status sb_cuda_get_info(sb_cuda_info *ci) {
    memset(ci, 0, sizeof *ci);
    snprintf(ci->name, sizeof ci->name, "cuda_emu (CPU)");
    ci->sms = 132;
    ci->cc_major = 9;
    return SB_OK;
}
extern "C" int sb_cuda_current_sm_clock_mhz(void) { return 0; }
/* Wall-clock "events": kernels run synchronously here, so this times the emulation itself. */
struct sb_cuda_timer { struct timespec start; };
extern "C" sb_status sb_cuda_timer_create(sb_cuda_timer **t) {
    *t = (sb_cuda_timer *)calloc(1, sizeof(sb_cuda_timer));
    return *t ? SB_OK : sb_fail(SB_ENOMEM, "out of host memory");
}
extern "C" void sb_cuda_timer_destroy(sb_cuda_timer *t) { free(t); }
extern "C" sb_status sb_cuda_timer_start(sb_cuda_timer *t) { clock_gettime(CLOCK_MONOTONIC, &t->start); return SB_OK; }
extern "C" sb_status sb_cuda_timer_stop(sb_cuda_timer *t, double *ms) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    *ms = (now.tv_sec - t->start.tv_sec) * 1e3 + (now.tv_nsec - t->start.tv_nsec) * 1e-6;
    return SB_OK;
}
extern "C" sb_status sb_cuda_flush_l2(void) { return SB_OK; }

/* ---- cuda_common.cuh -------------------------------------------------------------------------------- */
cudaStream_t sb_stream(void) { return nullptr; }
sb_status sb_cublas(cublasHandle_t *h) { *h = nullptr; return SB_OK; }
int sb_num_sms(void) { return 132; }

static float load_elem(const void *p, cudaDataType_t dt, size_t i) {
    return dt == CUDA_R_16BF ? (float)((const bf16 *)p)[i] : ((const float *)p)[i];
}

/* y[M,N] = alpha x[M,K] W[N,K]^T + beta y, bf16 inputs, fp32 accumulation, as cublasGemmEx. */
sb_status sb_gemm_linear(const bf16 *x, int ldx, const bf16 *W, int ldw, void *y, cudaDataType_t ydt, int ldy, int M,
                         int K, int N, float alpha, float beta) {
    if (ldx < K || ldw < K || ldy < N) return sb_fail(SB_EINVAL, "emu gemm: bad leading dimension");
    std::vector<float> wf((size_t)N * K);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) wf[(size_t)n * K + k] = (float)W[(size_t)n * ldw + k];
    std::vector<float> xr(K);
    for (int m = 0; m < M; m++) {
        for (int k = 0; k < K; k++) xr[k] = (float)x[(size_t)m * ldx + k];
        for (int n = 0; n < N; n++) {
            float acc = 0.0f;
            const float *w = &wf[(size_t)n * K];
            for (int k = 0; k < K; k++) acc += xr[k] * w[k];
            const size_t i = (size_t)m * ldy + n;
            float v = alpha * acc;
            if (beta != 0.0f) v += beta * load_elem(y, ydt, i);
            if (ydt == CUDA_R_16BF) ((bf16 *)y)[i] = __float2bfloat16_rn(v);
            else ((float *)y)[i] = v;
        }
    }
    return SB_OK;
}

sb_status sb_gemm_linear_batched(const bf16 *x, int ldx, long long sx, const bf16 *W, int ldw, long long sw, void *y,
                                 cudaDataType_t ydt, int ldy, long long sy, int M, int K, int N, int batch, float alpha,
                                 float beta) {
    const size_t es = ydt == CUDA_R_16BF ? 2 : 4;
    for (int b = 0; b < batch; b++)
        SB_TRY(sb_gemm_linear(x + b * sx, ldx, W + b * sw, ldw, (char *)y + b * sy * es, ydt, ldy, M, K, N, alpha, beta));
    return SB_OK;
}

/* The shared prefill scratch, as kernels/cuda_common.cu: one grow-only buffer carved in parts. */
sb_status sb_cuda_scratch_parts(void **ptrs[], const size_t bytes[], int n) {
    static void *buf = nullptr;
    static size_t cap = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (bytes[i] + 255) & ~(size_t)255;
    if (total > cap) {
        sb_cuda_free(buf);
        buf = nullptr;
        cap = 0;
        SB_TRY(sb_cuda_malloc(&buf, total));
        cap = total;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        *ptrs[i] = (char *)buf + off;
        off += (bytes[i] + 255) & ~(size_t)255;
    }
    return SB_OK;
}

sb_status sb_upload_param_bf16(const float *host, size_t n, bf16 **dev) {
    SB_TRY(sb_cuda_malloc((void **)dev, n * sizeof(bf16)));
    return sb_cuda_upload_f32(*dev, SB_BF16, host, n);
}

sb_status sb_upload_param_f32(const float *host, size_t n, float **dev) {
    SB_TRY(sb_cuda_malloc((void **)dev, n * sizeof(float)));
    return sb_cuda_upload_f32(*dev, SB_F32, host, n);
}
