/*
 * test_backlog.c - the master's listener takes the program's backlog (or
 * --backlog N), not somaxconn, so a flood whose clients give up does not
 * leave thousands of dead requests to serve before a new one.
 *
 * A slow server (one worker, 50 ms per request, listen backlog 16) gets a
 * flood of 400 connections that each send a request; the kernel's accept
 * queue on the master's socket (rx_queue of the LISTEN line in
 * /proc/net/tcp) never holds more than backlog + 1.  The clients then
 * leave; a fresh request is answered after the worker served at most
 * backlog + 1 + a worker's window (4) + a few dead ones (counted with the
 * master's "handed" counter, not timed).  With --backlog 300 the queue does
 * grow past the program's 16.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLOOD 400
#define BACKLOG 16
#define WINDOW 4

TestSuite(backlog, .fini = harness_cleanup, .timeout = 120);

/* The accept queue length of the LISTEN socket on 127.0.0.1:port, summed
 * over sockets (reuseport has one per slot); -1 when none. */
static int accept_queue(int port)
{
	char line[512];
	unsigned lport, st, rxq, txq;
	int total = -1;
	FILE *f = fopen("/proc/net/tcp", "r");

	cr_assert(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " %*d: %*8x:%4x %*8x:%*4x %2x %8x:%8x", &lport, &st, &txq, &rxq) == 4 &&
		    (int)lport == port && st == 0x0A)
			total = (total < 0 ? 0 : total) + (int)rxq;
	fclose(f);
	return total;
}

/* FLOOD non-blocking connections that each send a request once
 * connected; returns when the accept queue stopped growing.  Its largest
 * length seen. */
static int flood(int port, int *fds)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of("127.0.0.1", port, &ss);
	struct pollfd pfd[FLOOD];
	int sent[FLOOD] = { 0 }, i, q, most = 0, still = 0;
	long deadline = now_ms() + 8000;

	for (i = 0; i < FLOOD; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		cr_assert(fds[i] >= 0, "socket: %s", strerror(errno));
		if (connect(fds[i], (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
			cr_assert_fail("connect: %s", strerror(errno));
	}
	while (now_ms() < deadline && still < 10) {
		for (i = 0; i < FLOOD; i++)
			pfd[i] = (struct pollfd){ .fd = sent[i] ? -1 : fds[i], .events = POLLOUT };
		poll(pfd, FLOOD, 100);
		for (i = 0; i < FLOOD; i++)
			if (!sent[i] && (pfd[i].revents & POLLOUT) &&
			    send(fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL) > 0)
				sent[i] = 1;
		q = accept_queue(port);
		if (q > most) {
			most = q;
			still = 0;
		} else {
			still++;
		}
	}
	return most;
}

static long handed(struct cr *cr)
{
	char pidarg[16], buf[8192], *h;
	int p[2], status;
	size_t len = 0;
	ssize_t n;
	long total = 0;
	pid_t pid;

	snprintf(pidarg, sizeof(pidarg), "%d", (int)cr->pid);
	cr_assert(pipe(p) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		execl(cluster_ctl_path(), "cluster-ctl", "-p", pidarg, "status", "--json", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (len + 1 < sizeof(buf) && (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(p[0]);
	cr_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "cluster-ctl status --json: %s", buf);
	for (h = buf; (h = strstr(h, "\"handed\":")); h++)
		total += strtol(h + 9, NULL, 10);
	return total;
}

/* The clients give up and close (FIN): what they sent stays queued and
 * is served, to nobody, unless the queue was short. */
static void close_all(int *fds)
{
	int i;

	for (i = 0; i < FLOOD; i++)
		close(fds[i]);
}

static void raise_fd_limit(void)
{
	struct rlimit rl = { 4096, 4096 };

	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		cr_skip_test("cannot raise this test's fd limit");
}

Test(backlog, program_backlog_bounds_the_queue)
{
	static int fds[FLOOD];
	char buf[4096];
	struct cr *cr;
	long before, after;
	int port, most;

	raise_fd_limit();
	cr = cr_start(NULL, "-n", "1", "-p", "rr", "--", helper("blocking_server"), "--port", "0",
		      "--backlog", "16", "--slow-ms", "50", NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "%s", cr->log);
	most = flood(port, fds);
	cr_assert_leq(most, BACKLOG + 1, "accept queue held %d with a program backlog of %d",
		      most, BACKLOG);
	/* counted from the clients leaving: while they are still there, a
	 * slow machine lets their retried SYNs into the room the worker makes */
	close_all(fds);
	before = handed(cr);
	cr_assert_gt(http_get("127.0.0.1", port, buf, sizeof(buf), 60000), 0,
		     "no answer after the flood: %s\n%s", strerror(errno), cr->log);
	after = handed(cr);
	cr_log_info("queue at most %d; %ld connections handed from the clients leaving to the "
		    "answer (%ld before)", most, after - before, before);
	/* The accept queue (BACKLOG + 1) and the worker's window, plus what
	 * completes its handshake from the SYN queue as the accept queue
	 * drains (the kernel keeps request sockets for clients whose final
	 * ACK it dropped while the queue was full; their retransmissions get
	 * in later, closed or not): up to about as many again on a loaded
	 * machine.  With somaxconn it would be the whole flood. */
	cr_assert_leq(after - before, 4 * BACKLOG + WINDOW + 4,
		      "%ld dead connections were served before the fresh one", after - before - 1);
	cr_assert_eq(cr_stop(cr, SIGTERM, 20000), 0, "%s", cr->log);
}

Test(backlog, option_makes_it_larger)
{
	static int fds[FLOOD];
	struct cr *cr;
	int port, most;

	raise_fd_limit();
	cr = cr_start(NULL, "-n", "1", "-p", "reuseport", "--backlog", "300", "--grace", "1", "--",
		      helper("blocking_server"), "--port", "0", "--backlog", "16",
		      "--slow-ms", "50", NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "%s", cr->log);
	most = flood(port, fds);
	cr_log_info("queue at most %d with --backlog 300", most);
	cr_assert_gt(most, 4 * BACKLOG, "accept queue held only %d with --backlog 300", most);
	close_all(fds);
	cr_stop(cr, SIGKILL, 20000);
}
