/*
 * test_shim_fork_bind.c - fork() in one thread while another thread's
 * bind() waits for the master.  The test stops the master (SIGSTOP), so
 * the bind cannot be answered, and has the worker (SIGUSR2) start a
 * thread that binds a second address and then fork from its main thread:
 * fork must return at once (it waited for the master's answer when the
 * shim's fork handler took the lock the bind held).  Once the master is
 * continued, the thread's bind and a bind in the forked child both
 * complete clustered (tests/helpers/shim_pitfalls.c, --pitfall fork_bind;
 * its watchdog child writes the verdict if fork does not return in 10 s).
 */
#include "pitfall.h"

#include <signal.h>
#include <sys/wait.h>

TestSuite(shim_fork_bind, .fini = tmpdir_fini, .timeout = 120);

static void fork_while_binding(const char *policy)
{
	struct cr_workers w = { .want = 1 };
	char res[128];
	struct cr *cr;
	int port;

	pitfall_result_path(res, "shim-fork-bind");
	cr = cr_start(NULL, "-n", "1", "-p", policy, "--", helper("shim_pitfalls"),
		      "--pitfall", "fork_bind", "--result", res, NULL);
	w.cr = cr;
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "%s", cr->log);
	cr_assert(wait_until(cr_have_workers, &w, 10000), "%s", cr->log);
	cr_assert_eq(kill(cr->pid, SIGSTOP), 0);
	kill(w.slot_pid[0], SIGUSR2);
	{
		struct pitfall_wait pw = { .path = res, .needle = "fork_bind: forked", .count = 1 };

		wait_until(pitfall_seen, &pw, 20000);
		kill(cr->pid, SIGCONT);
	}
	pitfall_expect(cr, res, "fork_bind: forked", 1, 1000, NULL);
	pitfall_expect(cr, res, "fork_bind: ok", 1, 40000, NULL);
	pitfall_expect(cr, res, "fork_bind: thread bound port", 1, 1000, NULL);
	pitfall_expect(cr, res, "fork_bind: child bound port", 1, 1000, NULL);
	cr_assert_gt(cr_port(cr, 1, 10000), 0, "the thread's listener was not clustered\n%s",
		     cr->log);
	pitfall_all_serve(cr, port, 4, 1, 1);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(shim_fork_bind, rr) { fork_while_binding("rr"); }
Test(shim_fork_bind, shared) { fork_while_binding("shared"); }
Test(shim_fork_bind, reuseport) { fork_while_binding("reuseport"); }
