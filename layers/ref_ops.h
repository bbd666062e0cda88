/* ref_ops.h: naive fp32 building blocks for the reference backend. Written for clarity, not
 * speed: plain loops, double accumulation where a sum is long. Shared by every ref layer. */
#ifndef SB_REF_OPS_H
#define SB_REF_OPS_H

#include <stddef.h>

/* y[M,N] = x[M,K] . W[N,K]^T   (nn.Linear, weight [out,in]) */
void ref_linear(const float *x, const float *W, float *y, int M, int K, int N);
/* y[M,N] = x[M,K] . W[K,N] */
void ref_matmul(const float *x, const float *W, float *y, int M, int K, int N);
/* LayerNorm over the last n of each row (biased variance), affine w,b (b may be NULL). */
void ref_layernorm(const float *x, const float *w, const float *b, float *y, size_t rows, int n, float eps);
/* RMSNorm: y = x / sqrt(mean(x^2) + eps) * w */
void ref_rmsnorm(const float *x, const float *w, float *y, size_t rows, int n, float eps);
/* Rotate-half RoPE (Llama): pairs (j, j+d/2), in place on one head vector of d at position p. */
void ref_rope_half(float *v, int d, int p, float theta);
/* Interleaved RoPE (TTT): pairs (2j, 2j+1), in place on one head vector of d at position p. */
void ref_rope_interleaved(float *v, int d, int p, float theta);
/* Causal depthwise conv over time, one sequence: x[T,C] (row stride ldx), w[C,K] with w[c,K-1]
 * multiplying the current token, bias[C] (may be NULL); y[T,C] (row stride ldy).
 * hist[C,K-1] holds the K-1 inputs before x[0] (oldest first), NULL means zeros. */
void ref_causal_conv(const float *x, int ldx, const float *w, const float *bias, float *y, int ldy,
                     int T, int C, int K, const float *hist);

float ref_silu(float x);
float ref_sigmoid(float x);
float ref_softplus(float x);
float ref_gelu_tanh(float x);
float ref_gelu_tanh_grad(float x);

#endif
