/*
 * test_recycle_requests.c - --max-requests 100 --max-requests-jitter 20:
 * every worker is replaced after 100 to 120 connections (each draws its
 * own limit), one slot at a time, and the traffic running all along sees
 * no failed request; the line names the connections handed and the limit.
 * The traffic is paced (a few hundred requests a second): while one slot
 * is being replaced the other keeps serving and may pass its limit by
 * what arrives meanwhile, and at an unbounded rate that is not "around".
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(recycle_requests, .fini = harness_cleanup, .timeout = 90);

#define WANT 6

/* slack: how far past its limit a worker may go.  Under rr the master
 * counts as it hands out; under shared the shim counts accepts on the
 * board and the master looks every 100 ms, and the other slot's
 * replacement may be under way meanwhile. */
static void replaced_around_the_limit(const char *policy, int slack)
{
	long ok, failed;
	int port, n, limits[WANT], handed[WANT], i, varied = 0;
	struct cr *cr;
	const char *p;

	cr = cr_start(NULL, "-n", "2", "-p", policy, "--max-requests", "100",
		      "--max-requests-jitter", "20",
		      "--", helper("blocking_server"), "--port", "0", NULL);
	port = cr_ready_port(cr, 0, 15000);
	cr_assert(port > 0, "%s", cr->log);
	ok = failed = 0;
	while (count_of(cr->log, "(requests: ") < WANT && cr_wait_exit(cr, 0) < 0 &&
	       ok + failed < 5000) {
		char buf[4096];

		if (http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0 &&
		    strstr(buf, " 200 OK"))
			ok++;
		else
			failed++;
		cr_wait_line(cr, "\001never\001", 2);        /* the pace */
	}
	cr_assert_eq(failed, 0, "%ld of %ld requests failed:\n%s", failed, ok + failed, cr->log);
	for (n = 0, p = cr->log; n < WANT && (p = strstr(p, "(requests: ")); p++, n++) {
		cr_assert_eq(sscanf(p, "(requests: %d connections handed, limit %d)",
				    &handed[n], &limits[n]), 2, "%s", p);
		cr_assert(limits[n] >= 100 && limits[n] <= 120, "limit %d", limits[n]);
		cr_assert(handed[n] >= limits[n] && handed[n] <= limits[n] + slack,
			  "replaced after %d connections, limit %d:\n%s", handed[n], limits[n],
			  cr->log);
		varied |= limits[n] != limits[0];
	}
	cr_assert_eq(n, WANT, "%d replacements in %ld requests:\n%s", n, ok, cr->log);
	cr_assert(varied, "no jitter: every limit was %d", limits[0]);
	if (!strcmp(policy, "rr"))      /* shared: the kernel may favour one */
		for (i = 0; i < 2; i++)
			cr_assert(strstr(cr->log, i ? "worker 1 (pid" : "worker 0 (pid"),
				  "%s", cr->log);
	cr_assert(!strstr(cr->log, "exited with"), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(recycle_requests, replaced_around_the_limit_rr) { replaced_around_the_limit("rr", 40); }
Test(recycle_requests, replaced_around_the_limit_shared) { replaced_around_the_limit("shared", 80); }
