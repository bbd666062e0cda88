/* ttt_launch.cu: the host helpers of ttt_launch.cuh (no kernels). */
#include "ttt_launch.cuh"

int ttt_smem_optin_limit(void) {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
        cudaGetLastError();
        return 48 * 1024;
    }
    return v;
}

int ttt_row_copy_bytes(const ttt_core_args *a) {
    const size_t base = (size_t)(uintptr_t)a->x;
    for (int v = 16; v >= 4; v /= 2) {
        const size_t ve = v / 2; /* elements */
        if (base % v == 0 && a->ldx % ve == 0 && (size_t)a->H * a->d % ve == 0 && a->d % ve == 0) return v;
    }
    return 0;
}
