/* main.c: build/seqbench, a table of subcommands. */
#include "blas_core.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    int computes; /* runs OpenBLAS: make sure it runs the kernels the CPU deserves first */
} commands[] = {
    {"run", cmd_run, "run [--preset paper|quick|cpu|ci] [--layers L,..] [--levels op,layer,model] [--modes prefill,decode]\n"
                     "      [--ctx 1k:32k|1k,4k] [--batch 16[,512]] [--backend ref|cpu|cuda] [--impl NAME[,..]] [--config 125m]\n"
                     "      [--out FILE] [--resume] [--seed N] [--budget S] [--dry-run] [--shard I/N]\n"
                     "                                                   sweep -> CSV (path printed on stdout)", 1},
    {"check", cmd_check, "check [--backend B] [--layers L,..]                  every impl vs its layer's oracle on small shapes, exit 1 on mismatch", 1},
    {"compare", cmd_compare, "compare BASE NEW [--threshold 0.05] [--force]       regression table, exit 1 if any SLOW", 0},
    {"merge", cmd_merge, "merge OUT IN... [--force] [--keep-newer] [--plan FILE]  union of shard CSVs, exit 1 if points missing", 0},
    {"summary", cmd_summary, "summary CSV                                      per-token latency table of a results CSV", 0},
    {"plotdata", cmd_plotdata, "plotdata CSV DIR                                 series .dat files for plots/*.gp, crossover", 0},
    {"report", cmd_report, "report CSV [--out DIR] [--figures DIR]           Markdown page of a run (results/<machine>/<run>.md), path on stdout", 0},
    {"golden", cmd_golden, "golden DIR [--backend ref|cpu|cuda] [--impl NAME]   run golden case(s), exit 1 beyond tolerance", 1},
    {"info", cmd_info, "info [--slug | --has-gpu]                        host and GPU metadata (--slug: results folder name; --has-gpu: exit 0 iff a GPU)", 1},
    {"list", cmd_list, "list                                             layers, impls and backends", 0},
    {"sgemm", cmd_sgemm, "sgemm MxKxN[,MxKxN...]                           OpenBLAS sgemm alone on projection shapes (cpu ratios)", 1},
    {"stream", cmd_stream, "stream [--mib 128] [--curve]                     memory bandwidth (read, copy, triad; --curve: read by buffer size, the cpu rows' ceilings)", 1},
};

static void usage(FILE *f) {
    fprintf(f, "usage: seqbench COMMAND [options]\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) fprintf(f, "  seqbench %s\n", commands[i].usage);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            int rc = commands[i].computes ? sb_blas_startup(argv) : -1; /* may re-execute this binary */
            return rc >= 0 ? rc : commands[i].run(argc - 1, argv + 1);
        }
    return sb_usage_error("unknown command '%s' (seqbench --help lists them)", argv[1]);
}
