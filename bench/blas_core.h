/* blas_core.h: the OpenBLAS kernels the CPU deserves (issue 14). A DYNAMIC_ARCH OpenBLAS picks
 * its kernel family ("core") when it is loaded; one that does not know the CPU (0.3.21 on a
 * Xeon of family 6 model 207) falls back to Prescott (SSE3) kernels, 3-5x slower than the AVX-512
 * ones the CPU runs. At start-up seqbench reads the core OpenBLAS chose and the CPU's features;
 * when a better core is offered by the installed OpenBLAS and supported by the CPU, it checks
 * that core in a child process (an sgemm against a naive product) and re-executes itself with
 * OPENBLAS_CORETYPE set to it (the variable is read only when the library loads), else keeps
 * the fallback; one stderr line says what happened. An OPENBLAS_CORETYPE set by the user or the
 * machine is always kept. */
#ifndef SB_BLAS_CORE_H
#define SB_BLAS_CORE_H

#include "hostcpu.h"

#include <stddef.h>

/* The cores better than `current` (the one OpenBLAS chose) that the CPU with features f runs and
 * `offered` (1 = the installed OpenBLAS has kernels for it) accepts, best first, into out[max];
 * returns how many. None when `current` is as good, or is a core this table does not know (a
 * newer OpenBLAS knows better than we do). Pure. The caller tries them in order: an OpenBLAS may
 * have a core's kernels yet refuse it in OPENBLAS_CORETYPE (0.3.21 cannot be forced to
 * Cooperlake), which the check finds. */
int sb_blas_better_cores(const char *current, const sb_cpu_features *f, int (*offered)(const char *core),
                         const char **out, int max);

/* 1 if the loaded OpenBLAS has kernels for `core` (it exports gotoblas_<CORE>). */
int sb_blas_offers(const char *core);

/* Start-up (first thing in main, for the commands that compute): may re-execute the binary and
 * does not return then. Returns -1 to go on, or an exit code when this process was the core
 * check's child. */
int sb_blas_startup(char **argv);

/* "OpenBLAS 0.3.21 Cooperlake" (library, version, core) for the `blas` column. */
void sb_blas_describe(char *buf, size_t sz);

/* Max |sgemm - naive| / max(1, max |naive|) over a few odd shapes (the core check). */
double sb_blas_sgemm_error(void);

#endif
