/*
 * policy_setup.h - set-ups shared by the routing tests of the policies
 * (test_p2c.c, test_jiq.c, test_weights.c).  Header-only, static inline:
 * each test file takes what it uses.
 */
#ifndef TESTS_POLICY_SETUP_H
#define TESTS_POLICY_SETUP_H

#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUSY_HELD 10

/* n sequential GETs; per[worker]++ for each answer.  Returns the number
 * of requests that failed or named no worker below nw. */
static inline int serve_sequential(int port, int n, long *per, int nw)
{
	char buf[4096];
	int i, bad = 0;

	for (i = 0; i < n; i++) {
		int w;

		if (http_get("127.0.0.1", port, buf, sizeof(buf), 5000) <= 0) {
			bad++;
			continue;
		}
		w = response_worker(buf);
		if (w < 0 || w >= nw)
			bad++;
		else
			per[w]++;
	}
	return bad;
}

/* Four event_servers under `policy`, worker 0 holding BUSY_HELD open idle
 * connections, workers 1..3 holding none and all listening. */
struct busy_one {
	struct cr *cr;
	int port;
	int held[BUSY_HELD];
};

static inline void busy_one_start(struct busy_one *b, const char *policy)
{
	long seen[4] = { 0 }, deadline;
	char line[64];
	int i;

	b->cr = cr_start(NULL, "-n", "1", "-p", policy, "--", helper("event_server"), NULL);
	b->port = cr_ready_port(b->cr, 0, 10000);
	cr_assert(b->port > 0, "%s", b->cr->log);
	for (i = 0; i < BUSY_HELD; i++) {
		b->held[i] = tcp_connect("127.0.0.1", b->port, 5000);
		cr_assert(b->held[i] >= 0);
	}
	/* accepted in order: once this one is answered, the held ones were
	 * handed to worker 0 before it */
	cr_assert_eq(serve_sequential(b->port, 1, seen, 4), 0);
	for (i = 2; i <= 4; i++) {
		cr_assert_eq(kill(b->cr->pid, SIGTTIN), 0);
		snprintf(line, sizeof(line), "scaling up to %d workers", i);
		cr_assert(cr_wait_line(b->cr, line, 5000), "%s", b->cr->log);
	}
	deadline = now_ms() + 10000;
	while ((!seen[1] || !seen[2] || !seen[3]) && now_ms() < deadline)
		cr_assert_eq(serve_sequential(b->port, 1, seen, 4), 0);
	cr_assert(seen[1] && seen[2] && seen[3], "new workers never answered\n%s", b->cr->log);
}

static inline void busy_one_stop(struct busy_one *b)
{
	int i;

	for (i = 0; i < BUSY_HELD; i++)
		close(b->held[i]);
	cr_assert_eq(WEXITSTATUS(cr_stop(b->cr, SIGTERM, 15000)), 0);
}

#endif
