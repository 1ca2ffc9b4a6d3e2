/*
 * log.c - one formatted line per message, written with a single write() so
 * lines from the master never interleave with a worker's partial output.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int debugging;

void log_set_debug(int on)
{
	debugging = on;
}

static void emit(const char *fmt, va_list ap, const char *suffix)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "cluster-run: ");
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);

	if (m > 0)
		n += m;
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (suffix)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s", suffix);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* stderr is gone: nothing else to tell */
	}
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
