/*
 * histogram.h - see histogram.c.
 */
#ifndef LAUNCHER_BASE_HISTOGRAM_H
#define LAUNCHER_BASE_HISTOGRAM_H

#include <stdint.h>

/* histogram.c: the q-quantile (0 < q <= 1) of a histogram of n buckets:
 * counts[i] (not cumulative) of the values in (bound[i-1], bound[i]],
 * the first from 0, the last (counts[n-1]) above bound[n-2], so bound has
 * n - 1 entries.  Interpolated linearly inside its bucket, as Prometheus'
 * histogram_quantile() does; a quantile in the last bucket is bound[n-2]
 * (nothing says how far above it).  -1 when the histogram is empty. */
double histogram_quantile(const uint64_t *counts, const double *bound, int n, double q);

/* The sum of counts[0..n-1], saturating at UINT64_MAX. */
uint64_t histogram_total(const uint64_t *counts, int n);

#endif
