/* mamba_scan.cuh: the Mamba-1 selective scan over T tokens (prefill), kernels/mamba_scan.cu. */
#ifndef SB_MAMBA_SCAN_CUH
#define SB_MAMBA_SCAN_CUH

#include "mamba_common.cuh"

/* Runs the scan from h = 0 over a->T tokens of a->B sequences and leaves the final state in a->h.
 *   version 1: one thread per (b, e), any N <= 64, any strides.
 *   version 2: chunked, channel-parallel; a->S > 1 adds the time split (version 3): a->seg_h and
 *              a->seg_dsum must then hold [B, S-1, E, N] and [B, S-1, E] floats.
 * SB_EINVAL when the shape or alignment is outside the version's contract (mamba_scan_supports). */
sb_status mamba_scan(int version, const mamba_scan_args *a);
/* 1 if `version` accepts these arguments (sizes, N, 16-byte alignment of pointers and strides). */
int mamba_scan_supports(int version, const mamba_scan_args *a);
/* Blocks of the version-2 kernel that one SM holds at once (occupancy API), for the time split. */
sb_status mamba_scan_blocks_per_sm(int N, int layer, int *blocks);

#endif
