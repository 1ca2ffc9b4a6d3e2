/*
 * output.c - workers' output, a whole line at a time (see output.h).
 *
 * Each stream keeps a line buffer; a complete line goes to logline.c,
 * which formats it (prefix, time, JSON) and writes it with one write(), so
 * lines of different workers never mix.  A line longer than the buffer is
 * cut and written in pieces, each a line of its own.
 * The pipes' read ends are non-blocking: the loop must never stall on a
 * worker, and output_free() drains what a dead worker left.
 */
#include "base/output.h"
#include "base/log.h"
#include "base/logline.h"
#include "base/loop.h"
#include "base/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

struct stream {
	struct output *o;
	int fd;                 /* read end, -1 when closed */
	int dest;               /* 1 or 2 */
	size_t len;
	char buf[LINE_MAX_BYTES];
};

struct output {
	struct loop *loop;
	int slot;
	pid_t pid;
	struct stream s[2];
};

/* line holds len bytes, its newline (if any) not counted. */
static void emit(struct stream *s, const char *line, size_t len)
{
	logline_worker(s->o->slot, s->o->pid, s->dest == 1 ? LOG_STDOUT : LOG_STDERR, line, len);
}

/* Write every complete line; keep the rest.  A full buffer is one line. */
static void flush_lines(struct stream *s, int all)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(s->buf + start, '\n', s->len - start))) {
		size_t end = (size_t)(nl - s->buf) + 1;
		emit(s, s->buf + start, end - start - 1);
		start = end;
	}
	if (start < s->len && (all || (start == 0 && s->len == sizeof(s->buf)))) {
		emit(s, s->buf + start, s->len - start);
		start = s->len;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
}

static void close_stream(struct stream *s)
{
	if (s->fd < 0)
		return;
	flush_lines(s, 1);
	loop_del_fd(s->o->loop, s->fd);
	close(s->fd);
	s->fd = -1;
}

/* Read what is there now; 1 when the stream reached EOF. */
static int drain(struct stream *s)
{
	for (;;) {
		ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);

		if (n > 0) {
			s->len += (size_t)n;
			flush_lines(s, 0);
			continue;
		}
		if (n == 0)
			return 1;
		return errno != EAGAIN && errno != EINTR;
	}
}

static void stream_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct stream *s = data;

	(void)loop;
	(void)fd;
	(void)events;
	if (drain(s))
		close_stream(s);
}

struct output *output_new(struct loop *loop, int slot, int *out_w, int *err_w)
{
	struct output *o = calloc(1, sizeof(*o));
	int i, p[2];

	/* -1 until both pipes exist: the caller closes what is >= 0 and gives
	 * it to the child, so a number left here must be an fd we own */
	*out_w = *err_w = -1;
	if (!o)
		return NULL;
	o->loop = loop;
	o->slot = slot;
	for (i = 0; i < 2; i++) {
		struct stream *s = &o->s[i];

		s->o = o;
		s->dest = i + 1;
		s->fd = -1;
		if (pipe2(p, O_CLOEXEC) < 0)
			goto fail;
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		if (loop_add_fd(loop, p[0], EPOLLIN, stream_event, s) < 0) {
			close(p[0]);
			close(p[1]);
			goto fail;
		}
		s->fd = p[0];
		*(i == 0 ? out_w : err_w) = p[1];
	}
	return o;
fail:
	log_warn("worker %d: output pipes", slot);
	if (*out_w >= 0)
		close(*out_w);
	*out_w = *err_w = -1;
	output_free(o);
	return NULL;
}

void output_set_pid(struct output *o, pid_t pid)
{
	o->pid = pid;
}

void output_free(struct output *o)
{
	int i;

	if (!o)
		return;
	for (i = 0; i < 2; i++) {
		if (o->s[i].fd >= 0)
			drain(&o->s[i]);
		close_stream(&o->s[i]);
	}
	free(o);
}

static const char *const fd_key[2] = { "out_fd", "err_fd" };
static const char *const part_key[2] = { "out_part", "err_part" };

void output_save(const struct output *o, struct state_out *so)
{
	int i;

	if (!o)
		return;
	for (i = 0; i < 2; i++) {
		if (o->s[i].fd < 0)
			continue;
		state_fd(so, fd_key[i], o->s[i].fd);
		if (o->s[i].len)
			state_bytes(so, part_key[i], o->s[i].buf, o->s[i].len);
	}
}

struct output *output_restore(struct loop *loop, int slot, pid_t pid, const struct state_rec *rec)
{
	int fd[2] = { rec_fd(rec, fd_key[0]), rec_fd(rec, fd_key[1]) }, i;
	struct output *o;

	if (fd[0] < 0 && fd[1] < 0)
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o)
		goto fail;
	o->loop = loop;
	o->slot = slot;
	o->pid = pid;
	for (i = 0; i < 2; i++) {
		struct stream *s = &o->s[i];
		long n;

		s->o = o;
		s->dest = i + 1;
		s->fd = -1;
		if (fd[i] < 0)
			continue;
		n = rec_bytes(rec, part_key[i], s->buf, sizeof(s->buf));
		s->len = n > 0 ? (size_t)n : 0;
		if (loop_add_fd(loop, fd[i], EPOLLIN, stream_event, s) < 0)
			goto fail;
		s->fd = fd[i];
		fd[i] = -1;
	}
	return o;
fail:
	/* the pipes are left open (a fallback's old image takes them) */
	log_warn("worker %d: output pipes after the upgrade", slot);
	for (i = 0; o && i < 2; i++)
		if (o->s[i].fd >= 0)
			loop_del_fd(loop, o->s[i].fd);
	free(o);
	return NULL;
}
