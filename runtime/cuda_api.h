/* cuda_api.h: the C entry points of the CUDA runtime wrapper that host code may call. With nvcc
 * they live in runtime/cuda_runtime.cu; without it runtime/cuda_stub.c answers "no device" so
 * that the binary builds and runs on machines without CUDA. */
#ifndef SB_CUDA_API_H
#define SB_CUDA_API_H

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

int sb_cuda_compiled(void);        /* 1 if built with nvcc */
int sb_cuda_device_count(void);    /* 0 without a driver or device; never fails */
sb_status sb_cuda_malloc(void **p, size_t bytes);  /* SB_ENOMEM when the device is full */
void sb_cuda_free(void *p);
sb_status sb_cuda_memset0(void *p, size_t bytes);
/* fp32 host <-> device array of dtype (f32, bf16, i32), converted on the device. */
sb_status sb_cuda_upload_f32(void *dst, sb_dtype dt, const float *src, size_t n);
sb_status sb_cuda_download_f32(float *dst, const void *src, sb_dtype dt, size_t n);
sb_status sb_cuda_sync(void);
/* NaN/Inf among n values of dt (f32, bf16) on the device, counted on the device. */
sb_status sb_cuda_count_nonfinite(const void *p, sb_dtype dt, size_t n, size_t *count);

typedef struct sb_cuda_info {
    char name[128];
    int sms, cc_major, cc_minor;
    int sm_clock_mhz, mem_clock_mhz, mem_bus_bits;
    size_t l2_bytes, mem_bytes;
    int runtime_version, driver_version; /* CUDA runtime and driver API versions (13000 = 13.0) */
    char driver[32];                     /* the kernel driver's version (NVML, "580.159.04"); empty if unknown */
    double peak_bw_gbps;     /* from memory clock and bus width */
    double peak_bf16_tflops; /* dense tensor-core bf16, from SMs and clock (Hopper: 1024 FMA/clk/SM... see .cu) */
} sb_cuda_info;
sb_status sb_cuda_get_info(sb_cuda_info *info);
int sb_cuda_current_sm_clock_mhz(void); /* NVML, loaded at run time; 0 if unknown */
int sb_cuda_max_sm_clock_mhz(void);     /* the device's maximum SM clock; 0 if unknown */
/* NVML total energy of GPU 0 since the driver loaded, millijoules: 1 if read, 0 if NVML or the
 * counter is missing (no driver, a GPU older than Volta, built without CUDA). */
int sb_cuda_energy_mj(unsigned long long *mj);
sb_status sb_cuda_mem_info(size_t *free_bytes, size_t *total_bytes);

/* Timing on the layer stream (CUDA events); L2 flush by memset of an L2-sized buffer. */
typedef struct sb_cuda_timer sb_cuda_timer;
sb_status sb_cuda_timer_create(sb_cuda_timer **t);
void sb_cuda_timer_destroy(sb_cuda_timer *t);
sb_status sb_cuda_timer_start(sb_cuda_timer *t);
sb_status sb_cuda_timer_stop(sb_cuda_timer *t, double *ms); /* waits for the stop event */
sb_status sb_cuda_flush_l2(void);
size_t sb_cuda_peak_mem_bytes(void); /* high-water mark of our allocations */
void sb_cuda_reset_peak_mem(void);

/* CUDA graph of one decode step (bench/ times decode as replays, SPEC §7): begin capturing the
 * work enqueued on sb_stream(), end (always call it after begin: it ends the capture even when the
 * captured call failed) and instantiate, replay on sb_stream(). A capture fails cleanly (status,
 * stream usable again) when the captured code synchronizes, allocates or copies to the host, or
 * enqueues nothing; the caller then falls back to plain launches. */
typedef struct sb_cuda_graph sb_cuda_graph;
sb_status sb_cuda_graph_begin(void);
sb_status sb_cuda_graph_end(sb_cuda_graph **g);
sb_status sb_cuda_graph_replay(sb_cuda_graph *g);
void sb_cuda_graph_destroy(sb_cuda_graph *g);

#ifdef __cplusplus
}
#endif
#endif
