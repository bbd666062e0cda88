/* commands.h: the subcommands of build/seqbench. Each returns the process exit code:
 * 0 success, 1 a check failed (mismatch, regression), 2 bad input (one clear message on stderr). */
#ifndef SB_COMMANDS_H
#define SB_COMMANDS_H

int cmd_golden(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_sgemm(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_plotdata(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Prints "seqbench: <message>" on stderr and returns 2. */
int sb_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
