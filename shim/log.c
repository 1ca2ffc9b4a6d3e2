/*
 * log.c - the shim's messages.  They go straight to fd 2 with one write(),
 * formatted into a stack buffer, so a line is never torn and no stdio
 * buffer of the host program is touched.  Debug lines appear only with
 * CLUSTER_RUN_DEBUG=1 in the environment.
 *
 * Owns the line's format and the debug switch.  Must not allocate, use a
 * stdio stream, change errno, or call any other shim module: every module
 * logs through it, some with their locks held.
 */
#include "shim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void say(const char *fmt, va_list ap)
{
	char line[512];
	int saved = errno;
	int n, m;

	n = snprintf(line, sizeof(line), "cluster-run shim[%d]: ", (int)getpid());
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(2, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}

void shim_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

int shim_debugging(void)
{
	static int on = -1;

	if (on < 0) {
		const char *v = getenv(CLUSTER_ENV_DEBUG);
		on = v && *v && *v != '0';
	}
	return on;
}

void shim_debug(const char *fmt, ...)
{
	va_list ap;

	if (!shim_debugging())
		return;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

void shim_warn_once(_Atomic int *said, const char *fmt, ...)
{
	va_list ap;

	if (atomic_exchange(said, 1))
		return;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}
