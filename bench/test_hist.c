/*
 * test_hist.c - the latency histogram: exact below 256 ns, under 1% off
 * above, exact min/max, and merging.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "hist.h"

static struct hist h;

static void setup(void)
{
	hist_init(&h);
}

TestSuite(hist, .init = setup);

Test(hist, empty)
{
	cr_assert_eq(hist_percentile(&h, 50), 0);
	cr_assert_eq(hist_mean(&h), 0.0);
}

Test(hist, small_values_are_exact)
{
	for (uint64_t v = 1; v <= 100; v++)
		hist_record(&h, v);
	cr_assert_eq(hist_percentile(&h, 50), 50);
	cr_assert_eq(hist_percentile(&h, 99), 99);
	cr_assert_eq(hist_percentile(&h, 100), 100);
	cr_assert_eq(h.min_ns, 1);
}

Test(hist, relative_error_under_one_percent)
{
	for (uint64_t v = 300; v < 1000000000000ull; v = v * 13 / 10) {
		hist_init(&h);
		hist_record(&h, v);
		hist_record(&h, v + 1000000000000ull);   /* keeps max away */
		uint64_t got = hist_percentile(&h, 50);
		double err = fabs((double)got - (double)v) / (double)v;
		cr_assert_lt(err, 0.01, "%llu read back as %llu", (unsigned long long)v,
			     (unsigned long long)got);
	}
}

Test(hist, percentiles_of_uniform_values)
{
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&h, v * 1000);
	double p50 = (double)hist_percentile(&h, 50);
	double p99 = (double)hist_percentile(&h, 99);
	cr_assert_lt(fabs(p50 - 50e6) / 50e6, 0.01);
	cr_assert_lt(fabs(p99 - 99e6) / 99e6, 0.01);
	cr_assert_eq(hist_percentile(&h, 100), 100000000);
	cr_assert_lt(fabs(hist_mean(&h) - 50000500.0), 1.0);
}

Test(hist, huge_values_clamp_but_max_stays_exact)
{
	hist_record(&h, UINT64_MAX / 2);
	cr_assert_eq(h.max_ns, UINT64_MAX / 2);
	cr_assert_eq(hist_percentile(&h, 100), UINT64_MAX / 2);
}

Test(hist, merge)
{
	struct hist other;
	hist_init(&other);
	hist_record(&h, 10);
	hist_record(&other, 20);
	hist_record(&other, 5);
	hist_merge(&h, &other);
	cr_assert_eq(h.total, 3);
	cr_assert_eq(h.min_ns, 5);
	cr_assert_eq(h.max_ns, 20);
	cr_assert_eq(hist_percentile(&h, 50), 10);
}
