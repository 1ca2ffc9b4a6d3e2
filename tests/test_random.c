/*
 * test_random.c - the random policy spreads uniformly: 2000 sequential
 * connections over 4 workers, each worker's count within 4 standard
 * deviations of 500 (binomial: sigma = sqrt(2000 * 1/4 * 3/4) = 19.4),
 * and Pearson's chi-square with 3 degrees of freedom under 21.1 (p = 1e-4).
 * It is not rr in disguise either: an exact 500 each is as unlikely.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <sys/wait.h>

TestSuite(random, .fini = harness_cleanup, .timeout = 120);

#define N 4
#define CONNS 2000

Test(random, uniform_within_statistical_bounds)
{
	struct cr *cr = cr_start(NULL, "-n", "4", "-p", "random", "--",
				 helper("event_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), i, exact = 0;
	double expect = CONNS / (double)N, sigma = sqrt(CONNS * 0.25 * 0.75), chi2 = 0;
	long per[N] = { 0 };
	char buf[4096];

	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < CONNS; i++) {
		int w;
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0,
			  "request %d failed", i);
		w = response_worker(buf);
		cr_assert(w >= 0 && w < N, "bad worker in:\n%s", buf);
		per[w]++;
	}
	cr_log_info("random split: %ld %ld %ld %ld", per[0], per[1], per[2], per[3]);
	for (i = 0; i < N; i++) {
		double d = per[i] - expect;
		cr_expect_leq(fabs(d), 4 * sigma, "worker %d served %ld of %d", i, per[i], CONNS);
		chi2 += d * d / expect;
		exact += per[i] == (long)expect;
	}
	cr_expect_lt(chi2, 21.1, "chi-square %.1f", chi2);
	cr_expect_lt(exact, N, "exactly %d each: a rotation, not a draw", CONNS / N);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0);
}
