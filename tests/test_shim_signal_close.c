/*
 * test_shim_signal_close.c - a signal handler closes a clustered listener
 * (a dup of it) while the interrupted thread is inside a hooked call on
 * the same listener (dup, close, getsockopt, fcntl): thousands of times
 * from a 5 kHz timer.  close() is async-signal-safe, so the shim's must be:
 * it took the fd table's mutex, and a handler that interrupted a holder
 * waited for itself.  tests/helpers/shim_pitfalls.c, --pitfall
 * handler_close; its watchdog child writes the verdict on a deadlock.
 */
#include "pitfall.h"

#include <signal.h>
#include <sys/wait.h>

TestSuite(shim_signal_close, .fini = tmpdir_fini, .timeout = 120);

static void close_in_handler(const char *policy)
{
	char res[128];
	struct cr *cr;
	int port;

	pitfall_result_path(res, "shim-signal-close");
	cr = cr_start(NULL, "-n", "1", "-p", policy, "--", helper("shim_pitfalls"),
		      "--pitfall", "handler_close", "--result", res, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "%s", cr->log);
	pitfall_expect(cr, res, "handler_close: ok", 1, 45000, NULL);
	pitfall_all_serve(cr, port, 4, 1, 1);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(shim_signal_close, rr) { close_in_handler("rr"); }
Test(shim_signal_close, shared) { close_in_handler("shared"); }
Test(shim_signal_close, reuseport) { close_in_handler("reuseport"); }
