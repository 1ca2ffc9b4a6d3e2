/*
 * test_shim_dup2.c - dup2() onto fds the shim tracks.
 *
 *   onto a listener: dup2 over a dup of it leaves a plain fd (no longer
 *   answered for as a socket), dup2 of it onto a plain fd makes a
 *   listener; and both again from a 5 kHz timer's signal handler while
 *   the main thread is inside hooked calls on the listener (dup2 is
 *   async-signal-safe: the shim's must not take a lock the interrupted
 *   code may hold);
 *   onto the doorbell: a wrapper that has not bound yet dup2()s over the
 *   doorbell's number from a signal handler while it allocates and sets
 *   its environment (the shim rewrote CLUSTER_RUN_FD there with setenv,
 *   which takes malloc's and the environment's locks), then execs the
 *   server, which must find the moved doorbell and be clustered.
 *
 * tests/helpers/shim_pitfalls.c, --pitfall handler_dup2 and doorbell_dup2;
 * a watchdog child writes the verdict on a deadlock.
 */
#include "pitfall.h"

#include <signal.h>
#include <sys/wait.h>

TestSuite(shim_dup2, .fini = tmpdir_fini, .timeout = 120);

static void onto_listener(const char *policy)
{
	char res[128];
	struct cr *cr;
	int port;

	pitfall_result_path(res, "shim-dup2");
	cr = cr_start(NULL, "-n", "1", "-p", policy, "--", helper("shim_pitfalls"),
		      "--pitfall", "handler_dup2", "--result", res, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "%s", cr->log);
	pitfall_expect(cr, res, "handler_dup2: ok", 1, 45000, NULL);
	pitfall_all_serve(cr, port, 4, 1, 1);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

static void onto_doorbell(const char *policy)
{
	char res[128];
	struct cr *cr;
	int port;

	pitfall_result_path(res, "shim-dup2-doorbell");
	cr = cr_start(NULL, "-n", "2", "-p", policy, "--", helper("shim_pitfalls"),
		      "--pitfall", "doorbell_dup2", "--result", res, NULL);
	pitfall_expect(cr, res, "doorbell_dup2: ok", 2, 45000, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "the exec'd server was not clustered\n%s", cr->log);
	cr_assert(cr_wait_line(cr, "2 workers listening", 10000), "%s", cr->log);
	pitfall_all_serve(cr, port, 10, 2, !strcmp(policy, "rr"));
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(shim_dup2, listener_rr) { onto_listener("rr"); }
Test(shim_dup2, listener_shared) { onto_listener("shared"); }
Test(shim_dup2, listener_reuseport) { onto_listener("reuseport"); }
Test(shim_dup2, doorbell_rr) { onto_doorbell("rr"); }
Test(shim_dup2, doorbell_shared) { onto_doorbell("shared"); }
