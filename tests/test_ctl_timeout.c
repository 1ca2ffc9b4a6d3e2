/*
 * test_ctl_timeout.c - cluster-ctl never waits for ever.  A master stopped
 * with SIGSTOP still has its control socket accept connections (the kernel
 * queues them), so a client that only waits for the answer used to block
 * for good.  Now a command that answers at once gives up after the
 * default timeout, and `reload --wait` (which may rightly take longer
 * than any default) once the master has been stopped that long: one line
 * on stderr, exit status 3.  Once continued, the master answers again.
 * The tests assert the status and the line, not the time taken.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(ctl_timeout, .fini = tmpdir_fini, .timeout = 120);

struct stopped_master {
	struct cr *cr;
	char dir[64];
	char sock[96];
};

static void start(struct stopped_master *m)
{
	tmpdir_new(m->dir, "cr-ctl-timeout");
	snprintf(m->sock, sizeof(m->sock), "%s/c.sock", m->dir);
	m->cr = cr_start(NULL, "-n", "1", "--control", m->sock, "--",
			 helper("blocking_server"), "--port", "0", NULL);
	cr_assert(cr_ready_port(m->cr, 0, 15000) > 0, "%s", m->cr->log);
}

static int ctl(struct stopped_master *m, struct run *r, const char *cmd, const char *arg)
{
	const char *argv[] = { cluster_ctl_path(), "-s", m->sock, cmd, arg, NULL };

	run_capture(r, argv, 60000, NULL, NULL);
	cr_assert(r->status >= 0, "cluster-ctl %s was still waiting after 60 s", cmd);
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

static void one_line(const struct run *r, const char *needle)
{
	cr_assert_eq(count_of(r->err, "\n"), 1, "not one line:\n%s", r->err);
	cr_assert(strstr(r->err, needle), "no '%s' in:\n%s", needle, r->err);
	cr_assert_str_empty(r->out);
}

Test(ctl_timeout, status_against_a_stopped_master)
{
	struct stopped_master m;
	struct run r;

	start(&m);
	cr_assert_eq(kill(m.cr->pid, SIGSTOP), 0);
	cr_assert_eq(ctl(&m, &r, "status", NULL), 3, "%s%s", r.out, r.err);
	one_line(&r, "no answer from cluster-run");
	cr_assert_eq(kill(m.cr->pid, SIGCONT), 0);
	cr_assert_eq(ctl(&m, &r, "status", NULL), 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "1 worker"), "%s", r.out);
	cr_assert_eq(WEXITSTATUS(cr_stop(m.cr, SIGTERM, 15000)), 0, "%s", m.cr->log);
}

Test(ctl_timeout, reload_wait_against_a_stopped_master)
{
	struct stopped_master m;
	struct run r;

	start(&m);
	cr_assert_eq(kill(m.cr->pid, SIGSTOP), 0);
	cr_assert_eq(ctl(&m, &r, "reload", "--wait"), 3, "%s%s", r.out, r.err);
	one_line(&r, "has been stopped for");
	cr_assert_eq(kill(m.cr->pid, SIGCONT), 0);
	/* the reload was sent: it happens once the master runs */
	cr_assert(cr_wait_line(m.cr, "reload complete", 30000), "%s", m.cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(m.cr, SIGTERM, 15000)), 0, "%s", m.cr->log);
}
