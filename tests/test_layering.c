/* test_layering.c: scripts/check_layering.sh (run by `make test` and CI) passes on this tree and
 * fails on what it must: a table of small trees, each planted in a temporary folder. */
#include "test_util.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *what;
    const char *files[4][2]; /* path, content */
    int want_rc;
    const char *want_text;   /* in the script's output */
} tree_case;

static const tree_case cases[] = {
    {"downward includes pass",
     {{"runtime/runtime.h", "int x;\n"}, {"layers/seqbench.h", "#include \"../runtime/runtime.h\"\n"},
      {"bench/main.c", "#include \"../layers/seqbench.h\"\n#include \"local.h\"\n"}, {"bench/local.h", "\n"}},
     0, "layering: ok"},
    {"runtime including layers fails",
     {{"runtime/core.c", "#include \"../layers/seqbench.h\"\n"}, {"layers/seqbench.h", "\n"}},
     1, "runtime/core.c (runtime) includes layers/seqbench.h"},
    {"layers including kernels fails",
     {{"layers/ttt.c", "#include \"../kernels/ttt_impls.h\"\n"}, {"kernels/ttt_impls.h", "\n"}},
     1, "a floor above"},
    {"kernels including model fails",
     {{"kernels/model_cpu.c", "  #  include \"../model/model.h\"\n"}, {"model/model.h", "\n"}},
     1, "kernels/model_cpu.c (kernels) includes model/model.h"},
    {"a circle in one floor fails",
     {{"layers/a.h", "#include \"b.h\"\n"}, {"layers/b.h", "#include \"a.h\"\n"}},
     1, "circle"},
};

static void write_file(const char *root, const char *path, const char *text) {
    char full[4096], dir[4096];
    snprintf(full, sizeof full, "%s/%s", root, path);
    snprintf(dir, sizeof dir, "%s", full);
    *strrchr(dir, '/') = '\0';
    mkdir(dir, 0755);
    FILE *f = fopen(full, "w");
    cr_assert_not_null(f, "%s", full);
    fputs(text, f);
    fclose(f);
}

/* Runs the check on root; its output (stdout and stderr) into out. */
static int run_check(const char *root, char *out, size_t sz) {
    char log[] = "/tmp/sblayXXXXXX", cmd[8192];
    int fd = mkstemp(log);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "sh -c 'scripts/check_layering.sh %s 1>&2'", root);
    int rc = tu_shell(cmd, log);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, sz - 1, f) : 0;
    out[n] = '\0';
    if (f) fclose(f);
    unlink(log);
    return rc;
}

Test(layering, this_tree_includes_only_downward) {
    char out[8192];
    int rc = run_check(".", out, sizeof out);
    cr_expect_eq(rc, 0, "check_layering.sh on the repository: exit %d\n%s", rc, out);
}

Test(layering, planted_trees) {
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const tree_case *c = &cases[i];
        char root[] = "/tmp/sblaytreeXXXXXX", out[8192], cmd[4200];
        cr_assert_not_null(mkdtemp(root));
        for (int k = 0; k < 4 && c->files[k][0]; k++) write_file(root, c->files[k][0], c->files[k][1]);
        int rc = run_check(root, out, sizeof out);
        cr_expect_eq(rc, c->want_rc, "%s: exit %d, want %d\n%s", c->what, rc, c->want_rc, out);
        cr_expect(strstr(out, c->want_text) != NULL, "%s: output lacks '%s':\n%s", c->what, c->want_text, out);
        snprintf(cmd, sizeof cmd, "rm -rf %s", root);
        cr_expect_eq(system(cmd), 0);
    }
}
