/* host_blas.c: see host_blas.h. GEMM wrappers (OpenBLAS), checked host allocation, threads. */
#include "host_blas.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <unistd.h>

void cpu_linear_ex(const float *x, int ldx, const float *W, int ldw, float *y, int ldy, int M, int K, int N,
                   float beta) {
    if (M <= 0 || N <= 0) return;
    if (M == 1) { /* one token (decode at B=1): sgemm would pack all of W first, sgemv streams it once */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, W, ldw, x, 1, beta, y, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, ldx, W, ldw, beta, y, ldy);
}

void cpu_linear(const float *x, int ldx, const float *W, float *y, int ldy, int M, int K, int N) {
    cpu_linear_ex(x, ldx, W, K, y, ldy, M, K, N, 0.0f);
}

static size_t phys_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : SIZE_MAX;
}

sb_status cpu_alloc(float **p, size_t n_floats, const char *what) {
    *p = NULL;
    size_t bytes = (n_floats ? n_floats : 1) * sizeof(float);
    /* with overcommit malloc may "succeed" for more than the machine has: refuse up front */
    if (n_floats > SIZE_MAX / sizeof(float) / 2 || bytes > phys_bytes())
        return sb_fail(SB_ENOMEM, "%s: %zu bytes do not fit in host memory (%zu bytes)", what, bytes, phys_bytes());
    *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!*p) return sb_fail(SB_ENOMEM, "%s: out of host memory (%zu bytes)", what, bytes);
    return SB_OK;
}

sb_status cpu_reserve(float **p, size_t *cap, size_t n_floats, const char *what) {
    if (*p && *cap >= n_floats) return SB_OK;
    free(*p);
    *cap = 0;
    sb_status st = cpu_alloc(p, n_floats, what);
    if (!st) *cap = n_floats;
    return st;
}

int cpu_threads(void) { return omp_get_max_threads(); }
