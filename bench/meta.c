/* meta.c: host and GPU metadata (SPEC §8), `seqbench info`. Placeholder until the driver lands. */
#include "commands.h"
#include "../kernels/cuda_api.h"

#include <stdio.h>

int cmd_info(int argc, char **argv) {
    (void)argc; (void)argv;
    sb_cuda_info ci;
    if (sb_cuda_get_info(&ci) == SB_OK) printf("gpu: %s, %d SMs\n", ci.name, ci.sms);
    else printf("gpu: none (%s)\n", sb_last_error());
    return 0;
}
