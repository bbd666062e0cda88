/* test_fuzz_regress.c: inputs the fuzz targets (fuzz/, `make fuzz`) found, or that a parser got
 * wrong when a found one was studied, as bytes: each parser must now give its one clear error (or
 * accept, where that is right) instead of crashing, allocating without bound, wrapping a number or
 * refusing a file it can continue. Add every new finding here with the bytes of the input. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "../bench/csvio.h"
#include "../bench/golden.h"
#include "../bench/resume.h"
#include "../bench/sweep.h"
#include "../runtime/npy.h"

#include <stdio.h>
#include <string.h>

typedef enum { T_NPY, T_CASE, T_CSV, T_RESUME, T_BATCH, T_CTX } target;

typedef struct {
    char name[40];
    target t;
    char bytes[160];
    size_t len;        /* of bytes (they may hold NULs) */
    int ok;            /* 1: the parser accepts it */
    char expect[32];   /* else: a word of the message */
} finding;

#define NPY_HEAD(hlen) "\x93NUMPY\x01\x00" hlen "\x00"
#define B(s) s, sizeof(s) - 1

ParameterizedTestParameters(fuzz_regress, inputs) {
    static finding cases[] = {
        /* fuzz_npy: a shape of 4e11 floats in a 83-byte file made malloc ask for 1.6 TB (ASan:
         * allocation-size-too-big); the data must be in the file before it is allocated */
        {"npy_huge_shape_few_bytes", T_NPY,
         B(NPY_HEAD("E") "{'descr': '<f4', 'fortran_order': False, 'shape': (433333333333,), }\n" "\x00\x00\x00\x00"),
         0, "truncated"},
        /* two dimensions under the 2^40 cap whose product wraps to 0: accepted as an empty array */
        {"npy_shape_product_wraps", T_NPY,
         B(NPY_HEAD("O") "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 16777216), }\n"), 0, "2^40"},
        /* case.txt: an int past INT_MAX was cut to its low bits (batch 2^32+2 read as 2) */
        {"case_batch_wraps_int", T_CASE, B("layer=mamba\nbatch=4294967298\nctx=4\nd_model=8\n"), 0, "batch"},
        /* (a layer's config keys are its field table's: rope_theta is attention's, eps TTT's; a key the
         * layer does not read is informative and not parsed) */
        {"case_float_beyond_float", T_CASE, B("layer=attention\nbatch=1\nctx=4\nd_model=8\nrope_theta=1e300\n"), 0, "rope_theta"},
        {"case_eps_nan", T_CASE, B("layer=ttt_linear\nbatch=1\nctx=4\nd_model=8\neps=nan\n"), 0, "eps"},
        {"case_valid", T_CASE, B("layer=mamba\nbatch=1\nctx=4\nd_model=8\n"), 1, ""},
        /* fuzz_case (CI, 2026-12-06): expand 1658073225 x d_model 64 overflowed int in d_inner (UBSan).
         * Every int field is now at most SB_MAX_WIDTH; products of two are checked in 64 bits. */
        {"case_expand_beyond_cap", T_CASE, B("layer=mamba2\nlevel=layer\nbatch=1\nctx=4\nd_model=64\nexpand=1658073225\n"), 0, "expand"},
        {"case_width_cap", T_CASE, B("layer=gated_deltanet\nbatch=1\nctx=4\nd_model=64\nhead_dim=1073741824\n"), 0, "head_dim"},
        {"case_mamba2_expand_overflow", T_CASE, B("layer=mamba2\nlevel=layer\nbatch=1\nctx=4\nd_model=65536\nexpand=65536\n"), 0, "d_inner"},
        {"case_mamba_expand_overflow", T_CASE, B("layer=mamba\nbatch=1\nctx=4\nd_model=65536\nexpand=65536\n"), 0, "d_inner"},
        /* --resume onto a file killed before its header was written (empty, or a torn header):
         * nothing to continue, not "empty file" (exit 2) */
        {"resume_empty_file", T_RESUME, "", 0, 1, ""},
        {"resume_torn_header", T_RESUME, B("run_id,utc,git_sh"), 1, ""},
        {"resume_foreign_header", T_RESUME, B("a,b\n1,2\n"), 0, "results header"},
        /* fuzz_runopts: "--batch 1677777771777777777K" overflowed long in the k multiplication
         * (UBSan); 2^54+1 k wrapped to exactly 1024 and was taken */
        {"batch_k_overflow", T_BATCH, B("1677777771777777777K"), 0, "positive integer"},
        {"batch_k_wraps_to_1024", T_BATCH, B("18014398509481985k"), 0, "positive integer"},
        {"ctx_k_wraps_to_1024", T_CTX, B("1k:18014398509481985k"), 0, "malformed"},
        {"ctx_largest", T_CTX, B("1048576k"), 1, ""},
        {"csv_nul_and_open_quote", T_CSV, B("a,b\n\x00,\"x\n"), 0, "CSV"},
        {"csv_ragged_row", T_CSV, B("a,b\n1,2,3\n"), 0, "row 2"},
    };
    return cr_make_param_array(finding, cases, sizeof cases / sizeof *cases);
}

static sb_status parse(const finding *c) {
    if (c->t == T_CSV) {
        sb_table t;
        sb_status st = sb_table_parse(c->bytes, c->len, "input", &t);
        if (!st) sb_table_free(&t);
        return st;
    }
    if (c->t == T_RESUME) {
        sb_resume_state s;
        sb_status st = sb_resume_scan(c->bytes, c->len, "input", &s);
        if (!st) {
            cr_expect_eq(s.nkeys, 0, "%s: keys from a file without rows", c->name);
            sb_resume_free(&s);
        }
        return st;
    }
    if (c->t == T_BATCH || c->t == T_CTX) {
        int v[SB_MAX_CTX], n;
        int ok = c->t == T_BATCH ? sb_parse_batch_list(c->bytes, v, &n, SB_MAX_BATCH) : sb_parse_ctx_list(c->bytes, v, &n, SB_MAX_CTX);
        return ok ? SB_OK : SB_EINVAL;
    }
    FILE *f = fmemopen((void *)c->bytes, c->len, "rb");
    cr_assert_not_null(f);
    sb_status st;
    if (c->t == T_NPY) {
        sb_npy a;
        if (!(st = sb_npy_read_stream(f, "input.npy", &a))) sb_npy_free(&a);
    } else {
        sb_golden_case gc;
        st = sb_golden_parse_case(f, "case.txt", &gc);
    }
    fclose(f);
    return st;
}

ParameterizedTest(finding *c, fuzz_regress, inputs) {
    sb_status st = parse(c);
    if (c->ok) {
        cr_expect_eq(st, SB_OK, "%s: rejected: %s", c->name, sb_last_error());
        return;
    }
    cr_expect_neq(st, SB_OK, "%s: accepted", c->name);
    cr_expect(strstr(sb_last_error(), c->expect) != NULL, "%s: message '%s' does not mention '%s'", c->name,
              sb_last_error(), c->expect);
}
