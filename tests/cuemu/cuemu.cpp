/* cuemu.cpp: how cuemu runs a kernel: fibers for threads, barriers, warp collectives, the
 * shared-memory window, cp.async, and the tensor-core fragment models (mma, ldmatrix, movmatrix).
 *
 * Environment: CUEMU_ORDER=rand (default) | fwd | rev: the order of the warps in each barrier phase
 * and of the lanes between warp collectives (rand also lands about half the cp.async groups at commit
 * rather than at the wait); CUEMU_SEED=n seeds rand (default 1); CUEMU_LOG=file appends the name of
 * every kernel this process runs, once per kernel. */
#include "cuemu.h"

#undef _FORTIFY_SOURCE /* its longjmp check refuses jumps between stacks, which fibers are */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

uint3 cuemu_thread_idx, cuemu_block_idx;
dim3 cuemu_block_dim, cuemu_grid_dim;

namespace {

enum State { RUN, BAR, WARP, DONE };

struct Copy {
    void *dst;
    const void *src;
    int cp_size, src_size;
};

struct Fiber {
    ucontext_t start; /* to enter the fiber the first time */
    jmp_buf ctx;      /* where it yielded (_setjmp/_longjmp: no signal-mask system call per switch) */
    bool started;
    char *stack = nullptr;
    State state = RUN;
    std::vector<Copy> open;                /* cp.async issued, not yet committed */
    std::vector<std::vector<Copy>> groups; /* committed and not yet landed, oldest first */
};

struct Warp {
    int arrived = 0, lanes = 32;
    unsigned gen = 0;
    unsigned char slot[2][32][64]; /* double-buffered by generation: lanes read while others deposit */
};

struct Region { /* a piece of the block's shared-memory window */
    unsigned char *host;
    uint32_t addr;
    size_t bytes;
};

const size_t STACK = 256 * 1024;
const int MAX_THREADS = 1024;

jmp_buf sched_ctx;
std::vector<Fiber> fibers(MAX_THREADS);
std::vector<Warp> warps(MAX_THREADS / 32);
int nthreads, cur = -1, bar_arrived, done;
const std::function<void()> *body;
const char *kernel_name = nullptr; /* while a grid runs */
std::vector<unsigned char> dyn_buf;
unsigned char *dyn_smem;
std::vector<Region> regions;
uint32_t window_end;

struct Order {
    int mode; /* 0 rand, 1 fwd, 2 rev */
    std::mt19937 rng;
    Order() {
        const char *o = getenv("CUEMU_ORDER"), *s = getenv("CUEMU_SEED");
        mode = !o || !strcmp(o, "rand") ? 0 : !strcmp(o, "fwd") ? 1 : !strcmp(o, "rev") ? 2 : -1;
        if (mode < 0) cuemu_die("CUEMU_ORDER=%s: use rand, fwd or rev", o);
        rng.seed(s ? strtoul(s, nullptr, 10) : 1);
    }
};
Order &order() {
    static Order o;
    return o;
}

void release_barrier() {
    for (int t = 0; t < nthreads; t++)
        if (fibers[t].state == BAR) fibers[t].state = RUN;
    bar_arrived = 0;
}

void fiber_main() {
    (*body)();
    Fiber &f = fibers[cur];
    bool pending = !f.open.empty();
    for (const auto &g : f.groups) pending |= !g.empty();
    if (pending) cuemu_die("thread exits with cp.async copies it never waited for");
    f.state = DONE;
    done++;
    if (bar_arrived > 0 && bar_arrived + done == nthreads) release_barrier(); /* it waited for this thread only */
    _longjmp(sched_ctx, 1); /* its stack is abandoned */
}

void set_thread(int t) {
    cur = t;
    cuemu_thread_idx.x = t % cuemu_block_dim.x;
    cuemu_thread_idx.y = t / cuemu_block_dim.x % cuemu_block_dim.y;
    cuemu_thread_idx.z = t / (cuemu_block_dim.x * cuemu_block_dim.y);
}

void block_yield() {
    if (!_setjmp(fibers[cur].ctx)) _longjmp(sched_ctx, 1);
}

/* Runs thread t until it blocks or exits. */
void resume(int t) {
    set_thread(t);
    if (_setjmp(sched_ctx)) return;
    Fiber &f = fibers[t];
    if (f.started) _longjmp(f.ctx, 1);
    f.started = true;
    ucontext_t unused;
    swapcontext(&unused, &f.start);
}

void start_fibers() {
    for (int t = 0; t < nthreads; t++) {
        Fiber &f = fibers[t];
        if (!f.stack) { /* a guard page below each stack catches an overflow */
            f.stack = (char *)mmap(nullptr, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (f.stack == MAP_FAILED) cuemu_die("out of memory for thread stacks");
            mprotect(f.stack, 4096, PROT_NONE);
        }
        f.state = RUN;
        f.open.clear();
        f.groups.clear();
        f.started = false;
        getcontext(&f.start);
        f.start.uc_stack.ss_sp = f.stack;
        f.start.uc_stack.ss_size = STACK;
        f.start.uc_link = nullptr;
        makecontext(&f.start, fiber_main, 0);
    }
    for (int w = 0; w * 32 < nthreads; w++) warps[w].arrived = 0, warps[w].lanes = std::min(32, nthreads - 32 * w);
    bar_arrived = done = 0;
}

/* Orders 0..n-1 for this pass: shuffled, forward or reversed. */
void arrange(std::vector<int> &seq, int n) {
    seq.resize(n);
    for (int i = 0; i < n; i++) seq[i] = order().mode == 2 ? n - 1 - i : i;
    if (order().mode == 0) std::shuffle(seq.begin(), seq.end(), order().rng);
}

/* Runs warp w until each of its threads waits at __syncthreads or has exited; between warp
 * collectives its lanes run one after the other in the pass's order. Returns whether any ran. */
bool run_warp(int w) {
    std::vector<int> lanes;
    bool ran_any = false;
    for (bool ran = true; ran; ran_any |= ran) {
        ran = false;
        arrange(lanes, warps[w].lanes);
        for (int l : lanes)
            if (fibers[32 * w + l].state == RUN) {
                resume(32 * w + l);
                ran = true;
            }
    }
    return ran_any;
}

/* Each pass runs every warp up to the next barrier, warps in the pass's order: between two barriers
 * one warp may run all its code before another starts, as warps may on a GPU. */
void run_block() {
    start_fibers();
    std::vector<int> seq;
    while (done < nthreads) {
        arrange(seq, (nthreads + 31) / 32);
        bool ran = false;
        for (int w : seq) ran |= run_warp(w);
        cur = -1;
        if (!ran) {
            int bar = 0, warp = 0;
            for (int t = 0; t < nthreads; t++) bar += fibers[t].state == BAR, warp += fibers[t].state == WARP;
            cuemu_die("deadlock: %d threads wait at __syncthreads, %d at a warp collective, %d exited", bar, warp, done);
        }
    }
}

uint16_t half_of(uint32_t reg, int hi) { return (uint16_t)(hi ? reg >> 16 : reg & 0xffff); }
float bf16_bits_to_f32(uint16_t b) {
    __nv_bfloat16 v;
    v.x = b;
    return v;
}

void land(const Copy &c) {
    memcpy(c.dst, c.src, c.src_size);
    memset((char *)c.dst + c.src_size, 0, c.cp_size - c.src_size);
}

} // namespace

/* ---- errors and the launch log -------------------------------------------------------------------- */
void cuemu_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cuemu: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (kernel_name)
        fprintf(stderr, "\n  in %s, block (%u,%u,%u)", kernel_name, cuemu_block_idx.x, cuemu_block_idx.y, cuemu_block_idx.z);
    if (cur >= 0) fprintf(stderr, ", thread %d", cur);
    fprintf(stderr, "\n");
    abort();
}

void cuemu_kernel_entry(const char *name, int max_threads) {
    kernel_name = name;
    if (max_threads > 0 && nthreads > max_threads)
        cuemu_die("launched with %d threads per block, __launch_bounds__ allows %d", nthreads, max_threads);
    static std::set<const char *> seen;
    static FILE *log = getenv("CUEMU_LOG") ? fopen(getenv("CUEMU_LOG"), "a") : nullptr;
    if (log && seen.insert(name).second) {
        fprintf(log, "%s\n", name);
        fflush(log);
    }
}

/* ---- blocks and grids ------------------------------------------------------------------------------- */
void cuemu_run_grid(dim3 grid, dim3 block, size_t smem, const std::function<void()> &fn) {
    cuemu_grid_dim = grid;
    cuemu_block_dim = block;
    nthreads = (int)(block.x * block.y * block.z);
    body = &fn;
    kernel_name = "a kernel";
    dyn_buf.resize(smem + 128);
    dyn_smem = dyn_buf.data() + (128 - (uintptr_t)dyn_buf.data() % 128) % 128;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                cuemu_block_idx = {x, y, z};
                memset(dyn_smem, 0xff, smem); /* NaN bytes: a read of unwritten shared memory shows */
                regions.assign(1, Region{dyn_smem, 0, smem});
                window_end = (uint32_t)(smem + 15) / 16 * 16;
                run_block();
            }
    kernel_name = nullptr;
}

int cuemu_lane(void) { return cur % 32; }

void cuemu_syncthreads(void) {
    if (++bar_arrived + done == nthreads) return release_barrier(); /* the last one in releases all */
    fibers[cur].state = BAR;
    block_yield();
}

const unsigned char (*cuemu_warp_exchange(unsigned mask, const void *in, size_t bytes))[64] {
    if (mask != 0xffffffffu) cuemu_die("warp collective with mask %#x: only full-warp masks are modelled", mask);
    Warp &w = warps[cur / 32];
    const unsigned gen = w.gen;
    if (bytes) memcpy(w.slot[gen & 1][cur % 32], in, bytes);
    if (++w.arrived == w.lanes) {
        w.arrived = 0;
        w.gen++;
        for (int l = 0; l < w.lanes; l++)
            if (fibers[cur / 32 * 32 + l].state == WARP) fibers[cur / 32 * 32 + l].state = RUN;
    } else {
        fibers[cur].state = WARP;
        block_yield();
    }
    return w.slot[gen & 1];
}

/* ---- the shared-memory window: dynamic at address 0, static variables after it --------------------- */
unsigned char *cuemu_dyn_smem(void) { return dyn_smem; }

void cuemu_shared_var(void *p, size_t bytes) {
    for (const Region &r : regions)
        if (r.host == p) return;
    memset(p, 0xff, bytes); /* the first thread of the block to declare it: NaN bytes */
    regions.push_back({(unsigned char *)p, window_end, bytes});
    window_end += (uint32_t)(bytes + 15) / 16 * 16;
}

uint32_t cuemu_cvta_shared(const void *p) {
    const unsigned char *c = (const unsigned char *)p;
    for (const Region &r : regions)
        if (c >= r.host && c < r.host + r.bytes) return r.addr + (uint32_t)(c - r.host);
    cuemu_die("%p is not a shared-memory address", p);
}

void *cuemu_shared_ptr(uint32_t addr, size_t bytes) {
    for (const Region &r : regions)
        if (addr >= r.addr && addr + bytes <= r.addr + r.bytes) return r.host + (addr - r.addr);
    cuemu_die("shared address %#x (+%zu bytes) is outside the block's shared memory", addr, bytes);
}

/* ---- cp.async ------------------------------------------------------------------------------------------ */
void cuemu_cp_async(uint32_t dst, const void *src, int cp_size, int src_size) {
    if (dst % cp_size || (uintptr_t)src % cp_size) cuemu_die("cp.async of %d bytes: misaligned %#x <- %p", cp_size, dst, src);
    if (src_size < 0 || src_size > cp_size) cuemu_die("cp.async src-size %d > cp-size %d", src_size, cp_size);
    if (src_size > 0 && !cuemu_is_device(src, src_size)) cuemu_die("cp.async source %p is not device memory", src);
    fibers[cur].open.push_back({cuemu_shared_ptr(dst, cp_size), src, cp_size, src_size});
}

void cuemu_cp_async_commit(void) {
    Fiber &f = fibers[cur];
    if (order().mode == 0 && order().rng() % 2) { /* this group lands now: as legal as landing at the wait */
        for (const Copy &c : f.open) land(c);
        f.open.clear();
    }
    f.groups.push_back(std::move(f.open));
    f.open.clear();
}

void cuemu_cp_async_wait(int n) {
    Fiber &f = fibers[cur];
    while ((int)f.groups.size() > n) {
        for (const Copy &c : f.groups.front()) land(c);
        f.groups.erase(f.groups.begin());
    }
}

/* ---- tensor-core fragments (PTX ISA, g = lane/4, t = lane%4) ------------------------------------------ */
/* mma.m16n8k16 .row.col bf16 -> f32: A a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..);
 * B b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g); C, D c0 c1 (g, 2t..2t+1), c2 c3 (g+8, 2t..). The products
 * are summed in double (the tensor cores' own fp32 order is not modelled). */
void cuemu_mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    struct { uint32_t a[4], b[2]; } me;
    memcpy(me.a, a, sizeof me.a);
    memcpy(me.b, b, sizeof me.b);
    auto all = cuemu_warp_exchange(0xffffffffu, &me, sizeof me);
    float A[16][16], B[16][8];
    for (int l = 0; l < 32; l++) {
        memcpy(&me, all[l], sizeof me);
        const int g = l / 4, t = l % 4;
        for (int r = 0; r < 4; r++)
            for (int h = 0; h < 2; h++) A[g + 8 * (r & 1)][2 * t + 8 * (r >> 1) + h] = bf16_bits_to_f32(half_of(me.a[r], h));
        for (int r = 0; r < 2; r++)
            for (int h = 0; h < 2; h++) B[2 * t + 8 * r + h][g] = bf16_bits_to_f32(half_of(me.b[r], h));
    }
    const int g = cuemu_lane() / 4, t = cuemu_lane() % 4;
    for (int i = 0; i < 4; i++) {
        const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
        double s = c[i];
        for (int k = 0; k < 16; k++) s += (double)A[row][k] * B[k][col];
        d[i] = (float)s;
    }
}

/* ldmatrix .m8n8 .x4 .b16: lanes 8i..8i+7 give the 16-byte row addresses of matrix i; register i of
 * lane l gets (row l/4, cols 2(l%4), 2(l%4)+1) of matrix i, or of its transpose with .trans. */
void cuemu_ldmatrix_x4(uint32_t r[4], uint32_t addr, bool trans) {
    if (addr % 16) cuemu_die("ldmatrix row address %#x is not 16-byte aligned", addr);
    auto all = cuemu_warp_exchange(0xffffffffu, &addr, sizeof addr);
    const int l = cuemu_lane();
    for (int i = 0; i < 4; i++) {
        auto elem = [&](int row, int col) {
            uint32_t a;
            memcpy(&a, all[8 * i + row], sizeof a);
            return (uint32_t)((const uint16_t *)cuemu_shared_ptr(a, 16))[col];
        };
        const int row = l / 4, col = 2 * (l % 4);
        r[i] = trans ? elem(col, row) | elem(col + 1, row) << 16 : elem(row, col) | elem(row, col + 1) << 16;
    }
}

/* movmatrix .m8n8 .trans .b16: lane l holds (row l/4, cols 2(l%4)..+1) and gets the same positions of
 * the transpose. */
uint32_t cuemu_movmatrix_trans(uint32_t a) {
    auto all = cuemu_warp_exchange(0xffffffffu, &a, sizeof a);
    auto elem = [&](int row, int col) { /* M[row][col] lives in lane 4 row + col/2, half col%2 */
        uint32_t v;
        memcpy(&v, all[4 * row + col / 2], sizeof v);
        return (uint32_t)half_of(v, col % 2);
    };
    const int l = cuemu_lane();
    return elem(2 * (l % 4), l / 4) | elem(2 * (l % 4) + 1, l / 4) << 16;
}
