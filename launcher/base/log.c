/*
 * log.c - one formatted line per message, written with a single write() so
 * lines from the master never interleave with a worker's partial output
 * (logline.c formats and writes it: --log-time, --log-format, --log-dir).
 */
#include "base/log.h"
#include "base/logline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int debugging;
static const char *context;     /* "FILE:LINE", put before each message */
static char *capture;           /* a copy of the last message goes here */
static size_t capture_cap;

void log_set_context(const char *ctx)
{
	context = ctx;
}

void log_capture(char *buf, size_t cap)
{
	capture = buf;
	capture_cap = cap;
	if (buf && cap)
		buf[0] = '\0';
}

void log_set_debug(int on)
{
	debugging = on;
}

static void emit(const char *fmt, va_list ap, const char *suffix)
{
	char line[1024];
	int n = context ? snprintf(line, sizeof(line), "%s: ", context) : 0;

	if (n < 0 || n > (int)sizeof(line) - 1)
		n = 0;
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (suffix)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s", suffix);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (capture && capture_cap) {   /* the caller reports it, once */
		snprintf(capture, capture_cap, "%.*s", n, line);
		return;
	}
	logline_master(line, (size_t)n);
}

void log_warn(const char *fmt, ...)
{
	const char *err = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap, err);
	va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap, NULL);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!debugging)
		return;
	va_start(ap, fmt);
	emit(fmt, ap, NULL);
	va_end(ap);
}

void log_event(const char *fmt, ...)
{
	va_list ap;

	if (!debugging && !logline_structured())
		return;
	va_start(ap, fmt);
	emit(fmt, ap, NULL);
	va_end(ap);
}
