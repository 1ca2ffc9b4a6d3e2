/*
 * hist.c - log-linear latency histogram (see hist.h for the layout).
 *
 * Index arithmetic, with H = 2^(SUB_BITS-1): a value v >= 2^SUB_BITS is
 * shifted right until it lies in [H, 2H); the shift picks the octave and
 * the remaining bits the bucket inside it.  Values that would exceed the
 * top octave are clamped into the last bucket (max_ns stays exact).
 *
 * This is not a general HdrHistogram: no auto-resize, no serialisation,
 * no coordinated-omission correction (the open-loop mode of the load
 * generator avoids the omission at the source instead).
 */
#include "hist.h"

#include <string.h>

#define HALF ((uint64_t)1 << (HIST_SUB_BITS - 1))

static unsigned bucket_of(uint64_t v)
{
	if (v < 2 * HALF)
		return (unsigned)v;
	unsigned msb = 63 - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - (HIST_SUB_BITS - 1);
	uint64_t idx = (uint64_t)shift * HALF + (v >> shift);
	if (idx >= HIST_BUCKETS)
		idx = HIST_BUCKETS - 1;
	return (unsigned)idx;
}

/* Lowest value and width of bucket idx. */
static void bucket_range(unsigned idx, uint64_t *low, uint64_t *width)
{
	if (idx < 2 * HALF) {
		*low = idx;
		*width = 1;
		return;
	}
	unsigned shift = (unsigned)(idx / HALF) - 1;
	uint64_t m = idx - (uint64_t)shift * HALF;
	*low = m << shift;
	*width = (uint64_t)1 << shift;
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

void hist_record(struct hist *h, uint64_t ns)
{
	h->counts[bucket_of(ns)]++;
	h->total++;
	h->sum_ns += (double)ns;
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->sum_ns += src->sum_ns;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	if (h->total == 0)
		return 0;
	if (p >= 100.0)
		return h->max_ns;
	/* rank of the wanted value, 1-based: the smallest value with at
	 * least p% of all values at or below it */
	uint64_t rank = (uint64_t)((p / 100.0) * (double)h->total + 0.999999);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen < rank)
			continue;
		uint64_t low, width;
		bucket_range(i, &low, &width);
		uint64_t v = low + width / 2;
		if (v < h->min_ns)
			v = h->min_ns;
		if (v > h->max_ns)
			v = h->max_ns;
		return v;
	}
	return h->max_ns;
}

double hist_mean(const struct hist *h)
{
	return h->total ? h->sum_ns / (double)h->total : 0.0;
}
