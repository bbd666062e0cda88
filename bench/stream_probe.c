/* stream_probe.c: `seqbench stream [--mib N] [--curve]`: the memory bandwidths behind the cpu rows'
 * pct_peak_bw (SPEC §14), measured as `seqbench run` measures them (bench/hostcpu.c), all OpenMP
 * threads pinned as in a sweep. First STREAM-like read, copy and triad on 3 arrays of N MiB (best
 * of 8); with --curve then the read of one buffer by size, 256 KiB to 512 MiB by octaves: the
 * ceiling a cpu row of that many bytes is measured against, where the cache levels show. */
#include "commands.h"
#include "hostcpu.h"
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "stream: usage: seqbench stream [--mib N] [--curve]  (N > 0: MiB per array, 3 arrays)";

int cmd_stream(int argc, char **argv) {
    long mib = 128;
    int curve = 0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--curve")) curve = 1;
        else if (!(!strcmp(argv[i], "--mib") && i + 1 < argc && (mib = strtol(argv[++i], &end, 10)) > 0 && !*end))
            return sb_usage_error("%s", usage);
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
    if (!curve) return 0;
    printf("kernel,gbps,bytes  # read of one buffer by size: the ceiling of a cpu row of that many bytes\n");
    fflush(stdout); /* the curve takes a few seconds */
    for (size_t bytes = (size_t)256 << 10; bytes <= (size_t)512 << 20; bytes *= 2) {
        double bw = sb_cpu_read_bw(threads, bytes);
        if (bw <= 0) {
            fprintf(stderr, "seqbench: stream: cannot allocate a buffer of %zu bytes\n", bytes);
            return 1;
        }
        printf("read,%.2f,%zu\n", bw / 1e9, bytes);
    }
    return 0;
}
