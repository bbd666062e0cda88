/* mamba_step.cuh: one decode step of the Mamba-1 selective scan, kernels/mamba_step.cu. */
#ifndef SB_MAMBA_STEP_CUH
#define SB_MAMBA_STEP_CUH

#include "mamba_common.cuh"

/* Advances the state a->h [B, E, N] by one token per sequence (a->T must be 1; rows are b) and
 * writes y. No allocation, no host sync: safe inside a captured CUDA graph.
 *   version 1: one thread per (b, e), any N <= 64.
 *   version 2: N/4 lanes per channel, 4 states each (16-byte state loads), shuffle reduction of C.h;
 *              N in {4, 8, 16, 32}.
 * SB_EINVAL when the arguments are outside the version's contract (mamba_step_supports). */
sb_status mamba_step(int version, const mamba_scan_args *a);
int mamba_step_supports(int version, const mamba_scan_args *a);

#endif
