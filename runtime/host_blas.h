/* host_blas.h: host-side helpers below the layers: row-major wrappers over OpenBLAS cblas_sgemm
 * (nn.Linear form), host allocation that refuses what cannot fit, grow-only workspaces and the
 * OpenMP thread count. Used by the fast CPU kernels (kernels/cpu_common.h) and by bench/ (the
 * sgemm probe, the CPU peak). */
#ifndef SB_HOST_BLAS_H
#define SB_HOST_BLAS_H

#include "runtime.h"

/* y[M,N] = x[M,K] . W[N,K]^T   (nn.Linear, weight [out,in] row-major; ldx, ldy row strides) */
void cpu_linear(const float *x, int ldx, const float *W, float *y, int ldy, int M, int K, int N);
/* The same with W's row stride ldw (a slice of a wider weight) and y = beta*y + x W^T. */
void cpu_linear_ex(const float *x, int ldx, const float *W, int ldw, float *y, int ldy, int M, int K, int N,
                   float beta);

/* 64-byte aligned host memory; SB_ENOMEM (with a message naming `what`) when the request is
 * larger than the machine's physical memory or malloc fails. *p is NULL on failure. */
sb_status cpu_alloc(float **p, size_t n_floats, const char *what);
/* Grow-only workspace: keeps *p if it already holds n floats (contents are not kept). */
sb_status cpu_reserve(float **p, size_t *cap, size_t n_floats, const char *what);

/* Threads the kernels' parallel regions will use (omp_get_max_threads). */
int cpu_threads(void);

#endif
