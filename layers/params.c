/* params.c: the parameter table of a layer instance (seqbench.h): declare, find, free, and fill
 * from a directory of .npy files. */
#include "seqbench.h"
#include "../runtime/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters -------------------------------------------------------------------------- */
sb_status sb_params_add(sb_params *ps, const char *name, int ndim, const int *shape) {
    if (ps->count >= SB_MAX_PARAMS) return sb_fail(SB_EINVAL, "too many parameters (max %d)", SB_MAX_PARAMS);
    if (ndim < 1 || ndim > 4) return sb_fail(SB_EINVAL, "parameter %s: bad rank %d", name, ndim);
    sb_param *p = &ps->p[ps->count];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) return sb_fail(SB_EINVAL, "parameter %s: bad shape", name);
        p->shape[i] = shape[i];
        p->n *= (size_t)shape[i];
    }
    p->host = calloc(p->n, sizeof(float));
    if (!p->host) return sb_fail(SB_ENOMEM, "out of host memory for parameter %s", name);
    ps->count++;
    return SB_OK;
}

sb_status sb_params_add_table(sb_params *ps, const sb_param_decl *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!t[i].present) continue;
        sb_status st = sb_params_add(ps, t[i].name, t[i].ndim, t[i].shape);
        if (st) return st;
    }
    return SB_OK;
}

sb_param *sb_params_find(sb_params *ps, const char *name) {
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->p[i].name, name) == 0) return &ps->p[i];
    return NULL;
}

const float *sb_params_get(const sb_params *ps, const char *name) {
    for (int i = 0; i < ps->count; i++)
        if (strcmp(ps->p[i].name, name) == 0) return ps->p[i].host;
    sb_fail(SB_EINVAL, "internal error: parameter %s not declared", name);
    return NULL;
}

void sb_params_free(sb_params *ps) {
    for (int i = 0; i < ps->count; i++) free(ps->p[i].host);
    ps->count = 0;
}

sb_status sb_params_load_dir(sb_params *ps, const char *dir) {
    for (int i = 0; i < ps->count; i++) {
        sb_param *p = &ps->p[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.npy", dir, p->name);
        sb_npy a;
        sb_status st = sb_npy_read(path, &a);
        if (st) return st;
        if (!sb_npy_has_shape(&a, p->ndim, p->shape)) {
            char want[64], got[64];
            sb_npy_shape_str(want, sizeof want, p->ndim, NULL, p->shape);
            sb_npy_shape_str(got, sizeof got, a.ndim, a.shape, NULL);
            sb_npy_free(&a);
            return sb_fail(SB_EINVAL, "%s: shape %s, expected %s", path, got, want);
        }
        memcpy(p->host, a.data, p->n * sizeof(float));
        sb_npy_free(&a);
    }
    return SB_OK;
}
