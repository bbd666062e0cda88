/* test_plots.c: every gnuplot script of plots/ renders from a small fixture CSV with nothing on
 * stderr (PNG and SVG); a CSV lacking data for some figures gets "no data" for those and still
 * nothing on stderr; a figure draws only the panels that have data (a layer-level-only run: two
 * panels, never a "no data" panel); oom and skipped points are drawn as labelled marks; and the
 * crossover is found (plots/make_plots.sh, `seqbench plotdata`). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *figures[] = {"fig_15",      "fig_c_levels", "fig_d_peak",  "fig_e_state", "fig_f_dual_speedup",
                                "fig_g_peers", "fig_h_energy"};
#define NFIG (int)(sizeof figures / sizeof *figures)

typedef struct {
    char csv[64];
    unsigned drawn;     /* bit i: figures[i] must exist as PNG and SVG; the others must not */
    char expect[128];   /* a line stdout must contain */
    char svg_text[64];  /* "" or a text fig_15.svg must hold (a mark's label) */
} plot_case;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

ParameterizedTestParameters(plots, render) {
    static plot_case cases[] = {
        {"tests/fixtures/plots.csv", 0x3f,
         "crossover ttt_linear vs attention (cuda, model level, prefill, B=16): ttt_linear faster from ctx 8192", ""},
        {"tests/fixtures/plots.csv", 0x3f,
         "crossover ttt_mlp vs attention (cuda, layer level, decode, B=512): ttt_mlp faster from ctx 8192", ""},
        /* model level: the oom of attention's decode at 32k (every impl) is one mark */
        {"tests/fixtures/plots.csv", 0x3f, "fig_15.{png,svg}: 2 panels (f15_prefill f15_decode), 1 mark", ">attention oom<"},
        {"tests/fixtures/plots.csv", 0x3f, "fig_c_levels.{png,svg}: 4 panels (c_op_prefill c_op_decode c_layer_prefill "
                                           "c_layer_decode), 2 marks", ""},
        /* ours oom at decode 32k, next to the peer: a mark in figure (g) too */
        {"tests/fixtures/plots.csv", 0x3f, "fig_g_peers.{png,svg}: 2 panels (g_prefill g_decode), 1 mark", ""},
        {"tests/fixtures/compare_base.csv", 0x03, "figure (d) fig_d_peak: no data, skipped", ""},
        {"tests/fixtures/compare_base.csv", 0x03, "fig_c_levels.{png,svg}: 2 panels (c_layer_prefill c_layer_decode), 0 marks", ""},
        {"tests/fixtures/compare_base.csv", 0x03, "no crossover in range", ""},
        /* layer level only, SPEC §14 columns: Fig. 15 falls back to the layer level and says so */
        {"tests/fixtures/plots_layer.csv", 0x4f, "fig_15.{png,svg}: 2 panels (f15_prefill f15_decode), 3 marks", ">ttt_linear skipped<"},
        {"tests/fixtures/plots_layer.csv", 0x4f, "fig_c_levels.{png,svg}: 2 panels (c_layer_prefill c_layer_decode), 3 marks",
         "layer level (no model-level rows in this run)"},
        {"tests/fixtures/plots_layer.csv", 0x4f, "figure (f) fig_f_dual_speedup: no data, skipped", ">attention oom<"},
        /* energy per token: the SPEC §14 column where rows have it, "no data" on the first schema */
        {"tests/fixtures/plots_layer.csv", 0x4f, "fig_h_energy.{png,svg}: 2 panels (h_prefill h_decode), 0 marks", ""},
        {"tests/fixtures/plots.csv", 0x3f, "figure (h) fig_h_energy: no data, skipped", ""},
    };
    return cr_make_param_array(plot_case, cases, sizeof cases / sizeof *cases);
}

ParameterizedTest(plot_case *c, plots, render, .timeout = 120) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) cr_skip_test("gnuplot not installed (make deps)");
    char dir[] = "/tmp/sbplotXXXXXX", cmd[4096], path[4300];
    cr_assert_not_null(mkdtemp(dir));
    const char *b = getenv("SEQBENCH_BIN");
    snprintf(cmd, sizeof cmd, "SEQBENCH_BIN=%s plots/make_plots.sh %s %s/fig > %s/out 2> %s/err", b ? b : "build/seqbench",
             c->csv, dir, dir, dir);
    int st = system(cmd);
    snprintf(path, sizeof path, "%s/out", dir);
    char *out = slurp(path);
    snprintf(path, sizeof path, "%s/err", dir);
    char *err = slurp(path);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "make_plots.sh failed on %s:\n%s%s", c->csv, out, err);
    cr_expect_str_empty(err, "stderr is not empty for %s:\n%s", c->csv, err);
    cr_expect(strstr(out, c->expect) != NULL, "stdout lacks '%s':\n%s", c->expect, out);
    for (int i = 0; i < NFIG; i++)
        for (int k = 0; k < 2; k++) {
            struct stat s;
            snprintf(path, sizeof path, "%s/fig/%s.%s", dir, figures[i], k ? "svg" : "png");
            int there = stat(path, &s) == 0 && s.st_size > 1000;
            cr_expect_eq(there, (c->drawn >> i) & 1, "%s: %s", path, there ? "drawn but should have no data" : "missing");
            if (!there || !k) continue;
            char *svg = slurp(path); /* no empty panel anywhere */
            cr_expect(strstr(svg, "no data") == NULL, "%s has a 'no data' panel", path);
            if (*c->svg_text && !strcmp(figures[i], "fig_15"))
                cr_expect(strstr(svg, c->svg_text) != NULL, "%s lacks '%s'", path, c->svg_text);
            free(svg);
        }
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    system(cmd);
}
