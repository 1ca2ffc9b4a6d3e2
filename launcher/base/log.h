/*
 * log.h - the launcher's messages: one line on stderr, "cluster-run: ..."
 * (OpenBSD style: log_warn appends strerror(errno), log_warnx does not).
 */
#ifndef LAUNCHER_LOG_H
#define LAUNCHER_LOG_H

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A lifecycle event (start, restart and why, reload steps): logged when
 * a log option (--log-time, --log-format, --log-dir) or -v is on. */
void log_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_debug(int on);

#endif
