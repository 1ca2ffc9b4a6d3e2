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
 */
#include "surface/report.h"
#include "cluster.h"
#include "base/buf.h"
#include "base/logline.h"
#include "base/loop.h"
#include "base/options.h"
#include "base/procstat.h"
#include "net/census.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "policy/policy_steer.h"
#include "supervise/health.h"
#include "supervise/lifecycle.h"
#include "supervise/slots.h"
#include "supervise/worker.h"

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
	char when[32] = "";

	if (r->outcome == RELOAD_NONE)
		return;
	if (localtime_r(&r->started, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	buf_printf(b, "last reload: %s at %s", reload_outcome_name(r->outcome), when);
	if (r->outcome != RELOAD_RUNNING)
		buf_printf(b, ", took %.1fs", r->seconds);
	if (r->why[0])
		buf_printf(b, " (%s)", r->why);
	buf_printf(b, "\n");
}

static void args_text(struct cluster *c, struct buf *b)
{
	int i;

	buf_printf(b, "command:");
	for (i = 0; c->opt->argv[i]; i++)
		buf_printf(b, " %s", c->opt->argv[i]);
	buf_printf(b, "\n");
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

void report_text(struct cluster *c, struct buf *b)
{
	struct census *cs = census_fresh(c);
	int i;

	buf_printf(b, "cluster-run pid %d, %s, policy %s, %d worker%s (target %d), up %.0fs%s\n",
		   (int)getpid(), c->prog->path, c->opt->policy->name, c->nworkers,
		   c->nworkers == 1 ? "" : "s", c->target, uptime_s(c->started_ms),
		   c->stopping ? ", stopping" : slots_reloading(c) ? ", reloading" : "");
	args_text(c, b);
	reload_text(c, b);
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
	buf_printf(b, "%-5s %-8s %-9s %9s %8s %10s %8s %8s %9s\n",
		   "SLOT", "PID", "STATE", "UPTIME", "RESTARTS", "HANDED", "OPEN", "CPU", "RSS");
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		struct procstat ps;

		procstat_read(w->pid, &ps);
		buf_printf(b, "%-5d %-8d %-9s %8.0fs %8u %10llu %8llu %7.2fs %7.1fMi\n", w->slot,
			   (int)w->pid, worker_state_name(w->state), uptime_s(w->started_ms),
			   c->slots[w->slot].restarts, (unsigned long long)worker_taken(w),
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

void report_json(struct cluster *c, struct buf *b)
{
	struct census *cs = census_fresh(c);
	int i;

	const struct reload_record *r = lifecycle_last_reload(c);

	buf_printf(b, "{\"pid\":%d,\"program\":", (int)getpid());
	json_string(b, c->prog->path);
	buf_printf(b, ",\"args\":[");
	for (i = 0; c->opt->argv[i]; i++) {
		buf_printf(b, "%s", i ? "," : "");
		json_string(b, c->opt->argv[i]);
	}
	buf_printf(b, "],\"ready\":%s,\"last_reload\":{\"outcome\":\"%s\"",
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

		procstat_read(w->pid, &ps);
		buf_printf(b, "%s{\"slot\":%d,\"pid\":%d,\"state\":\"%s\",\"uptime\":%.3f,"
			   "\"restarts\":%u,\"handed\":%llu,\"open\":%llu,"
			   "\"cpu_seconds\":%.2f,\"rss_bytes\":%llu,\"out_of_fds\":%s",
			   i ? "," : "", w->slot, (int)w->pid, worker_state_name(w->state),
			   uptime_s(w->started_ms), c->slots[w->slot].restarts,
			   (unsigned long long)worker_taken(w),
			   (unsigned long long)worker_open(cs, w), ps.cpu_seconds, ps.rss_bytes,
			   w->fds_short ? "true" : "false");
		/* a daemon it left, followed (follow.c): the pid we started */
		if (w->pid != w->spawned_pid)
			buf_printf(b, ",\"followed_from\":%d", (int)w->spawned_pid);
		buf_printf(b, "}");
	}
	buf_printf(b, "],");
	health_report_json(c, b);
	buf_printf(b, "}\n");
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
}
