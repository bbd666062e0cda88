/* cuemu.cpp: the runtime of cuemu.h: fibers, barriers, warp collectives, the PTX models. */
#include "cuemu.h"

#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include <algorithm>
#include <random>
#include <vector>

uint3 cuemu_thread_idx, cuemu_block_idx;
dim3 cuemu_block_dim, cuemu_grid_dim;

namespace {

enum State { RUN, BAR, WARP, DONE };

struct Copy {
    void *dst;
    const void *src;
    int bytes, src_bytes;
};

struct Fiber {
    ucontext_t ctx;
    std::vector<char> stack;
    State state = RUN;
    unsigned warp_gen = 0;
    std::vector<Copy> open;                 /* cp.async issued, not yet committed */
    std::vector<std::vector<Copy>> groups;  /* committed, oldest first */
};

struct Warp {
    int arrived = 0, lanes = 32;
    unsigned gen = 0;
    unsigned char slot[2][32][64];
};

struct Block {
    std::vector<Fiber> th;
    std::vector<Warp> warps;
    int bar_arrived = 0, done = 0;
    std::vector<unsigned char> smem;
    const std::function<void()> *body = nullptr;
};

ucontext_t sched_ctx;
Block blk;
int cur = -1;
const size_t STACK = 256 * 1024;

void set_ids(int t) {
    const unsigned bx = cuemu_block_dim.x, by = cuemu_block_dim.y;
    cuemu_thread_idx.x = t % bx;
    cuemu_thread_idx.y = (t / bx) % by;
    cuemu_thread_idx.z = t / (bx * by);
}

void yield_to_scheduler() { swapcontext(&blk.th[cur].ctx, &sched_ctx); }

void fiber_main() {
    (*blk.body)();
    Fiber &f = blk.th[cur];
    if (!f.open.empty() || !f.groups.empty()) { /* copies never waited for: do them, but say so */
        fprintf(stderr, "cuemu: thread %d exits with cp.async copies never waited for\n", cur);
        abort();
    }
    f.state = DONE;
    blk.done++;
    if (blk.bar_arrived > 0 && blk.bar_arrived + blk.done == (int)blk.th.size()) {
        for (auto &t : blk.th)
            if (t.state == BAR) t.state = RUN;
        blk.bar_arrived = 0;
    }
    /* returning ends the fiber: uc_link = sched_ctx */
}

int order_mode() {
    static int m = -1;
    if (m < 0) {
        const char *e = getenv("CUEMU_ORDER");
        m = !e || !strcmp(e, "fwd") ? 0 : !strcmp(e, "rev") ? 1 : 2;
    }
    return m;
}

void run_block(int nthreads) {
    blk.th.clear();
    blk.th.resize(nthreads);
    blk.warps.assign((nthreads + 31) / 32, Warp());
    for (size_t w = 0; w < blk.warps.size(); w++) blk.warps[w].lanes = std::min(32, nthreads - (int)w * 32);
    blk.bar_arrived = blk.done = 0;
    for (int t = 0; t < nthreads; t++) {
        Fiber &f = blk.th[t];
        f.stack.resize(STACK);
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack.data();
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = &sched_ctx;
        makecontext(&f.ctx, fiber_main, 0);
    }
    std::vector<int> order(nthreads);
    for (int t = 0; t < nthreads; t++) order[t] = t;
    static std::mt19937 rng(12345);
    for (;;) {
        if (order_mode() == 1) std::reverse(order.begin(), order.end());
        if (order_mode() == 2) std::shuffle(order.begin(), order.end(), rng);
        bool ran = false;
        for (int t : order) {
            if (blk.th[t].state != RUN) continue;
            cur = t;
            set_ids(t);
            ran = true;
            swapcontext(&sched_ctx, &blk.th[t].ctx);
            cur = -1;
        }
        if (blk.done == nthreads) break;
        if (!ran) {
            int bar = 0, warp = 0;
            for (auto &f : blk.th) bar += f.state == BAR, warp += f.state == WARP;
            fprintf(stderr, "cuemu: deadlock in block (%u,%u,%u): %d threads at __syncthreads, %d at a warp collective, %d done\n",
                    cuemu_block_idx.x, cuemu_block_idx.y, cuemu_block_idx.z, bar, warp, blk.done);
            abort();
        }
    }
}

uint16_t bf16_bits(uint32_t reg, int hi) { return (uint16_t)(hi ? reg >> 16 : reg & 0xffff); }
float bits_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

} // namespace

unsigned char *cuemu_dyn_smem(void) { return blk.smem.data(); }
int cuemu_lane(void) { return cur % 32; }

void cuemu_syncthreads(void) {
    blk.bar_arrived++;
    if (blk.bar_arrived + blk.done == (int)blk.th.size()) { /* the last one in releases all */
        for (auto &t : blk.th)
            if (t.state == BAR) t.state = RUN;
        blk.bar_arrived = 0;
        return;
    }
    blk.th[cur].state = BAR;
    yield_to_scheduler();
}

const unsigned char (*cuemu_warp_exchange(const void *in, size_t bytes))[64] {
    Warp &w = blk.warps[cur / 32];
    const unsigned gen = w.gen;
    if (bytes > 64) abort();
    if (bytes) memcpy(w.slot[gen & 1][cur % 32], in, bytes);
    if (++w.arrived == w.lanes) {
        w.arrived = 0;
        w.gen++;
        for (int l = 0; l < w.lanes; l++) {
            Fiber &f = blk.th[(cur / 32) * 32 + l];
            if (f.state == WARP) f.state = RUN;
        }
    } else {
        blk.th[cur].state = WARP;
        blk.th[cur].warp_gen = gen;
        yield_to_scheduler();
    }
    return w.slot[gen & 1];
}

void cuemu_run_grid(dim3 grid, dim3 block, size_t smem, const std::function<void()> &body) {
    cuemu_grid_dim = grid;
    cuemu_block_dim = block;
    const int nthreads = (int)(block.x * block.y * block.z);
    blk.body = &body;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                cuemu_block_idx.x = x, cuemu_block_idx.y = y, cuemu_block_idx.z = z;
                blk.smem.assign(smem + 16, 0xff); /* NaN bytes: reads of unwritten shared memory show */
                run_block(nthreads);
            }
}

/* D = A B + C, m16n8k16, per the PTX ISA fragment tables (see ttt_kernels.cuh). */
void mma_bf16_16816(float c[4], const uint32_t a[4], const uint32_t b[2]) {
    struct Dep {
        uint32_t a[4], b[2];
    } me;
    memcpy(me.a, a, sizeof me.a);
    memcpy(me.b, b, sizeof me.b);
    auto all = cuemu_warp_exchange(&me, sizeof me);
    float A[16][16], B[16][8];
    for (int l = 0; l < 32; l++) {
        Dep d;
        memcpy(&d, all[l], sizeof d);
        const int g = l >> 2, t = l & 3;
        for (int r = 0; r < 4; r++) {
            const int row = g + 8 * (r & 1), col = 2 * t + 8 * (r >> 1);
            A[row][col] = bits_to_f32(bf16_bits(d.a[r], 0));
            A[row][col + 1] = bits_to_f32(bf16_bits(d.a[r], 1));
        }
        for (int r = 0; r < 2; r++) {
            const int k = 2 * t + 8 * r;
            B[k][g] = bits_to_f32(bf16_bits(d.b[r], 0));
            B[k + 1][g] = bits_to_f32(bf16_bits(d.b[r], 1));
        }
    }
    const int l = cuemu_lane(), g = l >> 2, t = l & 3;
    for (int i = 0; i < 4; i++) {
        const int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
        double s = c[i];
        for (int k = 0; k < 16; k++) s += (double)A[row][k] * B[k][col];
        c[i] = (float)s;
    }
}

/* ldmatrix .m8n8 .x4 .b16: lanes 8i..8i+7 address the rows of matrix i; register i of lane l gets
 * (row l/4, cols 2(l%4), 2(l%4)+1) of matrix i, or of its transpose with .trans. */
void cuemu_ldsm_x4(uint32_t r[4], const void *row, bool trans) {
    if ((uintptr_t)row % 16) {
        fprintf(stderr, "cuemu: ldmatrix row address %p not 16-byte aligned\n", row);
        abort();
    }
    auto all = cuemu_warp_exchange(&row, sizeof row);
    const int l = cuemu_lane();
    for (int i = 0; i < 4; i++) {
        auto elem = [&](int rr, int cc) {
            const uint16_t *p;
            memcpy(&p, all[8 * i + rr], sizeof p);
            return (uint32_t)p[cc];
        };
        uint32_t lo, hi;
        if (!trans) lo = elem(l / 4, 2 * (l % 4)), hi = elem(l / 4, 2 * (l % 4) + 1);
        else lo = elem(2 * (l % 4), l / 4), hi = elem(2 * (l % 4) + 1, l / 4);
        r[i] = lo | hi << 16;
    }
}

/* movmatrix .m8n8 .trans .b16: lane l holds (row l/4, cols 2(l%4)..+1); it gets the same
 * positions of the transpose. */
uint32_t movmatrix_trans(uint32_t a) {
    auto all = cuemu_warp_exchange(&a, sizeof a);
    auto elem = [&](int row, int col) { /* M[row][col] lives in lane 4 row + col/2, half col%2 */
        uint32_t v;
        memcpy(&v, all[4 * row + col / 2], sizeof v);
        return col % 2 ? v >> 16 : v & 0xffff;
    };
    const int l = cuemu_lane();
    return elem(2 * (l % 4), l / 4) | elem(2 * (l % 4) + 1, l / 4) << 16;
}

void cuemu_cp_async(void *dst, const void *src, int bytes, int src_bytes) {
    if ((uintptr_t)dst % bytes || (uintptr_t)src % bytes) {
        fprintf(stderr, "cuemu: cp.async of %d bytes, misaligned %p <- %p\n", bytes, dst, src);
        abort();
    }
    blk.th[cur].open.push_back({dst, src, bytes, src_bytes});
}

void cuemu_cp_async_commit(void) {
    Fiber &f = blk.th[cur];
    f.groups.push_back(std::move(f.open));
    f.open.clear();
}

void cuemu_cp_async_wait(int n) {
    Fiber &f = blk.th[cur];
    while ((int)f.groups.size() > n) {
        for (const Copy &c : f.groups.front()) {
            memcpy(c.dst, c.src, c.src_bytes);
            memset((char *)c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);
        }
        f.groups.erase(f.groups.begin());
    }
}
