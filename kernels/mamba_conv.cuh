/* mamba_conv.cuh: Mamba-1 causal depthwise conv1d + bias + SiLU and its state, kernels/mamba_conv.cu. */
#ifndef SB_MAMBA_CONV_CUH
#define SB_MAMBA_CONV_CUH

#include "mamba_common.cuh"

/* x: pre-conv input rows [B*T, >= E] (row stride ldx; the x half of in_proj's output);
 * w [E, K] (w[e, K-1] multiplies the current token), bias [E], fp32;
 * hist [B, E, K-1] fp32: the K-1 inputs before each sequence, oldest first (NULL: zeros);
 * u [B*T, E] (row stride ldu) = SiLU(conv(x) + bias) in bf16. */
struct mamba_conv_args {
    const bf16 *x; int ldx;
    const float *w, *bias;
    const float *hist;
    bf16 *u; int ldu;
    int B, T, E, K;
};

/* Prefill conv.
 *   version 1: one thread per (b, t, e), any K.
 *   version 2: a thread owns 8 channels (16-byte loads and stores) and a run of tokens, keeping the
 *              last K-1 inputs in registers; K = 4, E % 8 == 0, 16-byte aligned rows. */
sb_status mamba_conv(int version, const mamba_conv_args *a);
int mamba_conv_supports(int version, const mamba_conv_args *a);

/* After a prefill: the conv state [B, E, K-1] := the last K-1 pre-conv inputs of each sequence
 * (from a->hist, or zeros, where T < K-1). In place over a->hist is fine; `hist_out` may equal it. */
sb_status mamba_conv_state_update(const mamba_conv_args *a, float *hist_out);

/* Decode: one token per sequence (a->T == 1, rows are b). Shifts the state a->hist (updated in
 * place, must not be NULL), convolves, writes u. No allocation, no sync. */
sb_status mamba_conv_step(const mamba_conv_args *a, float *hist);

/* Random state for decode benchmarks: x[i] = scale * uniform(-1, 1) from a hash of (seed, i). */
sb_status mamba_fill_uniform(float *x, size_t n, float scale, unsigned long long seed);

#endif
