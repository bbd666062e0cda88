/* info.c: `seqbench list` (layers, impls, backends). `seqbench info` lives with the metadata
 * code in bench/meta.c. */
#include "commands.h"
#include "../registry/registry.h"

#include <stdio.h>

int cmd_list(int argc, char **argv) {
    (void)argc; (void)argv;
    for (int b = 0; b < SB_NBACKENDS; b++)
        printf("backend %-5s %s\n", sb_backend_name((sb_backend)b), sb_backend_available((sb_backend)b) ? "available" : "not available here");
    for (int i = 0; sb_registry[i]; i++) {
        const sb_layer_desc *d = sb_registry[i];
        printf("layer %-11s %s\n", d->name, d->about);
        for (int j = 0; sb_impls(d)[j]; j++) {
            const sb_impl *im = sb_impls(d)[j];
            printf("  %-5s %-12s %s%s  %s\n", sb_backend_name(im->backend), im->name,
                   im->levels & (1u << SB_OP) ? "op " : "", im->levels & (1u << SB_LAYER) ? "layer" : "", im->about);
        }
    }
    return 0;
}
