/* mamba_cuda_host.c: see mamba_cuda_host.h. Plain C, built with or without nvcc. */
#include "mamba_cuda_host.h"

#include <math.h>
#include <string.h>

void mamba_scan_plan(long long channel_blocks, int T, int slots, int *S, int *seg_len) {
    *S = 1;
    *seg_len = T;
    if (channel_blocks <= 0 || T <= 0 || slots <= 0 || 2 * channel_blocks > slots) return;
    long long s = slots / channel_blocks;        /* segments that fit in one wave */
    long long by_len = T / MAMBA_MIN_SEG;        /* segments of at least MAMBA_MIN_SEG tokens */
    if (s > by_len) s = by_len;
    if (s > MAMBA_MAX_SEG) s = MAMBA_MAX_SEG;
    if (s < 2) return;
    int len = (int)((T + s - 1) / s);
    len = (len + MAMBA_SCAN_TC - 1) / MAMBA_SCAN_TC * MAMBA_SCAN_TC;
    *seg_len = len;
    *S = (T + len - 1) / len; /* rounding the length up may leave fewer segments */
}

int mamba_xproj_ld(int R, int N) { return (R + 2 * N + 7) / 8 * 8; }

void mamba_xproj_bc_first(const float *w, int R, int N, int E, float *out) {
    memcpy(out, w + (size_t)R * E, (size_t)2 * N * E * sizeof(float));     /* B, C rows */
    memcpy(out + (size_t)2 * N * E, w, (size_t)R * E * sizeof(float));     /* dt rows */
}

void mamba_a2_from_alog(const float *alog, size_t n, float *a2) {
    for (size_t i = 0; i < n; i++) a2[i] = (float)(-exp((double)alog[i]) * 1.4426950408889634);
}
