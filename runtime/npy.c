/* npy.c: see npy.h. The header is a Python dict literal; we parse only what numpy writes:
 * 'descr', 'fortran_order', 'shape', in any order. */
#include "npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Finds 'key': in the header and returns the text after the colon, or NULL. */
static const char *dict_value(const char *hdr, const char *key) {
    char pat[40];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(hdr, pat);
    if (!p) return NULL;
    p = strchr(p + strlen(pat), ':');
    if (!p) return NULL;
    for (p++; *p == ' '; p++) {}
    return p;
}

static sb_status parse_shape(const char *path, const char *v, sb_npy *a) {
    if (!v || *v != '(') return sb_fail(SB_EIO, "%s: header has no shape tuple", path);
    a->ndim = 0;
    a->n = 1;
    for (v++;;) {
        while (*v == ' ' || *v == ',') v++;
        if (*v == ')') break;
        if (!isdigit((unsigned char)*v)) return sb_fail(SB_EIO, "%s: malformed shape", path);
        if (a->ndim == SB_NPY_MAX_DIM) return sb_fail(SB_EIO, "%s: more than %d dimensions", path, SB_NPY_MAX_DIM);
        char *end;
        long long d = strtoll(v, &end, 10);
        if (d < 0 || d > (1ll << 40)) return sb_fail(SB_EIO, "%s: bad dimension", path);
        if (d && a->n > ((size_t)1 << 40) / (size_t)d) return sb_fail(SB_EIO, "%s: more than 2^40 elements", path);
        a->shape[a->ndim++] = d;
        a->n *= (size_t)d;
        v = end;
    }
    return SB_OK;
}

static sb_status parse_header(const char *path, const char *hdr, sb_npy *a) {
    const char *descr = dict_value(hdr, "descr");
    if (!descr) return sb_fail(SB_EIO, "%s: header has no descr", path);
    if (strncmp(descr, "'<f4'", 5) != 0) {
        char got[16] = {0};
        sscanf(descr, "'%15[^']'", got);
        return sb_fail(SB_EINVAL, "%s: dtype '%s', expected float32 little-endian '<f4'", path, got);
    }
    const char *fo = dict_value(hdr, "fortran_order");
    if (!fo) return sb_fail(SB_EIO, "%s: header has no fortran_order", path);
    if (strncmp(fo, "False", 5) != 0) return sb_fail(SB_EINVAL, "%s: Fortran order is not supported", path);
    return parse_shape(path, dict_value(hdr, "shape"), a);
}

sb_status sb_npy_read(const char *path, sb_npy *a) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) return sb_fail(SB_EIO, "%s: %s", path, strerror(errno));
    sb_status st = sb_npy_read_stream(f, path, a);
    fclose(f);
    return st;
}

/* Bytes from the position of f to its end (-1 if f cannot seek). */
static long bytes_left(FILE *f) {
    long here = ftell(f), end;
    if (here < 0 || fseek(f, 0, SEEK_END) != 0) return -1;
    end = ftell(f);
    if (fseek(f, here, SEEK_SET) != 0) return -1;
    return end - here;
}

sb_status sb_npy_read_stream(FILE *f, const char *path, sb_npy *a) {
    memset(a, 0, sizeof *a);
    unsigned char pre[10];
    sb_status st = SB_OK;
    char *hdr = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, MAGIC, 6) != 0) {
        st = sb_fail(SB_EIO, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) { /* 4-byte header length */
        unsigned char more[2];
        if (fread(more, 1, 2, f) != 2) { st = sb_fail(SB_EIO, "%s: truncated header", path); goto done; }
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)more[0] << 16 | (size_t)more[1] << 24;
    } else {
        st = sb_fail(SB_EIO, "%s: unsupported .npy version %d.%d", path, pre[6], pre[7]);
        goto done;
    }
    if (hlen > (1u << 20)) { st = sb_fail(SB_EIO, "%s: header too long", path); goto done; }
    hdr = calloc(hlen + 1, 1);
    if (!hdr) { st = sb_fail(SB_ENOMEM, "out of memory"); goto done; }
    if (fread(hdr, 1, hlen, f) != hlen) { st = sb_fail(SB_EIO, "%s: truncated header", path); goto done; }
    if ((st = parse_header(path, hdr, a))) goto done;
    long left = bytes_left(f); /* a header's shape is no reason to allocate more than the file holds */
    if (left >= 0 && a->n > (size_t)left / sizeof(float)) {
        st = sb_fail(SB_EIO, "%s: truncated data (%ld bytes for %zu floats)", path, left, a->n);
        goto done;
    }
    a->data = malloc((a->n ? a->n : 1) * sizeof(float));
    if (!a->data) { st = sb_fail(SB_ENOMEM, "%s: out of memory for %zu floats", path, a->n); goto done; }
    size_t got = fread(a->data, sizeof(float), a->n, f);
    if (got != a->n) {
        st = sb_fail(SB_EIO, "%s: truncated data (%zu of %zu floats)", path, got, a->n);
        goto done;
    }
    if (fgetc(f) != EOF) st = sb_fail(SB_EIO, "%s: trailing bytes after %zu floats", path, a->n);
done:
    free(hdr);
    if (st) sb_npy_free(a);
    return st;
}

sb_status sb_npy_write(const char *path, const float *data, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > SB_NPY_MAX_DIM) return sb_fail(SB_EINVAL, "%s: bad rank %d", path, ndim);
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        len += snprintf(dict + len, sizeof dict - len, "%lld,%s", (long long)shape[i], i + 1 < ndim ? " " : "");
        n *= (size_t)shape[i];
    }
    len += snprintf(dict + len, sizeof dict - len, "), }");
    /* pad with spaces so that magic(6)+version(2)+len(2)+header is a multiple of 64, ends with \n */
    size_t total = 10 + (size_t)len + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)len + pad + 1;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return sb_fail(SB_EIO, "%s: %s", tmp, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF && fwrite(data, sizeof(float), n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return sb_fail(SB_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return SB_OK;
}

void sb_npy_free(sb_npy *a) {
    free(a->data);
    a->data = NULL;
}

int sb_npy_has_shape(const sb_npy *a, int ndim, const int *shape) {
    if (a->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (a->shape[i] != shape[i]) return 0;
    return 1;
}

void sb_npy_shape_str(char *buf, size_t sz, int ndim, const int64_t *s64, const int *s32) {
    size_t len = (size_t)snprintf(buf, sz, "[");
    for (int i = 0; i < ndim && len < sz; i++)
        len += (size_t)snprintf(buf + len, sz - len, "%s%lld", i ? "," : "", s64 ? (long long)s64[i] : (long long)s32[i]);
    if (len < sz) snprintf(buf + len, sz - len, "]");
}
