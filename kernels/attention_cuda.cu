/* attention_cuda.cu: the CUDA impls of causal softmax attention (SPEC §3.1), bf16 activations,
 * weights and KV cache, fp32 softmax and accumulation.
 *
 *   flash  prefill: attention_prefill version 2 (FlashAttention-2 on tensor cores, mma.sync);
 *                   version 3 (wgmma) is correct but measured slower on the H100 (234 vs 288
 *                   TFLOP/s at B 16, T 4k, d 64), so it is not used
 *          decode : attention_decode version 2 (split-KV + log-sum-exp merge)
 *   naive  prefill and decode: attention_prefill version 1 (one warp per query row)
 *
 * Layer level, per call (everything on sb_stream()):
 *   qkv = x . Wqkv^T      one cuBLAS GEMM on the concatenated [3D, D] weight (q | k | v rows)
 *   rope_scatter          RoPE on q (in place) and k, k and v into the cache at pos .. pos+T-1
 *   attention             queries read from the qkv rows (stride 3D), o rows of width D
 *   y = o . Wo^T          cuBLAS
 * Op level: the input rows are q | k | v with RoPE applied: rope_scatter only copies k and v
 * into the cache, the kernels read q from the input and write y directly.
 * Decode never allocates (its buffers are sized by max_batch at setup) and never synchronises
 * the host, so that the driver can capture a decode step in a CUDA graph.
 *
 * Measured (H100 80GB HBM3, dev/attention_bench.cu, 1.3b: D 2048, H 32, d 64, flash):
 *   layer prefill B 16, T 4k: 7.31 ms = 451 TFLOP/s counting attention and the 4 projections
 *   layer decode B 16 at ctx 32k: 1.476 ms per step, 1.463 ms replayed from a CUDA graph (same
 *   output), 2935 GB/s of KV cache read.
 */
#include "attention_decode.cuh"
#include "attention_prefill.cuh"
#include "attention_rope.cuh"

#include "attention_impls.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int flash;           /* 1: flash impl, 0: naive */
    int prefill_version; /* attention_prefill version: naive 1, flash 2 (1 where v2 lacks the head dim) */
    int split_decode;    /* flash decode by split-KV (attention_decode v2); else prefill v1 with T = 1 */
    bf16 *wqkv, *wo;     /* layer level: [3D, D] = q_proj | k_proj | v_proj, and o_proj [D, D] */
    bf16 *k, *v;         /* KV cache [max_batch, H, max_ctx, d] */
    bf16 *qkv, *o;       /* prefill workspace (layer level): [rows, 3D] and [rows, D] */
    bf16 *qkv_dec, *o_dec; /* decode workspace (layer level): [max_batch, 3D], [max_batch, D] */
    float *ws;           /* split-KV partials (flash decode) */
    size_t ws_floats;
} cuda_attn_state;

/* ---- setup and teardown ------------------------------------------------------------------------ */
/* Both impls take any head dim the version 1 kernels take; flash picks its faster kernels per head
 * dim at setup. */
static sb_status check_config(const sb_layer *L) {
    const sb_config *c = &L->cfg;
    const int d = c->head_dim;
    if (c->heads <= 0 || c->heads * d != c->d_model)
        return sb_fail(SB_EINVAL, "attention cuda: heads %d * head_dim %d != d_model %d", c->heads, d, c->d_model);
    if (!attention_prefill_supports(1, d))
        return sb_fail(SB_EINVAL, "attention cuda: head dim %d unsupported (multiples of 8 up to 128)", d);
    return SB_OK;
}

/* q_proj | k_proj | v_proj stacked into one [3D, D] bf16 matrix: one GEMM makes the q|k|v rows. */
static sb_status upload_weights(sb_layer *L, cuda_attn_state *s) {
    const size_t DD = (size_t)L->cfg.d_model * L->cfg.d_model;
    const char *names[3] = {"q_proj.weight", "k_proj.weight", "v_proj.weight"};
    float *cat = (float *)malloc(3 * DD * sizeof(float));
    if (!cat) return sb_fail(SB_ENOMEM, "attention cuda: out of host memory");
    for (int i = 0; i < 3; i++) memcpy(cat + i * DD, sb_params_get(&L->params, names[i]), DD * sizeof(float));
    sb_status st = sb_upload_param_bf16(cat, 3 * DD, &s->wqkv);
    free(cat);
    SB_TRY(st);
    return sb_upload_param_bf16(sb_params_get(&L->params, "o_proj.weight"), DD, &s->wo);
}

static void cuda_teardown(sb_layer *L) {
    cuda_attn_state *s = (cuda_attn_state *)L->impl_state;
    if (!s) return;
    void *bufs[] = {s->wqkv, s->wo, s->k, s->v, s->qkv_dec, s->o_dec, s->ws}; /* qkv, o: scratch */
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) sb_cuda_free(bufs[i]);
    free(s);
    L->impl_state = NULL;
}

static sb_status cuda_setup(sb_layer *L) {
    cuda_attn_state *s = (cuda_attn_state *)calloc(1, sizeof *s);
    if (!s) return sb_fail(SB_ENOMEM, "attention cuda: out of host memory");
    L->impl_state = s; /* freed by teardown, also when setup fails below */
    s->flash = L->impl == &attention_cuda_flash;
    SB_TRY(check_config(L));
    /* flash: FA2 prefill (v2) for d 16/64/128 and split-KV decode for d 16/32/64/128; other head dims
     * run the version 1 kernels (one warp per query row), which take any multiple of 8 */
    s->prefill_version = s->flash && attention_prefill_supports(2, L->cfg.head_dim) ? 2 : 1;
    s->split_decode = s->flash && attention_decode_supports(L->cfg.head_dim);
    const int D = L->cfg.d_model;
    if (L->level == SB_LAYER) {
        SB_TRY(upload_weights(L, s));
        SB_TRY(sb_cuda_malloc((void **)&s->qkv_dec, (size_t)L->max_batch * 3 * D * sizeof(bf16)));
        SB_TRY(sb_cuda_malloc((void **)&s->o_dec, (size_t)L->max_batch * D * sizeof(bf16)));
    }
    const size_t cache = (size_t)L->max_batch * L->max_ctx * D * sizeof(bf16); /* B * H * ctx * d */
    SB_TRY(sb_cuda_malloc((void **)&s->k, cache));
    SB_TRY(sb_cuda_malloc((void **)&s->v, cache));
    if (s->split_decode) {
        s->ws_floats = attention_decode_workspace_floats(L->max_batch, L->cfg.heads, L->cfg.head_dim);
        SB_TRY(sb_cuda_malloc((void **)&s->ws, s->ws_floats * sizeof(float)));
    }
    return SB_OK;
}

/* ---- prefill and decode --------------------------------------------------------------------------- */
/* q|k|v and o rows of a prefill live in the shared prefill scratch (cuda_common.cuh). */
static sb_status reserve_rows(cuda_attn_state *s, int D, size_t rows) {
    void **ptrs[2] = {(void **)&s->qkv, (void **)&s->o};
    const size_t bytes[2] = {rows * 3 * D * sizeof(bf16), rows * D * sizeof(bf16)};
    return sb_cuda_scratch_parts(ptrs, bytes, 2);
}

/* The attention call on q rows (stride ldq) for T queries per sequence from position pos. */
static attn_fwd_args make_args(const sb_layer *L, const cuda_attn_state *s, const bf16 *q, long ldq, bf16 *o,
                               int B, int T, int pos) {
    attn_fwd_args a;
    a.q = q;
    a.ldq = ldq;
    a.k = s->k;
    a.v = s->v;
    a.o = o;
    a.ldo = L->cfg.d_model;
    a.B = B;
    a.T = T;
    a.H = L->cfg.heads;
    a.d = L->cfg.head_dim;
    a.ctx = L->max_ctx;
    a.pos = pos;
    return a;
}

/* q|k|v rows -> cache (and q rotated in place at layer level), then the attention core. */
static sb_status core(sb_layer *L, cuda_attn_state *s, bf16 *qkv_rows, int rope, bf16 *o, int B, int T, int decode) {
    const sb_config *c = &L->cfg;
    const long ld = 3L * c->d_model;
    SB_TRY(attention_rope_scatter(qkv_rows, rope ? qkv_rows : NULL, ld, B, T, c->heads, c->head_dim, L->pos, rope,
                                  c->rope_theta, s->k, s->v, L->max_ctx));
    attn_fwd_args a = make_args(L, s, qkv_rows, ld, o, B, T, L->pos);
    if (decode && s->split_decode) return attention_decode(2, &a, s->ws, s->ws_floats);
    return attention_prefill(s->prefill_version, &a);
}

/* T tokens from position L->pos (decode: T = 1 and the decode buffers). */
static sb_status cuda_forward(sb_layer *L, const void *x, void *y, int B, int T, int decode) {
    cuda_attn_state *s = (cuda_attn_state *)L->impl_state;
    const int D = L->cfg.d_model, M = B * T;
    /* op level: the input is never written (rope = 0 leaves the q columns alone) */
    if (L->level == SB_OP) return core(L, s, (bf16 *)x, 0, (bf16 *)y, B, T, decode);
    bf16 *qkv = decode ? s->qkv_dec : s->qkv, *o = decode ? s->o_dec : s->o;
    SB_TRY(sb_gemm_linear((const bf16 *)x, D, s->wqkv, D, qkv, CUDA_R_16BF, 3 * D, M, D, 3 * D, 1.0f, 0.0f));
    SB_TRY(core(L, s, qkv, 1, o, B, T, decode));
    return sb_gemm_linear(o, D, s->wo, D, y, CUDA_R_16BF, D, M, D, D, 1.0f, 0.0f);
}

static sb_status cuda_prefill(sb_layer *L, const void *x, void *y, int B, int T) {
    cuda_attn_state *s = (cuda_attn_state *)L->impl_state;
    if (L->level == SB_LAYER) SB_TRY(reserve_rows(s, L->cfg.d_model, (size_t)B * T));
    return cuda_forward(L, x, y, B, T, 0);
}

static sb_status cuda_decode(sb_layer *L, const void *x, void *y, int B) {
    return cuda_forward(L, x, y, B, 1, 1);
}

static sb_status cuda_fill_state(sb_layer *L, int B, int T, uint64_t seed) {
    cuda_attn_state *s = (cuda_attn_state *)L->impl_state;
    return attention_fill_kv_random(s->k, s->v, B, L->cfg.heads, T, L->cfg.head_dim, L->max_ctx, seed);
}

/* ---- the impls -------------------------------------------------------------------------------------- */
extern "C" const sb_impl attention_cuda_flash = {
    "flash", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "FlashAttention-2 prefill on tensor cores (mma.sync bf16), split-KV decode; bf16 KV cache",
    cuda_setup, cuda_prefill, cuda_decode, cuda_fill_state, cuda_teardown,
};

extern "C" const sb_impl attention_cuda_naive = {
    "naive", SB_CUDA, 1u << SB_OP | 1u << SB_LAYER,
    "one warp per query row, fp32 online softmax, keys one by one; bf16 KV cache",
    cuda_setup, cuda_prefill, cuda_decode, cuda_fill_state, cuda_teardown, /* oracle: */ 1,
};
