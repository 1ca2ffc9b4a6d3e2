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

struct loop;


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
/* Lines that could not be written whole (a full disk, a closed pipe), and
 * from now on a warning on stderr about them, at most once a minute, from
 * a timer of loop (logline.c). */
uint64_t logline_dropped(void);
void logline_watch_drops(struct loop *loop);

#endif
