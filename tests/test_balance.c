/*
 * test_balance.c - rr spreads connections evenly: with 3 workers, 1000
 * connection-per-request requests, no worker serves more than 40%.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <sys/wait.h>

TestSuite(balance, .fini = harness_cleanup, .timeout = 120);

Test(balance, rr_three_workers_1000_requests)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", "rr", "--",
				 helper("event_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), i;
	long per[3] = { 0 };
	char buf[4096];

	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < 1000; i++) {
		int w;
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0,
			  "request %d failed", i);
		w = response_worker(buf);
		cr_assert(w >= 0 && w < 3, "bad worker in:\n%s", buf);
		per[w]++;
	}
	for (i = 0; i < 3; i++)
		cr_expect_leq(per[i], 400, "worker %d served %ld of 1000", i, per[i]);
	cr_log_info("rr split: %ld %ld %ld", per[0], per[1], per[2]);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0);
}

/* Concurrent clients: still even, and nothing fails. */
Test(balance, rr_concurrent_clients)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", "rr", "--",
				 helper("event_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), i;
	long ok, failed, per[16];
	struct load *l;

	cr_assert(port > 0);
	l = load_start(port, 6);
	while (load_ok_so_far(l) < 1500)
		sleep_ms(10);
	load_stop(l, &ok, &failed, per);
	cr_assert_eq(failed, 0);
	for (i = 0; i < 3; i++)
		cr_expect_leq(per[i] * 100, ok * 40, "worker %d served %ld of %ld", i, per[i], ok);
}
