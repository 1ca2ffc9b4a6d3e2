/*
 * hist.h - a log-linear latency histogram for the load generator.
 *
 * HdrHistogram's layout in miniature: values below 2^HIST_SUB_BITS
 * nanoseconds get a bucket each, every octave above that is split into
 * 2^(HIST_SUB_BITS-1) equal buckets, so any recorded value is known to
 * within 1/2^(HIST_SUB_BITS-1) of itself (under 1% here) from 1 ns to about
 * 18 minutes, in a fixed 36 KiB and with no per-request storage.
 *
 * It is not thread-safe: each load generator thread owns one and they are
 * merged with hist_merge() once the threads have stopped.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS  8
#define HIST_MAX_BITS  40                      /* 2^40 ns ~ 18 min */
#define HIST_BUCKETS   ((HIST_MAX_BITS - HIST_SUB_BITS + 2) << (HIST_SUB_BITS - 1))

struct hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t total;
	uint64_t min_ns;
	uint64_t max_ns;
	double sum_ns;
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile p (0..100): the middle of the bucket holding the
 * p-th value, clamped to the exact min and max.  0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

#endif
