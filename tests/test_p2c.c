/*
 * test_p2c.c - p2c never gives a connection to the busier of its two
 * draws.  Deterministic set-up: one worker first (-n 1) takes 10 idle
 * connections (connected, nothing sent: event_server keeps them open),
 * then SIGTTIN three times adds three idle workers.  Every draw of two
 * now includes an idle worker or two idle workers, so worker 0, holding
 * 10, must get nothing of 300 sequential connections; rr would give it a
 * quarter.  (A close the shim has not counted yet makes a worker look 1
 * busier for a moment: 10 keeps worker 0 far above that.)
 */
#include "harness.h"
#include "policy_setup.h"

#include <criterion/criterion.h>
#include <sys/wait.h>

TestSuite(p2c, .fini = harness_cleanup, .timeout = 120);

Test(p2c, never_the_busier_of_two)
{
	struct busy_one b;
	long per[4] = { 0 };

	busy_one_start(&b, "p2c");
	cr_assert_eq(serve_sequential(b.port, 300, per, 4), 0, "%s", b.cr->log);
	cr_log_info("p2c: %ld %ld %ld %ld", per[0], per[1], per[2], per[3]);
	cr_assert_eq(per[0], 0, "the worker holding 10 connections got %ld of 300", per[0]);
	cr_expect(per[1] > 30 && per[2] > 30 && per[3] > 30, "%ld %ld %ld", per[1], per[2], per[3]);
	busy_one_stop(&b);
}

/* Two workers alike, concurrent load: p2c spreads (each of two gets some). */
Test(p2c, spreads_when_alike)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", "p2c", "--",
				 helper("event_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000);
	long ok, failed, per[16];
	struct load *l;

	cr_assert(port > 0, "%s", cr->log);
	l = load_start(port, 4);
	while (load_ok_so_far(l) < 600)
		sleep_ms(10);
	load_stop(l, &ok, &failed, per);
	cr_assert_eq(failed, 0);
	cr_expect(per[0] * 100 >= ok * 30 && per[1] * 100 >= ok * 30,
		  "split %ld / %ld of %ld", per[0], per[1], ok);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0);
}
