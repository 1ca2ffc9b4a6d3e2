/*
 * logline.h - how a line is written and where: the master's own messages
 * (log.c) and the lines of workers' output (output.c) go through here.
 * --log-time adds an ISO-8601 UTC time, --log-format json makes each line
 * one JSON object, --log-dir sends workers' output to one file per slot
 * (and the master's messages to DIR/cluster-run.log as well as stderr).
 */
#ifndef LAUNCHER_LOGLINE_H
#define LAUNCHER_LOGLINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


enum log_stream { LOG_STDOUT = 1, LOG_STDERR = 2 };

/* Once, after the options: -1 (logged) when --log-dir cannot be used. */
int logline_configure(int prefix, int time, int json, const char *dir);
/* Whether workers' output must go through the master's pipes. */
int logline_pipes_wanted(void);
/* Whether a log option is on: lifecycle events are then always logged. */
int logline_structured(void);
/* One message of the master's own (no "cluster-run: ", no newline). */
void logline_master(const char *msg, size_t len);
/* One whole line of a worker's output, without its newline. */
void logline_worker(int slot, pid_t pid, enum log_stream stream, const char *line, size_t len);
/* SIGUSR1: close and reopen every log file (after logrotate renamed it). */
void logline_reopen(void);
/* Lines that could not be written whole (a full disk, a closed pipe). */
uint64_t logline_dropped(void);
/* The warning about them (logline.c): hook is called, once until
 * logline_warn_drops() has run, when lines were dropped that no warning
 * has named; it arranges for logline_warn_drops() to run in
 * logline_drops_warning_in_ms() (0 the first time, then the rest of the
 * minute since the last warning). */
void logline_on_drops(void (*hook)(void *data), void *data);
int64_t logline_drops_warning_in_ms(void);
void logline_warn_drops(void);

/* An in-place upgrade: the count of dropped lines goes on (status,
 * metrics: a counter must not go back).  Called by surface/control.c's
 * save and restore.  0. */
struct state_out;
struct state_in;
int logline_save(struct state_out *o);
int logline_restore(const struct state_in *in);

#endif
