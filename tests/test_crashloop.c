/*
 * test_crashloop.c - a program whose workers keep exiting before they
 * listen is a crash loop: after --max-restarts consecutive failures of a
 * slot, cluster-run stops and exits with the worker's status (128+N for a
 * signal, 3 if it was 0), after one clear "giving up" line and without a
 * storm of restarts.  A worker that crashes after it listened is not a
 * crash loop: it is restarted as long as it takes.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

TestSuite(crashloop, .fini = harness_cleanup, .timeout = 60);

/* Run cluster-run to its end (at most timeout_ms); its exit status. */
static int run_to_end(struct cr *cr, int timeout_ms)
{
	int st = cr_wait_exit(cr, timeout_ms);

	cr_assert(st >= 0, "still running after %d ms: no give-up\n%s", timeout_ms, cr->log);
	cr_assert(WIFEXITED(st), "cluster-run itself died: wait status 0x%x\n%s", st, cr->log);
	return WEXITSTATUS(st);
}

/* `false` never listens: default --max-restarts 5, two slots.  Exit 1
 * (false's status) within a few seconds (backoff 0.1 s doubling: 0.7 s),
 * one "giving up" line naming the status, and at most 2 x 5 exits. */
Test(crashloop, false_gives_up)
{
	long t0 = now_ms();
	struct cr *cr = cr_start(NULL, "-n", "2", "--", "false", NULL);
	int code = run_to_end(cr, 15000), exits = count_of(cr->log, "exited with status");

	cr_log_info("gave up after %ld ms, %d exits", now_ms() - t0, exits);
	cr_assert_eq(code, 1, "exit status %d\n%s", code, cr->log);
	cr_assert(strstr(cr->log, "giving up"), "%s", cr->log);
	cr_assert(strstr(cr->log, "keeps exiting before it listens (last: exited with status 1)"),
		  "the message does not name the status\n%s", cr->log);
	cr_assert_eq(count_of(cr->log, "giving up"), 1, "%s", cr->log);
	cr_assert_geq(exits, 5, "gave up before 5 attempts\n%s", cr->log);
	cr_assert_leq(exits, 10, "%d restarts: a restart storm\n%s", exits, cr->log);
	cr_assert_eq(count_of(cr->log, "exited with status 1"), exits, "%s", cr->log);
}

/* Ten workers of `false`: still bounded by 10 x 5, and the backoff keeps
 * the rate down (not all in one burst: it takes at least the first delays). */
Test(crashloop, many_workers_bounded)
{
	long t0 = now_ms();
	struct cr *cr = cr_start(NULL, "-n", "10", "--backoff", "0.1:1", "--", "false", NULL);
	int code = run_to_end(cr, 20000), exits = count_of(cr->log, "exited with status");

	cr_assert_eq(code, 1, "%s", cr->log);
	cr_assert_leq(exits, 50, "%d exits", exits);
	cr_assert_geq(now_ms() - t0, 100, "no backoff between attempts");
	cr_assert(strstr(cr->log, "giving up after 5 attempts"), "%s", cr->log);
}

/* --max-restarts 2 lowers the bound: at most 2 x 2 exits. */
Test(crashloop, max_restarts_lowers_the_bound)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "--max-restarts", "2", "--", "false", NULL);
	int code = run_to_end(cr, 15000), exits = count_of(cr->log, "exited with status");

	cr_assert_eq(code, 1, "%s", cr->log);
	cr_assert_geq(exits, 2, "%s", cr->log);
	cr_assert_leq(exits, 4, "%d exits with --max-restarts 2\n%s", exits, cr->log);
	cr_assert(strstr(cr->log, "giving up after 2 attempts"), "%s", cr->log);
}

/* A worker killed by a signal at start: 128 + 9, and the message says so. */
Test(crashloop, killed_by_signal_status_128_plus)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "--max-restarts", "3", "--",
				 "/bin/sh", "-c", "kill -9 $$", NULL);
	int code = run_to_end(cr, 15000);

	cr_assert_eq(code, 128 + 9, "exit status %d\n%s", code, cr->log);
	cr_assert(strstr(cr->log, "killed by signal 9"), "%s", cr->log);
	cr_assert(strstr(cr->log, "giving up after 3 attempts"), "%s", cr->log);
}

/* Workers that exit 0 before listening: still a crash loop, and the status
 * cannot be 0 (that means "stopped on request"): 3, as documented. */
Test(crashloop, exit_zero_at_start_gives_3)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "--max-restarts", "3", "--",
				 helper("blocking_server"), "--exit-at-start", "0", NULL);
	int code = run_to_end(cr, 15000);

	cr_assert_eq(code, 3, "exit status %d\n%s", code, cr->log);
	cr_assert(strstr(cr->log, "(last: exited with status 0); giving up"), "%s", cr->log);
}

/* Exits after it bound (the master bound the port for it) but before
 * listen: a crash loop with its status, and the port is released. */
Test(crashloop, exit_after_bind_status)
{
	int port = free_port();
	char p[16];
	struct cr *cr;
	int code;

	/* a port of our choosing: nothing is announced before a listen() */
	snprintf(p, sizeof(p), "%d", port);
	cr = cr_start(NULL, "-n", "2", "--max-restarts", "3", "--",
		      helper("blocking_server"), "--port", p, "--exit-after-bind", "7", NULL);
	code = run_to_end(cr, 15000);

	cr_assert_eq(code, 7, "exit status %d\n%s", code, cr->log);
	cr_assert(strstr(cr->log, "(last: exited with status 7); giving up"), "%s", cr->log);
	cr_assert_leq(count_of(cr->log, "exited with status 7"), 6, "%s", cr->log);
	cr_assert(port > 0, "%s", cr->log);
	cr_assert(port_free(port, 0), "port %d still bound after giving up", port);
}

/* A program that cannot be found: exit 127 at once, no restarts. */
Test(crashloop, program_not_found)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "--", "/nonexistent/cluster-run-test", NULL);
	int code = run_to_end(cr, 10000);

	cr_assert_eq(code, 127, "%s", cr->log);
	cr_assert_eq(count_of(cr->log, "exited with status"), 0, "%s", cr->log);
}

/* Crashing after it listened is not a crash loop: with --max-restarts 2,
 * six crashes in a row (one per request, --crash-after 1) are each
 * followed by a restart, every request is answered, and cluster-run is
 * still running. */
Test(crashloop, crash_after_listening_is_not_a_loop)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "--max-restarts", "2", "--backoff",
				 "0.05:0.2", "--grace", "1", "--",
				 helper("blocking_server"), "--crash-after", "1", NULL);
	int port = cr_ready_port(cr, 0, 10000), i;
	char buf[4096];

	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < 6; i++)
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0,
			  "request %d failed\n%s", i, cr->log);
	cr_assert(cr_wait_line(cr, "killed by signal 6", 2000), "%s", cr->log);
	cr_assert_eq(cr_wait_exit(cr, 500), -1, "cluster-run gave up:\n%s", cr->log);
	cr_assert(!strstr(cr->log, "giving up"), "%s", cr->log);
	cr_assert_geq(count_of(cr->log, "killed by signal 6"), 5, "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* One slot crash-loops while the other serves: the loop still ends the
 * run (a slot that can never start is a broken deployment).  The worker
 * decides by slot: slot 1 exits 4 at once, slot 0 serves. */
Test(crashloop, one_bad_slot_ends_the_run)
{
	char cmd[1024];
	struct cr *cr;
	int code;

	snprintf(cmd, sizeof(cmd), "[ \"$CLUSTER_WORKER_ID\" = 1 ] && exit 4; exec %s",
		 helper("blocking_server"));
	cr = cr_start(NULL, "-n", "2", "--max-restarts", "3", "--", "/bin/sh", "-c", cmd, NULL);
	code = run_to_end(cr, 15000);
	cr_assert_eq(code, 4, "exit status %d\n%s", code, cr->log);
	cr_assert(strstr(cr->log, "worker 1 keeps exiting before it listens"), "%s", cr->log);
	cr_assert_eq(count_of(cr->log, "worker 0 (pid"), 0, "slot 0 was restarted\n%s", cr->log);
}

/* --max-restarts 0: never give up, but the backoff still bounds the rate
 * (0.05 s at most between attempts: some tens in 1.5 s, not thousands).
 * TERM then stops it with status 0, at once, though a restart is pending. */
Test(crashloop, max_restarts_0_never_gives_up)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "--max-restarts", "0", "--backoff",
				 "0.02:0.05", "--", "false", NULL);
	int exits, st;
	long t0;

	/* counts, not a time window: at least 10 attempts (well past the
	 * default limit of 5) without giving up, however slow the machine;
	 * and never more than the backoff allows in the time they took (one
	 * per 20 ms at most: a slow machine only makes fewer) */
	t0 = now_ms();
	while (count_of(cr->log, "exited with status 1") < 10 && now_ms() - t0 < 30000)
		cr_wait_line(cr, "no such line", 100);
	exits = count_of(cr->log, "exited with status 1");
	cr_log_info("%d attempts in %ld ms", exits, now_ms() - t0);
	cr_assert_geq(exits, 10, "only %d attempts in 30 s", exits);
	cr_assert_leq(exits, (now_ms() - t0) / 20 + 5, "%d attempts in %ld ms: the backoff does "
		      "not hold", exits, now_ms() - t0);
	cr_assert_eq(cr_wait_exit(cr, 0), -1, "gave up with --max-restarts 0:\n%s", cr->log);
	cr_assert(!strstr(cr->log, "giving up"), "%s", cr->log);
	st = cr_stop(cr, SIGTERM, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x\n%s", st, cr->log);
}

/* A stop request while the only slot waits out a long restart delay:
 * cluster-run exits 0 at once, and starts nothing more. */
Test(crashloop, stop_during_backoff)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "--max-restarts", "0", "--backoff",
				 "5:5", "--", "false", NULL);
	int st, before;
	long t0;

	/* The first restart is immediate, the second waits 5 s. */
	cr_assert(cr_wait_line(cr, "exited with status 1\ncluster-run: worker 0", 5000) ||
		  count_of(cr->log, "exited with status 1") >= 2, "%s", cr->log);
	before = count_of(cr->log, "exited with status 1");
	t0 = now_ms();
	st = cr_stop(cr, SIGTERM, 4000);
	/* cr_stop's 4 s bound is below the 5 s delay: a stop that waited for
	 * the delay fails it */
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "status 0x%x after %ld ms (the stop waited for the restart delay?)\n%s", st,
		  now_ms() - t0, cr->log);
	cr_assert_eq(count_of(cr->log, "exited with status 1"), before, "%s", cr->log);
}
