/*
 * loadgen_stats.c - the load generator's counters: per-worker tallies,
 * merging the threads' stats, and the key=value report.
 *
 * Worker ids are the X-Worker header values, kept as strings in a small
 * table searched linearly from the last hit: a cluster has a handful of
 * workers and consecutive responses often come from the same one.
 *
 * Fairness is Jain's index over the per-worker counts,
 * (sum x)^2 / (n * sum x^2): 1 when every worker served the same number
 * of requests, 1/n when one worker served everything.  Workers that served
 * nothing are only known when the caller names them (-W), so pass -W to
 * make the index honest.
 *
 * Not here: timing and HTTP (loadgen_loop.c), option parsing (loadgen.c).
 */
#include "loadgen.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void stats_init(struct stats *st)
{
	memset(st, 0, sizeof(*st));
	hist_init(&st->hist);
}

void stats_add_worker(struct stats *st, const char *id, uint64_t n)
{
	if (id[0] == '\0') {
		st->worker_none += n;
		return;
	}
	if (st->last_id < st->n_ids && strcmp(st->ids[st->last_id].id, id) == 0) {
		st->ids[st->last_id].n += n;
		return;
	}
	for (size_t i = 0; i < st->n_ids; i++) {
		if (strcmp(st->ids[i].id, id) == 0) {
			st->ids[i].n += n;
			st->last_id = i;
			return;
		}
	}
	if (st->n_ids == LOADGEN_MAX_IDS) {
		st->worker_other += n;
		return;
	}
	struct worker_count *w = &st->ids[st->n_ids];
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->n = n;
	st->last_id = st->n_ids++;
}

void stats_count_worker(struct stats *st, const char *id)
{
	stats_add_worker(st, id, 1);
}

void stats_merge(struct stats *dst, const struct stats *src)
{
	dst->requests += src->requests;
	dst->err_connect += src->err_connect;
	dst->err_reset += src->err_reset;
	dst->err_bad_response += src->err_bad_response;
	dst->err_status += src->err_status;
	dst->err_timeout += src->err_timeout;
	dst->lost_unanswered += src->lost_unanswered;
	dst->reconnects += src->reconnects;
	dst->inflight_at_end += src->inflight_at_end;
	dst->unsent += src->unsent;
	if (src->finish_ns > dst->finish_ns)
		dst->finish_ns = src->finish_ns;
	dst->worker_none += src->worker_none;
	dst->worker_other += src->worker_other;
	for (size_t i = 0; i < src->n_ids; i++)
		stats_add_worker(dst, src->ids[i].id, src->ids[i].n);
	hist_merge(&dst->hist, &src->hist);
}

static int is_number(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Numeric ids in numeric order first, then the rest by strcmp. */
static int compare_ids(const void *a, const void *b)
{
	const char *x = ((const struct worker_count *)a)->id;
	const char *y = ((const struct worker_count *)b)->id;
	int nx = is_number(x), ny = is_number(y);
	if (nx && ny) {
		size_t lx = strlen(x), ly = strlen(y);
		if (lx != ly)
			return lx < ly ? -1 : 1;
	} else if (nx != ny) {
		return nx ? -1 : 1;
	}
	return strcmp(x, y);
}

static void print_workers(const struct stats *st)
{
	struct worker_count sorted[LOADGEN_MAX_IDS];
	memcpy(sorted, st->ids, st->n_ids * sizeof(sorted[0]));
	qsort(sorted, st->n_ids, sizeof(sorted[0]), compare_ids);

	double sum = 0, sum_sq = 0, max = 0;
	for (size_t i = 0; i < st->n_ids; i++) {
		double x = (double)sorted[i].n;
		printf("worker.%s=%llu\n", sorted[i].id, (unsigned long long)sorted[i].n);
		sum += x;
		sum_sq += x * x;
		if (x > max)
			max = x;
	}
	printf("worker_none=%llu\n", (unsigned long long)st->worker_none);
	if (st->worker_other)
		printf("worker_other=%llu\n", (unsigned long long)st->worker_other);
	printf("workers=%zu\n", st->n_ids);
	if (st->n_ids == 0 || sum == 0) {
		printf("jain=na\nmax_worker_share=na\n");
		return;
	}
	printf("jain=%.4f\n", sum * sum / ((double)st->n_ids * sum_sq));
	printf("max_worker_share=%.4f\n", max / sum);
}

static void print_latency(const struct hist *h)
{
	static const struct { const char *key; double p; } pct[] = {
		{ "p50_us", 50.0 }, { "p90_us", 90.0 }, { "p99_us", 99.0 },
		{ "p999_us", 99.9 },
	};
	printf("mean_us=%.1f\n", hist_mean(h) / 1000.0);
	for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++)
		printf("%s=%.1f\n", pct[i].key,
		       (double)hist_percentile(h, pct[i].p) / 1000.0);
	printf("max_us=%.1f\n", (double)h->max_ns / 1000.0);
}

void stats_print(const struct stats *st, const struct run *run)
{
	const struct options *o = &run->opt;
	double duration = 0;
	if (st->finish_ns > run->measure_ns)
		duration = (double)(st->finish_ns - run->measure_ns) / 1e9;
	uint64_t errors = st->err_connect + st->err_reset + st->err_bad_response +
			  st->err_status + st->err_timeout;

	printf("target=%s:%s\n", o->host, o->port);
	printf("mode=%s\n", !o->keep_alive ? "close" : o->careful ? "keepalive-careful"
								: "keepalive");
	printf("loop=%s\n", o->rate <= 0 ? "closed" : o->poisson ? "open-poisson" : "open");
	printf("rate=%.0f\n", o->rate);
	printf("threads=%d\n", o->threads);
	printf("connections=%d\n", o->conns);
	printf("warmup=%.3f\n", o->warmup_s);
	printf("duration=%.3f\n", duration);
	printf("requests=%llu\n", (unsigned long long)st->requests);
	printf("errors=%llu\n", (unsigned long long)errors);
	printf("errors_connect=%llu\n", (unsigned long long)st->err_connect);
	printf("errors_reset=%llu\n", (unsigned long long)st->err_reset);
	printf("errors_bad_response=%llu\n", (unsigned long long)st->err_bad_response);
	printf("errors_status=%llu\n", (unsigned long long)st->err_status);
	printf("errors_timeout=%llu\n", (unsigned long long)st->err_timeout);
	printf("inflight_at_end=%llu\n", (unsigned long long)st->inflight_at_end);
	/* lost: sent, and the connection ended (EOF, reset) or the time ran
	 * out before the whole answer; a close between two requests is a
	 * reconnect, not a loss */
	printf("lost=%llu\n", (unsigned long long)(st->err_reset + st->err_timeout));
	printf("lost_unanswered=%llu\n", (unsigned long long)st->lost_unanswered);
	printf("reconnects=%llu\n", (unsigned long long)st->reconnects);
	printf("unsent=%llu\n", (unsigned long long)st->unsent);
	printf("rps=%.1f\n", duration > 0 ? (double)st->requests / duration : 0.0);
	print_latency(&st->hist);
	print_workers(st);
}
