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
 * Followers (-f): control.c hands over the client's socket with the
 * answer so far; from then on every new line it wants is appended to its
 * buffer and sent without blocking (the rest on EPOLLOUT).  A follower
 * that reads slower than the workers write has at most
 * LOGS_FOLLOW_PENDING_MAX bytes waiting; lines beyond are skipped,
 * counted, and named in a line once it has caught up.  Nobody waits for
 * a follower: not the workers, not the loop.  A follower leaves by
 * closing; all are closed when the cluster stops (cluster-ctl then exits
 * 0).  At most LOGS_FOLLOWERS_MAX at once: each holds a control client's
 * place no longer, but an fd and up to a MiB.
 *
 * An in-place upgrade carries the followers over (logs_save/restore):
 * same socket, what they had not taken yet, the lines the new image kept
 * before it restored them (those after the number of the last line the
 * follower was offered: the rings are restored first), then the new
 * image's lines as they come.
 *
 * Not here: the rings (base/logring.c), the control socket (control.c).
 */
#include "surface/logs.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/options.h"
#include "base/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct follower {
	struct follower *prev, *next;
	struct loop *loop;
	int fd;
	struct logs_request rq;
	struct buf out;
	size_t sent;            /* of out */
	uint32_t events;        /* what the loop watches for: 0 or EPOLLOUT */
	uint64_t skipped;       /* lines it was too slow for, not yet said */
};

static struct {
	struct follower *list;
	int n;
	int busy;               /* in follow_line: see there */
} fl;

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
	if (rq->follow && fl.n >= LOGS_FOLLOWERS_MAX) {
		buf_printf(b, "error: %d clients already follow the logs\n", LOGS_FOLLOWERS_MAX);
		return -1;
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

static void follower_close(struct follower *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		fl.list = f->next;
	if (f->next)
		f->next->prev = f->prev;
	fl.n--;
	loop_del_fd(f->loop, f->fd);
	close(f->fd);
	free(f->out.data);
	free(f);
	if (!fl.list)
		logring_on_line(NULL, NULL);
}

static int watch(struct follower *f, uint32_t events)
{
	if (f->events == events)
		return 0;       /* a syscall saved per line */
	f->events = events;
	return loop_mod_fd(f->loop, f->fd, events);
}

/* Send what the socket takes; once all is out, start the buffer again
 * (with a word about skipped lines).  -1 when the follower is gone. */
static int flush(struct follower *f)
{
	for (;;) {
		while (f->sent < f->out.len) {
			ssize_t n = send(f->fd, f->out.data + f->sent, f->out.len - f->sent,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return watch(f, EPOLLOUT);
			if (n <= 0)
				return -1;
			f->sent += (size_t)n;
		}
		f->out.len = f->sent = 0;
		if (!f->skipped)
			break;
		buf_printf(&f->out, "... %llu line%s skipped (read too slowly)\n",
			   (unsigned long long)f->skipped, f->skipped == 1 ? "" : "s");
		f->skipped = 0;
	}
	return watch(f, 0);     /* HUP and ERR still come */
}

static void follower_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct follower *f = data;

	(void)loop;
	(void)fd;
	if ((events & (EPOLLHUP | EPOLLERR | EPOLLIN)) || flush(f) < 0)
		follower_close(f);      /* it left, or says more: done */
}

/* logring.c's listener: the new line to every follower that wants it.
 * No follower is closed here and nothing is logged: a log line from in
 * here would come back in (busy drops that one for followers; the ring
 * has it).  A follower that has gone is closed on its HUP. */
static void follow_line(const struct logring_line *l, void *data)
{
	struct follower *f;

	(void)data;
	if (fl.busy)
		return;
	fl.busy = 1;
	for (f = fl.list; f; f = f->next) {
		size_t before = f->out.len;

		if (f->out.len - f->sent > LOGS_FOLLOW_PENDING_MAX) {
			f->skipped += f->rq.slot == LOGRING_ALL || f->rq.slot == l->slot;
			continue;
		}
		if (!logs_format(&f->rq, l, &f->out) || before != f->sent)
			continue;       /* not wanted, or EPOLLOUT sends it later */
		if (flush(f) < 0)
			f->out.len = f->sent = 0;
	}
	fl.busy = 0;
}

int logs_follow(struct loop *loop, int fd, const struct logs_request *rq, struct buf *answer)
{
	struct follower *f = calloc(1, sizeof(*f));

	if (!f || loop_add_fd(loop, fd, 0, follower_event, f) < 0) {
		free(f);
		return -1;
	}
	f->loop = loop;
	f->fd = fd;
	f->rq = *rq;
	f->out = *answer;
	memset(answer, 0, sizeof(*answer));
	f->next = fl.list;
	if (f->next)
		f->next->prev = f;
	fl.list = f;
	fl.n++;
	logring_on_line(follow_line, NULL);
	if (flush(f) < 0)
		f->out.len = f->sent = 0;       /* gone: its HUP closes it */
	return 0;
}

void logs_follow_close_all(void)
{
	while (fl.list)
		follower_close(fl.list);
}

int logs_save(struct state_out *o)
{
	const struct follower *f;

	for (f = fl.list; f; f = f->next) {
		state_rec(o, "logs_follower");
		state_fd(o, "fd", f->fd);
		state_i64(o, "slot", f->rq.slot);
		state_i64(o, "n", f->rq.n);
		state_bytes(o, "out", f->out.data + f->sent, f->out.len - f->sent);
		state_u64(o, "skipped", f->skipped);
		state_u64(o, "seq", logring_seq());
	}
	return 0;
}

/* logring_last's callback at a restore: a line the follower missed. */
static void missed_line(const struct logring_line *l, void *data)
{
	struct follower *f = data;

	logs_format(&f->rq, l, &f->out);
}

/* A follower the new image cannot keep (out of memory) is closed: its
 * cluster-ctl sees the end, as at a stop, rather than silence. */
int logs_restore(struct loop *loop, const struct state_in *in)
{
	const struct state_rec *r;

	for (r = state_first(in, "logs_follower"); r; r = state_next(r)) {
		struct logs_request rq = { .slot = (int)rec_i64(r, "slot", LOGRING_ALL),
					   .n = rec_i64(r, "n", LOGS_DEFAULT_N), .follow = 1 };
		int fd = rec_fd(r, "fd");
		struct buf out = { 0 };
		struct follower *f;

		if (fd < 0)
			continue;
		/* what it had not taken: at most the bound and a line */
		rec_buf(r, "out", &out, LOGS_FOLLOW_PENDING_MAX * 2);
		if (logs_follow(loop, fd, &rq, &out) < 0) {
			log_warnx("logs -f: a follower lost in the upgrade (out of memory)");
			free(out.data);
			close(fd);
			continue;
		}
		for (f = fl.list; f && f->fd != fd; f = f->next)
			;
		if (f) {
			uint64_t seen = rec_u64(r, "seq", 0);

			f->skipped = rec_u64(r, "skipped", 0);
			if (seen && logring_seq() > seen) {
				logring_last(LOGRING_ALL, (size_t)(logring_seq() - seen), missed_line, f);
				if (flush(f) < 0)
					f->out.len = f->sent = 0;
			}
		}
	}
	return 0;
}

void logs_follow_forget(void)
{
	while (fl.list) {
		struct follower *f = fl.list;

		loop_del_fd(f->loop, f->fd);
		fl.list = f->next;
		fl.n--;
		free(f->out.data);
		free(f);
	}
	logring_on_line(NULL, NULL);
}
