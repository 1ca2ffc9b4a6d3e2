/*
 * test_stop_queued.c - a stop serves what the kernel already queued
 * (issue 20, part 3).  Two workers of a server that serves one connection
 * at a time, 1.5 s each, with --print-accepted; four requests sent: two
 * are being served and two wait in the kernel's accept queue (under
 * shared the listener's, under reuseport a slot's socket's; under rr the
 * master's hop holds them).  Then TERM: the listeners drop new SYNs, the
 * workers accept the queue empty, and only then stop.  Every one of the
 * four must get its whole answer, five trials each, through the shim and
 * through seccomp (a static server; skipped when the build has none).
 * Before this, shared and reuseport reset the two queued ones in every
 * trial.  With twelve requests under rr, eight wait on the workers'
 * channels and two in the master's own accept queue, which the master
 * keeps handing out after the TERM (balancer.c); before, those two were
 * reset.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQUESTS 4
#define MANY 12                 /* past the channels' windows (rr: 4 each) */
#define TRIALS 5

static char out_path[64];

static void cleanup(void)
{
	harness_cleanup();
	if (out_path[0])
		unlink(out_path);
	out_path[0] = '\0';
}

TestSuite(stop_queued, .fini = cleanup, .timeout = 180);

/* How many "accepted " lines the workers wrote to out_path so far. */
static int accepted_lines(void)
{
	static char buf[65536];

	return read_file(out_path, buf, sizeof(buf)) < 0 ? 0 : count_of(buf, "accepted ");
}

static int two_accepted(void *arg)
{
	(void)arg;
	return accepted_lines() >= 2;
}

/* One trial: the number of the nreq requests answered in full after the
 * TERM, each taking slow_ms. */
static int trial(const char *policy, const char *via, const char *prog, int t, int nreq,
		 const char *slow_ms)
{
	static const char req[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
	struct cr *cr;
	int port, fds[MANY], i, answered = 0, st, at_term;
	char buf[4096];
	long deadline;

	snprintf(out_path, sizeof(out_path), "/tmp/cr-stop-queued.XXXXXX");
	i = mkstemp(out_path);
	cr_assert(i >= 0, "mkstemp: %s", strerror(errno));
	close(i);
	cr = cr_start(out_path, "-n", "2", "-p", policy, "--via", via, "--grace", "30",
		      "--", prog, "--slow-ms", slow_ms, "--print-accepted", NULL);
	port = cr_ready_port(cr, 0, 10000);
	if (port < 0 && strstr(cr->log, "which this kernel lacks"))
		cr_skip_test("seccomp is not available here: %s", cr->log);
	cr_assert(port > 0, "%s via %s: cluster-run did not start:\n%s", policy, via, cr->log);

	for (i = 0; i < nreq; i++) {
		fds[i] = tcp_connect("127.0.0.1", port, 5000);
		cr_assert(fds[i] >= 0, "connect %d: %s", i, strerror(errno));
		cr_assert_eq(send(fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL),
			     (ssize_t)sizeof(req) - 1, "send %d: %s", i, strerror(errno));
	}
	/* Each worker serves one at a time: once both took one, the others
	 * are queued (their handshakes completed: tcp_connect returned). */
	cr_assert(wait_until(two_accepted, NULL, 5000), "%s via %s: the workers accepted "
		  "%d connections\n%s", policy, via, accepted_lines(), cr->log);
	at_term = accepted_lines();
	cr_assert_eq(kill(cr->pid, SIGTERM), 0);
	if (at_term != 2)
		cr_log_warn("%s via %s, trial %d: %d accepted at the TERM, not 2: this "
			    "trial proves less", policy, via, t, at_term);

	deadline = now_ms() + 20000;
	for (i = 0; i < nreq; i++) {
		int len = recv_answer(fds[i], buf, sizeof(buf), NULL, deadline);

		answered += len > 0 && !strncmp(buf, "HTTP/1.0 200 OK\r\n", 17);
		close(fds[i]);
	}
	st = cr_wait_exit(cr, 40000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "%s via %s: status 0x%x after TERM\n%s", policy, via, st, cr->log);
	cr_assert(!strstr(cr->log, "killing it"), "%s via %s: a worker needed SIGKILL\n%s",
		  policy, via, cr->log);
	cr_assert_eq(answered, nreq, "%s via %s, trial %d: %d of %d answered (%d "
		     "accepted at the TERM, %d in all)\n%s", policy, via, t, answered,
		     nreq, at_term, accepted_lines(), cr->log);
	unlink(out_path);
	out_path[0] = '\0';
	harness_cleanup();
	return answered;
}

static void trials_of(const char *policy, const char *via, const char *prog, int nreq,
		      const char *slow_ms)
{
	int t, total = 0;

	for (t = 1; t <= TRIALS; t++)
		total += trial(policy, via, prog, t, nreq, slow_ms);
	cr_log_info("%s via %s: %d of %d answered over %d trials", policy, via, total,
		    nreq * TRIALS, TRIALS);
}

static void trials(const char *policy, const char *via, const char *prog)
{
	trials_of(policy, via, prog, REQUESTS, "1500");
}

/* The static server for seccomp, or skip: the build makes it only where
 * gcc -static works. */
static const char *static_server(void)
{
	const char *p = helper("static_blocking_server");

	if (access(p, X_OK) != 0)
		cr_skip_test("no static server in this build (gcc -static)");
	return p;
}

Test(stop_queued, shim_shared) { trials("shared", "shim", helper("blocking_server")); }
Test(stop_queued, shim_reuseport) { trials("reuseport", "shim", helper("blocking_server")); }
Test(stop_queued, shim_rr) { trials("rr", "shim", helper("blocking_server")); }
Test(stop_queued, shim_rr_past_windows)
{
	trials_of("rr", "shim", helper("blocking_server"), MANY, "500");
}
Test(stop_queued, shim_shared_many)
{
	trials_of("shared", "shim", helper("blocking_server"), MANY, "500");
}
Test(stop_queued, seccomp_shared) { trials("shared", "seccomp", static_server()); }
Test(stop_queued, seccomp_reuseport) { trials("reuseport", "seccomp", static_server()); }
Test(stop_queued, seccomp_rr) { trials("rr", "seccomp", static_server()); }
