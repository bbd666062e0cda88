/* main.c: build/seqbench, a table of subcommands. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} commands[] = {
    {"golden", cmd_golden, "golden DIR [--backend ref|cpu|cuda] [--impl NAME]   run golden case(s), exit 1 beyond tolerance"},
    {"info", cmd_info, "info                                             host and GPU metadata"},
    {"list", cmd_list, "list                                             layers, impls and backends"},
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
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    return sb_usage_error("unknown command '%s' (seqbench --help lists them)", argv[1]);
}
