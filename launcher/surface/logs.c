/*
 * logs.c - what `cluster-ctl logs` shows (see logs.h).
 *
 * One line per line kept:
 *   2026-12-06T03:41:19.123Z [3 812 stdout] GET / 200
 *   2026-12-06T03:41:19.130Z [master] worker 3 (pid 812) exited with status 1
 * the time it reached the master (UTC), the slot, the pid of the worker
 * that wrote it (a restarted slot shows its old worker's lines with the
 * old pid) and the stream.  Without SLOT every slot's lines and the
 * master's come interleaved in their order of arrival.
 *
 * Not here: the rings (base/logring.c), the client (control.c).
 */
#include "surface/logs.h"
#include "base/buf.h"
#include "base/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int number(const char *s, long min, long max, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int logs_parse(const char *arg, struct logs_request *rq, struct buf *b)
{
	char words[512], *w, *save = NULL;
	int slot_given = 0;

	rq->slot = LOGRING_ALL;
	rq->n = LOGS_DEFAULT_N;
	rq->follow = 0;
	snprintf(words, sizeof(words), "%s", arg);
	for (w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		long v;

		if (!strcmp(w, "-f")) {
			rq->follow = 1;
		} else if (!strcmp(w, "-n")) {
			w = strtok_r(NULL, " \t", &save);
			if (!w || number(w, 0, LOGS_MAX_N, &rq->n) < 0) {
				buf_printf(b, "error: -n takes a line count from 0 to %d\n", LOGS_MAX_N);
				return -1;
			}
		} else if (!slot_given && !strcmp(w, "master")) {
			rq->slot = LOGRING_MASTER;
			slot_given = 1;
		} else if (!slot_given && number(w, 0, MAX_WORKERS - 1, &v) == 0) {
			rq->slot = (int)v;
			slot_given = 1;
		} else {
			buf_printf(b, "error: logs takes [SLOT|master] [-n N] [-f], not '%s'\n", w);
			return -1;
		}
	}
	if (!logring_lines()) {
		buf_printf(b, "error: no output is kept (cluster-run runs with --log-lines 0)\n");
		return -1;
	}
	return 0;
}

/* The line's bytes, a NUL written as \0 (printf's %s would stop there). */
static void put_text(struct buf *b, const char *s, size_t len)
{
	while (len) {
		size_t k = strnlen(s, len);

		buf_printf(b, "%.*s%s", (int)k, s, k < len ? "\\0" : "");
		k += k < len;
		s += k;
		len -= k;
	}
}

int logs_format(const struct logs_request *rq, const struct logring_line *l, struct buf *b)
{
	time_t secs = (time_t)(l->time_ms / 1000);
	char when[40];
	struct tm tm;

	if (rq->slot != LOGRING_ALL && rq->slot != l->slot)
		return 0;
	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (l->slot == LOGRING_MASTER)
		buf_printf(b, "%s.%03dZ [master] ", when, (int)(l->time_ms % 1000));
	else
		buf_printf(b, "%s.%03dZ [%d %d %s] ", when, (int)(l->time_ms % 1000), l->slot,
			   (int)l->pid, l->stream == 2 ? "stderr" : "stdout");
	put_text(b, l->text, l->len);
	buf_printf(b, "\n");
	return 1;
}

struct recent {
	const struct logs_request *rq;
	struct buf *b;
};

static void one(const struct logring_line *l, void *data)
{
	struct recent *r = data;

	logs_format(r->rq, l, r->b);
}

void logs_recent(const struct logs_request *rq, struct buf *b)
{
	struct recent r = { rq, b };

	logring_last(rq->slot, (size_t)rq->n, one, &r);
}
