/* mamba_cuda_host.h: the host-side (plain C, no CUDA) decisions of the Mamba-1 CUDA impl, kept
 * apart so that tests/test_mamba_cuda_host.c checks them on machines without a GPU:
 * the time-split plan of the scan, the x_proj row order, A pre-scaled for exp2, workspace strides. */
#ifndef SB_MAMBA_CUDA_HOST_H
#define SB_MAMBA_CUDA_HOST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Scan version 2 tiling: a block owns MAMBA_SCAN_CH channels of one sequence (one thread per
 * channel, all N states in registers) and walks the tokens MAMBA_SCAN_TC at a time. */
#define MAMBA_SCAN_CH 128
#define MAMBA_SCAN_TC 16
/* Time split (version 3): segments of at least MAMBA_MIN_SEG tokens (2 chunks), at most
 * MAMBA_MAX_SEG segments (each segment's carry-in folds all earlier segments' summaries). */
#define MAMBA_MIN_SEG 32
#define MAMBA_MAX_SEG 64

/* How many segments to split T into, given `slots` = blocks of the scan kernel that the GPU runs
 * at once (SMs x resident blocks per SM). channel_blocks = B * E / MAMBA_SCAN_CH.
 * S = 1 (plain version 2) when the channel blocks alone fill more than half of one wave; otherwise as
 * many segments as fit in one wave, each at least MAMBA_MIN_SEG tokens and a multiple of
 * MAMBA_SCAN_TC long. Outputs S >= 1 and seg_len (S * seg_len >= T > (S-1) * seg_len). */
void mamba_scan_plan(long long channel_blocks, int T, int slots, int *S, int *seg_len);

/* Row stride of the x_proj output workspace: R + 2N rounded up to 8 elements (16 bytes bf16). */
int mamba_xproj_ld(int R, int N);

/* x_proj.weight [R+2N, E] (rows dt | B | C) reordered to B | C | dt, so that B and C start each
 * workspace row (16-byte aligned for the scan) and dt starts at column 2N. */
void mamba_xproj_bc_first(const float *w, int R, int N, int E, float *out);

/* A2 = -exp(A_log) * log2(e): the scan computes exp(delta*A) as exp2(delta*A2). */
void mamba_a2_from_alog(const float *alog, size_t n, float *a2);

#ifdef __cplusplus
}
#endif
#endif
