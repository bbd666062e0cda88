/* stream_probe.c: `seqbench stream [--mib N]`: the memory bandwidth the cpu rows' pct_peak_bw is
 * relative to (SPEC §14), measured as `seqbench run` measures it (bench/hostcpu.c: STREAM-like
 * read, copy and triad on arrays far beyond the last-level cache, best of 8, all OpenMP threads
 * pinned as in a sweep). */
#include "commands.h"
#include "hostcpu.h"
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_stream(int argc, char **argv) {
    long mib = 128;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--mib") && i + 1 < argc && (mib = strtol(argv[++i], &end, 10)) > 0 && !*end) continue;
        return sb_usage_error("stream: usage: seqbench stream [--mib N]  (N > 0: MiB per array, 3 arrays)");
    }
    int threads = sb_pin_threads(SB_CPU);
    sb_stream_result r;
    if (sb_stream_measure(threads, (size_t)mib << 20, 8, &r) != 0) {
        fprintf(stderr, "seqbench: stream: cannot allocate 3 arrays of %ld MiB\n", mib);
        return 1;
    }
    printf("kernel,gbps,bytes_per_array  # STREAM-like, best of 8, %d threads; no write-allocate counted\n", threads);
    printf("read,%.2f,%zu\n", r.read_bps / 1e9, r.bytes_per_array);
    printf("copy,%.2f,%zu\n", r.copy_bps / 1e9, r.bytes_per_array);
    printf("triad,%.2f,%zu\n", r.triad_bps / 1e9, r.bytes_per_array);
    return 0;
}
