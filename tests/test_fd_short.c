/*
 * test_fd_short.c - a worker whose fd table is full gets no more
 * connections, and what was queued on it goes to the other workers: no
 * request is lost.  Under a channel policy the master used to keep up to
 * a window of connections queued on such a worker, whose accept fails
 * with EMFILE (its shim peeks, so none is lost, but none is served): those
 * clients waited until they gave up.
 *
 * Worker 0 of two runs the helper with a soft limit of 20 fds and fills
 * its table with /dev/null after its first reply (--fill-fds-after 1),
 * and keeps retrying accept as servers do.  Requests one after another,
 * each with a 5 s timeout: every one is answered, worker 0 answered only
 * its first, cluster-run said once that it is out of fds, and status
 * --json says so of that worker (and no other).  Under
 * every channel policy (shared and reuseport hand nothing out: there a
 * full worker's accept fails and the kernel's queue stays with the
 * socket, see README).
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(fd_short, .fini = harness_cleanup, .timeout = 120);

#define REQUESTS 40

static const char wrapper[] =
	"if [ \"$CLUSTER_WORKER_ID\" = 0 ]; then "
	"exec \"$0\" --port 0 --nofile 20 --fill-fds-after 1; "
	"else exec \"$0\" --port 0; fi";

/* want_report: the policy is sure to hand worker 0 a second connection
 * (sticky sends every request from 127.0.0.1 to one slot, maybe 1). */
static void full_worker(const char *policy, int want_report)
{
	int port, i, slot, by_slot[2] = { 0, 0 };
	char pid_s[16];
	const char *ctl[] = { cluster_ctl_path(), "-p", pid_s, "status", "--json", NULL };
	static struct run r;
	struct cr *cr;
	pid_t pid;

	cr = cr_start(NULL, "-n", "2", "-p", policy, "--", "/bin/sh", "-c", wrapper,
		      helper("blocking_server"), NULL);
	port = cr_ready_port(cr, 0, 15000);
	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < REQUESTS; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0,
			     "request %d of %d was not answered:\n%s", i + 1, REQUESTS, cr->log);
		cr_assert(slot == 0 || slot == 1, "slot %d", slot);
		by_slot[slot]++;
	}
	cr_assert_leq(by_slot[0], 1, "the full worker served %d", by_slot[0]);
	cr_assert_eq(by_slot[0] + by_slot[1], REQUESTS);
	if (want_report) {
		cr_assert_eq(by_slot[0], 1);
		cr_assert(cr_wait_line(cr, "fd table full", 5000), "%s", cr->log);
		cr_assert(cr_wait_line(cr, "out of fds (accept", 5000), "%s", cr->log);
		cr_assert_eq(count_of(cr->log, "out of fds (accept"), 1, "%s", cr->log);
		snprintf(pid_s, sizeof(pid_s), "%d", (int)cr->pid);
		run_capture(&r, ctl, 20000, NULL, NULL);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_eq(count_of(r.out, "\"out_of_fds\":true"), 1, "%s", r.out);
	}
	cr_assert(!strstr(cr->log, "a connection was lost"), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(fd_short, rr) { full_worker("rr", 1); }
Test(fd_short, leastconn) { full_worker("leastconn", 1); }
Test(fd_short, jiq) { full_worker("jiq", 1); }
Test(fd_short, random) { full_worker("random", 1); }
Test(fd_short, p2c) { full_worker("p2c", 1); }
Test(fd_short, sticky) { full_worker("sticky", 0); }
