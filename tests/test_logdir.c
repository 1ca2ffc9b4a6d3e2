/*
 * test_logdir.c - --log-dir DIR: each slot's output goes to
 * DIR/worker-SLOT.log (whole lines, across restarts of the slot) and
 * cluster-run's own lines to DIR/cluster-run.log as well as stderr.  After
 * logrotate-style renames, SIGUSR1 makes cluster-run reopen the files by
 * name: later lines go to new files, none to the renamed ones.  The
 * workers need not hear of it (cluster-run writes their files itself);
 * test_usr1.c checks that they do not.  The wrapper ignores USR1 all the
 * same, as before --forward-usr1 existed.
 */
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(logdir, .fini = tmpdir_fini, .timeout = 60);

struct file_has {
	char path[128];
	const char *needle;
	char text[65536];
};

static int read_has(void *arg)
{
	struct file_has *f = arg;

	return read_file(f->path, f->text, sizeof(f->text)) >= 0 && strstr(f->text, f->needle) != NULL;
}

static void wait_file(struct file_has *f, const char *dir, const char *name, const char *needle)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
	f->needle = needle;
	cr_assert(wait_until(read_has, f, 15000), "%s: no '%s' in:\n%s", f->path, needle, f->text);
}

static const char wrapper[] =
	"trap '' USR1; echo \"start $CLUSTER_WORKER_ID $$\"; exec \"$0\" --port 0";

Test(logdir, files_per_slot_and_reopen_on_usr1)
{
	char dir[64], from[160], to[160], want[64];
	static struct file_has f;
	struct cr *cr;
	int i;

	tmpdir_new(dir, "cr-logdir");
	cr = cr_start(NULL, "-n", "2", "--log-dir", dir, "--", "/bin/sh", "-c", wrapper,
		      helper("blocking_server"), NULL);
	cr_assert(cr_ready_port(cr, 0, 15000) > 0, "%s", cr->log);
	for (i = 0; i < 2; i++) {
		snprintf(from, sizeof(from), "worker-%d.log", i);
		snprintf(want, sizeof(want), "start %d ", i);
		wait_file(&f, dir, from, want);
		wait_file(&f, dir, from, "listening 127.0.0.1");
		cr_assert(!strstr(f.text, i ? "start 0 " : "start 1 "), "%s", f.text);
	}
	wait_file(&f, dir, "cluster-run.log", "cluster-run: 2 workers listening\n");

	/* logrotate: rename, then USR1 */
	for (i = 0; i < 2; i++) {
		snprintf(from, sizeof(from), "%s/worker-%d.log", dir, i);
		snprintf(to, sizeof(to), "%s/worker-%d.log.1", dir, i);
		cr_assert_eq(rename(from, to), 0);
	}
	snprintf(from, sizeof(from), "%s/cluster-run.log", dir);
	snprintf(to, sizeof(to), "%s/cluster-run.log.1", dir);
	cr_assert_eq(rename(from, to), 0);
	kill(cr->pid, SIGUSR1);
	cr_assert(cr_wait_line(cr, "log files reopened", 10000), "%s", cr->log);
	wait_file(&f, dir, "cluster-run.log", "log files reopened");

	/* a reload writes to the new files only */
	kill(cr->pid, SIGHUP);
	cr_assert(cr_wait_line(cr, "reload complete", 20000), "%s", cr->log);
	wait_file(&f, dir, "cluster-run.log", "reload complete");
	for (i = 0; i < 2; i++) {
		snprintf(from, sizeof(from), "worker-%d.log", i);
		snprintf(want, sizeof(want), "start %d ", i);
		wait_file(&f, dir, from, want);
		snprintf(from, sizeof(from), "worker-%d.log.1", i);
		wait_file(&f, dir, from, want);
		cr_assert_eq(count_of(f.text, "start "), 1, "the renamed file got more:\n%s", f.text);
	}
	wait_file(&f, dir, "cluster-run.log.1", "workers listening");
	cr_assert(!strstr(f.text, "reload"), "the renamed file got more:\n%s", f.text);
	cr_assert(pid_alive(cr->pid), "USR1 stopped cluster-run:\n%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(logdir, missing_dir_is_a_usage_error)
{
	const char *argv[] = { cluster_run_path(), "--log-dir", "/nonexistent/logs", "--",
			       helper("blocking_server"), NULL };
	struct run r;

	run_capture(&r, argv, 10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2, "status 0x%x", r.status);
	cr_assert(strstr(r.err, "--log-dir /nonexistent/logs: No such file"), "%s", r.err);
}
