/*
 * sd_notify.c - systemd's notification protocol, without libsystemd: one
 * datagram of "KEY=VALUE" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or "@name" for an abstract one).  The protocol is
 * small and stable (sd_notify(3)); a dependency for it would not be.
 *
 * The variables are taken out of the environment at start, so no worker
 * inherits them: a worker that speaks sd_notify itself (nginx, gunicorn
 * with a notify plugin) would otherwise tell systemd it is ready for the
 * whole service.  Without $NOTIFY_SOCKET every call here does nothing.
 *
 * The watchdog: with $WATCHDOG_USEC set (and $WATCHDOG_PID absent or ours),
 * WATCHDOG=1 goes out every WATCHDOG_USEC/2 from a loop timer, so a master
 * whose loop is stuck is restarted by systemd.
 *
 * Not here: when to say what (lifecycle.c).
 */
#include "base/sd_notify.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The watchdog's period from $WATCHDOG_USEC/$WATCHDOG_PID, in ms; 0 for none. */
static int64_t watchdog_period_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long us;
	char *end;

	if (!usec)
		return 0;
	if (pid && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	errno = 0;
	us = strtoull(usec, &end, 10);
	if (errno || *end || us == 0) {
		log_warnx("WATCHDOG_USEC=%s: not a number of microseconds; no watchdog", usec);
		return 0;
	}
	return us / 2000 > 0 ? (int64_t)(us / 2000) : 1;
}

int sd_notify_open(struct sd_notify *n)
{
	const char *name = getenv("NOTIFY_SOCKET");
	size_t len;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	n->watchdog_ms = watchdog_period_ms();
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (!name || !*name) {
		unsetenv("NOTIFY_SOCKET");
		n->watchdog_ms = 0;
		return 0;
	}
	len = strlen(name);
	n->addr.sun_family = AF_UNIX;
	if ((name[0] != '/' && name[0] != '@') || len >= sizeof(n->addr.sun_path)) {
		log_warnx("NOTIFY_SOCKET=%s: not a socket path or @name; not notifying systemd", name);
		unsetenv("NOTIFY_SOCKET");
		n->watchdog_ms = 0;
		return 0;
	}
	memcpy(n->addr.sun_path, name, len);
	if (name[0] == '@')
		n->addr.sun_path[0] = '\0';     /* abstract: no NUL at the end */
	n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				 (name[0] == '/'));
	unsetenv("NOTIFY_SOCKET");
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0) {
		log_warn("notify socket");
		n->watchdog_ms = 0;
		return -1;
	}
	return 0;
}

int sd_notify_enabled(const struct sd_notify *n)
{
	return n->fd >= 0;
}

/* One datagram.  Failures are said once: systemd may be restarting, and a
 * service must not die because its manager does not listen. */
void sd_notify_send(struct sd_notify *n, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int len;

	if (n->fd < 0)
		return;
	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(msg))
		len = (int)sizeof(msg) - 1;
	if (sendto(n->fd, msg, (size_t)len, MSG_NOSIGNAL, (struct sockaddr *)&n->addr,
		   n->addrlen) < 0 && !n->failed) {
		n->failed = 1;
		log_warn("notifying systemd (%.40s)", msg);
	}
}

static void watchdog_tick(struct loop *loop, void *data)
{
	struct sd_notify *n = data;

	sd_notify_send(n, "WATCHDOG=1");
	n->watchdog_timer = loop_timer(loop, n->watchdog_ms, watchdog_tick, n);
}

void sd_notify_watchdog_start(struct sd_notify *n, struct loop *loop)
{
	if (n->fd < 0 || !n->watchdog_ms || n->watchdog_timer)
		return;
	log_debug("systemd watchdog: WATCHDOG=1 every %lld ms", (long long)n->watchdog_ms);
	watchdog_tick(loop, n);
}

void sd_notify_close(struct sd_notify *n, struct loop *loop)
{
	loop_timer_cancel(loop, n->watchdog_timer);
	n->watchdog_timer = 0;
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

void sd_notify_save(const struct sd_notify *n, const struct loop *loop, struct state_out *o)
{
	if (n->fd < 0)
		return;
	state_fd(o, "notify_fd", n->fd);
	state_bytes(o, "notify_addr", &n->addr, n->addrlen);
	state_i64(o, "notify_failed", n->failed);
	state_i64(o, "notify_watchdog_ms", n->watchdog_ms);
	state_i64(o, "notify_watchdog_due", loop_timer_due(loop, n->watchdog_timer));
}

void sd_notify_restore(struct sd_notify *n, struct loop *loop, const struct state_rec *rec)
{
	int fd = rec_fd(rec, "notify_fd");
	long len;
	int64_t due;

	if (fd < 0)
		return;
	if (n->fd >= 0)
		sd_notify_close(n, loop);
	memset(&n->addr, 0, sizeof(n->addr));
	len = rec_bytes(rec, "notify_addr", &n->addr, sizeof(n->addr));
	if (len <= (long)offsetof(struct sockaddr_un, sun_path)) {
		log_warnx("upgrade: systemd's notify socket has no address; not notifying systemd");
		close(fd);
		return;
	}
	n->fd = fd;
	n->addrlen = (socklen_t)len;
	n->failed = (int)rec_i64(rec, "notify_failed", 0);
	n->watchdog_ms = rec_i64(rec, "notify_watchdog_ms", 0);
	n->watchdog_timer = 0;
	if (n->watchdog_ms > 0 && (due = rec_i64(rec, "notify_watchdog_due", -1)) >= 0)
		n->watchdog_timer = loop_timer_at(loop, due, watchdog_tick, n);
}
