/* ttt_launch.cuh: host helpers shared by the launchers of the TTT prefill kernels
 * (ttt_linear_dual.cu, ttt_mlp_dual.cu): the device's shared-memory limit, the widest row copy the
 * op rows allow, the launch of a core kernel on one block per (sequence, head), and the choice of
 * a version-2 instantiation by row copy width. Defined in ttt_launch.cu (the templates here). */
#ifndef SB_TTT_LAUNCH_CUH
#define SB_TTT_LAUNCH_CUH

#include "ttt_kernels.cuh"

/* Opt-in shared memory per block of the current device (48 KB if it cannot be read). */
int ttt_smem_optin_limit(void);

/* Widest cp.async (16, 8 or 4 bytes) that every Q/K/V row slice of the op rows allows; 0: none. */
int ttt_row_copy_bytes(const ttt_core_args *a);

/* kernel<<<B H, threads, smem>>>(*a) on sb_stream() with smem bytes of dynamic shared memory
 * opted in; SB_EINVAL (the message names `what`) if the device does not have them. */
template <class Kernel>
sb_status ttt_launch_heads(Kernel kernel, int threads, size_t smem, const ttt_core_args *a, const char *what) {
    const int limit = ttt_smem_optin_limit();
    if (smem > (size_t)limit)
        return sb_fail(SB_EINVAL, "%s: head_dim %d, mini_batch %d need %zu B of shared memory (the device has %d)", what, a->d,
                       a->mb, smem, limit);
    CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    kernel<<<a->B * a->H, threads, smem, sb_stream()>>>(*a);
    CUDA_LAUNCH_CHECK();
    return SB_OK;
}

/* K2<D_, VEC>::launch(a) for the row copy width vec of ttt_row_copy_bytes (16, 8, else 4 bytes):
 * the version-2 kernels are instantiated per head dim and copy width. */
template <template <int, int> class K2, int D_>
sb_status ttt_launch_vec(const ttt_core_args *a, int vec) {
    switch (vec) {
    case 16: return K2<D_, 16>::launch(a);
    case 8: return K2<D_, 8>::launch(a);
    default: return K2<D_, 4>::launch(a);
    }
}

#endif
