/* runtime.h: the floor of seqbench (nothing above it is included here): status codes and the one
 * error convention, names of backends/levels/modes/dtypes, deterministic random numbers and
 * host/device buffers. The CUDA runtime wrapper is runtime/cuda_api.h (stubbed without nvcc),
 * .npy files runtime/npy.h, the host BLAS wrapper runtime/host_blas.h.
 *
 * Errors: a function returns an sb_status; the message is in sb_last_error() (thread-local).
 * sb_fail(st, fmt, ...) sets the message and returns st; SB_TRY(expr) returns from the enclosing
 * function when expr is not SB_OK. No library function exits or aborts.
 */
#ifndef SB_RUNTIME_H
#define SB_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SB_OK = 0, SB_EINVAL, SB_ENOMEM, SB_EIO, SB_ENOTSUP, SB_EDEVICE } sb_status;
typedef enum { SB_REF = 0, SB_CPU, SB_CUDA, SB_NBACKENDS } sb_backend;
typedef enum { SB_OP = 0, SB_LAYER, SB_MODEL, SB_NLEVELS } sb_level;
typedef enum { SB_PREFILL = 0, SB_DECODE, SB_NMODES } sb_mode;
typedef enum { SB_F32 = 0, SB_BF16, SB_I32 } sb_dtype;

/* ---- errors --------------------------------------------------------------------------- */
const char *sb_last_error(void);
sb_status sb_fail(sb_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sb_status_name(sb_status st);
/* Propagate an sb_status: return it from the enclosing function unless SB_OK. */
#define SB_TRY(expr)                                                                            \
    do {                                                                                        \
        sb_status s_ = (expr);                                                                  \
        if (s_ != SB_OK) return s_;                                                             \
    } while (0)

/* ---- names ---------------------------------------------------------------------------- */
const char *sb_backend_name(sb_backend b);
const char *sb_level_name(sb_level l);
const char *sb_mode_name(sb_mode m);
const char *sb_dtype_name(sb_dtype d);
int sb_parse_backend(const char *s, sb_backend *out); /* 1 on success */
int sb_parse_level(const char *s, sb_level *out);
int sb_parse_mode(const char *s, sb_mode *out);
size_t sb_dtype_size(sb_dtype d);

/* ---- buffers -------------------------------------------------------------------------- */
typedef struct sb_buf {
    sb_backend backend; /* where it lives: SB_CUDA = device memory, else host */
    sb_dtype dtype;
    size_t n;           /* elements */
    void *p;
} sb_buf;

sb_status sb_buf_alloc(sb_buf *b, sb_backend be, sb_dtype dt, size_t n);
void sb_buf_free(sb_buf *b);
/* Grow-only: keeps the allocation if it already holds n elements. */
sb_status sb_buf_reserve(sb_buf *b, sb_backend be, sb_dtype dt, size_t n);
/* fp32 host <-> buffer, converting to/from the buffer's dtype (i32: values are token ids). */
sb_status sb_buf_upload(sb_buf *b, const float *src, size_t n);
sb_status sb_buf_download(const sb_buf *b, float *dst, size_t n);
/* The dtype of activations on the interface for a backend (f32 host, bf16 device). */
sb_dtype sb_backend_act_dtype(sb_backend be);
/* 1 if the backend can run here (cuda: built with nvcc and a device is present). */
int sb_backend_available(sb_backend be);

/* ---- deterministic random numbers ------------------------------------------------------ */
typedef struct { uint64_t s[4]; } sb_rng;
void sb_rng_seed(sb_rng *r, uint64_t seed);
uint64_t sb_rng_u64(sb_rng *r);
float sb_rng_uniform(sb_rng *r);          /* [0,1) */
float sb_rng_normal(sb_rng *r);           /* N(0,1) */
void sb_fill_normal(float *x, size_t n, sb_rng *r, float mean, float std);
void sb_fill_uniform(float *x, size_t n, sb_rng *r, float lo, float hi);

#ifdef __cplusplus
}
#endif
#endif
