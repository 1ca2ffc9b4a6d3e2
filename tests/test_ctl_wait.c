/*
 * test_ctl_wait.c - what a deploy script needs from cluster-ctl:
 * `reload --wait` returns when the reload is over, 0 when it completed and
 * non-zero with the reason when it was aborted (a new generation that
 * crash-loops) or when -t ran out; `scale N --wait` when N workers listen;
 * status and --json name the program's arguments, the last reload's
 * outcome and each worker's CPU and RSS; the metrics count reloads;
 * `signal SIG` reaches every worker, and HUP is refused.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(ctl_wait, .fini = tmpdir_fini, .timeout = 90);

struct cl {
	struct cr *cr;
	char dir[64];
	char sock[96];
	char script[128];
	char mport_s[32];
	int mport;
};

static void ctl(struct cl *c, struct run *r, const char *a, const char *b, const char *d,
		const char *e)
{
	const char *argv[] = { cluster_ctl_path(), "-s", c->sock, a, b, d, e, NULL };

	run_capture(r, argv, 30000, NULL, NULL);
}

static int code(const struct run *r)
{
	return r->status >= 0 && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* The program is `sh DIR/worker.sh`, which runs what DIR/worker.sh says
 * now: a test changes it between generations. */
static void write_script(struct cl *c, const char *helper_args)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", c->script);
	f = fopen(tmp, "w");
	cr_assert(f);
	fprintf(f, "exec %s %s\n", helper("blocking_server"), helper_args);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(rename(tmp, c->script), 0);
}

static void start(struct cl *c, const char *workers, const char *helper_args)
{
	tmpdir_new(c->dir, "cr-wait");
	snprintf(c->sock, sizeof(c->sock), "%s/c.sock", c->dir);
	snprintf(c->script, sizeof(c->script), "%s/worker.sh", c->dir);
	c->mport = free_port();
	snprintf(c->mport_s, sizeof(c->mport_s), "127.0.0.1:%d", c->mport);
	write_script(c, helper_args);
	c->cr = cr_start(NULL, "-n", workers, "--control", c->sock, "--metrics", c->mport_s,
			 "--grace", "3", "--max-restarts", "2", "--backoff", "0.05:0.2",
			 "--ready-timeout", "10", "--", "/bin/sh", c->script, NULL);
	cr_assert(cr_ready_port(c->cr, 0, 10000) > 0, "%s", c->cr->log);
}

Test(ctl_wait, reload_wait_complete_then_aborted)
{
	struct cl c;
	struct run r;
	char buf[16384];

	start(&c, "2", "--graceful");
	ctl(&c, &r, "reload", "--wait", NULL, NULL);
	cr_assert_eq(code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "reload complete"), "%s", r.out);
	cr_assert(cr_wait_line(c.cr, "reload complete", 2000), "answered before the reload completed\n%s",
		  c.cr->log);

	write_script(&c, "--exit-after-bind 1");
	ctl(&c, &r, "reload", "--wait", NULL, NULL);
	cr_assert_eq(code(&r), 1, "an aborted reload: exit %d\n%s%s", code(&r), r.out, r.err);
	cr_assert(strstr(r.err, "reload aborted"), "no reason: %s", r.err);
	cr_assert(strstr(r.err, "keeps exiting before it listens"), "%s", r.err);

	ctl(&c, &r, "status", NULL, NULL, NULL);
	cr_assert_eq(code(&r), 0);
	cr_assert(strstr(r.out, "last reload: aborted"), "%s", r.out);
	cr_assert(strstr(r.out, "command: /bin/sh "), "no arguments: %s", r.out);
	cr_assert(strstr(r.out, " CPU ") && strstr(r.out, " RSS"), "%s", r.out);
	cr_assert(strstr(r.out, "Mi\n"), "no RSS figure: %s", r.out);
	ctl(&c, &r, "status", "--json", NULL, NULL);
	cr_assert(strstr(r.out, "\"last_reload\":{\"outcome\":\"aborted\""), "%s", r.out);
	cr_assert(strstr(r.out, "\"args\":[\"/bin/sh\","), "%s", r.out);
	cr_assert(strstr(r.out, "\"reloads_complete\":1,\"reloads_aborted\":1"), "%s", r.out);
	cr_assert(strstr(r.out, "\"rss_bytes\":") && strstr(r.out, "\"cpu_seconds\":"), "%s",
		  r.out);
	cr_assert(http_get("127.0.0.1", c.mport, buf, sizeof(buf), 5000) > 0);
	cr_assert(strstr(buf, "cluster_run_reloads_total{outcome=\"complete\"} 1"), "%s", buf);
	cr_assert(strstr(buf, "cluster_run_reloads_total{outcome=\"aborted\"} 1"), "%s", buf);
	cr_assert(strstr(buf, "cluster_run_worker_rss_bytes{slot=\"0\""), "%s", buf);
	cr_assert(strstr(buf, "\ncluster_run_restarts_total "), "%s", buf);

	/* the old workers still serve, and a good reload works again */
	write_script(&c, "--graceful");
	ctl(&c, &r, "reload", "--wait", NULL, NULL);
	cr_assert_eq(code(&r), 0, "%s%s", r.out, r.err);
	cr_assert_eq(cr_stop(c.cr, SIGTERM, 15000), 0, "%s", c.cr->log);
}

/* -t: the new workers take 3 s to listen; cluster-ctl gives up after
 * 0.3 s with status 3, and the reload goes on to completion. */
Test(ctl_wait, reload_wait_times_out)
{
	struct cl c;
	struct run r;

	start(&c, "1", "--graceful");
	write_script(&c, "--graceful --listen-delay-ms 3000");
	{
		const char *argv[] = { cluster_ctl_path(), "-s", c.sock, "-t", "0.3", "reload",
				       "--wait", NULL };
		run_capture(&r, argv, 10000, NULL, NULL);
	}
	cr_assert_eq(code(&r), 3, "exit %d: %s%s", code(&r), r.out, r.err);
	cr_assert(strstr(r.err, "timed out"), "%s", r.err);
	cr_assert(cr_wait_line(c.cr, "reload complete", 15000), "%s", c.cr->log);
	cr_assert_eq(cr_stop(c.cr, SIGTERM, 15000), 0, "%s", c.cr->log);
}

Test(ctl_wait, scale_wait_and_signal)
{
	struct cl c;
	struct run r;
	pid_t pids[8];

	start(&c, "1", "--graceful --listen-delay-ms 300");
	ctl(&c, &r, "scale", "3", "--wait", NULL);
	cr_assert_eq(code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "3 workers listening"), "%s", r.out);
	cr_assert_eq(cr_children(c.cr, pids, 8), 3, "answered before the workers were there");
	ctl(&c, &r, "scale", "1", "--wait", NULL);
	cr_assert_eq(code(&r), 0, "%s%s", r.out, r.err);
	cr_assert_eq(cr_children(c.cr, pids, 8), 1, "answered before the removed workers left");

	ctl(&c, &r, "signal", "HUP", NULL, NULL);
	cr_assert_eq(code(&r), 1);
	cr_assert(strstr(r.err, "use cluster-ctl reload"), "%s", r.err);
	ctl(&c, &r, "signal", "USR2", NULL, NULL);
	cr_assert_eq(code(&r), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "to 1 worker"), "%s", r.out);
	/* the helper does not catch USR2: the worker dies of it, and says so */
	cr_assert(cr_wait_line(c.cr, "killed by signal 12", 5000), "%s", c.cr->log);
	cr_assert_eq(cr_stop(c.cr, SIGTERM, 15000), 0, "%s", c.cr->log);
}
