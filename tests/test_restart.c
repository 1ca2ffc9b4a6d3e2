/*
 * test_restart.c - a worker that dies unasked is replaced in the same slot:
 * same CLUSTER_WORKER_ID, new pid, and serving goes on.  Quick repeated
 * crashes are spaced out by the backoff (and a worker that stayed up past
 * --min-uptime is restarted at once).  kill -9 of one worker under load
 * loses at most what it was serving, the slot is refilled, and no zombie
 * is left behind.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(restart, .fini = harness_cleanup, .timeout = 60);

/* One request: 0 with the slot (X-Worker) and pid (body) that served it,
 * or -1. */
/* Read what cluster-run writes for ms milliseconds (no line is awaited). */
static void pump_log(struct cr *cr, int ms)
{
	cr_wait_line(cr, "\001never printed\001", ms);
}

/* CLUSTER_WORKER_ID as the process was started with (/proc/PID/environ
 * keeps the original strings even after the shim unsets variables), or -1. */
/* ------------------------------------------------------------------ */

/* --crash-after 3 under rr with 2 workers and one client at a time: each
 * worker aborts after its third reply.  Every request is answered (the
 * reply is sent before the abort, and whatever was queued on the dead
 * worker's channel is handed to another), and the slot that crashed is
 * served again by a new pid with the same worker id. */
Test(restart, crashed_worker_replaced_in_same_slot)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", "rr", "--grace", "2", "--",
				 helper("blocking_server"), "--crash-after", "3", NULL);
	int port = cr_ready_port(cr, 0, 10000), i, slot, replaced = -1;
	pid_t first[2] = { 0, 0 }, pid, newpid = 0;
	char line[128];

	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < 40 && replaced < 0; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0,
			     "request %d failed while workers crash and restart\n%s", i, cr->log);
		cr_assert(slot == 0 || slot == 1, "reply from slot %d", slot);
		if (!first[slot])
			first[slot] = pid;
		else if (pid != first[slot]) {
			replaced = slot;
			newpid = pid;
		}
	}
	cr_assert(replaced >= 0, "no slot was served by a second pid in 40 requests\n%s", cr->log);
	snprintf(line, sizeof(line), "worker %d (pid %d) killed by signal 6", replaced,
		 (int)first[replaced]);
	cr_assert(cr_wait_line(cr, line, 5000), "expected \"%s\" in:\n%s", line, cr->log);
	cr_assert(!pid_alive(first[replaced]), "crashed pid %d still running", (int)first[replaced]);
	cr_assert_neq(newpid, first[replaced]);
	cr_assert_eq(proc_worker_id(newpid), replaced,
		     "the replacement does not carry CLUSTER_WORKER_ID=%d", replaced);
	/* And it keeps going through more crashes. */
	for (i = 0; i < 12; i++)
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "request %d after the "
			     "restart failed\n%s", i, cr->log);
	cr_assert(!strstr(cr->log, "giving up"), "%s", cr->log);
	cr_assert_eq(cr_wait_exit(cr, 0), -1, "cluster-run exited:\n%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* --backoff 0.2:1 --min-uptime 5: every request kills the only worker
 * (--crash-after 1), so each reply marks one quick crash.  The delays
 * before the restarts are 0, 0.2, 0.4, 0.8, 1, 1 ... s: over 3 s there are
 * a handful of crashes (not the hundreds an immediate restart allows), and
 * the gap after the fourth restart is at least most of 0.8 s. */
Test(restart, quick_crashes_are_spaced_out)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "--backoff", "0.2:1", "--min-uptime", "5",
				 "--max-restarts", "3", "--grace", "1", "--",
				 helper("blocking_server"), "--crash-after", "1", NULL);
	int port = cr_ready_port(cr, 0, 10000), n = 0, slot, i;
	long t[32], start;
	pid_t pid;

	cr_assert(port > 0, "%s", cr->log);
	start = now_ms();
	while (n < 32 && now_ms() - start < 3000) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "request %d failed\n%s",
			     n, cr->log);
		cr_assert_eq(slot, 0);
		t[n++] = now_ms();
	}
	pump_log(cr, 100);
	for (i = 1; i < n; i++)
		cr_log_info("reply %d at +%ld ms (gap %ld)", i, t[i] - start, t[i] - t[i - 1]);
	cr_assert_leq(n, 8, "%d crashes in 3 s: restarts are not backed off\n%s", n, cr->log);
	cr_assert_geq(n, 5, "only %d replies in 3 s: restarts too slow\n%s", n, cr->log);
	/* Reply k+1 comes after the k-th restart's delay: 0.2, 0.4, 0.8 s. */
	cr_assert_geq(t[2] - t[1], 150, "second restart after %ld ms", t[2] - t[1]);
	cr_assert_geq(t[4] - t[3], 600, "fourth restart after %ld ms", t[4] - t[3]);
	cr_assert_geq(count_of(cr->log, "killed by signal 6"), n - 1, "%s", cr->log);
	/* A worker that listened and then crashed is not a crash loop, even
	 * with more crashes than --max-restarts. */
	cr_assert(!strstr(cr->log, "giving up"), "%s", cr->log);
	cr_assert_eq(cr_wait_exit(cr, 0), -1, "cluster-run exited:\n%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

struct newcomer {
	struct cr *cr;
	pid_t gone;
	pid_t pid;              /* out */
};

/* The only worker is a live process other than `gone`. */
static int replaced_worker(void *arg)
{
	struct newcomer *nc = arg;
	pid_t now[4];

	nc->pid = 0;
	if (cr_children(nc->cr, now, 4) != 1 || now[0] == nc->gone || !pid_alive(now[0]))
		return 0;
	nc->pid = now[0];
	return 1;
}

/* A worker that stayed up longer than --min-uptime is restarted at once,
 * even after a run of quick crashes pushed the backoff up. */
Test(restart, backoff_resets_after_min_uptime)
{
	struct cr *cr = cr_start(NULL, "-v", "-n", "1", "--backoff", "0.5:4", "--min-uptime", "1",
				 "--grace", "1", "--",
				 helper("blocking_server"), "--crash-after", "1", NULL);
	int port = cr_ready_port(cr, 0, 10000), slot, i;
	struct newcomer nc = { .cr = cr };
	const char *crash, *next, *delay;
	size_t mark;
	long up;
	pid_t pid;

	cr_assert(port > 0, "%s", cr->log);
	/* Three quick crashes: the restart delays are 0, 0.5 and 1 s; the
	 * next one, without a reset, would be 2 s. */
	for (i = 0; i < 3; i++)
		cr_assert_eq(request_worker(port, &slot, &pid, 8000), 0, "%s", cr->log);
	nc.gone = pid;
	cr_assert(wait_until(replaced_worker, &nc, 5000), "no restart\n%s", cr->log);
	/* The scenario itself, not synchronisation: this worker must have been
	 * up longer than --min-uptime when it crashes. */
	up = now_ms();
	sleep_ms(1300);
	pump_log(cr, 50);
	mark = cr->loglen;
	cr_assert_eq(request_worker(port, &slot, &pid, 8000), 0, "%s", cr->log);
	cr_assert_eq(pid, nc.pid);
	cr_log_info("long-lived worker crashed after %ld ms", now_ms() - up);
	/* -v names every restart delay that is not 0: what the master said
	 * right after this crash shows the reset, without timing anything
	 * (the next worker crashes after its one request too: only the
	 * lines between the two crashes count) */
	cr_assert_eq(request_worker(port, &slot, &pid, 20000), 0, "%s", cr->log);
	pump_log(cr, 50);
	crash = strstr(cr->log + mark, "killed by signal");
	cr_assert(crash, "no crash of the long-lived worker\n%s", cr->log);
	next = strstr(crash + 1, "killed by signal");
	delay = strstr(crash, ": restart in ");
	cr_assert(!delay || (next && delay > next),
		  "the restart after a long run was delayed: the backoff was not reset\n%s",
		  cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* ------------------------------------------------------------------ */

struct refill {
	struct cr *cr;
	pid_t *old;
	int nold;
	pid_t fresh;            /* out: the new child */
};

/* Whether the master reports worker pid as "ready" (it listens: from then
 * on it gets connections), asked with cluster-ctl -p MASTER status --json. */
static int worker_ready(struct cr *cr, pid_t pid)
{
	char master[16], buf[16384], want[64];
	int p[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t kid;

	snprintf(master, sizeof(master), "%d", (int)cr->pid);
	if (pipe2(p, O_CLOEXEC) < 0)
		return 0;
	kid = fork();
	if (kid == 0) {
		dup2(p[1], 1);
		execl(cluster_ctl_path(), "cluster-ctl", "-p", master, "status", "--json",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (kid > 0 && len + 1 < sizeof(buf) &&
	       (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(p[0]);
	if (kid < 0 || waitpid(kid, &status, 0) != kid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return 0;
	snprintf(want, sizeof(want), "\"pid\":%d,\"state\":\"ready\"", (int)pid);
	return strstr(buf, want) != NULL;
}

/* Three live children, none a zombie, one of them not in the old set, and
 * that one listening (the master says it is ready): until then it has no
 * turn in rr, which is what the caller counts on. */
static int refilled(void *arg)
{
	struct refill *r = arg;
	pid_t now[8];
	int n = cr_children(r->cr, now, 8), i;

	r->fresh = 0;
	if (n != 3)
		return 0;
	for (i = 0; i < n; i++) {
		char st = proc_state(now[i]);
		if (st == 0 || st == 'Z' || st == 'X')
			return 0;
		/* Until it has exec'd, /proc shows the master's environment. */
		if (!pid_in(r->old, r->nold, now[i]) && proc_worker_id(now[i]) >= 0)
			r->fresh = now[i];
	}
	return r->fresh != 0 && worker_ready(r->cr, r->fresh);
}

static int zombie_children(struct cr *cr)
{
	pid_t now[16];
	int n = cr_children(cr, now, 16), i, z = 0;

	for (i = 0; i < n; i++)
		z += proc_state(now[i]) == 'Z';
	return z;
}

/* 3 workers under 4 clients' connection-per-request load; kill -9 one of
 * them.  blocking_server serves one connection at a time, so the victim
 * was serving at most one; under rr the connections still queued on its
 * channel are taken back and handed to others.  So at most one request may
 * fail; we allow 3 for a request caught in the accept/hand-over moment.
 * The slot is refilled by a new pid with the same CLUSTER_WORKER_ID, which
 * then serves (under rr it gets its turn), and no zombie is left. */
static void kill9_under_load(const char *policy)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", policy, "--grace", "2", "--",
				 helper("blocking_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), victim_slot, i;
	pid_t old[8];
	long ok, failed, per[16], base;
	struct load *l;
	struct refill r;
	char line[128];

	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(cr_children(cr, old, 8), 3);
	victim_slot = proc_worker_id(old[1]);
	cr_assert(victim_slot >= 0 && victim_slot < 3, "victim has no worker id");

	l = load_start(port, 4);
	base = now_ms();
	while (load_ok_so_far(l) < 200 && now_ms() - base < 10000)
		sleep_ms(10);
	cr_assert_geq(load_ok_so_far(l), 200, "load did not get going\n%s", cr->log);
	cr_assert_eq(kill(old[1], SIGKILL), 0);

	r = (struct refill){ .cr = cr, .old = old, .nold = 3 };
	cr_assert(wait_until(refilled, &r, 20000), "slot %d not refilled\n%s", victim_slot, cr->log);
	cr_assert_eq(proc_worker_id(r.fresh), victim_slot,
		     "the new worker has not the dead worker's slot");
	snprintf(line, sizeof(line), "worker %d (pid %d) killed by signal 9", victim_slot,
		 (int)old[1]);
	cr_assert(cr_wait_line(cr, line, 2000), "expected \"%s\" in:\n%s", line, cr->log);

	base = load_ok_so_far(l);
	for (i = 0; i < 1000 && load_ok_so_far(l) < base + 300; i++)
		sleep_ms(10);
	load_stop(l, &ok, &failed, per);
	cr_log_info("%s: ok %ld failed %ld, per slot %ld %ld %ld", policy, ok, failed,
		    per[0], per[1], per[2]);
	cr_assert_geq(ok, base + 300, "serving did not go on after the kill\n%s", cr->log);
	cr_assert_leq(failed, 3, "%ld requests failed after killing one worker\n%s",
		      failed, cr->log);
	cr_assert_eq(zombie_children(cr), 0, "zombie children of cluster-run");
	cr_assert(!strstr(cr->log, "giving up"), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(restart, kill9_under_load_rr) { kill9_under_load("rr"); }
Test(restart, kill9_under_load_shared) { kill9_under_load("shared"); }

/* Under rr the refilled slot takes its turn again: its id shows up with
 * the new pid in a few sequential requests. */
Test(restart, kill9_refilled_slot_serves_rr)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", "rr", "--grace", "2", "--",
				 helper("blocking_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), victim_slot, i, slot;
	pid_t old[8], pid;
	struct refill r;
	int served = 0;

	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(cr_children(cr, old, 8), 3);
	victim_slot = proc_worker_id(old[0]);
	cr_assert_eq(kill(old[0], SIGKILL), 0);
	r = (struct refill){ .cr = cr, .old = old, .nold = 3 };
	cr_assert(wait_until(refilled, &r, 20000), "slot not refilled\n%s", cr->log);
	for (i = 0; i < 12; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "request %d failed\n%s", i, cr->log);
		cr_assert_neq(pid, old[0], "the killed pid answered");
		if (slot == victim_slot) {
			cr_assert_eq(pid, r.fresh, "slot %d answered by pid %d, expected %d",
				     slot, (int)pid, (int)r.fresh);
			served++;
		}
	}
	cr_assert_geq(served, 3, "slot %d served %d of 12 rr requests", victim_slot, served);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* Crashes under load lose nothing: blocking_server --crash-after 15 aborts
 * right after closing its 15th connection, holding no other; under rr what
 * was queued on its channel is handed to another worker, under shared the
 * queue is the shared socket's.  6 clients, until at least 6 crashes (each
 * slot restarted twice on average) or 8 s. */
static void crashes_under_load(const char *policy)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", policy, "--backoff", "0.01:0.05",
				 "--grace", "2", "--", helper("blocking_server"),
				 "--crash-after", "15", NULL);
	int port = cr_ready_port(cr, 0, 10000), crashes;
	long ok, failed, per[16], t0;
	struct load *l;

	cr_assert(port > 0, "%s", cr->log);
	l = load_start(port, 6);
	t0 = now_ms();
	while (count_of(cr->log, "killed by signal 6") < 6 && now_ms() - t0 < 8000)
		pump_log(cr, 20);
	load_stop(l, &ok, &failed, per);
	crashes = count_of(cr->log, "killed by signal 6");
	cr_log_info("%s: %d crashes, ok %ld failed %ld", policy, crashes, ok, failed);
	cr_assert_geq(crashes, 6, "only %d crashes in 8 s\n%s", crashes, cr->log);
	cr_assert_eq(failed, 0, "%ld of %ld requests failed while workers crashed\n%s",
		     failed, ok + failed, cr->log);
	cr_assert(!strstr(cr->log, "giving up"), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(restart, crashes_under_load_lose_nothing_rr) { crashes_under_load("rr"); }
Test(restart, crashes_under_load_lose_nothing_shared) { crashes_under_load("shared"); }
