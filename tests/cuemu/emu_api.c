/* emu_api.c: the rest of cuda_api.h for tests/cuemu/project.sh: device metadata and timers of the CPU
 * model (host clock), no L2 to flush, no peak-memory accounting. */
#include "../../kernels/cuda_api.h"
#include <string.h>
#include <time.h>
sb_status sb_cuda_get_info(sb_cuda_info *info) { memset(info, 0, sizeof *info); strcpy(info->name, "cuemu"); return SB_OK; }
int sb_cuda_current_sm_clock_mhz(void) { return 0; }
struct sb_cuda_timer { struct timespec t0; };
static struct sb_cuda_timer the_timer;
sb_status sb_cuda_timer_create(sb_cuda_timer **t) { *t = &the_timer; return SB_OK; }
void sb_cuda_timer_destroy(sb_cuda_timer *t) { (void)t; }
sb_status sb_cuda_timer_start(sb_cuda_timer *t) { clock_gettime(CLOCK_MONOTONIC, &t->t0); return SB_OK; }
sb_status sb_cuda_timer_stop(sb_cuda_timer *t, double *ms) { struct timespec t1; clock_gettime(CLOCK_MONOTONIC, &t1); *ms = (t1.tv_sec - t->t0.tv_sec) * 1e3 + (t1.tv_nsec - t->t0.tv_nsec) * 1e-6; return SB_OK; }
sb_status sb_cuda_flush_l2(void) { return SB_OK; }
size_t sb_cuda_peak_mem_bytes(void) { return 0; }
void sb_cuda_reset_peak_mem(void) {}
