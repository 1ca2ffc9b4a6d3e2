/*
 * test_rollout.c - reloads as rollouts: batches (--reload-batch, reload
 * --batch) with a progress line per batch, never fewer listening workers
 * than slots and no failed request under load; a canary reload with a new
 * command line and environment that pauses after its first batch, shows
 * both releases in status, and goes back (rollout abort) or on (rollout
 * continue); bad values refused in one line with a documented status.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(rollout, .fini = tmpdir_fini, .timeout = 120);

struct cl {
	struct cr *cr;
	char dir[64];
	char sock[96];
	char metrics[32];
	int port, mport;
};

static void start(struct cl *c, const char *workers, const char *batch, const char *delay)
{
	tmpdir_new(c->dir, "cr-rollout");
	snprintf(c->sock, sizeof(c->sock), "%s/c.sock", c->dir);
	c->mport = free_port();
	snprintf(c->metrics, sizeof(c->metrics), "127.0.0.1:%d", c->mport);
	c->cr = cr_start(NULL, "-n", workers, "--reload-batch", batch, "--control", c->sock,
			 "--metrics", c->metrics,
			 "--grace", "3", "--max-restarts", "2", "--backoff", "0.05:0.2", "--",
			 helper("event_server"), "--graceful", "--listen-delay-ms", delay, NULL);
	c->port = cr_ready_port(c->cr, 0, 20000);
	cr_assert(c->port > 0, "%s", c->cr->log);
}

struct wk {
	int slot;
	pid_t pid;
	char state[16];
	unsigned generation, release;
};

/* The workers of a status --json answer; how many (at most max). */
static int workers_of(const char *json, struct wk *w, int max)
{
	const char *p = strstr(json, "\"workers\":[");
	int n = 0;

	while (p && n < max && (p = strstr(p, "{\"slot\":"))) {
		const char *g = strstr(p, "\"generation\":"), *end = strchr(p, '}');
		int pid;

		cr_assert(sscanf(p, "{\"slot\":%d,\"pid\":%d,\"state\":\"%15[a-z]\"", &w[n].slot,
				 &pid, w[n].state) == 3, "%s", p);
		cr_assert(g && end && g < end, "no generation: %.200s", p);
		cr_assert(sscanf(g, "\"generation\":%u,\"release\":%u", &w[n].generation,
				 &w[n].release) == 2, "%.200s", g);
		w[n].pid = (pid_t)pid;
		n++;
		p = end;
	}
	return n;
}

static int count_state(const struct wk *w, int n, const char *state)
{
	int i, k = 0;

	for (i = 0; i < n; i++)
		k += !strcmp(w[i].state, state);
	return k;
}

/* Whether pid's command line has the word (its arguments NUL-separated). */
static int cmdline_has(pid_t pid, const char *word)
{
	char path[64], buf[4096];
	long len, i;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	len = read_file(path, buf, sizeof(buf));
	for (i = 0; i < len; i += (long)strlen(buf + i) + 1)
		if (!strcmp(buf + i, word))
			return 1;
	return 0;
}

/* 16 workers, 25% at a time: four batches of four, a progress line for
 * each, every slot served by a listening worker at every status polled
 * meanwhile, and no request of a light load lost.  Then the same through
 * `reload --wait --batch 8`, whose client prints the two progress lines
 * as they come; then batch 1 against 25% for the time they take. */
Test(rollout, batches_of_a_quarter)
{
	struct cl c;
	struct run r;
	struct wk w[64];
	struct load *l;
	long ok, failed, per[16], polls = 0, seen_mid = 0;
	long t_one, t_quarter;
	int n, min_ready = 1 << 30;
	long deadline;

	/* 150 ms to listen: each batch takes that long, long enough for
	 * status polls to see the rollout under way */
	start(&c, "16", "25%", "150");
	l = load_start(c.port, 4);
	load_wait_more(l, 100, 10000);

	ctl_run(&r, c.sock, "reload", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "reloading 16 workers"), "%s", r.out);
	deadline = now_ms() + 60000;
	/* poll until the rollout is over: every answer names 16 ready slots */
	for (;;) {
		ctl_run(&r, c.sock, "status", "--json", NULL);
		cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
		n = workers_of(r.out, w, 64);
		polls++;
		if (count_state(w, n, "ready") < min_ready)
			min_ready = count_state(w, n, "ready");
		cr_assert(strstr(r.out, "\"ready\":true"), "a slot without a listening worker "
			  "during the rollout:\n%s", r.out);
		if (strstr(r.out, "\"rollout\":{\"generation\":1,"))
			seen_mid++;
		/* 16 slots, batches of 4: at most 4 new and 3 old ones more */
		cr_assert_leq(n, 16 + 2 * 4 - 1, "%d workers at once:\n%s", n, r.out);
		if (strstr(r.out, "\"rollout\":null"))
			break;
		cr_assert(now_ms() < deadline, "the reload did not complete\n%s", c.cr->log);
	}
	cr_assert_geq(min_ready, 16, "%d ready workers at one poll", min_ready);
	cr_assert_geq(seen_mid, 2, "the polls did not see the rollout under way (%ld)", seen_mid);
	cr_assert(cr_wait_line(c.cr, "reload complete", 5000), "%s", c.cr->log);
	cr_assert(cr_wait_count(c.cr, "/16 replaced", 4, 5000), "%s", c.cr->log);
	cr_assert_eq(count_of(c.cr->log, "/16 replaced"), 4, "one progress line per batch\n%s",
		     c.cr->log);
	cr_assert(strstr(c.cr->log, "reloading: replacing 16 workers, 4 at a time"), "%s",
		  c.cr->log);
	cr_assert(strstr(c.cr->log, "reload: 4/16 replaced") &&
		  strstr(c.cr->log, "reload: 8/16 replaced") &&
		  strstr(c.cr->log, "reload: 12/16 replaced") &&
		  strstr(c.cr->log, "reload: 16/16 replaced"), "%s", c.cr->log);
	n = workers_of(r.out, w, 64);
	cr_assert_eq(n, 16);
	for (int i = 0; i < n; i++)
		cr_assert_eq(w[i].generation, 1, "slot %d: generation %u", w[i].slot,
			     w[i].generation);
	cr_log_info("batches of 4 of 16: %ld status polls, %ld during the rollout, at least "
		    "%d ready", polls, seen_mid, min_ready);

	/* --wait streams the progress lines, then the outcome */
	ctl_run(&r, c.sock, "reload", "--wait", "--batch", "8", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "reload: 8/16 replaced"), "%s", r.out);
	cr_assert(strstr(r.out, "reload: 16/16 replaced"), "%s", r.out);
	cr_assert(strstr(r.out, "reload complete"), "%s", r.out);
	cr_assert(strstr(r.out, "reload: 8/16") < strstr(r.out, "reload complete"), "%s", r.out);

	ctl_run(&r, c.sock, "reload", "--wait", "--batch", "1", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	t_one = r.ms;
	cr_assert_eq(count_of(r.out, "/16 replaced"), 16, "%s", r.out);
	ctl_run(&r, c.sock, "reload", "--wait", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	t_quarter = r.ms;
	cr_log_info("16 workers: reload with batch 1 took %ld ms, with 25%% %ld ms", t_one,
		    t_quarter);
	fprintf(stderr, "rollout: 16 workers: batch 1 %ld ms, batch 25%% %ld ms\n", t_one,
		t_quarter);

	load_wait_more(l, 100, 10000);
	load_stop(l, &ok, &failed, per);
	cr_log_info("load: ok %ld failed %ld", ok, failed);
	cr_assert_eq(failed, 0, "%ld of %ld requests failed during four reloads\n%s", failed,
		     ok + failed, c.cr->log);
	cr_assert_geq(ok, 200);
	cr_assert(!strstr(c.cr->log, "killing it"), "an old worker needed SIGKILL\n%s",
		  c.cr->log);
	cr_assert_eq(cr_stop(c.cr, SIGTERM, 20000), 0, "%s", c.cr->log);
}

/* Of n workers, how many run the new command (--backlog 64 and REL=v2 in
 * their environment), all of them ready; the others run the old one. */
static int on_new_release(struct cl *c, int want_total)
{
	struct run r;
	struct wk w[64];
	char env[8192];
	const char *v;
	int n, i, k = 0;

	ctl_run(&r, c->sock, "status", "--json", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	n = workers_of(r.out, w, 64);
	cr_assert_eq(count_state(w, n, "ready"), want_total, "%s", r.out);
	for (i = 0; i < n; i++) {
		int has_arg, has_env;

		if (strcmp(w[i].state, "ready"))
			continue;
		has_arg = cmdline_has(w[i].pid, "--backlog") && cmdline_has(w[i].pid, "64");
		has_env = proc_env(w[i].pid, "REL", env, sizeof(env), &v) == 1 && !strcmp(v, "v2");
		cr_assert_eq(has_arg, has_env, "worker %d (pid %d): argument %d, environment %d",
			     w[i].slot, (int)w[i].pid, has_arg, has_env);
		k += has_arg;
	}
	return k;
}

/* A canary with a new command line and environment: paused after its
 * first batch (2 of 8), status shows both commands and the rollout; a new
 * reload is refused meanwhile; abort brings every slot back to the
 * previous command; a second canary continued brings every slot onto the
 * new one. */
Test(rollout, canary_abort_then_continue)
{
	struct cl c;
	struct run r;
	char buf[32768];

	start(&c, "8", "25%", "0");
	ctl_run(&r, c.sock, "reload", "--canary", "--wait", "--env", "REL=v2", "--",
	    helper("event_server"), "--graceful", "--backlog", "64", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "reload: 2/8 replaced"), "%s", r.out);
	cr_assert(strstr(r.out, "canary paused"), "%s", r.out);
	cr_assert_eq(on_new_release(&c, 8), 2, "%s", c.cr->log);

	ctl_run(&r, c.sock, "status", "--json", NULL);
	cr_assert(strstr(r.out, "\"rollout\":{\"generation\":1,\"replaced\":2,\"total\":8,"),
		  "%s", r.out);
	cr_assert(strstr(r.out, "\"batch\":2,\"paused\":true"), "%s", r.out);
	cr_assert(strstr(r.out, "\"previous\":{\"release\":0,"), "%s", r.out);
	cr_assert(strstr(r.out, "\"--backlog\",\"64\"]"), "%s", r.out);
	cr_assert(http_get("127.0.0.1", c.mport, buf, sizeof(buf), 5000) > 0);
	cr_assert(strstr(buf, "cluster_run_generation_workers{generation=\"0\",release=\"0\"} 6\n"),
		  "%s", buf);
	cr_assert(strstr(buf, "cluster_run_generation_workers{generation=\"1\",release=\"1\"} 2\n"),
		  "%s", buf);
	cr_assert(strstr(buf, "cluster_run_rollout_paused 1\n"), "%s", buf);
	ctl_run(&r, c.sock, "status", NULL);
	cr_assert(strstr(r.out, "previous command: "), "%s", r.out);
	cr_assert(strstr(r.out, "--backlog 64 (generation 1)"), "%s", r.out);
	cr_assert(strstr(r.out, "paused (canary"), "%s", r.out);

	/* the canary holds: a reload and a HUP are refused, nothing moves */
	ctl_run(&r, c.sock, "reload", NULL);
	cr_assert_eq(run_code(&r), 1, "%s%s", r.out, r.err);
	cr_assert(strstr(r.err, "a canary is paused"), "%s", r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "one line: %s", r.err);
	cr_assert_eq(kill(c.cr->pid, SIGHUP), 0);
	cr_assert(cr_wait_line(c.cr, "reload (HUP) refused: a canary is paused", 5000), "%s",
		  c.cr->log);
	cr_assert_eq(on_new_release(&c, 8), 2);

	ctl_run(&r, c.sock, "rollout", "abort", "--wait", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "rollback: 8/8 replaced"), "%s", r.out);
	cr_assert(cr_wait_line(c.cr, "rollback complete", 5000), "%s", c.cr->log);
	cr_assert_eq(on_new_release(&c, 8), 0, "a slot still on the canary\n%s", c.cr->log);
	ctl_run(&r, c.sock, "status", "--json", NULL);
	cr_assert(strstr(r.out, "\"rollout\":null"), "%s", r.out);
	cr_assert(!strstr(r.out, "\"previous\":"), "%s", r.out);
	cr_assert(strstr(r.out, "\"reloads_complete\":1,\"reloads_aborted\":1"), "%s", r.out);

	/* again, and on to the end */
	ctl_run(&r, c.sock, "reload", "--canary", "--wait", "--env", "REL=v2", "--",
	    helper("event_server"), "--graceful", "--backlog", "64", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert_eq(on_new_release(&c, 8), 2);
	ctl_run(&r, c.sock, "rollout", "continue", "--wait", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "reload: 8/8 replaced"), "%s", r.out);
	cr_assert(strstr(r.out, "reload complete"), "%s", r.out);
	cr_assert(cr_wait_line(c.cr, "reload complete", 5000), "%s", c.cr->log);
	cr_assert_eq(on_new_release(&c, 8), 8, "%s", c.cr->log);
	/* a plain reload keeps the new command and environment */
	ctl_run(&r, c.sock, "reload", "--wait", NULL);
	cr_assert_eq(run_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert_eq(on_new_release(&c, 8), 8, "%s", c.cr->log);
	cr_assert_eq(cr_stop(c.cr, SIGTERM, 20000), 0, "%s", c.cr->log);
}

/* One line on stderr, and the status the README gives. */
static void refused(const struct run *r, int status, const char *says)
{
	cr_assert_eq(run_code(r), status, "exit %d: %s%s", run_code(r), r->out, r->err);
	cr_assert(strstr(r->err, says), "%s", r->err);
	cr_assert_eq(count_of(r->err, "\n"), 1, "not one line: %s", r->err);
}

Test(rollout, bad_inputs)
{
	struct cl c;
	struct run r;

	{
		const char *argv[] = { cluster_run_path(), "--reload-batch", "0", "--",
				       helper("event_server"), NULL };
		run_capture(&r, argv, 10000, NULL, NULL);
		refused(&r, 2, "invalid reload batch");
	}
	{
		const char *argv[] = { cluster_run_path(), "--reload-batch", "150%", "--",
				       helper("event_server"), NULL };
		run_capture(&r, argv, 10000, NULL, NULL);
		refused(&r, 2, "'150%'");
	}
	start(&c, "2", "1", "0");
	ctl_run(&r, c.sock, "reload", "--batch", "0", NULL);
	refused(&r, 2, "--batch takes N from 1 to 1024 or P% from 1% to 100%, not '0'");
	ctl_run(&r, c.sock, "reload", "--batch", "101%", NULL);
	refused(&r, 2, "not '101%'");
	ctl_run(&r, c.sock, "reload", "--env", "1X=y", NULL);
	refused(&r, 2, "--env takes KEY=VALUE");
	ctl_run(&r, c.sock, "rollout", "continue", NULL);
	refused(&r, 1, "no paused rollout to continue");
	ctl_run(&r, c.sock, "rollout", "abort", NULL);
	refused(&r, 1, "no rollout to abort");
	ctl_run(&r, c.sock, "rollout", "pause", NULL);
	cr_assert_eq(run_code(&r), 2, "%s", r.err);
	ctl_run(&r, c.sock, "reload", "--", "/nonexistent/v2/server", NULL);
	refused(&r, 1, "/nonexistent/v2/server: not found");
	/* nothing was started by any of them */
	ctl_run(&r, c.sock, "status", "--json", NULL);
	cr_assert(strstr(r.out, "\"last_reload\":{\"outcome\":\"none\""), "%s", r.out);
	cr_assert_eq(cr_stop(c.cr, SIGTERM, 20000), 0, "%s", c.cr->log);
}
