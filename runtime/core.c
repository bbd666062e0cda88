/* core.c: errors, names, random numbers and buffers (runtime.h). Device buffers go through the
 * CUDA runtime wrapper (cuda_api.h), stubbed without nvcc. */
#include "runtime.h"
#include "cuda_api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------------------------ */
static _Thread_local char last_error[512];

const char *sb_last_error(void) { return last_error; }

sb_status sb_fail(sb_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

const char *sb_status_name(sb_status st) {
    static const char *names[] = {"ok", "invalid", "oom", "io", "unsupported", "device"};
    return (unsigned)st < sizeof names / sizeof *names ? names[st] : "?";
}

/* ---- names ------------------------------------------------------------------------------- */
static const char *backend_names[] = {"ref", "cpu", "cuda"};
static const char *level_names[] = {"op", "layer", "model"};
static const char *mode_names[] = {"prefill", "decode"};
static const char *dtype_names[] = {"fp32", "bf16", "i32"};

const char *sb_backend_name(sb_backend b) { return (unsigned)b < SB_NBACKENDS ? backend_names[b] : "?"; }
const char *sb_level_name(sb_level l) { return (unsigned)l < SB_NLEVELS ? level_names[l] : "?"; }
const char *sb_mode_name(sb_mode m) { return (unsigned)m < SB_NMODES ? mode_names[m] : "?"; }
const char *sb_dtype_name(sb_dtype d) { return (unsigned)d <= SB_I32 ? dtype_names[d] : "?"; }

static int parse_name(const char *s, const char **names, int n, int *out) {
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0) { *out = i; return 1; }
    return 0;
}
int sb_parse_backend(const char *s, sb_backend *out) { int i; if (!parse_name(s, backend_names, SB_NBACKENDS, &i)) return 0; *out = (sb_backend)i; return 1; }
int sb_parse_level(const char *s, sb_level *out) { int i; if (!parse_name(s, level_names, SB_NLEVELS, &i)) return 0; *out = (sb_level)i; return 1; }
int sb_parse_mode(const char *s, sb_mode *out) { int i; if (!parse_name(s, mode_names, SB_NMODES, &i)) return 0; *out = (sb_mode)i; return 1; }

size_t sb_dtype_size(sb_dtype d) { return d == SB_BF16 ? 2 : 4; }

/* ---- random numbers: xoshiro256** seeded by splitmix64 ------------------------------------ */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
void sb_rng_seed(sb_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
uint64_t sb_rng_u64(sb_rng *r) {
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}
float sb_rng_uniform(sb_rng *r) { return (float)(sb_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
float sb_rng_normal(sb_rng *r) {
    /* Box-Muller; 1-u keeps the log argument in (0,1] */
    double u1 = 1.0 - (double)(sb_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    double u2 = (double)(sb_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
/* Large fills (a 1.3b model draws ~1.4e9 values) run in chunks of 64k values, each chunk with
 * its own generator seeded from one draw of r: the values depend on the seed only, not on the
 * thread count, and a model's weights take a second instead of a minute. Box-Muller gives two
 * normals per pair of uniforms. */
#define FILL_CHUNK ((size_t)1 << 16)

typedef void (*fill_span_fn)(float *x, size_t begin, size_t end, sb_rng *r, float a, float b);

/* Box-Muller: two normals per pair of uniforms; mean a, std b. */
static void normal_span(float *x, size_t begin, size_t end, sb_rng *r, float mean, float std) {
    for (size_t i = begin; i < end; i += 2) {
        double u1 = 1.0 - (double)(sb_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); /* (0, 1] */
        double u2 = (double)(sb_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
        double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586 * u2;
        x[i] = mean + std * (float)(rad * cos(ang));
        if (i + 1 < end) x[i + 1] = mean + std * (float)(rad * sin(ang));
    }
}

static void uniform_span(float *x, size_t begin, size_t end, sb_rng *r, float lo, float hi) {
    for (size_t i = begin; i < end; i++) x[i] = lo + (hi - lo) * sb_rng_uniform(r);
}

/* Runs span() on every chunk, in parallel, each chunk with its own generator. */
static void fill_chunks(float *x, size_t n, sb_rng *r, float a, float b, fill_span_fn span) {
    const uint64_t base = sb_rng_u64(r);
    const long nch = (long)((n + FILL_CHUNK - 1) / FILL_CHUNK);
#pragma omp parallel for schedule(static) if (nch > 4)
    for (long c = 0; c < nch; c++) {
        sb_rng cr;
        sb_rng_seed(&cr, base ^ (0x9e3779b97f4a7c15ull * (uint64_t)(c + 1)));
        const size_t begin = (size_t)c * FILL_CHUNK, end = begin + FILL_CHUNK < n ? begin + FILL_CHUNK : n;
        span(x, begin, end, &cr, a, b);
    }
}

void sb_fill_normal(float *x, size_t n, sb_rng *r, float mean, float std) { fill_chunks(x, n, r, mean, std, normal_span); }
void sb_fill_uniform(float *x, size_t n, sb_rng *r, float lo, float hi) { fill_chunks(x, n, r, lo, hi, uniform_span); }

/* ---- buffers ----------------------------------------------------------------------------- */
sb_dtype sb_backend_act_dtype(sb_backend be) { return be == SB_CUDA ? SB_BF16 : SB_F32; }

int sb_backend_available(sb_backend be) {
    if (be == SB_CUDA) return sb_cuda_device_count() > 0;
    return be == SB_REF || be == SB_CPU;
}

sb_status sb_buf_alloc(sb_buf *b, sb_backend be, sb_dtype dt, size_t n) {
    memset(b, 0, sizeof *b);
    size_t bytes = (n ? n : 1) * sb_dtype_size(dt);
    if (be == SB_CUDA) {
        sb_status st = sb_cuda_malloc(&b->p, bytes);
        if (st) return st;
    } else {
        b->p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        if (!b->p) return sb_fail(SB_ENOMEM, "out of host memory (%zu bytes)", bytes);
    }
    b->backend = be;
    b->dtype = dt;
    b->n = n;
    return SB_OK;
}

void sb_buf_free(sb_buf *b) {
    if (!b->p) return;
    if (b->backend == SB_CUDA) sb_cuda_free(b->p);
    else free(b->p);
    memset(b, 0, sizeof *b);
}

sb_status sb_buf_reserve(sb_buf *b, sb_backend be, sb_dtype dt, size_t n) {
    if (b->p && b->backend == be && b->dtype == dt && b->n >= n) return SB_OK;
    sb_buf_free(b);
    return sb_buf_alloc(b, be, dt, n);
}

sb_status sb_buf_upload(sb_buf *b, const float *src, size_t n) {
    if (n > b->n) return sb_fail(SB_EINVAL, "upload of %zu elements into a buffer of %zu", n, b->n);
    if (b->backend == SB_CUDA) return sb_cuda_upload_f32(b->p, b->dtype, src, n);
    if (b->dtype == SB_F32) memcpy(b->p, src, n * sizeof(float));
    else if (b->dtype == SB_I32) for (size_t i = 0; i < n; i++) ((int32_t *)b->p)[i] = (int32_t)src[i];
    else return sb_fail(SB_ENOTSUP, "host buffers hold fp32 or i32");
    return SB_OK;
}

sb_status sb_buf_download(const sb_buf *b, float *dst, size_t n) {
    if (n > b->n) return sb_fail(SB_EINVAL, "download of %zu elements from a buffer of %zu", n, b->n);
    if (b->backend == SB_CUDA) return sb_cuda_download_f32(dst, b->p, b->dtype, n);
    if (b->dtype == SB_F32) memcpy(dst, b->p, n * sizeof(float));
    else if (b->dtype == SB_I32) for (size_t i = 0; i < n; i++) dst[i] = (float)((int32_t *)b->p)[i];
    else return sb_fail(SB_ENOTSUP, "host buffers hold fp32 or i32");
    return SB_OK;
}
