/*
 * test_shim_spawn.c - children a clustered server starts with vfork()
 * (Python's subprocess) and posix_spawn() (system(), most runtimes) run
 * unclustered and leave the parent's listener alone.  A vfork() child
 * shares the parent's memory and runs no fork handlers: what it does to
 * its own fds before exec (dup2 over the listener's number, a look at it,
 * close_range from 3) must not edit the parent's table of clustered fds.
 * The exec'd probe checks it has no shim and that the port is the
 * master's (EADDRINUSE); the parent then checks its listener answers as
 * before and serves (tests/helpers/shim_pitfalls.c, --pitfall spawn).
 */
#include "pitfall.h"

#include <signal.h>
#include <sys/wait.h>

TestSuite(shim_spawn, .fini = tmpdir_fini, .timeout = 120);

static void spawn(const char *policy)
{
	char res[128];
	struct cr *cr;
	int port;

	pitfall_result_path(res, "shim-spawn");
	cr = cr_start(NULL, "-n", "2", "-p", policy, "--", helper("shim_pitfalls"),
		      "--pitfall", "spawn", "--result", res, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "%s", cr->log);
	pitfall_expect(cr, res, "spawn: ok", 2, 20000, NULL);
	pitfall_all_serve(cr, port, 20, 2, !strcmp(policy, "rr"));
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(shim_spawn, rr) { spawn("rr"); }
Test(shim_spawn, shared) { spawn("shared"); }
Test(shim_spawn, reuseport) { spawn("reuseport"); }
Test(shim_spawn, leastconn) { spawn("leastconn"); }
Test(shim_spawn, sticky) { spawn("sticky"); }
Test(shim_spawn, random) { spawn("random"); }
Test(shim_spawn, p2c) { spawn("p2c"); }
Test(shim_spawn, jiq) { spawn("jiq"); }
