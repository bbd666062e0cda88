/* cuda_stub.c: the CUDA API without nvcc. Every device entry point reports "no device". */
#include "cuda_api.h"

#include <string.h>

int sb_cuda_compiled(void) { return 0; }
int sb_cuda_device_count(void) { return 0; }
static sb_status no_cuda(void) { return sb_fail(SB_ENOTSUP, "built without CUDA (nvcc was not found at build time)"); }
sb_status sb_cuda_malloc(void **p, size_t bytes) { (void)bytes; *p = NULL; return no_cuda(); }
void sb_cuda_free(void *p) { (void)p; }
sb_status sb_cuda_memset0(void *p, size_t bytes) { (void)p; (void)bytes; return no_cuda(); }
sb_status sb_cuda_upload_f32(void *dst, sb_dtype dt, const float *src, size_t n) { (void)dst; (void)dt; (void)src; (void)n; return no_cuda(); }
sb_status sb_cuda_download_f32(float *dst, const void *src, sb_dtype dt, size_t n) { (void)dst; (void)dt; (void)src; (void)n; return no_cuda(); }
sb_status sb_cuda_sync(void) { return no_cuda(); }
sb_status sb_cuda_count_nonfinite(const void *p, sb_dtype dt, size_t n, size_t *count) { (void)p; (void)dt; (void)n; *count = 0; return no_cuda(); }
sb_status sb_cuda_get_info(sb_cuda_info *info) { memset(info, 0, sizeof *info); return no_cuda(); }
int sb_cuda_current_sm_clock_mhz(void) { return 0; }
int sb_cuda_max_sm_clock_mhz(void) { return 0; }
int sb_cuda_energy_mj(unsigned long long *mj) { *mj = 0; return 0; }
sb_status sb_cuda_mem_info(size_t *free_bytes, size_t *total_bytes) { *free_bytes = *total_bytes = 0; return no_cuda(); }
sb_status sb_cuda_timer_create(sb_cuda_timer **t) { *t = NULL; return no_cuda(); }
void sb_cuda_timer_destroy(sb_cuda_timer *t) { (void)t; }
sb_status sb_cuda_timer_start(sb_cuda_timer *t) { (void)t; return no_cuda(); }
sb_status sb_cuda_timer_stop(sb_cuda_timer *t, double *ms) { (void)t; *ms = 0; return no_cuda(); }
sb_status sb_cuda_flush_l2(void) { return no_cuda(); }
size_t sb_cuda_peak_mem_bytes(void) { return 0; }
void sb_cuda_reset_peak_mem(void) {}
sb_status sb_cuda_graph_begin(void) { return no_cuda(); }
sb_status sb_cuda_graph_end(sb_cuda_graph **g) { *g = NULL; return no_cuda(); }
sb_status sb_cuda_graph_replay(sb_cuda_graph *g) { (void)g; return no_cuda(); }
void sb_cuda_graph_destroy(sb_cuda_graph *g) { (void)g; }
