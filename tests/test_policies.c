/*
 * test_policies.c - what the reuseport and leastconn policies promise.
 *   leastconn: connections go to the worker with the fewest open ones, so
 *     a slow worker gets fewer; an even split when workers are alike.
 *   reuseport: a socket per slot, kept by the master: a restarted worker
 *     gets its slot's socket back with the connections queued on it, and a
 *     removed slot's queue is served before its worker stops.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(policies, .fini = harness_cleanup, .timeout = 90);

/* Worker 0 answers after 100 ms, the others at once. */
static struct cr *slow_worker_zero(const char *policy, int n)
{
	static char script[512];
	char nbuf[8];

	snprintf(script, sizeof(script),
		 "if [ \"$CLUSTER_WORKER_ID\" = 0 ]; then exec %s --slow-ms 100; "
		 "else exec %s; fi", helper("event_server"), helper("event_server"));
	snprintf(nbuf, sizeof(nbuf), "%d", n);
	return cr_start(NULL, "-n", nbuf, "-p", policy, "--", "/bin/sh", "-c", script, NULL);
}

static double slow_share(const char *policy)
{
	struct cr *cr = slow_worker_zero(policy, 2);
	int port = cr_ready_port(cr, 0, 10000);
	long ok, failed, per[16];
	struct load *l;

	cr_assert(port > 0, "%s", cr->log);
	l = load_start(port, 6);
	while (load_ok_so_far(l) < 300)
		sleep_ms(10);
	load_stop(l, &ok, &failed, per);
	cr_assert_eq(failed, 0);
	cr_log_info("%s: slow worker served %ld of %ld", policy, per[0], ok);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0);
	return (double)per[0] / (double)ok;
}

Test(policies, leastconn_spares_the_slow_worker)
{
	double rr = slow_share("rr"), lc = slow_share("leastconn");

	/* rr gives the slow worker its turn whatever it costs; leastconn
	 * sends it a connection only when it has finished the last one */
	cr_assert_lt(lc, 0.2, "leastconn sent %.0f%% to the slow worker", lc * 100);
	cr_assert_lt(lc, rr, "leastconn %.2f vs rr %.2f", lc, rr);
}

Test(policies, leastconn_even_when_alike)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", "leastconn", "--",
				 helper("event_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), i;
	long per[3] = { 0 };
	char buf[4096];

	cr_assert(port > 0);
	for (i = 0; i < 600; i++) {
		int w;
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0);
		w = response_worker(buf);
		cr_assert(w >= 0 && w < 3);
		per[w]++;
	}
	for (i = 0; i < 3; i++)
		cr_expect_leq(per[i], 240, "worker %d served %ld of 600", i, per[i]);
}

/* Open n requests at once (each connected and sent, not yet read). */
static void open_requests(int port, int *fds, int n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	int i;

	for (i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0);
		cr_assert(write(fds[i], req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1);
	}
}

/* Read every answer (10 s each at most); per-worker counts; 0 = all came. */
static int read_answers(int *fds, int n, long *per)
{
	int i, missing = 0;

	for (i = 0; i < n; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		char buf[4096];
		size_t len = 0;
		ssize_t r;
		int w;

		while (len < sizeof(buf) - 1 && poll(&p, 1, 10000) == 1 &&
		       (r = read(fds[i], buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)r;
		buf[len] = '\0';
		close(fds[i]);
		w = response_worker(buf);
		if (w < 0 || w > 15)
			missing++;
		else
			per[w]++;
	}
	return missing;
}

/* Connections queued on a stopped worker's reuseport socket: kill it, and
 * the replacement of its slot serves them from the same socket. */
Test(policies, reuseport_restart_keeps_the_queue)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", "reuseport", "--",
				 helper("event_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), fds[40];
	long per[16] = { 0 };
	pid_t pids[4];

	cr_assert(port > 0);
	cr_assert_eq(cr_children(cr, pids, 4), 2);
	kill(pids[1], SIGSTOP);         /* slot 1's queue fills, nobody accepts */
	open_requests(port, fds, 40);
	kill(pids[1], SIGKILL);         /* the master restarts the slot */
	cr_assert_eq(read_answers(fds, 40, per), 0, "connections lost with the killed worker:\n%s",
		     cr->log);
	cr_assert(per[1] > 0, "nothing was queued on slot 1 (hash chose slot 0 40 times?)");
}

/* Scale-down: slot 2 stops getting new connections, and what was queued on
 * its socket is served before its worker goes. */
Test(policies, reuseport_scale_down_loses_nothing)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", "reuseport", "--grace", "10", "--",
				 helper("event_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), fds[40];
	long per[16] = { 0 };
	pid_t pids[4];

	cr_assert(port > 0);
	cr_assert_eq(cr_children(cr, pids, 4), 3);
	kill(pids[2], SIGSTOP);         /* connections pile up on slot 2 */
	open_requests(port, fds, 40);
	kill(cr->pid, SIGTTOU);
	cr_assert(cr_wait_line(cr, "scaling down to 2 workers", 5000));
	kill(pids[2], SIGCONT);         /* it drains its queue, then stops */
	cr_assert_eq(read_answers(fds, 40, per), 0, "connections lost on scale-down:\n%s", cr->log);
	cr_assert(per[2] > 0, "nothing was queued on slot 2");
	cr_assert(cr_wait_line(cr, "worker 2", 10000) || !pid_alive(pids[2]), "%s", cr->log);
	cr_assert(!strstr(cr->log, "were refused"), "%s", cr->log);
}
