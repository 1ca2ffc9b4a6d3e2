/*
 * test_drain_exclusive.c - a draining worker whose program waits for
 * connections with EPOLLEXCLUSIVE must not swallow the wake-up of a new
 * connection (shim/hooks_fd.c drops the flag on a socket-mode listener).
 *
 * nginx with two processes of its own asks for EPOLLEXCLUSIVE.  The
 * kernel wakes exclusive waiters in the order they registered, so while
 * an old generation drains, its processes are woken first for a new
 * connection; each refuses it (the shim stops a draining worker
 * accepting, shim/drain.c), and with the flag nobody else was woken: the
 * connection waited in the queue until another one arrived.
 *
 * -n 1 under shared and reuseport (one socket for the slot's old and new
 * worker).  A connection holds the old generation (one request answered
 * on it, then half of a second: nginx waits for the rest and the drain
 * waits for nginx); a reload starts a new generation and the old one
 * drains.  Then new connections, one at a time, each waiting alone: each
 * must be answered while the old generation is still there.  Last, the
 * held request is finished, and the old generation answers it.
 */
#include "harness.h"
#include "real_programs.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NEW_CONNECTIONS 4       /* more than the old generation's processes */

TestSuite(drain_exclusive, .fini = tmpdir_fini, .timeout = 600);

static const char request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/* One keep-alive request on fd and its whole answer (nginx's body is
 * "pid=N\n": the answer is whole once that newline came) within
 * timeout_ms: 0, or -1 with errno. */
static int ask(int fd, const char *req, size_t len, char *buf, size_t cap, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	size_t n = 0;
	const char *body;

	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	buf[0] = '\0';
	while (!((body = strstr(buf, "pid=")) && strchr(body, '\n'))) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r <= 0 || (n += (size_t)r) == cap - 1) {
			errno = r == 0 ? EPROTO : errno;
			return -1;
		}
		buf[n] = '\0';
	}
	return 0;
}

static void new_connection_while_draining(const char *policy)
{
	struct real_command c;
	char dir[64], sock[96], buf[4096], old_pid[32];
	const char *line;
	int port, held, i;
	struct cr *cr;

	if (!have_program("nginx"))
		cr_skip_test("nginx is not installed");
	tmpdir_new(dir, "cr-excl");
	snprintf(sock, sizeof(sock), "%s/c.sock", dir);
	port = free_port();
	real_nginx_command(&c, dir, port);
	cr = cr_startv(NULL, (const char *const[]){ "-v", "-n", "1", "-p", policy,
		"--grace", "120", "--control", sock, "--", c.argv[0], c.argv[1], c.argv[2],
		NULL });
	cr_assert_eq(cr_ready_port(cr, 0, 60000), port, "%s", cr->log);
	line = cr_wait_line(cr, "worker 0 (pid ", 1000);
	cr_assert(line && sscanf(line, "worker 0 (pid %31[0-9]", old_pid) == 1, "%s", cr->log);

	/* the old generation holds a connection: answered once, then half a
	 * request */
	held = tcp_connect("127.0.0.1", port, 60000);
	cr_assert_geq(held, 0, "%s", cr->log);
	cr_assert_eq(ask(held, request, strlen(request), buf, sizeof(buf), 60000), 0,
		     "the first request on the held connection: %m\n%s", cr->log);
	cr_assert(strstr(buf, " 200 "), "%s", buf);
	cr_assert_eq(send(held, "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL), 16);

	{
		const char *ctl[] = { cluster_ctl_path(), "-s", sock, "reload", NULL };
		struct run r;
		char draining[64];

		run_capture(&r, ctl, 60000, NULL, NULL);
		cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s%s\n%s",
			  r.out, r.err, cr->log);
		snprintf(draining, sizeof(draining), "(pid %s): ready -> draining", old_pid);
		cr_assert(cr_wait_line(cr, draining, 60000), "%s", cr->log);
	}

	for (i = 0; i < NEW_CONNECTIONS; i++) {
		int fd = tcp_connect("127.0.0.1", port, 60000);
		int r = fd < 0 ? -1 : ask(fd, request, strlen(request), buf, sizeof(buf), 60000);

		cr_assert_eq(r, 0, "%s: new connection %d was not answered while the old "
			     "generation drains (%m)\n%s", policy, i + 1, cr->log);
		cr_assert(strstr(buf, " 200 "), "%s", buf);
		close(fd);
	}
	cr_wait_line(cr, "\001never printed\001", 10);     /* read the log so far */
	cr_assert(!strstr(cr->log, "(retired)"), "%s: the old generation left before the "
		  "held request ended\n%s", policy, cr->log);

	/* the held request, finished: the old generation answers it */
	cr_assert_eq(ask(held, "Host: x\r\n\r\n", 11, buf, sizeof(buf), 60000), 0,
		     "%s: the held request: %m\n%s", policy, cr->log);
	cr_assert(strstr(buf, " 200 "), "%s", buf);
	close(held);
	cr_assert(cr_wait_line(cr, "reload complete", 60000), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 60000)), 0, "%s", cr->log);
}

Test(drain_exclusive, nginx_shared) { new_connection_while_draining("shared"); }
Test(drain_exclusive, nginx_reuseport) { new_connection_while_draining("reuseport"); }
