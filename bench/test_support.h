/*
 * test_support.h - what the benchmark's binary tests (test_bench_native.c,
 * test_bench_floor.c) share: running cluster-loadgen against a port and
 * reading its key=value report, and killing a server a failed test left.
 */
#ifndef BENCH_TEST_SUPPORT_H
#define BENCH_TEST_SUPPORT_H

#include <stddef.h>
#include <sys/types.h>

/* Runs $LOADGEN -p PORT -d 10 -W 2 ARGS and asserts it exits 0; REPORT
 * gets its output with a newline in front (so every key follows one). */
void run_loadgen(int port, const char *args, char *report, size_t len);

/* The number after "\nKEY=" in REPORT; asserts it is there. */
long value_of(const char *report, const char *key);

/* SIGKILL and reap *PID if a test left it running (a suite's .fini). */
void kill_leftover(pid_t *pid);

#endif
