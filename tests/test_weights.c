/*
 * test_weights.c - --weights 3,1,1 (and a fourth slot beyond the list,
 * which weighs 1): over 3000 connections the shares are 3/6, 1/6, 1/6,
 * 1/6 within 3 points, under rr (smooth weighted round robin) and under
 * leastconn (idle workers tie, and ties go by weighted round robin; under
 * load open/weight decides, within 10 points: see leastconn_under_load).
 * Bad lists: one line, exit status 2.
 */
#include "harness.h"
#include "policy_setup.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(weights, .fini = harness_cleanup, .timeout = 150);

static const double want[4] = { 0.5, 1 / 6.0, 1 / 6.0, 1 / 6.0 };

/* Each worker's share within `band` (a fraction) of its weight's. */
static void check_shares(const char *what, const long *per, long total, double band)
{
	int i;

	cr_log_info("%s: %ld %ld %ld %ld of %ld", what, per[0], per[1], per[2], per[3], total);
	for (i = 0; i < 4; i++)
		cr_expect_leq(fabs(per[i] / (double)total - want[i]), band,
			      "%s: worker %d served %ld of %ld (want %.0f%% +- %.0f)", what, i,
			      per[i], total, want[i] * 100, band * 100);
}

static void sequential(const char *policy)
{
	struct cr *cr = cr_start(NULL, "-n", "4", "-p", policy, "--weights", "3,1,1", "--",
				 helper("event_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000);
	long per[4] = { 0 };

	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(serve_sequential(port, 3000, per, 4), 0, "%s", cr->log);
	check_shares(policy, per, 3000, 0.03);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0);
}

Test(weights, rr_sequential) { sequential("rr"); }
Test(weights, leastconn_sequential) { sequential("leastconn"); }

/* 12 concurrent clients, every reply delayed 20 ms: workers hold several
 * connections at once, and leastconn keeps open/weight level.  12 in
 * flight split 6/2/2/2 exactly; with 8 (4/1.3/1.3/1.3 cannot be had in
 * whole connections) worker 0 got 46.6%, a true property, not noise.
 *
 * Hence a band of 10 points, not 3: on a busy machine the clients are
 * descheduled and fewer than 12 connections are in flight at a time, and
 * the split of a small number is coarse (5 in flight: 2/1/1/1, 40%); it
 * once gave 46.7%.  Weights ignored would give worker 0 25%, still far
 * outside.  The exact proportions are test_pick.c's, in process, where
 * nothing is scheduled. */
Test(weights, leastconn_under_load)
{
	struct cr *cr = cr_start(NULL, "-n", "4", "-p", "leastconn", "--weights", "3,1,1", "--",
				 helper("event_server"), "--slow-ms", "20", NULL);
	int port = cr_ready_port(cr, 0, 10000);
	long ok, failed, per[16];
	struct load *l;

	cr_assert(port > 0, "%s", cr->log);
	l = load_start(port, 12);
	while (load_ok_so_far(l) < 3000)
		sleep_ms(10);
	load_stop(l, &ok, &failed, per);
	cr_assert_eq(failed, 0);
	check_shares("leastconn under load", per, ok, 0.10);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0);
}

Test(weights, bad_lists_are_usage_errors)
{
	static const char *const bad[] = { "", "0", "2,,1", "1,-1", "x", "2,1,", "1.5" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = { cluster_run_path(), "--weights", bad[i], "true", NULL };
		struct run r;

		run_capture(&r, argv, 5000, NULL, NULL);
		cr_expect_eq(WEXITSTATUS(r.status), 2, "--weights '%s': status %d", bad[i],
			     r.status);
		cr_expect_eq(count_of(r.err, "\n"), 1, "--weights '%s': %s", bad[i], r.err);
	}
	{
		const char *argv[] = { cluster_run_path(), "-p", "shared", "--weights", "2",
				       "true", NULL };
		struct run r;

		run_capture(&r, argv, 5000, NULL, NULL);
		cr_expect_eq(WEXITSTATUS(r.status), 2, "--weights with shared: status %d", r.status);
	}
}
