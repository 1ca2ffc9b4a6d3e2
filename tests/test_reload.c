/*
 * test_reload.c - SIGHUP is a rolling restart: one slot at a time, the new
 * worker starts, and only once it listens is the old one retired.  Under a
 * bounded load, two HUPs in a row replace every worker and no request
 * fails; a replacement that is slow to listen leaves the old worker
 * serving meanwhile; a new generation that cannot start aborts the reload
 * and the old workers stay (and is never reported complete, and does not
 * count against later restarts); an old worker dying while its replacement
 * starts still leaves one worker per slot; TERM mid-reload stops it all.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void cleanup(void);
TestSuite(reload, .fini = cleanup, .timeout = 60);

static char tmp_dir[64];        /* the test's script directory, if any */

/* 3 workers of blocking_server --graceful under 4 clients.  HUP, and a
 * second HUP either while the first reload is still going (back_to_back:
 * slot 0 is replaced twice, one "reload complete" at the end) or after it
 * completed (two reloads).  Every worker pid is replaced, every old worker
 * is gone, and no request fails. */
static void two_hups(const char *policy, int back_to_back)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", policy, "--grace", "3", "--",
				 helper("blocking_server"), "--graceful", NULL);
	int port = cr_ready_port(cr, 0, 10000), i, nmid;
	pid_t old[8], mid[8];
	long ok, failed, per[16];
	struct load *l;
	struct cr_workers g = { .cr = cr, .nold = 3, .want = 3 };

	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(cr_children(cr, old, 8), 3);
	l = load_start(port, 4);
	load_wait_more(l, 100, 10000);

	cr_assert_eq(kill(cr->pid, SIGHUP), 0);
	cr_assert(cr_wait_line(cr, "reloading: replacing 3 workers one at a time", 5000),
		  "%s", cr->log);
	if (!back_to_back) {
		cr_assert(cr_wait_count(cr, "reload complete", 1, 20000), "%s", cr->log);
		g.old = old;
		cr_assert(wait_until(cr_have_workers, &g, 5000), "not every worker was replaced\n%s",
			  cr->log);
		load_wait_more(l, 100, 10000);
	}
	/* Every process alive now, a half-started replacement of the first
	 * reload included, is of an older generation than the next HUP's. */
	nmid = cr_children(cr, mid, 8);
	cr_assert_eq(kill(cr->pid, SIGHUP), 0);
	cr_assert(cr_wait_count(cr, "reloading: replacing 3 workers", 2, 5000), "%s", cr->log);
	cr_assert(cr_wait_count(cr, "reload complete", back_to_back ? 1 : 2, 25000),
		  "%s", cr->log);
	g.old = old;
	cr_assert(wait_until(cr_have_workers, &g, 5000), "not every worker was replaced\n%s", cr->log);
	g.old = mid;
	g.nold = nmid;
	cr_assert(wait_until(cr_have_workers, &g, 5000), "a worker that was running at the "
		  "second HUP is still there\n%s", cr->log);
	for (i = 0; i < 3; i++)
		cr_assert(!pid_alive(old[i]), "old worker %d still running", (int)old[i]);
	load_wait_more(l, 100, 10000);
	load_stop(l, &ok, &failed, per);
	cr_log_info("%s: ok %ld failed %ld", policy, ok, failed);
	cr_assert_eq(failed, 0, "%ld of %ld requests failed during two reloads\n%s",
		     failed, ok + failed, cr->log);
	cr_assert_geq(ok, 300);
	cr_assert(!strstr(cr->log, "killing it"), "an old worker needed SIGKILL\n%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(reload, two_hups_back_to_back_rr) { two_hups("rr", 1); }
Test(reload, two_hups_back_to_back_shared) { two_hups("shared", 1); }
Test(reload, two_hups_one_after_the_other_rr) { two_hups("rr", 0); }
Test(reload, two_hups_one_after_the_other_shared) { two_hups("shared", 0); }

/* The same with the event-driven server under rr: many connections in
 * progress at once in a worker being retired. */
Test(reload, two_hups_event_server_rr)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", "rr", "--grace", "3", "--",
				 helper("event_server"), "--graceful", NULL);
	int port = cr_ready_port(cr, 0, 10000);
	pid_t old[8];
	long ok, failed, per[16];
	struct load *l;
	struct cr_workers g = { .cr = cr, .old = old, .nold = 3, .want = 3 };

	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(cr_children(cr, old, 8), 3);
	l = load_start(port, 6);
	load_wait_more(l, 100, 10000);
	kill(cr->pid, SIGHUP);
	cr_assert(cr_wait_line(cr, "reloading:", 5000), "%s", cr->log);
	kill(cr->pid, SIGHUP);
	cr_assert(cr_wait_count(cr, "reloading:", 2, 5000), "%s", cr->log);
	cr_assert(cr_wait_count(cr, "reload complete", 1, 25000), "%s", cr->log);
	cr_assert(wait_until(cr_have_workers, &g, 5000), "not every worker was replaced\n%s", cr->log);
	load_wait_more(l, 100, 10000);
	load_stop(l, &ok, &failed, per);
	cr_assert_eq(failed, 0, "%ld of %ld requests failed\n%s", failed, ok + failed, cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* ------------------------------------------------------------------ */

struct spawned {
	struct cr *cr;
	const pid_t *old;
	pid_t pid;      /* out: the new child */
};

static int replacement_started(void *arg)
{
	struct spawned *s = arg;
	pid_t now[16];
	int n = cr_children(s->cr, now, 16), i;

	/* Until it has exec'd, /proc shows the master's environment. */
	for (i = 0; i < n; i++)
		if (!pid_in(s->old, 3, now[i]) && proc_worker_id(now[i]) >= 0) {
			s->pid = now[i];
			return 1;
		}
	return 0;
}

/* Every new worker waits 1 s between bind and listen.  After HUP the
 * replacement of a slot exists but does not listen yet: the old worker of
 * that slot is still alive and still answers for its slot; only when the
 * replacement listens is it retired.  The reload therefore takes at least
 * three listen delays, and no request fails.  (Under shared which worker
 * accepts is the kernel's choice: the old worker's answers are checked
 * under rr only.) */
static void slow_to_listen(const char *policy)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", policy, "--grace", "3", "--",
				 helper("blocking_server"), "--graceful",
				 "--listen-delay-ms", "1000", NULL);
	int port = cr_ready_port(cr, 0, 15000), i, slot, rslot, old_served = 0;
	pid_t old[8], by_slot[3] = { 0, 0, 0 }, pid;
	struct spawned s = { .cr = cr };
	long t_hup, t_spawn, took;
	struct cr_workers g = { .cr = cr, .nold = 3, .want = 3 };

	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(cr_children(cr, old, 8), 3);
	for (i = 0; i < 3; i++) {
		int id = proc_worker_id(old[i]);
		cr_assert(id >= 0 && id < 3);
		by_slot[id] = old[i];
	}
	s.old = old;
	t_hup = now_ms();
	cr_assert_eq(kill(cr->pid, SIGHUP), 0);
	cr_assert(wait_until(replacement_started, &s, 3000), "no replacement\n%s", cr->log);
	t_spawn = now_ms();
	rslot = proc_worker_id(s.pid);
	cr_assert(rslot >= 0 && rslot < 3, "replacement has no slot");
	/* The replacement exec'd no earlier than t_spawn and listens 1 s
	 * after that: until t_spawn + 1000 ms, slot rslot is the old worker's. */
	cr_assert(pid_alive(by_slot[rslot]),
		  "the old worker was stopped before its replacement listened\n%s", cr->log);
	for (i = 0; i < 6 && now_ms() - t_spawn < 600; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 3000), 0, "request %d failed\n%s",
			     i, cr->log);
		if (now_ms() - t_spawn >= 950)
			break;          /* a slow machine: this one proves nothing */
		cr_assert_neq(pid, s.pid, "the replacement answered before it listened");
		if (slot == rslot) {
			cr_assert_eq(pid, by_slot[rslot]);
			old_served++;
		}
	}
	if (!strcmp(policy, "rr"))
		cr_assert_geq(old_served, 1, "the old worker of slot %d did not serve while its "
			      "replacement was starting", rslot);
	if (now_ms() - t_spawn < 950)
		cr_assert(pid_alive(by_slot[rslot]), "the old worker was stopped before "
			  "its replacement listened\n%s", cr->log);
	/* Keep asking while the reload goes on: nothing fails. */
	while (!strstr(cr->log, "reload complete") && now_ms() - t_hup < 20000) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "request failed during "
			     "the reload\n%s", cr->log);
		cr_wait_line(cr, "reload complete", 20);
	}
	took = now_ms() - t_hup;
	cr_assert(strstr(cr->log, "reload complete"), "%s", cr->log);
	cr_assert_geq(took, 2500, "reload of 3 slow workers took only %ld ms: it did not "
		      "wait for them to listen\n%s", took, cr->log);
	g.old = old;
	cr_assert(wait_until(cr_have_workers, &g, 5000), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(reload, slow_to_listen_rr) { slow_to_listen("rr"); }
Test(reload, slow_to_listen_shared) { slow_to_listen("shared"); }

/* TERM while a slow replacement is still starting: a normal stop, exit 0,
 * old and new workers all gone. */
Test(reload, stop_during_reload)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "--grace", "3", "--",
				 helper("blocking_server"), "--graceful",
				 "--listen-delay-ms", "2000", NULL);
	int port = cr_ready_port(cr, 0, 15000), st, i, n;
	pid_t old[8], all[8];
	struct spawned s = { .cr = cr };

	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(cr_children(cr, old, 8), 2);
	old[2] = 0;
	s.old = old;
	kill(cr->pid, SIGHUP);
	cr_assert(wait_until(replacement_started, &s, 3000), "no replacement\n%s", cr->log);
	n = cr_children(cr, all, 8);
	cr_assert_eq(n, 3);
	st = cr_stop(cr, SIGTERM, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x\n%s", st, cr->log);
	for (i = 0; i < n; i++)
		cr_assert(!pid_alive(all[i]), "worker %d survived the stop", (int)all[i]);
	cr_assert(!strstr(cr->log, "reload complete"), "%s", cr->log);
	cr_assert(port_free(port, 0), "port %d still bound", port);
}

/* ------------------------------------------------------------------ */

static void write_script(const char *dir, const char *body)
{
	char tmp[512], path[512];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/worker.sh.tmp", dir);
	snprintf(path, sizeof(path), "%s/worker.sh", dir);
	f = fopen(tmp, "w");
	cr_assert(f, "%s: %s", tmp, strerror(errno));
	fputs(body, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(rename(tmp, path), 0, "rename: %s", strerror(errno));  /* atomic */
}

/* A fresh directory for the test's script, removed by cleanup(). */
static char *make_dir(void)
{
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/cr-reload.XXXXXX");
	cr_assert(mkdtemp(tmp_dir), "mkdtemp: %s", strerror(errno));
	return tmp_dir;
}

static void cleanup(void)
{
	char path[512];

	harness_cleanup();
	if (!tmp_dir[0])
		return;
	snprintf(path, sizeof(path), "%s/worker.sh", tmp_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/worker.sh.tmp", tmp_dir);
	unlink(path);
	rmdir(tmp_dir);
	tmp_dir[0] = '\0';
}

/* The program is `/bin/sh DIR/worker.sh`, a script that execs the helper.
 * Between start and HUP the script is changed so the new generation binds
 * and exits 1 before listening.  After --max-restarts attempts the reload
 * is aborted ("reload aborted"), cluster-run goes on running, the old
 * workers are the ones serving, and a later HUP with a fixed script
 * completes. */
Test(reload, broken_new_generation_aborts_and_old_stay)
{
	char *dir = make_dir(), script[512], good[1024], bad[1024];
	struct cr *cr;
	int port, i, slot;
	pid_t old[8], now[8], pid;
	struct cr_workers g = { .nold = 2, .want = 2 };

	snprintf(script, sizeof(script), "%s/worker.sh", dir);
	snprintf(good, sizeof(good), "exec %s --graceful\n", helper("blocking_server"));
	snprintf(bad, sizeof(bad), "echo broken new generation >&2\nexec %s --exit-after-bind 1\n",
		 helper("blocking_server"));
	write_script(dir, good);
	cr = cr_start(NULL, "-n", "2", "-p", "rr", "--grace", "3", "--max-restarts", "2",
		      "--backoff", "0.05:0.2", "--", "/bin/sh", script, NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(cr_children(cr, old, 8), 2);

	write_script(dir, bad);
	cr_assert_eq(kill(cr->pid, SIGHUP), 0);
	cr_assert(cr_wait_line(cr, "reload aborted", 10000), "%s", cr->log);
	cr_assert(strstr(cr->log, "broken new generation"), "the new script did not run\n%s",
		  cr->log);
	cr_assert_eq(cr_wait_exit(cr, 300), -1, "cluster-run exited:\n%s", cr->log);
	cr_assert(!strstr(cr->log, "giving up"), "a failed reload must not stop "
		  "cluster-run\n%s", cr->log);
	cr_assert(!strstr(cr->log, "reload complete"), "an aborted reload was then "
		  "reported complete:\n%s", cr->log);
	cr_assert_eq(cr_children(cr, now, 8), 2, "%s", cr->log);
	for (i = 0; i < 2; i++)
		cr_assert(pid_in(old, 2, now[i]) && pid_alive(now[i]),
			  "worker %d is not one of the old ones\n%s", (int)now[i], cr->log);
	for (i = 0; i < 6; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "request %d failed\n%s",
			     i, cr->log);
		cr_assert(pid_in(old, 2, pid), "answered by pid %d", (int)pid);
	}

	/* Fixed: the next reload goes through. */
	write_script(dir, good);
	cr_assert_eq(kill(cr->pid, SIGHUP), 0);
	cr_assert(cr_wait_count(cr, "reload complete", 1, 15000), "%s", cr->log);
	g.cr = cr;
	g.old = old;
	cr_assert(wait_until(cr_have_workers, &g, 5000), "%s", cr->log);
	for (i = 0; i < 4; i++)
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* --max-restarts counts the failures of a slot *in a row*, since a worker
 * of that slot last listened.  A reload whose new workers fail is aborted;
 * afterwards the old worker of a slot dies and its restarts (the script is
 * still broken) fail: cluster-run must make --max-restarts attempts for
 * that slot before it gives up, not fewer because of the failures of the
 * aborted reload (the old worker listened in between). */
Test(reload, aborted_reload_does_not_shorten_later_restarts)
{
	char *dir = make_dir(), script[512], good[1024], bad[1024];
	const char *giving;
	struct cr *cr;
	pid_t old[8], victim = 0;
	int port, i, st, attempts = 0;
	size_t mark;

	snprintf(script, sizeof(script), "%s/worker.sh", dir);
	snprintf(good, sizeof(good), "exec %s --graceful\n", helper("blocking_server"));
	snprintf(bad, sizeof(bad), "exit 1\n");
	write_script(dir, good);
	cr = cr_start(NULL, "-n", "2", "--grace", "3", "--max-restarts", "3",
		      "--backoff", "0.02:0.05", "--", "/bin/sh", script, NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(cr_children(cr, old, 8), 2);
	write_script(dir, bad);
	kill(cr->pid, SIGHUP);
	cr_assert(cr_wait_line(cr, "reload aborted", 10000), "%s", cr->log);
	cr_assert_eq(cr_wait_exit(cr, 300), -1, "%s", cr->log);
	for (i = 0; i < 2; i++)
		if (proc_worker_id(old[i]) == 1)
			victim = old[i];
	cr_assert(victim, "no old worker in slot 1");

	mark = cr->loglen;
	cr_assert_eq(kill(victim, SIGKILL), 0);
	st = cr_wait_exit(cr, 10000);
	cr_assert(st >= 0, "no give-up with a broken script\n%s", cr->log);
	giving = strstr(cr->log + mark, "giving up");
	cr_assert(giving, "%s", cr->log);
	for (const char *p = cr->log + mark; (p = strstr(p, "worker 1 (pid ")) && p < giving; p++)
		attempts += !strncmp(strchr(p, ')'), ") exited with status 1", 22);
	cr_assert_eq(attempts, 3, "slot 1 was restarted %d time(s) after its worker died, "
		     "then cluster-run gave up (--max-restarts 3):\n%s", attempts, cr->log + mark);
	cr_assert_eq(WEXITSTATUS(st), 1, "%s", cr->log);
}

/* While a failing reload retries (a longer backoff, so that at some moment
 * every slot still to replace is waiting for its next attempt), nothing
 * may claim the reload complete: the only outcome is "reload aborted",
 * with no "reload complete" before or after it. */
Test(reload, failing_reload_is_never_reported_complete)
{
	char *dir = make_dir(), script[512], good[1024];
	struct cr *cr;
	const char *aborted;
	int port;

	snprintf(script, sizeof(script), "%s/worker.sh", dir);
	snprintf(good, sizeof(good), "exec %s --graceful\n", helper("blocking_server"));
	write_script(dir, good);
	cr = cr_start(NULL, "-n", "2", "--grace", "3", "--max-restarts", "4",
		      "--backoff", "0.3:1", "--", "/bin/sh", script, NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);
	write_script(dir, "exit 1\n");
	kill(cr->pid, SIGHUP);
	aborted = cr_wait_line(cr, "reload aborted", 15000);
	cr_assert(aborted, "%s", cr->log);
	cr_assert(!strstr(cr->log, "reload complete"), "a reload whose new workers all "
		  "failed was reported complete before it was aborted:\n%s", cr->log);
	cr_assert_eq(cr_wait_exit(cr, 1200), -1, "%s", cr->log);
	cr_assert(!strstr(cr->log, "reload complete"), "an aborted reload was then "
		  "reported complete:\n%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* The old worker of the slot being replaced dies (kill -9) while its
 * replacement is still starting.  The slot must end up with one worker:
 * when the reload completes there are exactly 2 workers, one per slot,
 * all of the new generation, and they serve. */
Test(reload, old_worker_dies_while_replacement_starts)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", "rr", "--grace", "3", "--",
				 helper("blocking_server"), "--graceful",
				 "--listen-delay-ms", "800", NULL);
	int port = cr_ready_port(cr, 0, 15000), i, rslot, slot;
	pid_t old[8], victim = 0, pid, now[8];
	struct spawned s = { .cr = cr };
	struct cr_workers g = { .cr = cr, .old = old, .nold = 2, .want = 2 };

	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(cr_children(cr, old, 8), 2);
	old[2] = 0;
	s.old = old;
	kill(cr->pid, SIGHUP);
	cr_assert(wait_until(replacement_started, &s, 3000), "no replacement\n%s", cr->log);
	rslot = proc_worker_id(s.pid);
	for (i = 0; i < 2; i++)
		if (proc_worker_id(old[i]) == rslot)
			victim = old[i];
	cr_assert(victim, "no old worker in slot %d", rslot);
	cr_assert_eq(kill(victim, SIGKILL), 0);
	cr_assert(cr_wait_line(cr, "reload complete", 15000), "%s", cr->log);
	cr_assert(wait_until(cr_have_workers, &g, 3000), "%d workers for 2 slots after the reload:\n%s",
		  cr_children(cr, now, 8), cr->log);
	for (i = 0; i < 6; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s", cr->log);
		cr_assert(!pid_in(old, 2, pid));
	}
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}
