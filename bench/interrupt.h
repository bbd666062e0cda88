/* interrupt.h: SIGTERM and SIGINT during `seqbench run` (a scheduler's time limit, Ctrl-C).
 * The handler only records the signal; the sweep checks sb_interrupted() between points and the
 * measurement between calls (warm-up, samples), drops the point in flight, keeps every row
 * already written (each one fsync'ed) and exits 128 + the signal (143, 130). A call already
 * running is not cut short: the wait is at most one call of the layer, plus the untimed prefill
 * that builds a decode state. A second signal ends the process at once (SA_RESETHAND); the rows
 * written stay, and --resume cuts off a torn last one. */
#ifndef SB_INTERRUPT_H
#define SB_INTERRUPT_H

/* Installs the handlers for SIGTERM and SIGINT, and ignores SIGXFSZ so that a write over the file
 * size limit fails with EFBIG (reported like a full disk) instead of killing the process. */
void sb_interrupt_install(void);
/* The signal received since sb_interrupt_install, 0 if none. */
int sb_interrupted(void);

#endif
