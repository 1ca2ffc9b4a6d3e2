/*
 * test_ctl_slow_client.c - a control or metrics client that sends its
 * request and then does not read costs the master nothing: while it is
 * connected, cluster-ctl status and another metrics request are answered
 * at once; it gets its whole answer when it does read, and the master lets
 * go of it after the client timeout (5 s) when it never does.
 *
 * The answer must be bigger than what the kernel buffers for the client,
 * or nothing would ever wait.  On loopback TCP that is ~40 KB once the
 * client asks for a tiny receive buffer and segment size (the sender's
 * buffer is sized from the MSS); the metrics of 300 workers are ~68 KB.
 * A unix socket buffers ~200 KB, more than the status of 1024 workers, so
 * the control socket itself cannot be made to wait from a test.
 */
#include "harness.h"
#include "tmpdir.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(ctl_slow_client, .fini = tmpdir_fini, .timeout = 60);

#define WORKERS "300"
#define LAST_LINE "# TYPE cluster_run_accepted_total counter\n"

/* "cluster-ctl -s sock status"; its exit status, -1 if it took 5 s.
 * *ms is how long it took. */
static int ctl_status(const char *sock, long *ms)
{
	long start = now_ms();
	int st = -1, null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pid_t pid = fork();

	cr_assert(pid >= 0 && null >= 0);
	if (pid == 0) {
		dup2(null, 1);
		execl(cluster_ctl_path(), "cluster-ctl", "-s", sock, "status", (char *)NULL);
		_exit(99);
	}
	close(null);
	while (now_ms() - start < 5000 && waitpid(pid, &st, WNOHANG) == 0)
		sleep_ms(5);
	*ms = now_ms() - start;
	if (*ms >= 5000) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Connect to the metrics port as a client with (almost) no room to
 * receive, and ask; does not read. */
static int slow_client(int port)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 1024, mss = 536;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
	cr_assert(setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss)) == 0);
	cr_assert(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "%s", strerror(errno));
	cr_assert(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1);
	return fd;
}

/* Everything until EOF (or reset, or timeout); the length. */
static size_t read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	size_t len = 0;

	while (len < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

struct setup {
	struct cr *cr;
	char dir[64];
	char sock[96];
	int port;
	size_t full;            /* length of a whole metrics answer */
};

/* 300 idle workers (they never bind), a control socket and metrics. */
static void start(struct setup *s)
{
	static char buf[262144];
	char where[32];
	long deadline = now_ms() + 15000;
	int n = 0;

	tmpdir_new(s->dir, "cr-slow");
	snprintf(s->sock, sizeof(s->sock), "%s/c.sock", s->dir);
	s->port = free_port();
	snprintf(where, sizeof(where), "127.0.0.1:%d", s->port);
	s->cr = cr_start(NULL, "-n", WORKERS, "--control", s->sock, "--metrics", where, "--",
			 "sleep", "600", NULL);
	cr_assert(cr_wait_line(s->cr, "metrics on http://", 10000), "%s", s->cr->log);
	/* until every worker is in the answer */
	while (now_ms() < deadline &&
	       ((n = http_get("127.0.0.1", s->port, buf, sizeof(buf), 5000)) <= 0 ||
		!strstr(buf, "cluster_run_worker_up{slot=\"299\"")))
		sleep_ms(100);
	cr_assert(n > 0 && strstr(buf, "cluster_run_worker_up{slot=\"299\""), "%s", s->cr->log);
	cr_assert_gt(n, 60000, "metrics of %s workers: only %d bytes", WORKERS, n);
	cr_assert(strstr(buf, LAST_LINE));
	s->full = (size_t)n;
}

Test(ctl_slow_client, others_are_answered_meanwhile_and_it_gets_all)
{
	static char buf[262144];
	struct setup s;
	long ms;
	int fd, i;
	size_t n;

	start(&s);
	fd = slow_client(s.port);
	/* the master has answered what fits: the first bytes are here */
	cr_assert_eq(poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 10000), 1,
		     "no answer started\n%s", s.cr->log);
	/* A master stuck on the slow client would answer only after it
	 * dropped it (5 s): anything well below that is "at once" even on a
	 * loaded machine. */
	for (i = 0; i < 3; i++) {
		cr_assert_eq(ctl_status(s.sock, &ms), 0, "cluster-ctl status failed\n%s",
			     s.cr->log);
		cr_assert_lt(ms, 4000, "cluster-ctl status took %ld ms with a client not reading",
			     ms);
	}
	ms = now_ms();
	cr_assert_gt(http_get("127.0.0.1", s.port, buf, sizeof(buf), 5000), 0);
	cr_assert_lt(now_ms() - ms, 4000, "a metrics request took %ld ms", now_ms() - ms);
	/* now it reads: the whole answer, written as room came */
	n = read_all(fd, buf, sizeof(buf), 4000);
	close(fd);
	cr_assert(n + 200 > s.full && strstr(buf, LAST_LINE), "got %zu of ~%zu bytes", n, s.full);
	cr_assert(!strncmp(buf, "HTTP/1.0 200 ", 13), "%.200s", buf);
	cr_stop(s.cr, SIGTERM, 15000);
}

/* The master's open fds (asserting they can be counted). */
static int fd_count(pid_t pid)
{
	int n = proc_fds(pid, 0, NULL);

	cr_assert_geq(n, 0, "/proc/%d/fd: %s", (int)pid, strerror(errno));
	return n;
}

struct fds_wait {
	pid_t pid;
	int want;
};

static int fds_are(void *arg)
{
	struct fds_wait *w = arg;

	return fd_count(w->pid) == w->want;
}

/* Closing it does not cut the answer short (the kernel still sends what
 * it holds), so what shows is the master letting go of the socket. */
Test(ctl_slow_client, dropped_after_the_client_timeout)
{
	struct setup s;
	struct fds_wait w;
	long ms, t0;
	int fd, before;

	start(&s);
	before = fd_count(s.cr->pid);
	w = (struct fds_wait){ .pid = s.cr->pid, .want = before + 1 };
	fd = slow_client(s.port);
	t0 = now_ms();
	cr_assert(wait_until(fds_are, &w, 10000), "fds: %d before the client, %d with it",
		  before, fd_count(s.cr->pid));
	/* CLIENT_TIMEOUT_MS is 5 s from accept: wait for the drop itself */
	w.want = before;
	cr_assert(wait_until(fds_are, &w, 20000), "the client is still held after %ld ms",
		  now_ms() - t0);
	cr_log_info("dropped %ld ms after connecting", now_ms() - t0);
	cr_assert_eq(ctl_status(s.sock, &ms), 0);
	cr_assert_lt(ms, 4000, "cluster-ctl status took %ld ms", ms);
	close(fd);
	cr_stop(s.cr, SIGTERM, 15000);
}
