/*
 * histogram.c - quantiles of a fixed-bucket histogram, the way Prometheus'
 * histogram_quantile() computes them, so that status --json and a
 * dashboard built on the exported buckets agree.
 *
 * A bucket says how many values fell between its bounds, not where: the
 * quantile is placed by linear interpolation inside the bucket its rank
 * falls in (values taken as spread evenly there).  So it is exact only to
 * the bucket's width: with log-spaced bounds (1, 2.5, 5, 10 ...), within a
 * factor 2.5.  A rank in the open last bucket answers its lower bound,
 * the largest value the histogram can vouch for.
 *
 * Pure arithmetic: no state, no system call, no libm.
 */
#include "base/histogram.h"

uint64_t histogram_total(const uint64_t *counts, int n)
{
	uint64_t total = 0;
	int i;

	for (i = 0; i < n; i++)
		total = counts[i] > UINT64_MAX - total ? UINT64_MAX : total + counts[i];
	return total;
}

double histogram_quantile(const uint64_t *counts, const double *bound, int n, double q)
{
	uint64_t total = histogram_total(counts, n);
	double rank, below = 0, lower;
	int i;

	if (total == 0 || n < 1)
		return -1;
	if (q <= 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = q * (double)total;
	for (i = 0; i < n; i++) {
		double in = (double)counts[i];

		if (in > 0 && below + in >= rank)
			break;
		below += in;
	}
	if (i >= n - 1)         /* the open bucket (or rounding past the end) */
		return n >= 2 ? bound[n - 2] : 0;
	lower = i ? bound[i - 1] : 0;
	return lower + (bound[i] - lower) * (rank - below) / (double)counts[i];
}
