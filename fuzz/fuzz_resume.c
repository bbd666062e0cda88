/* fuzz_resume.c: libFuzzer target for what --resume reads from an existing results file
 * (bench/resume.c: sb_resume_scan, the torn-row cut and the keys of the points already done). */
#include "../bench/resume.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sb_resume_state s;
    if (sb_resume_scan((const char *)data, size, "fuzz", &s) != SB_OK) return 0;
    /* the kept part ends a line, and a file with rows has at least a header line */
    if (s.keep > size || (s.keep && data[s.keep - 1] != '\n') || (s.nkeys && !s.keep)) abort();
    for (size_t i = 0; i < s.nkeys; i++)
        if (!sb_resume_has(&s, s.keys[i])) abort();
    sb_resume_free(&s);
    return 0;
}
