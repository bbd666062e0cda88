/* results.h: the columns of a results CSV (SPEC §8), in their order, and a row as strings.
 * The key of a point (what --resume and compare match on) is the nine columns of SB_KEY_COLS. */
#ifndef SB_RESULTS_H
#define SB_RESULTS_H

#include <stddef.h>

/* X-macro: one line per column, in the order of the file. The columns after `note` were added later
 * (SPEC §14): readers accept files that end at `note` or at any later column (SB_NCOLS_V1 is the
 * count of the first schema), and --resume appends rows as wide as the file's own header. */
#define SB_COLUMNS(X) \
    X(RUN_ID, "run_id") X(UTC, "utc") X(GIT_SHA, "git_sha") X(HOST, "host") X(CPU_MODEL, "cpu_model") \
    X(THREADS, "threads") X(GPU, "gpu") X(GPU_SMS, "gpu_sms") X(GPU_CLOCK_MHZ, "gpu_clock_mhz") \
    X(CUDA, "cuda") X(DRIVER, "driver") X(BACKEND, "backend") X(LAYER, "layer") X(IMPL, "impl") \
    X(LEVEL, "level") X(MODE, "mode") X(DTYPE, "dtype") X(CONFIG, "config") X(BATCH, "batch") \
    X(CTX, "ctx") X(D_MODEL, "d_model") X(HEADS, "heads") X(HEAD_DIM, "head_dim") X(D_STATE, "d_state") \
    X(MINI_BATCH, "mini_batch") X(N_LAYERS, "n_layers") X(SAMPLES, "samples") X(MEDIAN_MS, "median_ms") \
    X(MIN_MS, "min_ms") X(MAX_MS, "max_ms") X(NOISE, "noise") X(TOKENS, "tokens") \
    X(US_PER_TOKEN, "us_per_token") X(FLOPS, "flops") X(TFLOPS, "tflops") X(BYTES, "bytes") X(GBPS, "gbps") \
    X(PCT_PEAK_FLOPS, "pct_peak_flops") X(PCT_PEAK_BW, "pct_peak_bw") X(STATE_BYTES, "state_bytes") \
    X(PEAK_MEM_BYTES, "peak_mem_bytes") X(STATUS, "status") X(NOTE, "note") \
    X(SHARD, "shard") X(BLAS, "blas") X(JOULES_PER_TOKEN, "joules_per_token") X(WATTS, "watts") X(SETUP_S, "setup_s")

#define SB_COL_ENUM(id, name) SB_COL_##id,
typedef enum { SB_COLUMNS(SB_COL_ENUM) SB_NCOLS } sb_col;
#undef SB_COL_ENUM

extern const char *const sb_col_names[SB_NCOLS];
#define SB_NCOLS_V1 (SB_COL_NOTE + 1)

/* The key columns of a point (SPEC §8, §10). */
#define SB_NKEY 9
extern const sb_col sb_key_cols[SB_NKEY];

#define SB_CELL 600 /* a note holds an error message (512) and a few words */
typedef struct sb_row {
    char cell[SB_NCOLS][SB_CELL];
} sb_row;

/* cell = printf(fmt, ...); an empty string stands for "not applicable". */
void sb_row_set(sb_row *r, sb_col c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Measured numbers with 6 significant digits; exact integer counts (FLOPs, bytes) written in
 * full; NaN or Inf -> "" (unknown). */
void sb_row_num(sb_row *r, sb_col c, double v);
void sb_row_count(sb_row *r, sb_col c, double v);
void sb_row_int(sb_row *r, sb_col c, long long v);
/* Appends "; text" (or text when empty) to the note. */
void sb_row_note(sb_row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Joins the key cells of a row (given as strings in column order of `cells`, indexes via
 * `colidx[SB_NKEY]`) with '|' into buf. */
void sb_key_join(char *buf, size_t sz, char *const *cells, const int *colidx);

#endif
