/* mamba2_kernels.cuh: the Mamba-2 CUDA kernels (kernels/mamba2_ssd.cu: the SSD scan and the decode
 * step; kernels/mamba2_glue.cu: conv, gated norm, fills) and their argument blocks. The impl that
 * chains them with cuBLAS is kernels/mamba2_cuda.cu. Contract: ../shared/spec/mamba2.md.
 *
 * Rows are tokens, row(b, t) = b*T + t (decode: T = 1). Activations bf16, everything recurrent fp32. */
#ifndef SB_MAMBA2_KERNELS_CUH
#define SB_MAMBA2_KERNELS_CUH

#include "../runtime/cuda_common.cuh"

/* The SSD scan over op rows x | B | C | dt (layers/mamba2.h), bf16, row stride ld. */
struct mamba2_ssd_args {
    const bf16 *op; int ld;       /* x at column h*P + p, B at offB + g*N + n, C at offC + g*N + n, dt at offdt + h */
    int offB, offC, offdt;
    bf16 *y; int ldy;             /* output y [rows, E] at column h*P + p */
    const float *dt_bias, *A, *Dskip; /* [H]: A = -exp(A_log) */
    float *S;                     /* ssm state [B, H, P, N] fp32: prefill writes the final state; the step reads and writes it */
    int B, T, H, P, N, G, Q;
    /* prefill workspaces (fp32): delta and the within-chunk inclusive cumsum of delta*A [rows, H];
     * per-chunk states [B, n_chunks, H, P, N] (the chunk's own contribution, then the state entering it) */
    float *delta, *cum, *chunk_states;
};

__host__ __device__ static inline int mamba2_n_chunks(int T, int Q) { return (T + Q - 1) / Q; }

/* 1 when the tensor-core scan takes the shape: P in {16, 32, 64}, or 128 with an even op row width; N % 16 == 0. */
int mamba2_ssd_supports(const mamba2_ssd_args *a);
/* The chunked scan (prefill), starting from S = 0; leaves the final state in a->S. */
sb_status mamba2_ssd_prefill(const mamba2_ssd_args *a);
/* One token per sequence (a->T == 1): the fused state update, in place on a->S. */
sb_status mamba2_ssd_step(const mamba2_ssd_args *a);

/* Causal depthwise conv + bias + SiLU over the xBC columns of in_proj rows, into op rows.
 * zx: in_proj output [rows, ldz] (xBC at xoff, dt at dtoff); hist [B, K-1, CD] bf16, pre-conv
 * xBC before the first row (oldest first); op rows get x | B | C (CD columns) then dt (H). */
struct mamba2_conv_args {
    const bf16 *zx; int ldz, xoff, dtoff;
    const float *w, *bias;        /* conv1d.weight [CD, K], conv1d.bias [CD] */
    bf16 *hist;
    bf16 *op; int ld;
    int B, T, CD, H, K;
};
sb_status mamba2_conv(const mamba2_conv_args *a);
/* hist <- the last K-1 pre-conv xBC rows of each sequence (after mamba2_conv of the same rows). */
sb_status mamba2_conv_state_update(const mamba2_conv_args *a);

/* y[r, :] <- RMSNorm over G groups of E/G (eps 1e-5) of y . SiLU(z), times w; in place. */
sb_status mamba2_gated_norm(bf16 *y, int ldy, const bf16 *z, int ldz, const float *w, int rows, int E, int G, float eps);

/* Uniform fills in [-scale, scale) from a hash of (seed, index): states for decode benchmarks. */
sb_status mamba2_fill_uniform_f32(float *x, size_t n, float scale, unsigned long long seed);
sb_status mamba2_fill_uniform_bf16(bf16 *x, size_t n, float scale, unsigned long long seed);

#endif
