/*
 * test_usr1.c - USR1 is cluster-run's own (it reopens the --log-dir files)
 * and reaches the workers only with --forward-usr1 (README, "Signals").
 * Node answers USR1 by opening its inspector on 127.0.0.1:9229, which
 * cluster-run used to cluster and announce as one of the program's
 * listeners: against a Node cluster, USR1 opens no inspector (no
 * "Debugger listening" line, no announcement of 9229, nothing new on
 * that port) under every policy, and with --forward-usr1 every worker
 * gets it.  Skipped without node.
 *
 * Absence needs a barrier: after USR1 the test sends WINCH, which is
 * forwarded (USR2 was, until it became the master's in-place upgrade),
 * and waits until every worker printed that it got it.  The master reads
 * pending signals lowest number first, USR1 (10) before WINCH (28).  Node
 * starts its inspector from its event loop and waits there until the
 * inspector's thread listens (and has printed "Debugger listening"), so a
 * worker that got the USR1 first says so before it can answer the WINCH.
 */
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(usr1, .fini = tmpdir_fini, .timeout = 90);

#define INSPECTOR_PORT 9229

static const char node_script[] =
	"require('http').createServer((q, s) => {"
	" s.setHeader('X-Worker', process.env.CLUSTER_WORKER_ID);"
	" s.end('pid=' + process.pid + '\\n');"
	"}).listen(0, '127.0.0.1');"
	"process.on('SIGWINCH', () => console.error('winch at ' + process.env.CLUSTER_WORKER_ID))";

/* One answer from each of the n workers: their event loops ran since
 * whatever happened before (a USR1 they would have acted on). */
static void each_worker_answers(int port, int n)
{
	int seen = 0, tries, slot;
	pid_t pid;

	for (tries = 0; tries < 200 && seen != (1 << n) - 1; tries++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "a request failed");
		if (slot >= 0 && slot < n)
			seen |= 1 << slot;
	}
	cr_assert_eq(seen, (1 << n) - 1, "not every worker answered");
}

static void usr1_not_forwarded(const char *policy)
{
	int was_free = port_free(INSPECTOR_PORT, 0), port;
	struct cr *cr;

	if (!have_program("node"))
		cr_skip_test("node is not installed");
	cr = cr_start(NULL, "-n", "2", "-p", policy, "--", "node", "-e", node_script, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert(port > 0, "%s", cr->log);
	kill(cr->pid, SIGUSR1);
	kill(cr->pid, SIGWINCH);        /* the master reads USR1 first */
	cr_assert(cr_wait_count(cr, "winch at ", 2, 10000), "%s", cr->log);
	cr_assert(!strstr(cr->log, "Debugger listening"), "a worker got USR1:\n%s", cr->log);
	cr_assert(strstr(cr->log, "USR1: no --log-dir files to reopen"), "%s", cr->log);
	each_worker_answers(port, 2);
	cr_assert(!strstr(cr->log, ":9229 (tcp)"), "the inspector was clustered:\n%s", cr->log);
	if (was_free)
		cr_assert(port_free(INSPECTOR_PORT, 0), "something listens on 9229 now");
	cr_assert(!strstr(cr->log, "exited"), "a worker exited:\n%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(usr1, node_gets_no_usr1_rr) { usr1_not_forwarded("rr"); }
Test(usr1, node_gets_no_usr1_shared) { usr1_not_forwarded("shared"); }
Test(usr1, node_gets_no_usr1_reuseport) { usr1_not_forwarded("reuseport"); }

struct file_text {
	char path[128];
	char text[16384];
};

static int has_winch(void *arg)
{
	struct file_text *f = arg;

	return read_file(f->path, f->text, sizeof(f->text)) >= 0 && strstr(f->text, "winch at ");
}

/* With --log-dir, USR1 reopens the files and still goes no further. */
Test(usr1, reopens_logs_only)
{
	static struct file_text f;
	char dir[64];
	struct cr *cr;
	int port, i;

	if (!have_program("node"))
		cr_skip_test("node is not installed");
	tmpdir_new(dir, "cr-usr1");
	cr = cr_start(NULL, "-n", "2", "--log-dir", dir, "--", "node", "-e", node_script, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert(port > 0, "%s", cr->log);
	kill(cr->pid, SIGUSR1);
	cr_assert(cr_wait_line(cr, "log files reopened", 10000), "%s", cr->log);
	kill(cr->pid, SIGWINCH);
	for (i = 0; i < 2; i++) {
		snprintf(f.path, sizeof(f.path), "%s/worker-%d.log", dir, i);
		cr_assert(wait_until(has_winch, &f, 10000), "%s:\n%s", f.path, f.text);
		cr_assert(!strstr(f.text, "Debugger listening"), "worker %d got USR1:\n%s", i, f.text);
	}
	each_worker_answers(port, 2);
	cr_assert(!strstr(cr->log, ":9229 (tcp)"), "the inspector was clustered:\n%s", cr->log);
	cr_assert(!strstr(cr->log, "USR1: no --log-dir"), "%s", cr->log);
	cr_assert(!strstr(cr->log, "exited"), "a worker exited:\n%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* --forward-usr1: every worker gets it (and Node does what it does). */
Test(usr1, forwarded_when_asked)
{
	struct cr *cr;
	int port;

	if (!have_program("node"))
		cr_skip_test("node is not installed");
	cr = cr_start(NULL, "-n", "2", "--forward-usr1", "--", "node", "-e", node_script, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert(port > 0, "%s", cr->log);
	kill(cr->pid, SIGUSR1);
	/* "Debugger listening", or "Starting inspector ... failed" when
	 * something else holds 9229: either way the worker got USR1 */
	cr_assert(cr_wait_count(cr, "Debugger listening", 2, 15000) ||
		  count_of(cr->log, "Debugger listening") + count_of(cr->log, "Starting inspector") >= 2,
		  "USR1 did not reach both workers:\n%s", cr->log);
	cr_assert(!strstr(cr->log, "USR1: no --log-dir"), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}
