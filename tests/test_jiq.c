/*
 * test_jiq.c - join-idle-queue: an idle worker gets the connection while
 * there is one.  With worker 0 holding 10 open connections and three idle
 * workers (the set-up of test_p2c.c), worker 0 gets nothing of 300.  When
 * every worker is idle between sequential requests, the scan starts after
 * the last pick, so the spread is a rotation: exactly even.
 */
#include "harness.h"
#include "policy_setup.h"

#include <criterion/criterion.h>
#include <sys/wait.h>

TestSuite(jiq, .fini = harness_cleanup, .timeout = 120);

Test(jiq, prefers_idle_workers)
{
	struct busy_one b;
	long per[4] = { 0 };

	busy_one_start(&b, "jiq");
	cr_assert_eq(serve_sequential(b.port, 300, per, 4), 0, "%s", b.cr->log);
	cr_log_info("jiq: %ld %ld %ld %ld", per[0], per[1], per[2], per[3]);
	cr_assert_eq(per[0], 0, "the busy worker got %ld of 300", per[0]);
	cr_expect(per[1] > 60 && per[2] > 60 && per[3] > 60, "%ld %ld %ld", per[1], per[2], per[3]);
	busy_one_stop(&b);
}

Test(jiq, rotates_among_idle_workers)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", "jiq", "--",
				 helper("event_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), i;
	long per[3] = { 0 };

	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(serve_sequential(port, 600, per, 3), 0, "%s", cr->log);
	for (i = 0; i < 3; i++)
		cr_expect(per[i] >= 150 && per[i] <= 250, "worker %d served %ld of 600", i, per[i]);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0);
}
