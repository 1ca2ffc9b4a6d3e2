/*
 * test_upgrade.c - upgrading cluster-run in place (issue 22): the master
 * executes the binary on disk with the same pid and the new image adopts
 * everything.  Five upgrades (cluster-ctl upgrade, the last one a SIGUSR2)
 * under connection-per-request load under rr, leastconn, sticky, shared,
 * reuseport and a Go server through seccomp: no request fails, the
 * workers keep their pids, the counters go on from where they were.  An
 * upgrade to a program that exits at once, and one whose new image
 * refuses the state (CLUSTER_RUN_TEST_ADOPT_FAIL), fail in one line and
 * leave the cluster serving as it was; so does one whose new image fails
 * a start check (a --config broken since the start, no shim beside the
 * binary), with the check's own line.  A rolling reload under way goes
 * on across an upgrade, and a `reload --wait` client gets its answer from
 * the new image.  A PROGRAM removed since the start does not stop an
 * upgrade, and the upgrade's variables reach no worker.
 *
 * Everything is counted, nothing timed: a condition is polled (status,
 * log lines) with a deadline, and the deadline only bounds the test.
 */
#include "harness.h"
#include "tmpdir.h"
#include "upgrade_cluster.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(upgrade, .fini = tmpdir_fini, .timeout = 150);

#define UPGRADES 5

/* Five upgrades under load: four through cluster-ctl, the fifth a
 * SIGUSR2; after each, the same worker pids and the count in status; no
 * request failed; what the workers took went on counting. */
static void five_upgrades(const char *policy, const char *prog)
{
	struct upc c;
	struct run r;
	struct load *l;
	pid_t pids[16];
	unsigned long long taken0, taken1;
	long ok, failed, per[16];
	char want[64];
	double up0;
	int i;

	upc_start(&c, 2, policy, prog, NULL);
	/* a reload first, for a count the upgrades must carry */
	ctl_run(&r, c.sock, "reload", "--wait", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s\n%s", r.out, r.err, c.cr->log);
	upc_status(&c, &r);
	up0 = strtod(strstr(r.out, "\"uptime\":") + 9, NULL);
	cr_assert_eq(upc_slot_pids(&c, pids, &taken0), 2, "%s", c.cr->log);
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 100, 10000);
	for (i = 1; i <= UPGRADES; i++) {
		struct upc_upgrades u = { &c, i };

		if (i < UPGRADES) {
			upc_upgrade_ok(&c, NULL);
			upc_status(&c, &r);
			cr_assert_eq(json_num(r.out, "upgrades"), i, "%s", r.out);
		} else {
			cr_assert_eq(kill(c.cr->pid, SIGUSR2), 0);
			cr_assert(wait_until(upc_upgrades_are, &u, 30000), "USR2: no upgrade %d\n%s",
				  i, c.cr->log);
			/* no one to answer: the log is all the operator sees */
			cr_assert(cr_wait_line(c.cr, "upgraded", 10000), "USR2: the log does not "
				  "say the upgrade happened\n%s", c.cr->log);
		}
		upc_same_pids(&c, pids, "after an upgrade");
		load_wait_more(l, 100, 10000);
		cr_assert_eq(load_failed_so_far(l), 0, "%s %s: %ld requests failed by upgrade %d"
			     "\n%s", prog, policy, load_failed_so_far(l), i, c.cr->log);
	}
	load_stop(l, &ok, &failed, per);
	cr_assert_eq(failed, 0, "%ld of %ld failed\n%s", failed, ok + failed, c.cr->log);
	cr_assert_geq(ok, 100 * (UPGRADES + 1), "%s", c.cr->log);

	cr_assert_eq(upc_slot_pids(&c, pids, &taken1), 2);
	cr_log_info("%s %s: %ld requests, 0 failed; taken %llu -> %llu", prog, policy, ok,
		    taken0, taken1);
	/* Through seccomp nothing counts connections (the program accepts on
	 * its own socket, no shim counts for it): there the counts the test
	 * follows are the reload's and the uptimes. */
	if (strcmp(prog, "go"))
		cr_assert_geq(taken1, taken0 + (unsigned long long)ok,
			      "the workers' counts went back: %llu before, %llu after %ld "
			      "requests", taken0, taken1, ok);
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "reloads_complete"), 1, "%s", r.out);
	cr_assert_eq(json_num(r.out, "restarts"), 0, "%s", r.out);
	cr_assert_gt(strtod(strstr(r.out, "\"uptime\":") + 9, NULL), up0,
		     "the master's uptime started again: %s", r.out);
	cr_assert_eq(json_num(r.out, "upgrades"), UPGRADES, "%s", r.out);
	cr_assert_eq(json_num(r.out, "upgrades_failed"), 0, "%s", r.out);
	cr_assert(strstr(r.out, "\"version\":\""), "%s", r.out);
	cr_assert(strstr(r.out, "\"last_upgrade\":{"), "%s", r.out);
	cr_assert_geq(json_num(strstr(r.out, "\"last_upgrade\":{"), "pause_ms"), 0, "%s", r.out);
	snprintf(want, sizeof(want), "cluster_run_upgrades_total{result=\"ok\"} %d\n", UPGRADES);
	upc_metrics_have(&c, want);
	upc_metrics_have(&c, "cluster_run_build_info{version=");
	cr_assert(!strstr(c.cr->log, "killing it"), "%s", c.cr->log);
	upc_stop(&c);
}

Test(upgrade, rr) { five_upgrades("rr", "event_server"); }
Test(upgrade, leastconn) { five_upgrades("leastconn", "event_server"); }
Test(upgrade, sticky) { five_upgrades("sticky", "event_server"); }
Test(upgrade, shared) { five_upgrades("shared", "event_server"); }
Test(upgrade, reuseport) { five_upgrades("reuseport", "event_server"); }
Test(upgrade, go_seccomp) { five_upgrades("reuseport", "go"); }

static void write_script(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "%s", path);
	cr_assert(fputs(text, f) >= 0);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, 0755), 0);
}

/* An upgrade to a program that exits at once (it never takes the state):
 * refused in one line, the cluster serves on under the old image with
 * the same workers, and stops with status 0.  Then one to a file that
 * is not executable, and one to a path that is not there. */
Test(upgrade, to_a_program_that_exits)
{
	struct upc c;
	struct run r;
	struct load *l;
	pid_t pids[16];
	long ok, failed;
	char path[128];

	upc_start(&c, 2, "rr", "event_server", NULL);
	cr_assert_eq(upc_slot_pids(&c, pids, NULL), 2);
	snprintf(path, sizeof(path), "%s/cluster-run", c.dir);
	write_script(path, "#!/bin/sh\nexit 0\n");
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 50, 10000);

	upc_upgrade_refused(&c, path, &r);
	cr_log_info("exits at once: %s", r.err);
	load_wait_more(l, 100, 10000);
	upc_same_pids(&c, pids, "after the failed upgrade");
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 0, "%s", r.out);
	cr_assert_eq(json_num(r.out, "upgrades_failed"), 1, "%s", r.out);

	/* a file that is not executable: the master refuses it at once */
	snprintf(path, sizeof(path), "%s/not-executable", c.dir);
	write_script(path, "#!/bin/sh\nexit 0\n");
	cr_assert_eq(chmod(path, 0644), 0);
	ctl_run(&r, c.sock, "upgrade", path, NULL);
	cr_assert_eq(run_code(&r), 1, "exit %d: %s%s", run_code(&r), r.out, r.err);
	cr_assert(!strncmp(r.err, "cluster-ctl: upgrade failed: ", 29) && strstr(r.err, path), "%s",
		  r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "not one line: %s", r.err);
	cr_log_info("not executable: %s", r.err);
	/* a path that is not there: cluster-ctl resolves PATH itself (the
	 * master runs in another directory), so this one is its usage error,
	 * status 2, before asking the master anything */
	ctl_run(&r, c.sock, "upgrade", "/nonexistent/cluster-run", NULL);
	cr_assert_eq(run_code(&r), 2, "exit %d: %s%s", run_code(&r), r.out, r.err);
	cr_assert(strstr(r.err, "/nonexistent/cluster-run"), "%s", r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "not one line: %s", r.err);
	load_wait_more(l, 100, 10000);
	load_stop(l, &ok, &failed, NULL);
	cr_assert_eq(failed, 0, "%ld of %ld failed\n%s", failed, ok + failed, c.cr->log);
	upc_same_pids(&c, pids, "after the second failed upgrade");

	/* and a good one still works after two that failed */
	upc_upgrade_ok(&c, NULL);
	upc_same_pids(&c, pids, "after the good upgrade");
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 1, "%s", r.out);
	/* the probe's refusal counted; whether one refused before it started
	 * (not executable) counts is not this test's business */
	cr_assert_geq(json_num(r.out, "upgrades_failed"), 1, "%s", r.out);
	upc_stop(&c);
}

/* With the test hook `hook`=1 in its environment, every new image gives
 * the state back after the exec and the old binary takes it again: the
 * upgrade fails in one line that says `why`, twice, and nothing else
 * happened (the same workers, no request lost). */
static void state_given_back(const char *hook, const char *policy, const char *why)
{
	struct upc c;
	struct run r;
	struct load *l;
	pid_t pids[16];
	long ok, failed;
	int i;

	cr_assert_eq(setenv(hook, "1", 1), 0);
	upc_start(&c, 2, policy, "event_server", NULL);
	unsetenv(hook);
	cr_assert_eq(upc_slot_pids(&c, pids, NULL), 2);
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 50, 60000);
	cr_assert_geq(load_ok_so_far(l), 50, "no answers\n%s", c.cr->log);
	for (i = 1; i <= 2; i++) {
		long before;

		upc_upgrade_refused(&c, NULL, &r);
		cr_log_info("%s %s %d: %s", hook, policy, i, r.err);
		cr_assert(strstr(r.err, why), "%s: the line does not say '%s': %s", hook, why,
			  r.err);
		before = load_ok_so_far(l);
		load_wait_more(l, 100, 60000);
		cr_assert_geq(load_ok_so_far(l), before + 100, "no answers after the state came "
			      "back\n%s", c.cr->log);
		upc_same_pids(&c, pids, "after the state came back");
		upc_status(&c, &r);
		cr_assert_eq(json_num(r.out, "upgrades"), 0, "%s", r.out);
		cr_assert_eq(json_num(r.out, "upgrades_failed"), i, "%s", r.out);
	}
	load_stop(l, &ok, &failed, NULL);
	cr_assert_eq(failed, 0, "%ld of %ld failed\n%s", failed, ok + failed, c.cr->log);
	upc_stop(&c);
}

/* The new image refuses the state (CLUSTER_RUN_TEST_ADOPT_FAIL). */
Test(upgrade, new_image_refuses_the_state)
{
	state_given_back("CLUSTER_RUN_TEST_ADOPT_FAIL", "rr", "refused by");
}

/* The new image crashes (SIGSEGV) halfway through its restore, after the
 * workers (CLUSTER_RUN_TEST_ADOPT_CRASH): its signal handler executes
 * the old binary back with the state (surface/upgrade_crash.c). */
Test(upgrade, new_image_crashes_while_restoring_rr)
{
	state_given_back("CLUSTER_RUN_TEST_ADOPT_CRASH", "rr",
			 "the new binary crashed (signal 11, SEGV) while taking the state");
}

Test(upgrade, new_image_crashes_while_restoring_shared)
{
	state_given_back("CLUSTER_RUN_TEST_ADOPT_CRASH", "shared",
			 "the new binary crashed (signal 11, SEGV) while taking the state");
}

/* Whether status shows a rollout under way; its "replaced" in *replaced. */
static int rollout_running(struct upc *c, long *replaced)
{
	struct run r;
	const char *p;

	upc_status(c, &r);
	p = strstr(r.out, "\"rollout\":{");
	if (p && replaced)
		*replaced = json_num(p, "replaced");
	return p != NULL;
}

struct running {
	struct upc *c;
	long replaced;
};

static int rollout_started(void *arg)
{
	struct running *s = arg;

	return rollout_running(s->c, &s->replaced);
}

static int rollout_over(void *arg)
{
	return !rollout_running(arg, NULL);
}

/* Every slot's worker ready on generation gen. */
static void all_on_generation(struct upc *c, unsigned gen)
{
	struct run r;
	struct upc_worker w[32];
	int n, i;

	upc_status(c, &r);
	n = upc_workers_of(r.out, w, 32);
	cr_assert_eq(n, c->n, "%s", r.out);
	for (i = 0; i < n; i++) {
		cr_assert_str_eq(w[i].state, "ready", "%s", r.out);
		cr_assert_eq(w[i].generation, gen, "slot %d on generation %u\n%s", w[i].slot,
			     w[i].generation, r.out);
	}
}

/* Workers that take 1.5 s to listen, replaced one at a time: the upgrade
 * lands while the rollout has batches to go; the new image carries it on
 * to the end, with no request lost. */
Test(upgrade, during_a_rolling_reload)
{
	struct upc c;
	struct run r;
	struct load *l;
	struct running s = { &c, -1 };
	long ok, failed, after;

	upc_start(&c, 4, "rr", "event_server", "--listen-delay-ms 1500");
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 50, 10000);
	ctl_run(&r, c.sock, "reload", "--batch", "1", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(wait_until(rollout_started, &s, 10000), "%s", c.cr->log);
	cr_assert_lt(s.replaced, 3, "the rollout was nearly over already (%ld)", s.replaced);

	upc_upgrade_ok(&c, NULL);
	/* the rollout outlived the image that started it */
	cr_assert(rollout_running(&c, &after), "the rollout ended during the upgrade\n%s",
		  c.cr->log);
	cr_log_info("rollout at %ld of 4 before the upgrade, %ld after", s.replaced, after);
	cr_assert(wait_until(rollout_over, &c, 60000), "the rollout never ended\n%s", c.cr->log);
	cr_assert(cr_wait_line(c.cr, "reload complete", 10000), "%s", c.cr->log);
	cr_assert(cr_wait_line(c.cr, "reload: 4/4 replaced", 5000), "%s", c.cr->log);
	all_on_generation(&c, 1);
	load_wait_more(l, 100, 10000);
	load_stop(l, &ok, &failed, NULL);
	cr_assert_eq(failed, 0, "%ld of %ld failed\n%s", failed, ok + failed, c.cr->log);
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 1, "%s", r.out);
	cr_assert_eq(json_num(r.out, "reloads_complete"), 1, "%s", r.out);
	upc_stop(&c);
}

struct waiter {
	struct upc *c;
	struct run r;
	long ended;             /* now_ms() when it returned */
};

static void *reload_wait(void *arg)
{
	struct waiter *w = arg;

	ctl_run(&w->r, w->c->sock, "reload", "--wait", "--batch", "1", NULL);
	w->ended = now_ms();
	return NULL;
}

/* `reload --wait` asked of the old image is answered by the new one:
 * the progress lines after the upgrade and the outcome. */
Test(upgrade, reload_wait_answered_across)
{
	struct upc c;
	struct waiter w = { .c = &c };
	struct running s = { &c, -1 };
	pthread_t t;
	long upgraded;

	upc_start(&c, 3, "rr", "event_server", "--listen-delay-ms 1500");
	cr_assert_eq(pthread_create(&t, NULL, reload_wait, &w), 0);
	cr_assert(wait_until(rollout_started, &s, 10000), "%s", c.cr->log);
	upc_upgrade_ok(&c, NULL);
	upgraded = now_ms();
	cr_assert(rollout_running(&c, NULL), "the rollout ended during the upgrade\n%s",
		  c.cr->log);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_log_info("reload --wait: exit %d after the upgrade by %ld ms:\n%s%s", run_code(&w.r),
		    w.ended - upgraded, w.r.out, w.r.err);
	cr_assert_eq(run_code(&w.r), 0, "%s%s\n%s", w.r.out, w.r.err, c.cr->log);
	cr_assert_geq(w.ended, upgraded);
	cr_assert(strstr(w.r.out, "reload: 3/3 replaced"), "%s", w.r.out);
	cr_assert(strstr(w.r.out, "reload complete"), "%s", w.r.out);
	all_on_generation(&c, 1);
	upc_stop(&c);
}

/* path's text, whole: a temporary file renamed over it (whoever reads it
 * sees the old text or the new one, never half of it). */
static void write_text(const char *path, const char *text)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	cr_assert(f, "%s", tmp);
	cr_assert(fputs(text, f) >= 0);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(rename(tmp, path), 0, "%s", path);
}

/* The new image's start checks fail after the exec (it parses the
 * command line and reads its files as at a start): it gives the state
 * back to the old binary, the upgrade fails in one line that names the
 * check's own message, and nothing else happened.  The broken --config
 * an operator edits and upgrades before reloading: exactly what the old
 * binary, taking its state back, reads at its start too. */
Test(upgrade, start_check_fails_gives_the_state_back)
{
	struct upc c;
	struct run r;
	struct load *l;
	pid_t pids[16];
	long ok, failed;
	char aux[64], conf[128], want[192];
	const char *opts[] = { "--config", conf, NULL };

	tmpdir_new(aux, "cr-upgrade-conf");
	snprintf(conf, sizeof(conf), "%s/app.conf", aux);
	write_text(conf, "# test_upgrade\nmax-restarts = 5\n");
	upc_start_opts(&c, 2, "rr", "event_server", NULL, opts);
	cr_assert_eq(upc_slot_pids(&c, pids, NULL), 2);
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 50, 10000);

	/* an edit that breaks the file, not reloaded: the new image reads
	 * it at its start and stops there */
	write_text(conf, "# test_upgrade\nmax-restarts = 5\ngrace = soon\n");
	upc_upgrade_refused(&c, NULL, &r);
	cr_log_info("broken config: %s", r.err);
	/* the probe runs the start's checks with the cluster's arguments */
	cr_assert(strstr(r.err, "would not start with this cluster's options"), "%s\n%s", r.err,
		  c.cr->log);
	snprintf(want, sizeof(want), "%s:3: invalid grace period: 'soon'", conf);
	cr_assert(strstr(r.err, want), "the check's own line ('%s') is not in: %s", want, r.err);
	cr_assert(pid_alive(c.cr->pid) && c.cr->status < 0, "cluster-run exited\n%s", c.cr->log);
	load_wait_more(l, 100, 10000);
	upc_same_pids(&c, pids, "after the failed start check");
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 0, "%s", r.out);
	cr_assert_eq(json_num(r.out, "upgrades_failed"), 1, "%s", r.out);

	/* mended: an upgrade to the real binary, named, works */
	write_text(conf, "# test_upgrade\nmax-restarts = 5\n");
	upc_upgrade_ok(&c, cluster_run_path());
	upc_same_pids(&c, pids, "after the good upgrade");
	load_wait_more(l, 100, 10000);
	load_stop(l, &ok, &failed, NULL);
	cr_assert_eq(failed, 0, "%ld of %ld failed\n%s", failed, ok + failed, c.cr->log);
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 1, "%s", r.out);
	cr_assert_eq(json_num(r.out, "upgrades_failed"), 1, "%s", r.out);
	upc_stop(&c);
}

/* src copied to dst, executable. */
static void copy_binary(const char *src, const char *dst)
{
	char buf[65536];
	FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
	size_t n;

	cr_assert(in && out, "%s -> %s", src, dst);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		cr_assert_eq(fwrite(buf, 1, n, out), n);
	cr_assert(!ferror(in));
	fclose(in);
	cr_assert_eq(fclose(out), 0);
	cr_assert_eq(chmod(dst, 0755), 0);
}

/* The same with another start check: a copy of cluster-run with no shim
 * beside it (DIR/bin/cluster-run: neither DIR/shim nor DIR/lib/cluster-run
 * has one, nor CLUSTER_RUN_SHIM names one): the probe finds it out. */
Test(upgrade, start_check_fails_without_a_shim)
{
	struct upc c;
	struct run r;
	struct load *l;
	pid_t pids[16];
	long ok, failed;
	char aux[64], bin[96], copy[128];

	/* the harness does not set it; a developer's shell might */
	unsetenv("CLUSTER_RUN_SHIM");
	tmpdir_new(aux, "cr-upgrade-copy");
	snprintf(bin, sizeof(bin), "%s/bin", aux);
	cr_assert_eq(mkdir(bin, 0755), 0);
	snprintf(copy, sizeof(copy), "%s/cluster-run", bin);
	copy_binary(cluster_run_path(), copy);
	upc_start(&c, 2, "rr", "event_server", NULL);
	cr_assert_eq(upc_slot_pids(&c, pids, NULL), 2);
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 50, 10000);

	ctl_run(&r, c.sock, "upgrade", copy, NULL);
	if (run_code(&r) == 0) {
		/* a shim installed on this machine (the install directory
		 * compiled in): the copy found it */
		upc_stop(&c);
		cr_skip_test("the copy found a shim anyway (one is installed here): %s", r.out);
	}
	upc_refused_line(&c, &r);
	cr_log_info("no shim: %s", r.err);
	cr_assert(strstr(r.err, "would not start with this cluster's options"), "%s\n%s", r.err,
		  c.cr->log);
	cr_assert(strstr(r.err, "cannot find libcluster-shim.so"), "%s", r.err);
	load_wait_more(l, 100, 10000);
	upc_same_pids(&c, pids, "after the failed start check");
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 0, "%s", r.out);
	cr_assert_eq(json_num(r.out, "upgrades_failed"), 1, "%s", r.out);

	upc_upgrade_ok(&c, cluster_run_path());
	upc_same_pids(&c, pids, "after the good upgrade");
	load_wait_more(l, 100, 10000);
	load_stop(l, &ok, &failed, NULL);
	cr_assert_eq(failed, 0, "%ld of %ld failed\n%s", failed, ok + failed, c.cr->log);
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 1, "%s", r.out);
	upc_stop(&c);
}

/* PROGRAM, a script that execs the test server, is renamed away after the
 * start (a deploy replaced or removed it): the new image runs the
 * workers' program as the old one checked it, from the state, not from
 * the command line's PROGRAM, which it could no longer find.  Twice:
 * the second new image got it from the first one's state.  The script
 * back, a reload runs it again. */
Test(upgrade, program_removed_since_start)
{
	struct upc c;
	struct run r;
	struct load *l;
	pid_t pids[16], now[16];
	long ok, failed;
	char aux[64], script[128], moved[128], text[512];
	int i;

	tmpdir_new(aux, "cr-upgrade-prog");
	snprintf(script, sizeof(script), "%s/app.sh", aux);
	snprintf(moved, sizeof(moved), "%s/app.sh.old", aux);
	snprintf(text, sizeof(text), "#!/bin/sh\nexec %s --graceful \"$@\"\n",
		 helper("event_server"));
	write_script(script, text);
	upc_start(&c, 2, "rr", script, NULL);
	cr_assert_eq(upc_slot_pids(&c, pids, NULL), 2);
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 50, 10000);

	cr_assert_eq(rename(script, moved), 0);
	cr_assert_neq(access(script, F_OK), 0);
	upc_upgrade_ok(&c, NULL);
	upc_same_pids(&c, pids, "after the upgrade without PROGRAM");
	load_wait_more(l, 100, 10000);
	cr_assert_eq(load_failed_so_far(l), 0, "%ld failed\n%s", load_failed_so_far(l),
		     c.cr->log);
	/* gone for good, and a second upgrade */
	cr_assert_eq(unlink(moved), 0);
	upc_upgrade_ok(&c, NULL);
	upc_same_pids(&c, pids, "after the second upgrade without PROGRAM");
	load_wait_more(l, 100, 10000);
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 2, "%s", r.out);
	cr_assert_eq(json_num(r.out, "upgrades_failed"), 0, "%s", r.out);
	cr_assert_eq(json_num(r.out, "restarts"), 0, "%s", r.out);

	/* back: a reload starts it again in every slot */
	write_script(script, text);
	ctl_run(&r, c.sock, "reload", "--wait", NULL);
	cr_assert_eq(run_code(&r), 0, "reload: %s%s\n%s", r.out, r.err, c.cr->log);
	all_on_generation(&c, 1);
	cr_assert_eq(upc_slot_pids(&c, now, NULL), 2);
	for (i = 0; i < 2; i++)
		cr_assert(!pid_in(pids, 2, now[i]), "slot %d kept pid %d across the reload", i,
			  (int)now[i]);
	load_wait_more(l, 100, 10000);
	load_stop(l, &ok, &failed, NULL);
	cr_assert_eq(failed, 0, "%ld of %ld failed\n%s", failed, ok + failed, c.cr->log);
	upc_stop(&c);
}

/* Every worker (all replaced since before[]: they started after the
 * upgrade) began without a variable whose name starts with
 * CLUSTER_RUN_UPGRADE (/proc/PID/environ: the block a process started
 * with). */
static void no_upgrade_vars(struct upc *c, const pid_t *before, const char *when)
{
	static char env[262144];
	char path[64];
	pid_t pids[16];
	const char *p;
	long len;
	int n = upc_slot_pids(c, pids, NULL), i, seen = 0;

	cr_assert_eq(n, c->n, "%s: %d workers\n%s", when, n, c->cr->log);
	for (i = 0; i < n; i++) {
		cr_assert(!pid_in(before, n, pids[i]), "%s: slot %d is still pid %d", when, i,
			  (int)pids[i]);
		snprintf(path, sizeof(path), "/proc/%d/environ", (int)pids[i]);
		len = read_file(path, env, sizeof(env));
		cr_assert_gt(len, 0, "%s: %s unreadable", when, path);
		for (p = env; p < env + len; p += strlen(p) + 1) {
			cr_assert(strncmp(p, "CLUSTER_RUN_UPGRADE", 19) != 0,
				  "%s: worker %d (slot %d) started with %.200s", when, (int)pids[i],
				  i, p);
			seen += !strncmp(p, "CLUSTER_WORKER_ID=", 18);
		}
	}
	/* what was read is the workers' environments */
	cr_assert_eq(seen, n, "%s", when);
}

/* The master's own block, the one its last exec got, has name: what the
 * check above would find in a worker, were one to inherit it. */
static void master_started_with(struct upc *c, const char *name)
{
	static char env[262144];

	cr_assert_eq(proc_env(c->cr->pid, name, env, sizeof(env), NULL), 1,
		     "the master's last exec had no %s", name);
}

/* The upgrade's own variables (the state's fd, the old binary's, the
 * fallback's and its reason) live in the master's environment across an
 * exec; none of them reaches a worker started afterwards: after a failed
 * upgrade (the state went to the new image and back) and after one that
 * worked, a reload's workers start without any. */
Test(upgrade, no_upgrade_variable_reaches_workers)
{
	struct upc c;
	struct run r;
	pid_t pids[16];

	cr_assert_eq(setenv("CLUSTER_RUN_TEST_ADOPT_FAIL", "1", 1), 0);
	upc_start(&c, 2, "rr", "event_server", NULL);
	unsetenv("CLUSTER_RUN_TEST_ADOPT_FAIL");
	cr_assert_eq(upc_slot_pids(&c, pids, NULL), 2);
	upc_upgrade_refused(&c, NULL, &r);
	master_started_with(&c, "CLUSTER_RUN_UPGRADE_STATE");
	ctl_run(&r, c.sock, "reload", "--wait", NULL);
	cr_assert_eq(run_code(&r), 0, "reload: %s%s\n%s", r.out, r.err, c.cr->log);
	no_upgrade_vars(&c, pids, "a failed upgrade, a reload");
	upc_stop(&c);

	upc_start(&c, 2, "rr", "event_server", NULL);
	cr_assert_eq(upc_slot_pids(&c, pids, NULL), 2);
	upc_upgrade_ok(&c, NULL);
	master_started_with(&c, "CLUSTER_RUN_UPGRADE_STATE");
	ctl_run(&r, c.sock, "reload", "--wait", NULL);
	cr_assert_eq(run_code(&r), 0, "reload: %s%s\n%s", r.out, r.err, c.cr->log);
	no_upgrade_vars(&c, pids, "an upgrade, a reload");
	upc_stop(&c);
}

/* A new binary that passes the probe and then fails a start check after
 * the exec (the environment changed in between, or a bug): a script that
 * runs the real binary as the probe and with an option it refuses as the
 * new image.  The new image gives the state back; the old binary takes
 * it, and the upgrade fails in one line with the check's own message. */
Test(upgrade, start_check_fails_after_the_probe_gives_the_state_back)
{
	struct upc c;
	struct run r;
	struct load *l;
	pid_t pids[16];
	long ok, failed;
	char aux[64], script[128], text[512];

	tmpdir_new(aux, "cr-upgrade-late");
	snprintf(script, sizeof(script), "%s/late-failure", aux);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "if [ \"$1\" = --upgrade-probe ]; then exec %s \"$@\"; fi\n"
		 "exec %s --no-such-option-here \"$@\"\n",
		 cluster_run_path(), cluster_run_path());
	write_text(script, text);
	cr_assert_eq(chmod(script, 0755), 0);
	upc_start(&c, 2, "rr", "event_server", NULL);
	cr_assert_eq(upc_slot_pids(&c, pids, NULL), 2);
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 50, 10000);

	ctl_run(&r, c.sock, "upgrade", script, NULL);
	upc_refused_line(&c, &r);
	cr_log_info("late failure: %s", r.err);
	cr_assert(strstr(r.err, "start checks failed"), "%s\n%s", r.err, c.cr->log);
	cr_assert(strstr(r.err, "no-such-option-here"), "%s", r.err);
	cr_assert(strstr(r.err, "workers kept"), "not answered by the old image: %s", r.err);
	load_wait_more(l, 100, 10000);
	upc_same_pids(&c, pids, "after the state came back");
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 0, "%s", r.out);
	cr_assert_eq(json_num(r.out, "upgrades_failed"), 1, "%s", r.out);

	upc_upgrade_ok(&c, cluster_run_path());
	upc_same_pids(&c, pids, "after the good upgrade");
	load_wait_more(l, 100, 10000);
	load_stop(l, &ok, &failed, NULL);
	cr_assert_eq(failed, 0, "%ld of %ld failed\n%s", failed, ok + failed, c.cr->log);
	upc_stop(&c);
}
