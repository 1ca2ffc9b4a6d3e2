/*
 * test_saved_env.c - CLUSTER_RUN_FD and LD_PRELOAD leak into programs a
 * worker starts from a copy of its environment saved before it bound
 * (Python's env=dict(os.environ), Java's ProcessBuilder).  The variable
 * carries the doorbell's inode, so the shim in such a program stays
 * inactive even when that fd number is open on another SEQPACKET socket:
 * the program binds a port of its own and the socket receives nothing
 * (the check runs inside the helper, tests/helpers/saved_env.c).
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>

TestSuite(saved_env, .fini = harness_cleanup, .timeout = 60);

static void saved_env(const char *policy)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "-p", policy, "--", helper("saved_env"),
				 "--port", "0", NULL);
	const char *verdict;
	char buf[1024];
	int port = cr_ready_port(cr, 0, 20000);

	cr_assert_gt(port, 0, "%s", cr->log);
	verdict = cr_wait_line(cr, "saved-env: ", 20000);
	cr_assert(verdict, "no verdict from the helper:\n%s", cr->log);
	cr_assert(!strncmp(verdict, "saved-env: ok", 13), "%s", cr->log);
	cr_assert_geq(http_get("127.0.0.1", port, buf, sizeof(buf), 5000), 0, "%s", cr->log);
	cr_assert_eq(cr_stop(cr, SIGTERM, 10000), 0, "%s", cr->log);
}

Test(saved_env, rr) { saved_env("rr"); }
Test(saved_env, shared) { saved_env("shared"); }
