/* npy.h: NumPy .npy v1.0 reader/writer for float32, C-order, little-endian arrays (SPEC §11).
 * Errors (wrong magic, dtype, order, shape, truncated data) come back as SB_EIO/SB_EINVAL with a
 * message naming the file. */
#ifndef SB_NPY_H
#define SB_NPY_H

#include "runtime.h"

#include <stdio.h>

#define SB_NPY_MAX_DIM 8

typedef struct sb_npy {
    int ndim;
    int64_t shape[SB_NPY_MAX_DIM];
    size_t n;
    float *data;
} sb_npy;

sb_status sb_npy_read(const char *path, sb_npy *out);
/* The same from an open stream at the magic (`path` names it in messages; fuzz/ reads memory). */
sb_status sb_npy_read_stream(FILE *f, const char *path, sb_npy *out);
/* Writes atomically (temp file + rename): no partial file is ever left at path. */
sb_status sb_npy_write(const char *path, const float *data, int ndim, const int64_t *shape);
void sb_npy_free(sb_npy *a);
/* 1 if a has exactly this shape. */
int sb_npy_has_shape(const sb_npy *a, int ndim, const int *shape);
/* "[2,3]" from an int64 shape (s64) or, if s64 is NULL, an int shape (s32). */
void sb_npy_shape_str(char *buf, size_t sz, int ndim, const int64_t *s64, const int *s32);

#endif
