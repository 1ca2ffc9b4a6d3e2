/*
 * test_histogram.c - the quantile of a fixed-bucket histogram (the
 * launcher's base/histogram.c), as status --json shows p50 and p99 of a
 * worker's connection durations: Prometheus' histogram_quantile()
 * arithmetic (linear inside the bucket the rank falls in, 0 as the first
 * bucket's lower bound, the last finite bound for the open bucket), on
 * the board's own bounds (protocol.h), in process.
 */
#include "base/histogram.h"
#include "wire/protocol.h"

#include <criterion/criterion.h>
#include <stdint.h>

TestSuite(histogram, .timeout = 10);

#define N BOARD_DURATION_BUCKETS

static double le_ms[N - 1];

static void bounds(void)
{
	for (int i = 0; i < N - 1; i++)
		le_ms[i] = (double)board_duration_bound_us(i) / 1000.0;
}

static void near(double got, double want)
{
	cr_assert(got > want - 1e-9 && got < want + 1e-9, "got %.6f, want %.6f", got, want);
}

Test(histogram, empty_is_unknown)
{
	uint64_t c[N] = { 0 };

	bounds();
	near(histogram_quantile(c, le_ms, N, 0.5), -1);
	near(histogram_quantile(c, le_ms, N, 0.99), -1);
}

/* The board's bounds: 1 ms to 60 s, log-spaced, and a duration goes to
 * the first bucket whose bound is not below it (le: inclusive). */
Test(histogram, board_buckets)
{
	bounds();
	near(le_ms[0], 1);
	near(le_ms[6], 100);
	near(le_ms[N - 2], 60000);
	cr_assert_eq(board_duration_bound_us(N - 1), UINT64_MAX);
	cr_assert_eq(board_duration_bucket(0), 0);
	cr_assert_eq(board_duration_bucket(1000), 0);
	cr_assert_eq(board_duration_bucket(1001), 1);
	cr_assert_eq(board_duration_bucket(200000), 7);        /* (100, 250] ms */
	cr_assert_eq(board_duration_bucket(60000000), N - 2);
	cr_assert_eq(board_duration_bucket(60000001), N - 1);  /* +Inf */
	for (int i = 1; i < N - 1; i++)
		cr_assert_gt(le_ms[i], le_ms[i - 1]);
}

/* All in one bucket: the quantile moves linearly across it. */
Test(histogram, interpolates_inside_the_bucket)
{
	uint64_t c[N] = { 0 };

	bounds();
	c[7] = 10;              /* (100, 250] ms */
	near(histogram_quantile(c, le_ms, N, 0.5), 175);
	near(histogram_quantile(c, le_ms, N, 0.1), 115);
	near(histogram_quantile(c, le_ms, N, 1.0), 250);
	c[7] = 0;
	c[0] = 4;               /* (0, 1] ms: from 0 */
	near(histogram_quantile(c, le_ms, N, 0.5), 0.5);
	near(histogram_quantile(c, le_ms, N, 0.25), 0.25);
}

/* Two buckets: the rank picks the bucket, then its place in it. */
Test(histogram, rank_picks_the_bucket)
{
	uint64_t c[N] = { 0 };

	bounds();
	c[1] = 90;              /* (1, 2.5] ms */
	c[7] = 10;              /* (100, 250] ms */
	/* rank 50 of 100: the 50th of 90 in (1, 2.5] */
	near(histogram_quantile(c, le_ms, N, 0.5), 1 + 1.5 * 50.0 / 90.0);
	/* rank 90: the last of the first bucket, its upper bound */
	near(histogram_quantile(c, le_ms, N, 0.9), 2.5);
	/* rank 99: the 9th of 10 in (100, 250] */
	near(histogram_quantile(c, le_ms, N, 0.99), 100 + 150 * 9.0 / 10.0);
}

/* Empty buckets between are skipped, not interpolated across. */
Test(histogram, skips_empty_buckets)
{
	uint64_t c[N] = { 0 };

	bounds();
	c[2] = 1;               /* (2.5, 5] */
	c[9] = 1;               /* (500, 1000] */
	near(histogram_quantile(c, le_ms, N, 0.5), 5);
	near(histogram_quantile(c, le_ms, N, 0.51), 500 + 500 * 0.02);
}

/* The open bucket (above 60 s) says only "more than 60 s". */
Test(histogram, open_bucket_is_its_lower_bound)
{
	uint64_t c[N] = { 0 };

	bounds();
	c[N - 1] = 3;
	near(histogram_quantile(c, le_ms, N, 0.5), 60000);
	c[0] = 97;
	near(histogram_quantile(c, le_ms, N, 0.99), 60000);
	near(histogram_quantile(c, le_ms, N, 0.5), 0.5 * 100.0 / 97.0);
}

/* A worker's board is its word: counts that would overflow saturate,
 * and a quantile stays inside the bounds. */
Test(histogram, saturates)
{
	uint64_t c[N] = { 0 };
	double q;

	bounds();
	c[3] = UINT64_MAX;
	c[4] = UINT64_MAX;
	cr_assert_eq(histogram_total(c, N), UINT64_MAX);
	q = histogram_quantile(c, le_ms, N, 0.99);
	cr_assert(q >= 0 && q <= 60000, "%f", q);
}
