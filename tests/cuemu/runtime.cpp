/* runtime.cpp: the CUDA runtime and cuBLAS as cuemu models them, enough for runtime/cuda_runtime.cu
 * and the launchers to run unchanged on the CPU:
 *   - one device ("cuemu", sm_90, 132 SMs, 227 KB of shared memory per block with opt-in);
 *   - device memory: host pages, NaN bytes at first, a guard page right after each allocation
 *     (16-byte aligned ends: a read past the end faults), copies and memsets checked to stay inside
 *     one allocation;
 *   - every stream is the same synchronous queue: work runs when enqueued, events read the host clock;
 *   - stream capture records launches, memsets, device-to-device copies and GEMMs (with their
 *     arguments as of the capture) and a graph replays them; a synchronization, an allocation, a free
 *     or a host copy during a capture fails it, as on a GPU;
 *   - launches check the grid and block sizes and the dynamic shared memory against the kernel's
 *     cudaFuncAttributeMaxDynamicSharedMemorySize (48 KB by default); errors reach cudaGetLastError;
 *   - cublasGemmEx / cublasGemmStridedBatchedEx: column-major, op N/T, bf16 or fp32 operands, fp32
 *     accumulation in a plain loop, C not read when beta = 0. */
#include "cuemu.h"

#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <vector>

namespace {

const int SMEM_OPTIN = 227 * 1024, SMEM_DEFAULT = 48 * 1024, SMS = 132;

cudaError_t last_error = cudaSuccess;
cudaError_t fail(cudaError_t e) { return last_error = e; }

/* ---- device memory --------------------------------------------------------------------------------- */
struct Mapping {
    char *base;
    size_t len, bytes;
};
std::map<const char *, Mapping> allocs; /* by the pointer handed out */

/* ---- the queue and its capture -------------------------------------------------------------------- */
struct Capture {
    bool on = false, broken = false;
    cudaStream_t stream = nullptr;
    std::vector<std::function<void()>> nodes;
} capture;

/* Runs `work` now, or records it while `s` is being captured. */
void enqueue(cudaStream_t s, std::function<void()> work) {
    if (capture.on && s == capture.stream) capture.nodes.push_back(std::move(work));
    else work();
}

/* Calls that a GPU refuses during a capture (they would synchronize or leave the graph). */
bool refused_by_capture() {
    if (!capture.on) return false;
    capture.broken = true;
    fail(cudaErrorStreamCaptureUnsupported);
    return true;
}

double now_ms() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

std::map<const void *, int> max_dyn_smem; /* cudaFuncSetAttribute, by kernel */

} // namespace

struct cuemu_stream { int unused; };
struct cuemu_event { double ms; };
struct cuemu_graph { std::vector<std::function<void()>> nodes; };
struct cuemu_cublas { cudaStream_t stream; };

bool cuemu_is_device(const void *p, size_t bytes) {
    auto it = allocs.upper_bound((const char *)p);
    if (it == allocs.begin()) return false;
    --it;
    return (const char *)p + bytes <= it->first + it->second.bytes;
}

/* ---- errors and the device ------------------------------------------------------------------------------ */
const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    }
    return "cudaErrorUnknown";
}
const char *cudaGetErrorString(cudaError_t e) { return cudaGetErrorName(e); }
cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaGetDeviceCount(int *n) { return *n = 1, cudaSuccess; }
cudaError_t cudaGetDevice(int *d) { return *d = 0, cudaSuccess; }
cudaError_t cudaRuntimeGetVersion(int *v) { return *v = 0, cudaSuccess; }
cudaError_t cudaDriverGetVersion(int *v) { return *v = 0, cudaSuccess; }

/* Clocks 0 (unknown): no peak FLOP/s or bandwidth is claimed for a CPU model. A 1 MB "L2" keeps the
 * benchmark's L2 flush cheap. */
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr attr, int dev) {
    if (dev != 0) return fail(cudaErrorInvalidValue);
    switch (attr) {
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = SMEM_OPTIN; break;
    case cudaDevAttrMultiProcessorCount: *v = SMS; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    case cudaDevAttrL2CacheSize: *v = 1 << 20; break;
    default: *v = 0;
    }
    return cudaSuccess;
}

/* The model's 16 GiB of "device memory" (host memory in fact), all of it free. */
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    *free_bytes = *total_bytes = (size_t)16 << 30;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev) {
    if (dev != 0) return fail(cudaErrorInvalidValue);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cuemu (CPU model of sm_90)");
    p->totalGlobalMem = (size_t)16 << 30;
    p->multiProcessorCount = SMS;
    p->major = 9;
    p->l2CacheSize = 1 << 20;
    return cudaSuccess;
}

int cuemu_occupancy(int threads, size_t smem) {
    int blocks = std::min(32, 2048 / std::max(threads, 1));
    return smem ? std::min(blocks, (int)(SMEM_OPTIN / smem)) : blocks;
}

/* ---- memory -------------------------------------------------------------------------------------------- */
cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = nullptr;
    if (refused_by_capture()) return last_error;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), body = (bytes + 15) / 16 * 16;
    const size_t len = (body + page - 1) / page * page + page;
    char *base = (char *)mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return fail(cudaErrorMemoryAllocation);
    mprotect(base + len - page, page, PROT_NONE);
    char *ptr = base + len - page - body;
    memset(ptr, 0xff, body);
    allocs[ptr] = {base, len, bytes};
    *p = ptr;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    if (refused_by_capture()) return last_error;
    auto it = allocs.find((const char *)p);
    if (it == allocs.end()) return fail(cudaErrorInvalidValue);
    munmap(it->second.base, it->second.len);
    allocs.erase(it);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind, cudaStream_t s) {
    const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if ((dst_dev && !cuemu_is_device(dst, n)) || (src_dev && !cuemu_is_device(src, n)) || kind == cudaMemcpyDefault)
        return fail(cudaErrorInvalidValue);
    if (kind != cudaMemcpyDeviceToDevice && refused_by_capture()) return last_error; /* pageable host memory */
    enqueue(s, [=] { memcpy(dst, src, n); });
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s) {
    if (!cuemu_is_device(p, n)) return fail(cudaErrorInvalidValue);
    enqueue(s, [=] { memset(p, v, n); });
    return cudaSuccess;
}

/* ---- streams, events, graphs ------------------------------------------------------------------------------ */
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    (void)flags;
    *s = new cuemu_stream();
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) { return (void)s, refused_by_capture() ? last_error : cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return refused_by_capture() ? last_error : cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t *e) { return *e = new cuemu_event{0}, cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t e) { return delete e, cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    enqueue(s, [e] { e->ms = now_ms(); });
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) { return (void)e, refused_by_capture() ? last_error : cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) { return *ms = (float)(b->ms - a->ms), cudaSuccess; }

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
    (void)mode; /* every mode refuses the same calls here */
    if (capture.on) return fail(cudaErrorIllegalState);
    capture = Capture();
    capture.on = true;
    capture.stream = s;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
    *g = nullptr;
    if (!capture.on || s != capture.stream) return fail(cudaErrorIllegalState);
    capture.on = false;
    if (capture.broken) return fail(cudaErrorStreamCaptureInvalidated);
    *g = new cuemu_graph{std::move(capture.nodes)};
    return cudaSuccess;
}

cudaError_t cudaGraphGetNodes(cudaGraph_t g, cudaGraphNode_t *nodes, size_t *n) {
    if (nodes) return fail(cudaErrorInvalidValue); /* only the count is modelled */
    return *n = g->nodes.size(), cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long flags) {
    (void)flags;
    return *e = new cuemu_graph(*g), cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
    for (const auto &node : e->nodes) enqueue(s, node);
    return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) { return delete e, cudaSuccess; }
cudaError_t cudaGraphDestroy(cudaGraph_t g) { return delete g, cudaSuccess; }

/* ---- launches ----------------------------------------------------------------------------------------------- */
cudaError_t cuemu_func_set_attribute(const void *f, cudaFuncAttribute attr, int v) {
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || v < 0 || v > SMEM_OPTIN) return fail(cudaErrorInvalidValue);
    max_dyn_smem[f] = v;
    return cudaSuccess;
}

void cuemu_launch_grid(const void *kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t st, std::function<void()> body) {
    auto limit = max_dyn_smem.find(kernel);
    const size_t smem_max = limit == max_dyn_smem.end() ? SMEM_DEFAULT : limit->second;
    const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (!grid.x || !grid.y || !grid.z || grid.y > 65535 || grid.z > 65535 || grid.x > 0x7fffffffu || !threads ||
        threads > 1024 || block.z > 64 || smem > smem_max) {
        fail(cudaErrorInvalidConfiguration);
        return;
    }
    enqueue(st, [=] { cuemu_run_grid(grid, block, smem, body); });
}

/* ---- cuBLAS -------------------------------------------------------------------------------------------------- */
cublasStatus_t cublasCreate(cublasHandle_t *h) { return *h = new cuemu_cublas{nullptr}, CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) { return h->stream = s, CUBLAS_STATUS_SUCCESS; }

namespace {

float load(const void *p, cudaDataType_t t, size_t i) {
    return t == CUDA_R_16BF ? (float)((const __nv_bfloat16 *)p)[i] : ((const float *)p)[i];
}

/* op(X) of a column-major X (ld) as a row-major [rows][cols] float matrix. */
std::vector<float> op_rows(const void *X, cudaDataType_t t, int ld, cublasOperation_t op, int rows, int cols) {
    std::vector<float> out((size_t)rows * cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(size_t)r * cols + c] = load(X, t, op == CUBLAS_OP_N ? r + (size_t)c * ld : c + (size_t)r * ld);
    return out;
}

struct Gemm {
    cublasOperation_t ta, tb;
    int m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const void *A, *B;
    void *C;
    cudaDataType_t at, bt, ct;
};

/* C = alpha op(A) op(B) + beta C, [m,n] = [m,k] [k,n], all column-major. */
void gemm(const Gemm &g) {
    const std::vector<float> a = op_rows(g.A, g.at, g.lda, g.ta, g.m, g.k); /* [m][k] */
    const std::vector<float> b = op_rows(g.B, g.bt, g.ldb, g.tb == CUBLAS_OP_N ? CUBLAS_OP_T : CUBLAS_OP_N, g.n, g.k); /* [n][k] */
    for (int j = 0; j < g.n; j++)
        for (int i = 0; i < g.m; i++) {
            float acc = 0.0f;
            for (int l = 0; l < g.k; l++) acc += a[(size_t)i * g.k + l] * b[(size_t)j * g.k + l];
            const size_t ci = i + (size_t)j * g.ldc;
            const float v = g.alpha * acc + (g.beta != 0.0f ? g.beta * load(g.C, g.ct, ci) : 0.0f);
            if (g.ct == CUDA_R_16BF) ((__nv_bfloat16 *)g.C)[ci] = __nv_bfloat16(v);
            else ((float *)g.C)[ci] = v;
        }
}

size_t extent(int ld, int rows, int cols) { return cols ? (size_t)ld * (cols - 1) + rows : 0; } /* elements spanned */

} // namespace

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                          const void *alpha, const void *A, cudaDataType_t at, int lda, long long sa,
                                          const void *B, cudaDataType_t bt, int ldb, long long sb, const void *beta, void *C,
                                          cudaDataType_t ct, int ldc, long long sc, int batch, cublasComputeType_t ctype,
                                          cublasGemmAlgo_t algo) {
    (void)algo;
    const int arows = ta == CUBLAS_OP_N ? m : k, brows = tb == CUBLAS_OP_N ? k : n;
    if (!h || m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1, arows) || ldb < std::max(1, brows) ||
        ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if ((at != CUDA_R_16BF && at != CUDA_R_32F) || bt != at || (ct != CUDA_R_16BF && ct != CUDA_R_32F) ||
        ctype != CUBLAS_COMPUTE_32F)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    const size_t as = at == CUDA_R_16BF ? 2 : 4, cs = ct == CUDA_R_16BF ? 2 : 4;
    for (int i = 0; i < batch; i++) {
        Gemm g = {ta, tb, m, n, k, lda, ldb, ldc, *(const float *)alpha, *(const float *)beta,
                  (const char *)A + i * sa * as, (const char *)B + i * sb * as, (char *)C + i * sc * cs, at, bt, ct};
        if (!cuemu_is_device(g.A, extent(lda, arows, ta == CUBLAS_OP_N ? k : m) * as) ||
            !cuemu_is_device(g.B, extent(ldb, brows, tb == CUBLAS_OP_N ? n : k) * as) ||
            !cuemu_is_device(g.C, extent(ldc, m, n) * cs))
            cuemu_die("cublasGemmEx: an operand reaches outside its device allocation (batch %d, m %d n %d k %d)", i, m, n, k);
        enqueue(h->stream, [g] { gemm(g); });
    }
    return CUBLAS_STATUS_SUCCESS;
}
