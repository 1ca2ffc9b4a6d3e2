/*
 * test_shim_close_range.c - close_range(a, 199, 0) (no CLOSE_RANGE_CLOEXEC)
 * over a clustered listener that is registered in an epoll set, and over
 * the shim's own channel above it.  The shim keeps its own fds (a listener
 * bound afterwards is clustered), tells the master, and takes the closed
 * fd out of the program's epoll set: the master (and under shared every
 * worker) still holds the file, so the kernel would keep the registration
 * alive, and the program would get events for an fd it closed, with its
 * freed pointer in a real server (nginx deletes its events by hand for
 * this).  Clients then connect to the closed listener's port, where
 * nobody accepts, while the second listener, above the range, serves
 * (tests/helpers/shim_pitfalls.c, --pitfall close_range).
 */
#include "pitfall.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(shim_close_range, .fini = tmpdir_fini, .timeout = 120);

static void close_range_listener(const char *policy)
{
	char res[128], text[8192];
	int closed_port, port, queued[4], i;
	struct cr *cr;

	pitfall_result_path(res, "shim-close-range");
	cr = cr_start(NULL, "-n", "2", "-p", policy, "--", helper("shim_pitfalls"),
		      "--pitfall", "close_range", "--result", res, NULL);
	closed_port = cr_port(cr, 0, 20000);
	port = cr_port(cr, 1, 20000);
	cr_assert(closed_port > 0 && port > 0, "%s", cr->log);
	pitfall_expect(cr, res, "close_range: ok", 2, 20000, NULL);
	cr_assert_gt(cr_port(cr, 2, 10000), 0, "the listener bound after close_range was "
		     "not clustered\n%s", cr->log);
	/* readable, with nobody to accept, under the socket policies */
	for (i = 0; i < 4; i++)
		queued[i] = tcp_connect("127.0.0.1", closed_port, 5000);
	pitfall_all_serve(cr, port, 40, 2, !strcmp(policy, "rr"));
	read_file(res, text, sizeof(text));
	cr_assert(!strstr(text, ": bad"), "%s: %s\n%s", policy, text, cr->log);
	for (i = 0; i < 4; i++)
		if (queued[i] >= 0)
			close(queued[i]);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(shim_close_range, rr) { close_range_listener("rr"); }
Test(shim_close_range, shared) { close_range_listener("shared"); }
Test(shim_close_range, reuseport) { close_range_listener("reuseport"); }
