/* gated_deltanet_cuda.cuh: what the Gated DeltaNet CUDA files share (spec/gated_deltanet.md): the
 * argument structs and launchers of gated_deltanet_chunk.cu (the chunked WY/UT form on tensor
 * cores), gated_deltanet_step.cu (the fused recurrent step: sequential prefill and decode) and
 * gated_deltanet_glue.cu (the layer's element-wise pieces). Host flow: gated_deltanet_cuda.cu.
 * Activations bf16, everything computed in fp32, the state fp32 [B, H, V, K]. */
#ifndef SB_GATED_DELTANET_CUDA_CUH
#define SB_GATED_DELTANET_CUDA_CUH

#include "../runtime/cuda_common.cuh"

/* The op on packed rows (layers/gated_deltanet.h): row r of sequence b at x + (b*T + t)*ldx holds
 * q | k | v | g | beta at columns 0, HK, 2HK, 2HK+HV, 2HK+HV+H. */
struct gdn_op_args {
    const bf16 *x;
    long long ldx;
    bf16 *o;            /* outputs [B*T, ldo]: head h at h*V */
    long long ldo;
    float *S;           /* state [B, H, V, K], read and written */
    int B, T, H, K, V;
    float scale;        /* K^-1/2 */
};

/* Per-chunk products of the K side (gated_deltanet_chunk.cu, kernel 1), scratch for kernel 2:
 * for chunk c of (b, h): gam [C] fp32 (cumulative log decay), Tb [C][C] = T diag(beta),
 * M [C][C] = (s Q K^T . Gamma) lower with the diagonal, Wk [C][K] = T diag(beta e^gamma) K; bf16. */
struct gdn_chunk_scratch {
    float *gam;
    bf16 *Tb, *M, *Wk;
};
/* Elements of each part for B*H*nchunks chunks. */
void gdn_chunk_scratch_sizes(int B, int H, int T, int C, int K, size_t bytes[4]);

/* Chunked prefill over T tokens, continuing a.S (C in {16, 32, 64}; K, V multiples of 16, K <= 256). */
sb_status gdn_chunk_supports(int C, int K, int V);
sb_status gdn_chunked(const gdn_op_args &a, int C, const gdn_chunk_scratch &s);
/* Token by token over T tokens (T = 1: the decode step), continuing a.S; K <= 256. */
sb_status gdn_recurrent(const gdn_op_args &a);

/* ---- the layer's element-wise pieces (gated_deltanet_glue.cu) ------------------------------- */
struct gdn_glue_args {
    const bf16 *P;      /* projections [B*T, pw]: Q~ | K~ | V~ | a | b | G */
    int pw;
    bf16 *op;           /* op rows [B*T, ow] (written by prep) */
    int ow;
    bf16 *o;            /* op outputs [B*T, HV], normed and gated in place by post */
    const float *conv_w; /* [W, CH] (CH = 2HK + HV), transposed at setup */
    float *hist;        /* conv state [B, W, CH], pre-conv values, row W-1 the newest */
    const float *A_neg; /* -exp(A_log) [H] */
    const float *dt_bias, *norm_w; /* [H], [V] */
    int B, T, H, K, V, W;
    int decode;         /* 1: T = 1, the history read from and shifted in hist */
    float norm_eps;
};
/* convs + SiLU, L2 norms of q and k, g and beta: P -> op rows (decode: hist read and shifted). */
sb_status gdn_prep(const gdn_glue_args &a);
/* After a prefill: hist <- the last W pre-conv rows of each sequence (zeros before t = 0). */
sb_status gdn_save_hist(const gdn_glue_args &a);
/* o <- RMSNorm per head (eps norm_eps) * norm_w * SiLU(G). */
sb_status gdn_post(const gdn_glue_args &a);
/* n fp32 values ~ N-ish(0, scale) from a seed (fill_state). */
sb_status gdn_fill(float *p, size_t n, float scale, unsigned long long seed);

#endif
