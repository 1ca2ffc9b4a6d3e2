/*
 * report.c - the cluster's state, three ways: text for people
 * (cluster-ctl status), JSON for programs (status --json), and the
 * Prometheus text format (--metrics).  All three read the same structs and
 * change nothing; they append to a growing buffer.
 *
 * Counters: "handed" is connections the master passed to a worker
 * (channel policies) or the worker accepted itself (shared, reuseport:
 * counted by its shim on its board).  "open" is what the kernel says the
 * worker's processes hold (census.c) plus what is still queued for it, so
 * it is right however the program closes its sockets; when the kernel
 * cannot tell, the shim's count (handed minus closed).  The census is the
 * loop turn's (census_fresh): a status request and a scrape in the same
 * turn share one dump, and a report never sees one from an earlier turn.
 *
 * CPU seconds and RSS are the worker's own process, read from /proc at
 * each report (procstat.c); the last reload's outcome comes from
 * lifecycle.c.
 *
 * Per worker traffic: accepts per second from accept_rate.c (the last
 * whole second of samples, and the last ten), and how long its
 * connections lived from the histogram its shim keeps on its board
 * (protocol.h), with p50 and p99 interpolated in the buckets as
 * Prometheus' histogram_quantile() does (histogram.c).  A worker through
 * seccomp has no shim, so no histogram (null, no series), and no rate
 * when it accepts itself.
 *
 * The version this image runs and the in-place upgrades this master went
 * through (surface/upgrade.c's upgrade_info): counters that go on across
 * them, as every other counter here does.
 */
#include "surface/report.h"
#include "cluster.h"
#include "base/buf.h"
#include "base/histogram.h"
#include "base/logline.h"
#include "base/loop.h"
#include "base/options.h"
#include "base/procstat.h"
#include "net/board.h"
#include "net/census.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "policy/policy_steer.h"
#include "supervise/accept_rate.h"
#include "supervise/health.h"
#include "supervise/lifecycle.h"
#include "supervise/release.h"
#include "supervise/rollout.h"
#include "supervise/slots.h"
#include "supervise/worker.h"
#include "surface/upgrade_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static uint64_t worker_open(const struct census *cs, struct worker *w)
{
	long held = census_held(cs, w);
	uint64_t queued = 0;
	int i;

	if (held < 0)
		return worker_open_conns(w);
	for (i = 0; i < w->c->nlisteners; i++) {
		struct listener *l = w->c->listeners[i];
		if (l->ops->channel)
			queued += l->ops->pending(w->c, w, l);
	}
	return (uint64_t)held + queued;
}

static const char *kind(const struct listener *l)
{
	if (l->family == AF_UNIX)
		return "unix";
	return l->type == SOCK_DGRAM ? "udp" : "tcp";
}

static double uptime_s(int64_t since)
{
	return (double)(loop_now_ms() - since) / 1000.0;
}

/* "when, outcome, how long" of the last reload, for people. */
static void reload_text(struct cluster *c, struct buf *b)
{
	const struct reload_record *r = lifecycle_last_reload(c);
	struct tm tm;
	char started[32] = "", finished[32] = "";

	if (r->outcome == RELOAD_NONE)
		return;
	if (localtime_r(&r->started, &tm))
		strftime(started, sizeof(started), "%Y-%m-%d %H:%M:%S", &tm);
	if (r->outcome == RELOAD_RUNNING) {
		buf_printf(b, "last reload: running since %s", started);
	} else {
		/* "complete at" is when it finished, not when it began */
		if (localtime_r(&r->finished, &tm))
			strftime(finished, sizeof(finished), "%Y-%m-%d %H:%M:%S", &tm);
		buf_printf(b, "last reload: %s at %s (started %s, took %.1fs)",
			   reload_outcome_name(r->outcome), finished, started, r->seconds);
	}
	if (r->why[0])
		buf_printf(b, " (%s)", r->why);
	buf_printf(b, "\n");
}

/* The argv of what new workers run (c->release), or the command line. */
static char *const *current_argv(const struct cluster *c)
{
	return c->release ? c->release->argv : c->opt->argv;
}

static void argv_text(struct buf *b, const char *what, unsigned id, char *const *argv)
{
	int i;

	buf_printf(b, "%s", what);
	for (i = 0; argv[i]; i++)
		buf_printf(b, " %s", argv[i]);
	if (id)
		buf_printf(b, " (generation %u)", id);
	buf_printf(b, "\n");
}

static void args_text(struct cluster *c, struct buf *b)
{
	argv_text(b, "command:", c->release ? c->release->id : 0, current_argv(c));
	if (c->previous)
		argv_text(b, "previous command:", c->previous->id, c->previous->argv);
}

/* "rollout: generation 3, 4/16 replaced, 4 draining (oldest 0.3 s), batch
 * 4, paused (canary: cluster-ctl rollout continue | rollout abort)" */
static void rollout_text(struct cluster *c, struct buf *b)
{
	struct rollout_view v;
	char line[160];

	rollout_view(c, &v);
	if (!v.active)
		return;
	rollout_progress(c, line, sizeof(line));
	buf_printf(b, "rollout%s: generation %u, %s, batch %d%s\n", v.back ? " back" : "",
		   v.generation, line, v.batch, v.paused ? ", paused (canary: cluster-ctl "
		   "rollout continue | rollout abort)" : v.canary ? ", canary" : "");
}

/* What a worker runs, for the status: the generation of its release. */
static unsigned release_of(const struct worker *w)
{
	return w->rel ? w->rel->id : 0;
}

/* Whether a listener is steered in the kernel (its steer_stats count). */
static int any_in_kernel(const struct cluster *c)
{
	int i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i]->ops->in_kernel)
			return 1;
	return 0;
}

/* "version 0.3.0, upgraded 2 times (last at 2026-12-06 07:12:03 from
 * 0.2.9, pause 14 ms)" or "version 0.3.0, never upgraded".  Local time,
 * as a person reads it; JSON and metrics give the epoch. */
static void upgrade_text(struct buf *b)
{
	const struct upgrade_info *u = upgrade_info();
	char when[32] = "?";
	struct tm tm;

	buf_printf(b, "version %s, ", u->version);
	if (!u->upgrades) {
		buf_printf(b, "never upgraded");
	} else {
		if (u->last && localtime_r(&u->last, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		buf_printf(b, "upgraded %u time%s (last at %s from %s, pause %.0f ms)", u->upgrades,
			   u->upgrades == 1 ? "" : "s", when, u->from[0] ? u->from : "?", u->last_ms);
	}
	if (u->failed)
		buf_printf(b, ", %u failed", u->failed);
	buf_printf(b, "%s\n", u->running ? ", one under way" : "");
}

void report_text(struct cluster *c, struct buf *b)
{
	struct census *cs = census_fresh(c);
	int i;

	buf_printf(b, "cluster-run pid %d, %s, policy %s, %d worker%s (target %d), up %.0fs%s\n",
		   (int)getpid(), c->prog->path, c->opt->policy->name, c->nworkers,
		   c->nworkers == 1 ? "" : "s", c->target, uptime_s(c->started_ms),
		   c->stopping ? ", stopping" : slots_reloading(c) ? ", reloading" : "");
	upgrade_text(b);
	args_text(c, b);
	reload_text(c, b);
	rollout_text(c, b);
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		buf_printf(b, "listener %s (%s) policy %s accepted %llu pending %zu\n",
			   l->name, kind(l), l->ops->name,
			   (unsigned long long)l->accepted, l->npending);
	}
	if (any_in_kernel(c)) {
		const struct steer_stats *st = steer_stats();

		buf_printf(b, "steered in the kernel: %llu refreshes, %llu programs attached, "
			   "%llu censuses, %.3fs CPU\n", (unsigned long long)st->refreshes,
			   (unsigned long long)st->programs, (unsigned long long)st->censuses,
			   (double)st->cpu_ns / 1e9);
	}
	/* GEN and REL before the figures: lines still end with the RSS */
	buf_printf(b, "%-5s %-8s %-9s %4s %4s %9s %8s %10s %8s %8s %9s\n",
		   "SLOT", "PID", "STATE", "GEN", "REL", "UPTIME", "RESTARTS", "HANDED", "OPEN",
		   "CPU", "RSS");
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		struct procstat ps;

		procstat_read(w->pid, &ps);
		buf_printf(b, "%-5d %-8d %-9s %4u %4u %8.0fs %8u %10llu %8llu %7.2fs %7.1fMi\n",
			   w->slot, (int)w->pid, worker_state_name(w->state), w->generation,
			   release_of(w), uptime_s(w->started_ms), c->slots[w->slot].restarts,
			   (unsigned long long)worker_taken(w),
			   (unsigned long long)worker_open(cs, w), ps.cpu_seconds,
			   (double)ps.rss_bytes / 1048576.0);
	}
	for (i = 0; i < c->nworkers; i++) {
		const struct worker *w = c->workers[i];
		if (w->pid != w->spawned_pid)
			buf_printf(b, "worker %d: followed daemon pid %d (started as pid %d, "
				   "which daemonized)\n", w->slot, (int)w->pid, (int)w->spawned_pid);
	}
	health_report_text(c, b);
	if (logline_dropped())
		buf_printf(b, "log lines dropped: %llu (a full disk or a closed output: "
			   "see cluster-run's stderr)\n", (unsigned long long)logline_dropped());
}

/* One worker's duration histogram, bounds in ms (the last is +Inf). */
struct durations {
	uint64_t counts[BOARD_DURATION_BUCKETS];
	double le_ms[BOARD_DURATION_BUCKETS - 1];
	uint64_t count;
	double sum_s;
};

static int durations_read(const struct worker *w, struct durations *d)
{
	uint64_t sum_us;
	int i;

	if (board_durations(w, d->counts, &sum_us) < 0)
		return -1;
	for (i = 0; i < BOARD_DURATION_BUCKETS - 1; i++)
		d->le_ms[i] = (double)board_duration_bound_us(i) / 1000.0;
	d->count = histogram_total(d->counts, BOARD_DURATION_BUCKETS);
	d->sum_s = (double)sum_us / 1e6;
	return 0;
}

/* A number, or null for what is unknown (negative). */
static void json_number(struct buf *b, double v, const char *fmt)
{
	if (v < 0)
		buf_printf(b, "null");
	else
		buf_printf(b, fmt, v);
}

/* "accepts_per_s" (the last second), "accepts_per_s_10s" and "duration":
 * {"count", "sum_s", "p50_ms", "p99_ms", "le_ms" (16 upper bounds, the
 * last null: +Inf), "buckets" (16 cumulative counts, the last == count)},
 * or null without a histogram. */
static void traffic_json(struct cluster *c, const struct worker *w, struct buf *b)
{
	struct durations d;
	uint64_t cum = 0;
	int i;

	buf_printf(b, ",\"accepts_per_s\":");
	json_number(b, accept_rate(c, w, 1), "%.3f");
	buf_printf(b, ",\"accepts_per_s_10s\":");
	json_number(b, accept_rate(c, w, 10), "%.3f");
	buf_printf(b, ",\"duration\":");
	if (durations_read(w, &d) < 0) {
		buf_printf(b, "null");
		return;
	}
	buf_printf(b, "{\"count\":%llu,\"sum_s\":%.6f,\"p50_ms\":", (unsigned long long)d.count,
		   d.sum_s);
	json_number(b, histogram_quantile(d.counts, d.le_ms, BOARD_DURATION_BUCKETS, 0.5), "%.3f");
	buf_printf(b, ",\"p99_ms\":");
	json_number(b, histogram_quantile(d.counts, d.le_ms, BOARD_DURATION_BUCKETS, 0.99), "%.3f");
	buf_printf(b, ",\"le_ms\":[");
	for (i = 0; i < BOARD_DURATION_BUCKETS - 1; i++)
		buf_printf(b, "%s%g", i ? "," : "", d.le_ms[i]);
	buf_printf(b, ",null],\"buckets\":[");
	for (i = 0; i < BOARD_DURATION_BUCKETS; i++) {
		cum += d.counts[i];
		buf_printf(b, "%s%llu", i ? "," : "", (unsigned long long)cum);
	}
	buf_printf(b, "]}");
}

/* Listener names and paths go into JSON strings: escape what must be. */
static void json_string(struct buf *b, const char *s)
{
	buf_printf(b, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			buf_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			buf_printf(b, "\\u%04x", ch);
		else
			buf_printf(b, "%c", ch);
	}
	buf_printf(b, "\"");
}

/* "version", "upgrades", "upgrades_failed", "last_upgrade": {"at": EPOCH,
 * "from": "x.y.z", "pause_ms": N} or null.  The version strings are ours
 * (meson's project version), yet escaped like any string. */
static void upgrade_json(struct buf *b)
{
	const struct upgrade_info *u = upgrade_info();

	buf_printf(b, ",\"version\":");
	json_string(b, u->version);
	buf_printf(b, ",\"upgrades\":%u,\"upgrades_failed\":%u,\"last_upgrade\":", u->upgrades,
		   u->failed);
	if (!u->upgrades || !u->last) {
		buf_printf(b, "null");
		return;
	}
	buf_printf(b, "{\"at\":%lld,\"from\":", (long long)u->last);
	json_string(b, u->from);
	buf_printf(b, ",\"pause_ms\":%.0f}", u->last_ms);
}

static void argv_json(struct buf *b, char *const *argv)
{
	int i;

	buf_printf(b, "[");
	for (i = 0; argv[i]; i++) {
		buf_printf(b, "%s", i ? "," : "");
		json_string(b, argv[i]);
	}
	buf_printf(b, "]");
}

/* "rollout": null, or where the rollout under way stands (names kept
 * exactly: cluster-ctl top and the status page read them). */
static void rollout_json(struct cluster *c, struct buf *b)
{
	struct rollout_view v;

	rollout_view(c, &v);
	if (!v.active) {
		buf_printf(b, ",\"rollout\":null");
		return;
	}
	buf_printf(b, ",\"rollout\":{\"generation\":%u,\"replaced\":%d,\"total\":%d,"
		   "\"draining\":%d,\"oldest_drain_s\":%.3f,\"batch\":%d,\"paused\":%s,"
		   "\"canary\":%s,\"back\":%s}", v.generation, v.replaced, v.total, v.draining,
		   v.oldest_drain_s, v.batch, v.paused ? "true" : "false",
		   v.canary ? "true" : "false", v.back ? "true" : "false");
}

void report_json(struct cluster *c, struct buf *b)
{
	struct census *cs = census_fresh(c);
	int i;

	const struct reload_record *r = lifecycle_last_reload(c);

	buf_printf(b, "{\"pid\":%d", (int)getpid());
	upgrade_json(b);
	buf_printf(b, ",\"program\":");
	json_string(b, c->release ? c->release->path : c->prog->path);
	buf_printf(b, ",\"args\":");
	argv_json(b, current_argv(c));
	buf_printf(b, ",\"release\":%u", c->release ? c->release->id : 0);
	if (c->previous) {
		buf_printf(b, ",\"previous\":{\"release\":%u,\"program\":", c->previous->id);
		json_string(b, c->previous->path);
		buf_printf(b, ",\"args\":");
		argv_json(b, c->previous->argv);
		buf_printf(b, "}");
	}
	rollout_json(c, b);
	buf_printf(b, ",\"ready\":%s,\"last_reload\":{\"outcome\":\"%s\"",
		   lifecycle_all_ready(c) ? "true" : "false", reload_outcome_name(r->outcome));
	if (r->outcome != RELOAD_NONE)
		buf_printf(b, ",\"started\":%lld,\"seconds\":%.3f",
			   (long long)r->started, r->outcome == RELOAD_RUNNING ?
			   (double)(loop_now_ms() - r->started_ms) / 1000.0 : r->seconds);
	if (r->outcome != RELOAD_NONE && r->outcome != RELOAD_RUNNING)
		buf_printf(b, ",\"finished\":%lld", (long long)r->finished);
	if (r->why[0]) {
		buf_printf(b, ",\"reason\":");
		json_string(b, r->why);
	}
	buf_printf(b, "},\"reloads_complete\":%llu,\"reloads_aborted\":%llu,\"restarts\":%u",
		   (unsigned long long)r->complete, (unsigned long long)r->aborted,
		   lifecycle_restarts(c));
	buf_printf(b, ",\"policy\":\"%s\",\"target\":%d,\"uptime\":%.3f,"
		   "\"stopping\":%s,\"reloading\":%s,\"log_lines_dropped\":%llu,\"listeners\":[",
		   c->opt->policy->name, c->target, uptime_s(c->started_ms),
		   c->stopping ? "true" : "false", slots_reloading(c) ? "true" : "false",
		   (unsigned long long)logline_dropped());
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		buf_printf(b, "%s{\"address\":", i ? "," : "");
		json_string(b, l->name);
		buf_printf(b, ",\"kind\":\"%s\",\"policy\":\"%s\",\"accepted\":%llu,\"pending\":%zu}",
			   kind(l), l->ops->name, (unsigned long long)l->accepted,
			   l->npending);
	}
	buf_printf(b, "],");
	if (any_in_kernel(c)) {
		const struct steer_stats *st = steer_stats();

		buf_printf(b, "\"steer\":{\"refreshes\":%llu,\"programs\":%llu,"
			   "\"censuses\":%llu,\"cpu_seconds\":%.6f},",
			   (unsigned long long)st->refreshes, (unsigned long long)st->programs,
			   (unsigned long long)st->censuses, (double)st->cpu_ns / 1e9);
	}
	buf_printf(b, "\"workers\":[");
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		struct procstat ps;
		const char *last;

		procstat_read(w->pid, &ps);
		buf_printf(b, "%s{\"slot\":%d,\"pid\":%d,\"state\":\"%s\",\"uptime\":%.3f,"
			   "\"restarts\":%u,\"handed\":%llu,\"open\":%llu,"
			   "\"cpu_seconds\":%.2f,\"rss_bytes\":%llu,\"out_of_fds\":%s,"
			   "\"generation\":%u,\"release\":%u",
			   i ? "," : "", w->slot, (int)w->pid, worker_state_name(w->state),
			   uptime_s(w->started_ms), c->slots[w->slot].restarts,
			   (unsigned long long)worker_taken(w),
			   (unsigned long long)worker_open(cs, w), ps.cpu_seconds, ps.rss_bytes,
			   w->fds_short ? "true" : "false", w->generation, release_of(w));
		/* a daemon it left, followed (follow.c): the pid we started */
		if (w->pid != w->spawned_pid)
			buf_printf(b, ",\"followed_from\":%d", (int)w->spawned_pid);
		traffic_json(c, w, b);
		/* short and ours (health.c): no quotes to escape */
		last = health_last_exit(c, w->slot);
		buf_printf(b, ",\"last_exit\":%s%s%s}", last ? "\"" : "", last ? last : "null",
			   last ? "\"" : "");
	}
	buf_printf(b, "],");
	health_report_json(c, b);
	buf_printf(b, "}\n");
}

/* Workers per generation and per release, and the rollout under way.
 * O(N^2) over the workers to group them without a table: N <= 2048. */
static void metrics_generations(struct cluster *c, struct buf *b)
{
	struct rollout_view v;
	int i, j;

	buf_printf(b, "# HELP cluster_run_generation_workers Workers started in each "
		      "generation (reload), by the release they run.\n"
		      "# TYPE cluster_run_generation_workers gauge\n");
	for (i = 0; i < c->nworkers; i++) {
		const struct worker *w = c->workers[i];
		int n = 0, seen = 0;

		for (j = 0; j < i && !seen; j++)
			seen = c->workers[j]->generation == w->generation &&
			       release_of(c->workers[j]) == release_of(w);
		if (seen)
			continue;
		for (j = i; j < c->nworkers; j++)
			n += c->workers[j]->generation == w->generation &&
			     release_of(c->workers[j]) == release_of(w);
		buf_printf(b, "cluster_run_generation_workers{generation=\"%u\",release=\"%u\"} %d\n",
			   w->generation, release_of(w), n);
	}
	rollout_view(c, &v);
	buf_printf(b, "# HELP cluster_run_rollout_replaced Slots the rollout under way has "
		      "replaced (0 when none).\n"
		      "# TYPE cluster_run_rollout_replaced gauge\ncluster_run_rollout_replaced %d\n"
		      "# HELP cluster_run_rollout_paused 1 while a canary waits for rollout "
		      "continue or abort.\n"
		      "# TYPE cluster_run_rollout_paused gauge\ncluster_run_rollout_paused %d\n",
		   v.replaced, v.paused);
}

/* Per worker: the duration histogram and the accept rates.  Labelled by
 * slot and pid: while a reload replaces a slot's worker both have a
 * histogram, and a new worker's starts from zero (a counter reset). */
static void metrics_traffic(struct cluster *c, struct buf *b)
{
	int i, k;

	buf_printf(b, "# HELP cluster_run_connection_duration_seconds How long a worker's "
		      "connections lived, accept to close (its shim's count; none through "
		      "seccomp).\n"
		      "# TYPE cluster_run_connection_duration_seconds histogram\n");
	for (i = 0; i < c->nworkers; i++) {
		const struct worker *w = c->workers[i];
		struct durations d;
		uint64_t cum = 0;

		/* none until its first connection closes: 300 idle workers
		 * would otherwise add 5,400 series of zeros to every scrape */
		if (durations_read(w, &d) < 0 || d.count == 0)
			continue;
		for (k = 0; k < BOARD_DURATION_BUCKETS; k++) {
			cum += d.counts[k];
			buf_printf(b, "cluster_run_connection_duration_seconds_bucket{slot=\"%d\","
				      "pid=\"%d\",le=\"", w->slot, (int)w->pid);
			if (k < BOARD_DURATION_BUCKETS - 1)
				buf_printf(b, "%g", d.le_ms[k] / 1000.0);
			else
				buf_printf(b, "+Inf");
			buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
		}
		buf_printf(b, "cluster_run_connection_duration_seconds_sum{slot=\"%d\",pid=\"%d\"} "
			      "%.6f\n", w->slot, (int)w->pid, d.sum_s);
		buf_printf(b, "cluster_run_connection_duration_seconds_count{slot=\"%d\",pid=\"%d\"} "
			      "%llu\n", w->slot, (int)w->pid, (unsigned long long)d.count);
	}
	buf_printf(b, "# HELP cluster_run_worker_accepts_per_second Connections a worker took "
		      "per second, over the last window of once-a-second samples (the "
		      "counter: cluster_run_connections_handed_total).\n"
		      "# TYPE cluster_run_worker_accepts_per_second gauge\n");
	for (i = 0; i < c->nworkers; i++) {
		const struct worker *w = c->workers[i];
		static const int windows[] = { 1, 10 };

		for (k = 0; k < 2; k++) {
			double r = accept_rate(c, w, windows[k]);

			if (r >= 0)
				buf_printf(b, "cluster_run_worker_accepts_per_second{slot=\"%d\",pid=\"%d\","
					      "window=\"%ds\"} %.3f\n", w->slot, (int)w->pid,
					   windows[k], r);
		}
	}
}

/* Readiness, reloads, restarts and what each worker costs. */
static void metrics_deploy(struct cluster *c, struct buf *b)
{
	const struct reload_record *r = lifecycle_last_reload(c);
	int i;

	buf_printf(b, "# HELP cluster_run_ready 1 when every slot has a listening worker (/ready).\n"
		      "# TYPE cluster_run_ready gauge\ncluster_run_ready %d\n",
		   lifecycle_all_ready(c));
	buf_printf(b, "# HELP cluster_run_reloads_total Rolling restarts finished, by outcome.\n"
		      "# TYPE cluster_run_reloads_total counter\n"
		      "cluster_run_reloads_total{outcome=\"complete\"} %llu\n"
		      "cluster_run_reloads_total{outcome=\"aborted\"} %llu\n",
		   (unsigned long long)r->complete, (unsigned long long)r->aborted);
	buf_printf(b, "# HELP cluster_run_reloading 1 while a rolling restart is under way.\n"
		      "# TYPE cluster_run_reloading gauge\ncluster_run_reloading %d\n",
		   r->outcome == RELOAD_RUNNING);
	metrics_generations(c, b);
	buf_printf(b, "# HELP cluster_run_log_lines_dropped_total Log lines that could not be "
		      "written whole (a full disk, a closed output).\n"
		      "# TYPE cluster_run_log_lines_dropped_total counter\n"
		      "cluster_run_log_lines_dropped_total %llu\n",
		   (unsigned long long)logline_dropped());
	buf_printf(b, "# HELP cluster_run_restarts_total Workers restarted, all slots.\n"
		      "# TYPE cluster_run_restarts_total counter\ncluster_run_restarts_total %u\n",
		   lifecycle_restarts(c));
	buf_printf(b, "# HELP cluster_run_idle_closed_total Idle connections of retiring "
		      "workers the master shut (idle_close.c).\n"
		      "# TYPE cluster_run_idle_closed_total counter\n"
		      "cluster_run_idle_closed_total %llu\n",
		   (unsigned long long)c->idle_closed);
	buf_printf(b, "# HELP cluster_run_worker_rss_bytes A worker's resident memory.\n"
		      "# TYPE cluster_run_worker_rss_bytes gauge\n");
	for (i = 0; i < c->nworkers; i++) {
		struct procstat ps;

		if (procstat_read(c->workers[i]->pid, &ps) == 0)
			buf_printf(b, "cluster_run_worker_rss_bytes{slot=\"%d\",pid=\"%d\"} %llu\n",
				   c->workers[i]->slot, (int)c->workers[i]->pid, ps.rss_bytes);
	}
	buf_printf(b, "# HELP cluster_run_worker_cpu_seconds_total A worker's CPU time.\n"
		      "# TYPE cluster_run_worker_cpu_seconds_total counter\n");
	for (i = 0; i < c->nworkers; i++) {
		struct procstat ps;

		if (procstat_read(c->workers[i]->pid, &ps) == 0)
			buf_printf(b, "cluster_run_worker_cpu_seconds_total{slot=\"%d\",pid=\"%d\"} "
				   "%.2f\n", c->workers[i]->slot, (int)c->workers[i]->pid,
				   ps.cpu_seconds);
	}
}

/* Version as an info metric (the label carries it, the value is 1),
 * upgrades by result, and the last one's pause (0 before any). */
static void metrics_upgrade(struct buf *b)
{
	const struct upgrade_info *u = upgrade_info();
	const char *v;

	buf_printf(b, "# HELP cluster_run_build_info The version of cluster-run the master "
		      "runs now.\n# TYPE cluster_run_build_info gauge\n"
		      "cluster_run_build_info{version=\"");
	for (v = u->version; *v; v++)     /* a label value: \\ \" and \\n escaped */
		if (*v == '\n')
			buf_printf(b, "\\n");
		else
			buf_printf(b, "%s%c", *v == '"' || *v == '\\' ? "\\" : "", *v);
	buf_printf(b, "\"} 1\n");
	buf_printf(b, "# HELP cluster_run_upgrades_total In-place upgrades of the master "
		      "(cluster-ctl upgrade, USR2), by result.\n"
		      "# TYPE cluster_run_upgrades_total counter\n"
		      "cluster_run_upgrades_total{result=\"ok\"} %u\n"
		      "cluster_run_upgrades_total{result=\"failed\"} %u\n", u->upgrades, u->failed);
	buf_printf(b, "# HELP cluster_run_last_upgrade_pause_seconds How long the last "
		      "upgrade paused the master, exec to adopted (0: none yet).\n"
		      "# TYPE cluster_run_last_upgrade_pause_seconds gauge\n"
		      "cluster_run_last_upgrade_pause_seconds %.6f\n",
		   u->upgrades ? u->last_ms / 1000.0 : 0.0);
}

void report_metrics(struct cluster *c, struct buf *b)
{
	struct census *cs = census_fresh(c);
	int i;

	buf_printf(b, "# HELP cluster_run_workers Workers wanted.\n"
		      "# TYPE cluster_run_workers gauge\ncluster_run_workers %d\n", c->target);
	buf_printf(b, "# HELP cluster_run_worker_up A running worker, by slot, pid and state.\n"
		      "# TYPE cluster_run_worker_up gauge\n");
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		buf_printf(b, "cluster_run_worker_up{slot=\"%d\",pid=\"%d\",state=\"%s\"} 1\n",
			   w->slot, (int)w->pid, worker_state_name(w->state));
	}
	buf_printf(b, "# HELP cluster_run_worker_restarts_total Workers restarted in a slot.\n"
		      "# TYPE cluster_run_worker_restarts_total counter\n");
	for (i = 0; i < c->target; i++)
		buf_printf(b, "cluster_run_worker_restarts_total{slot=\"%d\"} %u\n", i,
			   c->slots[i].restarts);
	buf_printf(b, "# HELP cluster_run_connections_handed_total Connections handed to a worker.\n"
		      "# TYPE cluster_run_connections_handed_total counter\n");
	for (i = 0; i < c->nworkers; i++)
		buf_printf(b, "cluster_run_connections_handed_total{slot=\"%d\",pid=\"%d\"} %llu\n",
			   c->workers[i]->slot, (int)c->workers[i]->pid,
			   (unsigned long long)worker_taken(c->workers[i]));
	buf_printf(b, "# HELP cluster_run_connections_open Connections a worker has open.\n"
		      "# TYPE cluster_run_connections_open gauge\n");
	for (i = 0; i < c->nworkers; i++)
		buf_printf(b, "cluster_run_connections_open{slot=\"%d\",pid=\"%d\"} %llu\n",
			   c->workers[i]->slot, (int)c->workers[i]->pid,
			   (unsigned long long)worker_open(cs, c->workers[i]));
	metrics_deploy(c, b);
	metrics_traffic(c, b);
	buf_printf(b, "# HELP cluster_run_accepted_total Connections the master accepted.\n"
		      "# TYPE cluster_run_accepted_total counter\n");
	for (i = 0; i < c->nlisteners; i++)
		buf_printf(b, "cluster_run_accepted_total{listener=\"%s\"} %llu\n",
			   c->listeners[i]->name, (unsigned long long)c->listeners[i]->accepted);
	if (any_in_kernel(c)) {
		const struct steer_stats *st = steer_stats();

		buf_printf(b, "# HELP cluster_run_steer_refreshes_total Load refreshes of the "
			      "kernel-steered policies.\n"
			      "# TYPE cluster_run_steer_refreshes_total counter\n"
			      "cluster_run_steer_refreshes_total %llu\n"
			      "# HELP cluster_run_steer_programs_total Refreshes that re-attached "
			      "the steering program.\n"
			      "# TYPE cluster_run_steer_programs_total counter\n"
			      "cluster_run_steer_programs_total %llu\n"
			      "# HELP cluster_run_steer_censuses_total Seccomp workers' loads read "
			      "from the socket census.\n"
			      "# TYPE cluster_run_steer_censuses_total counter\n"
			      "cluster_run_steer_censuses_total %llu\n"
			      "# HELP cluster_run_steer_cpu_seconds_total The master's CPU in "
			      "refreshes and censuses.\n"
			      "# TYPE cluster_run_steer_cpu_seconds_total counter\n"
			      "cluster_run_steer_cpu_seconds_total %.6f\n",
			   (unsigned long long)st->refreshes, (unsigned long long)st->programs,
			   (unsigned long long)st->censuses, (double)st->cpu_ns / 1e9);
	}
	health_report_metrics(c, b);
	metrics_upgrade(b);
}
