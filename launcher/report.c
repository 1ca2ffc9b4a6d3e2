/*
 * report.c - the cluster's state, three ways: text for people
 * (cluster-ctl status), JSON for programs (status --json), and the
 * Prometheus text format (--metrics).  All three read the same structs and
 * change nothing; they append to a growing buffer.
 *
 * Counters: "handed" is connections the master passed to a worker (rr,
 * leastconn); "open" is handed minus those the worker reported closed.
 * Under shared and reuseport workers accept by themselves and the master
 * does not see their connections: both are 0 there.
 */
#include "cluster.h"
#include "health.h"
#include "loop.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->data ? b->data + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap * 2 : 4096;
			char *grown;

			while (cap - b->len <= (size_t)n)
				cap *= 2;
			grown = realloc(b->data, cap);
			if (!grown)
				return;
			b->data = grown;
			b->cap = cap;
		}
	}
}

const char *worker_state_name(enum worker_state s)
{
	switch (s) {
	case W_STARTING: return "starting";
	case W_READY:    return "ready";
	case W_DRAINING: return "draining";
	case W_STOPPING: return "stopping";
	}
	return "?";
}

static uint64_t worker_handed(const struct worker *w)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < w->c->nlisteners; i++)
		n += w->routes[i].handed;
	return n;
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

void report_text(struct cluster *c, struct buf *b)
{
	int i;

	buf_printf(b, "cluster-run pid %d, %s, policy %s, %d worker%s (target %d), up %.0fs%s\n",
		   (int)getpid(), c->prog->path, policy_name(c->opt->policy), c->nworkers,
		   c->nworkers == 1 ? "" : "s", c->target, uptime_s(c->started_ms),
		   c->stopping ? ", stopping" : c->reloading ? ", reloading" : "");
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		buf_printf(b, "listener %s (%s) policy %s accepted %llu pending %zu\n",
			   l->name, kind(l), policy_name(l->policy),
			   (unsigned long long)l->accepted, l->npending);
	}
	buf_printf(b, "%-5s %-8s %-9s %9s %8s %10s %8s\n",
		   "SLOT", "PID", "STATE", "UPTIME", "RESTARTS", "HANDED", "OPEN");
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		buf_printf(b, "%-5d %-8d %-9s %8.0fs %8u %10llu %8llu\n", w->slot, (int)w->pid,
			   worker_state_name(w->state), uptime_s(w->started_ms),
			   c->slots[w->slot].restarts, (unsigned long long)worker_handed(w),
			   (unsigned long long)worker_open_conns(w));
	}
	health_report_text(c, b);
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
	int i;

	buf_printf(b, "{\"pid\":%d,\"program\":", (int)getpid());
	json_string(b, c->prog->path);
	buf_printf(b, ",\"policy\":\"%s\",\"target\":%d,\"uptime\":%.3f,"
		   "\"stopping\":%s,\"reloading\":%s,\"listeners\":[",
		   policy_name(c->opt->policy), c->target, uptime_s(c->started_ms),
		   c->stopping ? "true" : "false", c->reloading ? "true" : "false");
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		buf_printf(b, "%s{\"address\":", i ? "," : "");
		json_string(b, l->name);
		buf_printf(b, ",\"kind\":\"%s\",\"policy\":\"%s\",\"accepted\":%llu,\"pending\":%zu}",
			   kind(l), policy_name(l->policy), (unsigned long long)l->accepted,
			   l->npending);
	}
	buf_printf(b, "],\"workers\":[");
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		buf_printf(b, "%s{\"slot\":%d,\"pid\":%d,\"state\":\"%s\",\"uptime\":%.3f,"
			   "\"restarts\":%u,\"handed\":%llu,\"open\":%llu}",
			   i ? "," : "", w->slot, (int)w->pid, worker_state_name(w->state),
			   uptime_s(w->started_ms), c->slots[w->slot].restarts,
			   (unsigned long long)worker_handed(w),
			   (unsigned long long)worker_open_conns(w));
	}
	buf_printf(b, "],");
	health_report_json(c, b);
	buf_printf(b, "}\n");
}

void report_metrics(struct cluster *c, struct buf *b)
{
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
			   (unsigned long long)worker_handed(c->workers[i]));
	buf_printf(b, "# HELP cluster_run_connections_open Connections a worker has open.\n"
		      "# TYPE cluster_run_connections_open gauge\n");
	for (i = 0; i < c->nworkers; i++)
		buf_printf(b, "cluster_run_connections_open{slot=\"%d\",pid=\"%d\"} %llu\n",
			   c->workers[i]->slot, (int)c->workers[i]->pid,
			   (unsigned long long)worker_open_conns(c->workers[i]));
	buf_printf(b, "# HELP cluster_run_accepted_total Connections the master accepted.\n"
		      "# TYPE cluster_run_accepted_total counter\n");
	for (i = 0; i < c->nlisteners; i++)
		buf_printf(b, "cluster_run_accepted_total{listener=\"%s\"} %llu\n",
			   c->listeners[i]->name, (unsigned long long)c->listeners[i]->accepted);
	health_report_metrics(c, b);
}
