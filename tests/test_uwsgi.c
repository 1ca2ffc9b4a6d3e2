/*
 * test_uwsgi.c - uwsgi's prefork master as one worker (issue 20, part 5).
 *
 * `uwsgi --master --processes 2` is one slot: its master binds (through
 * the shim) and forks two processes that accept on the shared socket.
 * uwsgi 2.0 takes SIGTERM as a "brutal reload": it kills its processes
 * and re-execs itself, so cluster-run's stop signal never stopped it, and
 * every reload and stop waited out --grace (20 s for a two-slot reload,
 * 10 s for a stop).  cluster-run now sees the re-exec (every process let
 * go of the doorbell while the worker is still there: retire.c) and kills
 * it at once; it had drained before the signal.
 *
 * With --grace 60, a reload must complete within 30 s, without the
 * drain's "still busy after" line (-v) nor the kill timer's "still
 * running" one, and the requests before and after it are answered; then
 * a stop must end cluster-run with status 0, as quickly.  Known to fail
 * now and then (about one run in five to ten, more under a concurrent
 * load): the old master re-execs but its doorbell never closes, and the
 * slot waits out --grace; open, see docs-pending/stopq.md.
 * Skipped where uwsgi or its python3 plugin is absent.  (--disable-logging
 * only keeps uwsgi's request lines out of the captured log.)
 */
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(uwsgi, .fini = tmpdir_fini, .timeout = 120);

static const char app[] =
	"def application(env, start_response):\n"
	"    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
	"    return [b'hello\\n']\n";

/* uwsgi with its python3 plugin, or skip. */
static void need_uwsgi(void)
{
	static const char *const plugins[] = {
		"/usr/lib/uwsgi/plugins/python3_plugin.so",
		"/usr/lib64/uwsgi/python3_plugin.so",
	};
	size_t i;

	if (!have_program("uwsgi"))
		cr_skip_test("uwsgi is not installed");
	for (i = 0; i < sizeof(plugins) / sizeof(plugins[0]); i++)
		if (access(plugins[i], R_OK) == 0)
			return;
	cr_skip_test("uwsgi's python3 plugin is not installed (uwsgi-plugin-python3)");
}

/* cluster-run -n 2 -p shared -- uwsgi ... --master --processes 2; ready. */
static struct cr *start_uwsgi(const char *sock_opt, int *port)
{
	char dir[64], path[128];
	struct cr *cr;
	FILE *f;

	need_uwsgi();
	tmpdir_new(dir, "cr-uwsgi");
	snprintf(path, sizeof(path), "%s/app.py", dir);
	f = fopen(path, "w");
	cr_assert(f && fputs(app, f) >= 0 && fclose(f) == 0, "%s", path);
	cr = cr_start(NULL, "-v", "-n", "2", "-p", "shared", "--grace", "60", "--",
		      "uwsgi", "--plugin", "python3", sock_opt, "127.0.0.1:0", "--master",
		      "--processes", "2", "--disable-logging", "--wsgi-file", path, NULL);
	*port = cr_ready_port(cr, 0, 20000);
	cr_assert(*port > 0, "uwsgi did not start:\n%s", cr->log);
	return cr;
}

static void no_grace_waited(struct cr *cr, const char *when)
{
	cr_assert(!strstr(cr->log, "still busy after"), "%s: a drain waited out --grace\n%s",
		  when, cr->log);
	cr_assert(!strstr(cr->log, "still running"), "%s: the stop waited out --grace\n%s",
		  when, cr->log);
}

/* n requests one after another: how many were answered 200. */
static int requests(int port, int n)
{
	char buf[4096];
	int i, ok = 0;

	for (i = 0; i < n; i++)
		ok += http_get("127.0.0.1", port, buf, sizeof(buf), 5000) >= 0 &&
		      strstr(buf, " 200 ") != NULL;
	return ok;
}

Test(uwsgi, reload_and_stop_without_the_grace)
{
	int port, st, ok;
	struct cr *cr = start_uwsgi("--http-socket", &port);

	ok = requests(port, 20);
	cr_assert_eq(kill(cr->pid, SIGHUP), 0);
	cr_assert(cr_wait_line(cr, "reload complete", 30000), "the reload did not complete "
		  "in 30 s (--grace 60)\n%s", cr->log);
	ok += requests(port, 20);
	cr_assert_eq(ok, 40, "%d of 40 requests answered around the reload\n%s", ok, cr->log);
	no_grace_waited(cr, "reload");

	cr_assert_eq(kill(cr->pid, SIGTERM), 0);
	st = cr_wait_exit(cr, 30000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "status 0x%x 30 s after TERM (--grace 60)\n%s", st, cr->log);
	no_grace_waited(cr, "stop");
	cr_assert_eq(count_of(cr->log, "exec'd a new program on the stop signal"), 4,
		     "each of the four uwsgi masters re-exec'd on TERM and was killed\n%s",
		     cr->log);
}
