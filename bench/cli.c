/* cli.c: helpers shared by the subcommands. */
#include "commands.h"

#include <stdarg.h>
#include <stdio.h>

int sb_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("seqbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}
