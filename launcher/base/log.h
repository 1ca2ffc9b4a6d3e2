/*
 * log.h - the launcher's messages: one line on stderr, "cluster-run: ..."
 * (OpenBSD style: log_warn appends strerror(errno), log_warnx does not).
 */
#ifndef LAUNCHER_LOG_H
#define LAUNCHER_LOG_H

#include <stddef.h>

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A lifecycle event (start, restart and why, reload steps): logged when
 * a log option (--log-time, --log-format, --log-dir) or -v is on. */
void log_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_debug(int on);
/* While ctx is set (not NULL), every message starts with "CTX: ": the
 * FILE:LINE of a config file's line being read (surface/config.c). */
void log_set_context(const char *ctx);
/* While buf is set, each message goes there instead of out (the last one
 * wins): a reload's error goes back to its cluster-ctl caller, and out
 * once, as the reason it was refused. */
void log_capture(char *buf, size_t cap);

#endif
