/*
 * top_view.c - cluster-ctl top's frame: the master's status --json laid
 * out as a table, one row per worker and per listener, plus the rates
 * status does not have.  CPU % is the change of a worker's cpu_seconds
 * between two samples over the time between them; conn/s is the
 * worker's "accepts_per_s" when the master reports it, else the change
 * of "handed" the same way.  Rates compare a worker with the same pid in
 * the previous sample: a restarted worker's first frame shows "-", as
 * does every rate in the first frame.
 *
 * Fields newer than this client (or than the master it talks to) may be
 * missing: each cell shows "-" for what the document lacks, so top works
 * against masters a version apart either way.
 *
 * Not here: the terminal and the keys (top.c), the JSON grammar
 * (base/json_read.c).
 */
#include "surface/top_view.h"
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rates {
	int has_conn, has_cpu;
	double conn, cpu;       /* connections a second, CPU percent */
};

int top_sample_set(struct top_sample *s, char *text, double when)
{
	memset(s, 0, sizeof(*s));
	s->text = text;
	s->when = when;
	if (json_parse(&s->doc, text, strlen(text)) < 0)
		return -1;
	if (json_type_of(&s->doc, 0) != JSON_OBJECT) {
		json_free(&s->doc);
		return -1;
	}
	return 0;
}

void top_sample_free(struct top_sample *s)
{
	json_free(&s->doc);
	free(s->text);
	s->text = NULL;
}

static double num(const struct top_sample *s, int obj, const char *key, double dflt)
{
	return json_number(&s->doc, json_get(&s->doc, obj, key), dflt);
}

static int has_num(const struct top_sample *s, int obj, const char *key)
{
	return json_type_of(&s->doc, json_get(&s->doc, obj, key)) == JSON_NUMBER;
}

/* The element of array key (at the top) whose field equals now's: the
 * same worker (by pid) or listener (by address) in the other sample. */
static int match(const struct top_sample *s, const char *array, const char *field,
		 const struct top_sample *now, int in_now)
{
	int arr = json_get(&s->doc, 0, array), i, e;
	int want = json_get(&now->doc, in_now, field);
	size_t n;

	if (want < 0)
		return -1;
	n = now->doc.toks[want].end - now->doc.toks[want].start;
	for (i = 0; (e = json_at(&s->doc, arr, i)) >= 0; i++) {
		int f = json_get(&s->doc, e, field);

		if (f >= 0 && s->doc.toks[f].type == now->doc.toks[want].type &&
		    s->doc.toks[f].end - s->doc.toks[f].start == n &&
		    !memcmp(s->text + s->doc.toks[f].start, now->text + now->doc.toks[want].start, n))
			return e;
	}
	return -1;
}

static struct rates worker_rates(const struct top_sample *now, const struct top_sample *prev,
				 int w)
{
	struct rates r = { 0 };
	double dt = prev ? now->when - prev->when : 0;
	int pw = prev && dt > 0 ? match(prev, "workers", "pid", now, w) : -1;

	if (has_num(now, w, "accepts_per_s")) {
		r.has_conn = 1;
		r.conn = num(now, w, "accepts_per_s", 0);
	} else if (pw >= 0 && has_num(now, w, "handed") && has_num(prev, pw, "handed")) {
		r.has_conn = 1;
		r.conn = (num(now, w, "handed", 0) - num(prev, pw, "handed", 0)) / dt;
	}
	if (pw >= 0 && has_num(now, w, "cpu_seconds") && has_num(prev, pw, "cpu_seconds")) {
		r.has_cpu = 1;
		r.cpu = 100.0 * (num(now, w, "cpu_seconds", 0) - num(prev, pw, "cpu_seconds", 0)) / dt;
		if (r.cpu < 0)
			r.cpu = 0;      /* cpu_seconds is rounded to 0.01 s */
	}
	return r;
}

/* A listener's accepts a second, from "accepted"; -1 when unknown. */
static double listener_rate(const struct top_sample *now, const struct top_sample *prev, int l)
{
	double dt = prev ? now->when - prev->when : 0;
	int pl = prev && dt > 0 ? match(prev, "listeners", "address", now, l) : -1;

	if (pl < 0 || !has_num(now, l, "accepted") || !has_num(prev, pl, "accepted"))
		return -1;
	return (num(now, l, "accepted", 0) - num(prev, pl, "accepted", 0)) / dt;
}

/* A number as fmt, or "-" when the document has none. */
static const char *cell(char *out, size_t cap, int ok, const char *fmt, double v)
{
	if (ok)
		snprintf(out, cap, fmt, v);
	else
		snprintf(out, cap, "-");
	return out;
}

static const char *bytes(char *out, size_t cap, int ok, double v)
{
	if (!ok)
		return cell(out, cap, 0, "", 0);
	if (v >= 1024.0 * 1024 * 1024)
		snprintf(out, cap, "%.1fGi", v / (1024.0 * 1024 * 1024));
	else if (v >= 1024.0 * 1024)
		snprintf(out, cap, "%.1fMi", v / (1024.0 * 1024));
	else
		snprintf(out, cap, "%.0fKi", v / 1024.0);
	return out;
}

static const char *duration(char *out, size_t cap, double s)
{
	long t = (long)s;

	if (t >= 86400)
		snprintf(out, cap, "%ldd%02ldh", t / 86400, t % 86400 / 3600);
	else if (t >= 3600)
		snprintf(out, cap, "%ldh%02ldm", t / 3600, t % 3600 / 60);
	else if (t >= 60)
		snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(out, cap, "%lds", t);
	return out;
}

static const char *str(const struct top_sample *s, int obj, const char *key, char *out,
		       size_t cap)
{
	const char *v = json_string(&s->doc, json_get(&s->doc, obj, key), out, cap);

	return v ? v : "-";
}

static int is_true(const struct top_sample *s, int obj, const char *key)
{
	return json_type_of(&s->doc, json_get(&s->doc, obj, key)) == JSON_TRUE;
}

static void header_text(struct buf *b, const struct top_sample *s)
{
	char prog[128], pol[32], up[32], ver[40];
	int ws = json_get(&s->doc, 0, "workers");
	int nw = json_type_of(&s->doc, ws) == JSON_ARRAY ? s->doc.toks[ws].size : 0;

	/* the version: an older master reports none, and shows none */
	str(s, 0, "version", ver, sizeof(ver));
	buf_printf(b, "cluster-run %s%spid %.0f: %s, policy %s, %d/%.0f workers, up %s%s%s\n",
		   strcmp(ver, "-") ? ver : "", strcmp(ver, "-") ? " " : "",
		   num(s, 0, "pid", 0), str(s, 0, "program", prog, sizeof(prog)),
		   str(s, 0, "policy", pol, sizeof(pol)), nw, num(s, 0, "target", 0),
		   duration(up, sizeof(up), num(s, 0, "uptime", 0)),
		   is_true(s, 0, "stopping") ? ", stopping" : "",
		   is_true(s, 0, "reloading") ? ", reloading" : "");
}

/* "last reload: complete at 12:00:01, took 2.3s (why)" */
static void reload_text(struct buf *b, const struct top_sample *s)
{
	int r = json_get(&s->doc, 0, "last_reload");
	char outcome[32], why[128], when[16] = "?";
	time_t t = (time_t)num(s, r, "started", 0);
	const char *oc = str(s, r, "outcome", outcome, sizeof(outcome));
	struct tm tm;

	if (!strcmp(oc, "none") || !strcmp(oc, "-"))
		return;
	if (t && localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
	buf_printf(b, "last reload: %s at %s, %.1fs", oc, when, num(s, r, "seconds", 0));
	if (strcmp(str(s, r, "reason", why, sizeof(why)), "-"))
		buf_printf(b, " (%s)", why);
	buf_printf(b, "\n");
}

/* rollout: null, absent (older masters), or its progress. */
static void rollout_text(struct buf *b, const struct top_sample *s)
{
	int r = json_get(&s->doc, 0, "rollout");
	char a[32], c[32], d[32], e[32], f[32], g[32];

	if (json_type_of(&s->doc, r) != JSON_OBJECT)
		return;
	buf_printf(b, "rollout: generation %s, %s/%s replaced, %s draining (oldest %ss), "
		      "batch %s%s\n",
		   cell(a, sizeof(a), has_num(s, r, "generation"), "%.0f", num(s, r, "generation", 0)),
		   cell(c, sizeof(c), has_num(s, r, "replaced"), "%.0f", num(s, r, "replaced", 0)),
		   cell(d, sizeof(d), has_num(s, r, "total"), "%.0f", num(s, r, "total", 0)),
		   cell(e, sizeof(e), has_num(s, r, "draining"), "%.0f", num(s, r, "draining", 0)),
		   cell(f, sizeof(f), has_num(s, r, "oldest_drain_s"), "%.1f",
			num(s, r, "oldest_drain_s", 0)),
		   cell(g, sizeof(g), has_num(s, r, "batch"), "%.0f", num(s, r, "batch", 0)),
		   is_true(s, r, "paused") ? ", paused" : "");
}

static void restarts_text(struct buf *b, const struct top_sample *s)
{
	int rr = json_get(&s->doc, 0, "restart_reasons"), i, k;

	buf_printf(b, "restarts: %.0f", num(s, 0, "restarts", 0));
	if (json_type_of(&s->doc, rr) != JSON_OBJECT || !s->doc.toks[rr].size) {
		buf_printf(b, "\n");
		return;
	}
	buf_printf(b, " (");
	/* the reasons in the master's order: walk the pairs, key then value */
	for (i = 0, k = rr + 1; i < s->doc.toks[rr].size; i++, k = s->doc.toks[k + 1].next) {
		char key[32];

		json_string(&s->doc, k, key, sizeof(key));
		buf_printf(b, "%s%s %.0f", i ? ", " : "", key, json_number(&s->doc, k + 1, 0));
	}
	buf_printf(b, ")\n");
}

static void listeners_text(struct buf *b, const struct top_sample *now,
			   const struct top_sample *prev)
{
	int arr = json_get(&now->doc, 0, "listeners"), i, l;

	buf_printf(b, "%-28s %-4s %-12s %10s %8s %9s\n", "LISTENER", "KIND", "POLICY",
		   "ACCEPTED", "PENDING", "ACCEPT/S");
	for (i = 0; (l = json_at(&now->doc, arr, i)) >= 0; i++) {
		char addr[128], kind[16], pol[32], acc[24], pend[24], rate[24];
		double r = listener_rate(now, prev, l);

		buf_printf(b, "%-28s %-4s %-12s %10s %8s %9s\n",
			   str(now, l, "address", addr, sizeof(addr)),
			   str(now, l, "kind", kind, sizeof(kind)),
			   str(now, l, "policy", pol, sizeof(pol)),
			   cell(acc, sizeof(acc), has_num(now, l, "accepted"), "%.0f",
				num(now, l, "accepted", 0)),
			   cell(pend, sizeof(pend), has_num(now, l, "pending"), "%.0f",
				num(now, l, "pending", 0)),
			   cell(rate, sizeof(rate), r >= 0, "%.1f", r));
	}
}

static void worker_text(struct buf *b, const struct top_sample *now,
			const struct top_sample *prev, int w)
{
	struct rates r = worker_rates(now, prev, w);
	int d = json_get(&now->doc, w, "duration");
	char state[16], gen[16], conn[24], open[24], p50[24], p99[24], cpu[24], rss[24];
	char restarts[16], last[32];

	buf_printf(b, "%4.0f %-8.0f %-9s %4s %8s %6s %7s %7s %6s %8s %8s %s\n",
		   num(now, w, "slot", -1), num(now, w, "pid", 0),
		   str(now, w, "state", state, sizeof(state)),
		   cell(gen, sizeof(gen), has_num(now, w, "generation"), "%.0f",
			num(now, w, "generation", 0)),
		   cell(conn, sizeof(conn), r.has_conn, "%.1f", r.conn),
		   cell(open, sizeof(open), has_num(now, w, "open"), "%.0f", num(now, w, "open", 0)),
		   cell(p50, sizeof(p50), has_num(now, d, "p50_ms"), "%.1f", num(now, d, "p50_ms", 0)),
		   cell(p99, sizeof(p99), has_num(now, d, "p99_ms"), "%.1f", num(now, d, "p99_ms", 0)),
		   cell(cpu, sizeof(cpu), r.has_cpu, "%.1f", r.cpu),
		   bytes(rss, sizeof(rss), has_num(now, w, "rss_bytes"), num(now, w, "rss_bytes", 0)),
		   cell(restarts, sizeof(restarts), has_num(now, w, "restarts"), "%.0f",
			num(now, w, "restarts", 0)),
		   str(now, w, "last_exit", last, sizeof(last)));
}

/* Rows by slot (status lists workers as the master keeps them: a
 * restarted slot's worker comes last); a retiring worker and its
 * replacement share a slot, the older pid first. */
static const struct top_sample *sorting;       /* qsort has no context: one client thread */

static int by_slot(const void *x, const void *y)
{
	int a = *(const int *)x, b = *(const int *)y;
	double sa = num(sorting, a, "slot", -1), sb = num(sorting, b, "slot", -1);

	if (sa != sb)
		return sa < sb ? -1 : 1;
	return num(sorting, a, "pid", 0) < num(sorting, b, "pid", 0) ? -1 : 1;
}

void top_view_text(struct buf *b, const struct top_sample *now, const struct top_sample *prev)
{
	int arr = json_get(&now->doc, 0, "workers"), i, w, n = 0;
	int *rows = json_type_of(&now->doc, arr) == JSON_ARRAY ?
		    calloc((size_t)now->doc.toks[arr].size + 1, sizeof(int)) : NULL;

	header_text(b, now);
	reload_text(b, now);
	rollout_text(b, now);
	restarts_text(b, now);
	buf_printf(b, "\n");
	listeners_text(b, now, prev);
	buf_printf(b, "\n%4s %-8s %-9s %4s %8s %6s %7s %7s %6s %8s %8s %s\n", "SLOT", "PID",
		   "STATE", "GEN", "CONN/S", "OPEN", "P50MS", "P99MS", "CPU%", "RSS", "RESTARTS",
		   "LAST EXIT");
	for (i = 0; rows && (w = json_at(&now->doc, arr, i)) >= 0; i++)
		rows[n++] = w;
	sorting = now;
	if (rows)
		qsort(rows, (size_t)n, sizeof(int), by_slot);
	for (i = 0; i < n; i++)
		worker_text(b, now, prev, rows[i]);
	free(rows);
}

/* A number or null. */
static void json_rate(struct buf *b, const char *key, int ok, double v)
{
	if (ok)
		buf_printf(b, "\"%s\":%.3f", key, v);
	else
		buf_printf(b, "\"%s\":null", key);
}

void top_view_json(struct buf *b, const struct top_sample *now, const struct top_sample *prev)
{
	int arr = json_get(&now->doc, 0, "workers"), i, e;
	const struct json_tok *root = &now->doc.toks[0];
	size_t close = root->end - 1;   /* the document's last '}' */

	/* the document as the master sent it, less its closing brace */
	buf_printf(b, "%.*s%s\"top\":{", (int)(close - root->start), now->text + root->start,
		   root->size ? "," : "");
	json_rate(b, "interval_s", prev != NULL, prev ? now->when - prev->when : 0);
	buf_printf(b, ",\"workers\":[");
	for (i = 0; (e = json_at(&now->doc, arr, i)) >= 0; i++) {
		struct rates r = worker_rates(now, prev, e);

		buf_printf(b, "%s{\"slot\":%.0f,\"pid\":%.0f,", i ? "," : "",
			   num(now, e, "slot", -1), num(now, e, "pid", 0));
		json_rate(b, "conns_per_s", r.has_conn, r.conn);
		buf_printf(b, ",");
		json_rate(b, "cpu_percent", r.has_cpu, r.cpu);
		buf_printf(b, "}");
	}
	buf_printf(b, "],\"listeners\":[");
	arr = json_get(&now->doc, 0, "listeners");
	for (i = 0; (e = json_at(&now->doc, arr, i)) >= 0; i++) {
		int a = json_get(&now->doc, e, "address");
		double r = listener_rate(now, prev, e);

		/* the address as sent: its escapes stay as they were */
		buf_printf(b, "%s{\"address\":\"%.*s\",", i ? "," : "",
			   a >= 0 ? (int)(now->doc.toks[a].end - now->doc.toks[a].start) : 0,
			   a >= 0 ? now->text + now->doc.toks[a].start : "");
		json_rate(b, "accepts_per_s", r >= 0, r);
		buf_printf(b, "}");
	}
	buf_printf(b, "]}}\n");
}
