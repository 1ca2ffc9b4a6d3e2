/*
 * test_scale.c - SIGTTIN adds one worker in a new slot, SIGTTOU retires the
 * highest slot, never going below one worker.  Under a bounded load, TTIN
 * then TTOU loses no request.  A TTOU that removes the slot a reload is
 * replacing does not leave the reload machinery stuck.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

TestSuite(scale, .fini = harness_cleanup, .timeout = 60);

/* rr: n sequential requests; how many each slot answered. */
static void spread(int port, int n, int per[16], struct cr *cr)
{
	int i, slot;
	pid_t pid;

	memset(per, 0, 16 * sizeof(int));
	for (i = 0; i < n; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "request %d failed\n%s",
			     i, cr->log);
		cr_assert(slot >= 0 && slot < 16, "bad slot %d", slot);
		per[slot]++;
	}
}

/* TTIN: "scaling up to 4 workers", a process in slot 3 (CLUSTER_WORKER_ID
 * 3), and rr gives it its share.  TTOU: "scaling down to 3 workers", that
 * process goes away, slot 3 answers no more, the others are untouched. */
Test(scale, ttin_adds_slot_ttou_removes_it)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", "rr", "--grace", "3", "--",
				 helper("blocking_server"), "--graceful", NULL);
	int port = cr_ready_port(cr, 0, 10000), per[16], i;
	struct cr_workers w = { .cr = cr, .want = 3 };
	pid_t before[3], added;
	long deadline;

	cr_assert(port > 0, "%s", cr->log);
	cr_assert(wait_until(cr_have_workers, &w, 5000));
	memcpy(before, w.slot_pid, sizeof(before));

	cr_assert_eq(kill(cr->pid, SIGTTIN), 0);
	cr_assert(cr_wait_line(cr, "scaling up to 4 workers", 5000), "%s", cr->log);
	w.want = 4;
	cr_assert(wait_until(cr_have_workers, &w, 5000), "no worker in slot 3\n%s", cr->log);
	for (i = 0; i < 3; i++)
		cr_assert_eq(w.slot_pid[i], before[i], "slot %d was restarted by TTIN", i);
	added = w.slot_pid[3];
	/* It takes connections once it listens: poll with requests. */
	deadline = now_ms() + 5000;
	do
		spread(port, 8, per, cr);
	while (per[3] == 0 && now_ms() < deadline);
	cr_assert_gt(per[3], 0, "slot 3 never answered\n%s", cr->log);
	spread(port, 40, per, cr);
	for (i = 0; i < 4; i++)
		cr_assert_geq(per[i], 6, "slot %d answered %d of 40 rr requests", i, per[i]);

	cr_assert_eq(kill(cr->pid, SIGTTOU), 0);
	cr_assert(cr_wait_line(cr, "scaling down to 3 workers", 5000), "%s", cr->log);
	w.want = 3;
	cr_assert(wait_until(cr_have_workers, &w, 8000), "slot 3 still there\n%s", cr->log);
	cr_assert(!pid_alive(added), "the slot 3 worker is still running");
	for (i = 0; i < 3; i++)
		cr_assert_eq(w.slot_pid[i], before[i], "slot %d was restarted by TTOU", i);
	spread(port, 30, per, cr);
	cr_assert_eq(per[3], 0, "slot 3 answered after scaling down");
	for (i = 0; i < 3; i++)
		cr_assert_geq(per[i], 5, "slot %d answered %d of 30", i, per[i]);
	/* A retirement, not a crash: no restart of slot 3. */
	cr_assert_eq(cr_wait_exit(cr, 300), -1, "%s", cr->log);
	cr_assert(!cr_have_workers(&(struct cr_workers){ .cr = cr, .want = 4 }));
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* Two TTINs then two TTOUs: slots 3 and 4 come and go in order. */
Test(scale, several_steps)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", "rr", "--grace", "3", "--",
				 helper("blocking_server"), "--graceful", NULL);
	int port = cr_ready_port(cr, 0, 10000);
	struct cr_workers w = { .cr = cr };

	cr_assert(port > 0, "%s", cr->log);
	kill(cr->pid, SIGTTIN);
	cr_assert(cr_wait_line(cr, "scaling up to 3 workers", 5000), "%s", cr->log);
	kill(cr->pid, SIGTTIN);
	cr_assert(cr_wait_line(cr, "scaling up to 4 workers", 5000), "%s", cr->log);
	w.want = 4;
	cr_assert(wait_until(cr_have_workers, &w, 5000), "%s", cr->log);
	kill(cr->pid, SIGTTOU);
	cr_assert(cr_wait_line(cr, "scaling down to 3 workers", 5000), "%s", cr->log);
	kill(cr->pid, SIGTTOU);
	cr_assert(cr_wait_line(cr, "scaling down to 2 workers", 5000), "%s", cr->log);
	w.want = 2;
	cr_assert(wait_until(cr_have_workers, &w, 8000), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* TTOU at one worker: a message, and the worker stays and serves. */
Test(scale, never_below_one)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "--grace", "3", "--",
				 helper("blocking_server"), "--graceful", NULL);
	int port = cr_ready_port(cr, 0, 10000), slot;
	struct cr_workers w = { .cr = cr, .want = 1 };
	pid_t first, pid;

	cr_assert(port > 0, "%s", cr->log);
	cr_assert(wait_until(cr_have_workers, &w, 5000));
	first = w.slot_pid[0];
	cr_assert_eq(kill(cr->pid, SIGTTOU), 0);
	cr_assert(cr_wait_line(cr, "already at one worker: not scaling down", 5000),
		  "%s", cr->log);
	cr_assert(!strstr(cr->log, "scaling down to"), "%s", cr->log);
	cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s", cr->log);
	cr_assert_eq(pid, first, "the only worker was replaced");
	cr_assert_eq(slot, 0);
	cr_assert(cr_have_workers(&w));
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* Scaling down a 2-worker cluster twice: the second TTOU is refused. */
Test(scale, ttou_twice_from_two)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "--grace", "3", "--",
				 helper("blocking_server"), "--graceful", NULL);
	int port = cr_ready_port(cr, 0, 10000), slot, i;
	struct cr_workers w = { .cr = cr, .want = 1 };
	pid_t pid;

	cr_assert(port > 0, "%s", cr->log);
	kill(cr->pid, SIGTTOU);
	cr_assert(cr_wait_line(cr, "scaling down to 1 worker", 5000), "%s", cr->log);
	kill(cr->pid, SIGTTOU);
	cr_assert(cr_wait_line(cr, "already at one worker", 5000), "%s", cr->log);
	cr_assert(wait_until(cr_have_workers, &w, 8000), "%s", cr->log);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s", cr->log);
		cr_assert_eq(slot, 0);
	}
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* 3 workers under 4 clients: TTIN, let the 4th serve, TTOU; no request
 * fails.  Under rr the 4th slot must have had its share meanwhile. */
static void scale_under_load(const char *policy)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", policy, "--grace", "3", "--",
				 helper("blocking_server"), "--graceful", NULL);
	int port = cr_ready_port(cr, 0, 10000);
	struct cr_workers w = { .cr = cr, .want = 4 };
	long ok, failed, per[16], base, deadline;
	struct load *l;
	pid_t added;

	cr_assert(port > 0, "%s", cr->log);
	l = load_start(port, 4);
	deadline = now_ms() + 10000;
	while (load_ok_so_far(l) < 100 && now_ms() < deadline)
		sleep_ms(10);
	cr_assert_eq(kill(cr->pid, SIGTTIN), 0);
	cr_assert(cr_wait_line(cr, "scaling up to 4 workers", 5000), "%s", cr->log);
	cr_assert(wait_until(cr_have_workers, &w, 5000), "%s", cr->log);
	added = w.slot_pid[3];
	base = load_ok_so_far(l);
	deadline = now_ms() + 10000;
	while (load_ok_so_far(l) < base + 400 && now_ms() < deadline)
		sleep_ms(10);
	cr_assert_eq(kill(cr->pid, SIGTTOU), 0);
	cr_assert(cr_wait_line(cr, "scaling down to 3 workers", 5000), "%s", cr->log);
	w.want = 3;
	cr_assert(wait_until(cr_have_workers, &w, 8000), "%s", cr->log);
	cr_assert(!pid_alive(added));
	base = load_ok_so_far(l);
	deadline = now_ms() + 10000;
	while (load_ok_so_far(l) < base + 200 && now_ms() < deadline)
		sleep_ms(10);
	load_stop(l, &ok, &failed, per);
	cr_log_info("%s: ok %ld failed %ld, per slot %ld %ld %ld %ld", policy, ok, failed,
		    per[0], per[1], per[2], per[3]);
	cr_assert_eq(failed, 0, "%ld of %ld requests failed across TTIN/TTOU\n%s",
		     failed, ok + failed, cr->log);
	cr_assert_geq(ok, 700);
	if (!strcmp(policy, "rr"))
		cr_assert_gt(per[3], 0, "the added worker took no connection under rr");
	cr_assert(!strstr(cr->log, "killing it"), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(scale, ttin_ttou_under_load_rr) { scale_under_load("rr"); }
Test(scale, ttin_ttou_under_load_shared) { scale_under_load("shared"); }

/* TTOU while a reload is replacing the very slot that goes away (every
 * start takes 0.8 s, so the replacement of slot 1 is still starting).
 * Both the old and the new worker of slot 1 are retired; the reload must
 * not stay stuck on the removed slot: a later HUP replaces the remaining
 * worker and completes. */
Test(scale, ttou_during_reload_of_the_removed_slot)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", "rr", "--grace", "3", "--",
				 helper("blocking_server"), "--graceful",
				 "--listen-delay-ms", "800", NULL);
	int port = cr_ready_port(cr, 0, 15000), slot, n;
	struct cr_workers w = { .cr = cr, .want = 2 };
	pid_t old[2], only, pid;
	long deadline;

	cr_assert(port > 0, "%s", cr->log);
	cr_assert(wait_until(cr_have_workers, &w, 5000));
	memcpy(old, w.slot_pid, sizeof(old));
	kill(cr->pid, SIGHUP);
	/* Slot 0 is replaced first; then slot 1's replacement starts. */
	deadline = now_ms() + 8000;
	for (;;) {
		pid_t now[8];
		int i, k = cr_children(cr, now, 8), found = 0;

		for (i = 0; i < k; i++)
			found |= now[i] != old[1] && proc_worker_id(now[i]) == 1;
		if (found)
			break;
		cr_assert(now_ms() < deadline, "slot 1 was never being replaced\n%s", cr->log);
		sleep_ms(20);
	}
	cr_assert_eq(kill(cr->pid, SIGTTOU), 0);
	cr_assert(cr_wait_line(cr, "scaling down to 1 worker", 5000), "%s", cr->log);
	w.want = 1;
	cr_assert(wait_until(cr_have_workers, &w, 8000), "%s", cr->log);
	only = w.slot_pid[0];
	cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s", cr->log);
	cr_assert_eq(slot, 0);

	/* the first reload ends when the retired replacement has gone */
	cr_assert(cr_wait_line(cr, "reload complete", 8000), "%s", cr->log);
	n = 0;
	for (const char *p = cr->log; (p = strstr(p, "reload complete")); p++)
		n++;
	kill(cr->pid, SIGHUP);
	cr_assert(cr_wait_line(cr, "reloading: replacing 1 worker", 5000), "%s", cr->log);
	deadline = now_ms() + 8000;
	for (;;) {
		int k = 0;
		for (const char *p = cr->log; (p = strstr(p, "reload complete")); p++)
			k++;
		if (k > n)
			break;
		cr_assert(now_ms() < deadline, "the HUP after the scale-down never completed "
			  "(the reload is stuck):\n%s", cr->log);
		cr_wait_line(cr, "\001never printed\001", 50);
	}
	cr_assert(wait_until(cr_have_workers, &w, 5000), "%s", cr->log);
	cr_assert_neq(w.slot_pid[0], only, "the remaining worker was not replaced");
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}
