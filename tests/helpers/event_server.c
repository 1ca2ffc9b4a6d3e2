/*
 * event_server - a single-threaded event-driven server in the libuv/nginx
 * style: a nonblocking listener, accept4(SOCK_NONBLOCK|SOCK_CLOEXEC) until
 * EAGAIN, and a small state machine per connection, driven by epoll, poll
 * or select (--mode).  Many connections are served at once, so --slow-ms
 * delays each reply without holding up the others.
 *
 * The listener is made nonblocking with ioctl(FIONBIO) under epoll and with
 * fcntl(F_SETFL) under poll/select, so both ways reach the shim.  Every
 * accepted fd is checked for O_NONBLOCK and FD_CLOEXEC: the reply says
 * flags=ok or flags=bad (and mode=<mode>).  Under --graceful, SIGTERM is
 * let in only while waiting for events, then the listener is dropped and
 * the open connections are finished.
 */
#include "event_loop.h"
#include "helper_common.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum conn_state { READING, WAITING, WRITING, HOLDING };

struct conn {
	int fd;
	enum conn_state state;
	long long due_ms;           /* WAITING: when to start replying */
	size_t req_len, reply_len, sent;
	char req[HELPER_REQUEST_MAX];
	char reply[HELPER_REPLY_MAX];
};

struct server {
	const struct helper_opts *opts;
	const char *mode;
	struct event_loop *loop;
	int listen_fd;
	int accepting;
	int nconns;
	struct conn *conns[FD_SETSIZE];  /* indexed by fd */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int set_nonblocking(struct server *s)
{
	int one = 1, fl;

	if (event_loop_mode(s->loop) == EVENT_EPOLL)
		return ioctl(s->listen_fd, FIONBIO, &one);
	fl = fcntl(s->listen_fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(s->listen_fd, F_SETFL, fl | O_NONBLOCK);
}

static void conn_close(struct server *s, struct conn *c)
{
	int replied = c->reply_len > 0 && c->sent == c->reply_len;

	if (event_loop_set(s->loop, c->fd, 0) < 0)
		fprintf(stderr, "%s: unwatch fd %d: %s\n", s->opts->prog, c->fd, strerror(errno));
	if (close(c->fd) < 0)
		fprintf(stderr, "%s: close: %s\n", s->opts->prog, strerror(errno));
	s->conns[c->fd] = NULL;
	s->nconns--;
	free(c);
	if (replied)
		helper_count_served(s->opts);
}

static void conn_write(struct server *s, struct conn *c)
{
	while (c->sent < c->reply_len) {
		ssize_t n = send(c->fd, c->reply + c->sent, c->reply_len - c->sent,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_loop_set(s->loop, c->fd, EVENT_WRITE);
			return;
		}
		if (n < 0) {
			fprintf(stderr, "%s: send: %s\n", s->opts->prog, strerror(errno));
			conn_close(s, c);
			return;
		}
		c->sent += (size_t)n;
	}
	if (!s->opts->hold) {
		conn_close(s, c);
		return;
	}
	c->state = HOLDING;
	event_loop_set(s->loop, c->fd, EVENT_READ);
}

static void conn_start_reply(struct server *s, struct conn *c)
{
	if (s->opts->slow_ms > 0) {
		c->state = WAITING;
		c->due_ms = now_ms() + s->opts->slow_ms;
		event_loop_set(s->loop, c->fd, 0);
		return;
	}
	c->state = WRITING;
	conn_write(s, c);
}

static void conn_read(struct server *s, struct conn *c)
{
	char scratch[512];

	for (;;) {
		int reading = c->state == READING;
		char *buf = reading ? c->req + c->req_len : scratch;
		size_t room = reading ? sizeof(c->req) - c->req_len : sizeof(scratch);
		ssize_t n = read(c->fd, buf, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 || (n == 0 && !reading)) {   /* error, or --hold is over */
			conn_close(s, c);
			return;
		}
		if (!reading)
			continue;
		c->req_len += (size_t)n;
		if (n == 0 || helper_request_complete(c->req, c->req_len)) {
			conn_start_reply(s, c);
			return;
		}
	}
}

static void conn_open(struct server *s, int fd, const struct sockaddr_storage *peer,
		      socklen_t len)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
	int good = fl >= 0 && fdfl >= 0 && (fl & O_NONBLOCK) && (fdfl & FD_CLOEXEC);
	struct conn *c = calloc(1, sizeof(*c));
	char extra[64];
	int n;

	snprintf(extra, sizeof(extra), "flags=%s\nmode=%s\n", good ? "ok" : "bad", s->mode);
	if (c == NULL || event_loop_set(s->loop, fd, EVENT_READ) < 0) {
		fprintf(stderr, "%s: cannot take fd %d: %s\n", s->opts->prog, fd, strerror(errno));
		free(c);
		close(fd);
		return;
	}
	n = helper_format_reply(s->opts, c->reply, sizeof(c->reply), s->listen_fd,
				"main", peer, len, extra);
	c->fd = fd;
	c->reply_len = n < 0 ? 0 : (size_t)n;
	s->conns[fd] = c;
	s->nconns++;
}

static int accept_all(struct server *s)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(s->listen_fd, (struct sockaddr *)&peer, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0)
			conn_open(s, fd, &peer, len);
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		else if (helper_accept_error(s->opts, errno) < 0)
			return -1;
		else if (errno == EMFILE || errno == ENFILE)
			return 0;
	}
}

static void on_event(void *arg, int fd, int events)
{
	struct server *s = arg;
	struct conn *c = fd < FD_SETSIZE ? s->conns[fd] : NULL;

	if (fd == s->listen_fd) {
		if (s->accepting && accept_all(s) < 0)
			exit(1);
	} else if (c != NULL && c->state == WRITING && (events & EVENT_WRITE)) {
		conn_write(s, c);
	} else if (c != NULL && (c->state == READING || c->state == HOLDING) &&
		   (events & EVENT_READ)) {
		conn_read(s, c);
	}
}

/* Start the replies that are due; returns ms until the next one, or -1. */
static int run_timers(struct server *s)
{
	long long now = now_ms(), next = -1;

	for (int fd = 0; fd < FD_SETSIZE; fd++) {
		struct conn *c = s->conns[fd];

		if (c == NULL || c->state != WAITING)
			continue;
		if (c->due_ms <= now) {
			c->state = WRITING;
			conn_write(s, c);
		} else if (next < 0 || c->due_ms - now < next) {
			next = c->due_ms - now;
		}
	}
	return (int)next;
}

int main(int argc, char **argv)
{
	static struct server s;
	const char *mode = "epoll";
	const struct helper_option extra[] = {
		{ "--mode", HELPER_STR, &mode },
		{ NULL, 0, NULL },
	};
	struct helper_opts o;
	sigset_t term, wait_mask;

	if (helper_parse(&o, argc, argv, extra) < 0 || helper_setup_signals(&o) < 0)
		return 2;
	/* Under --graceful SIGTERM is only let in while waiting for events. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (o.graceful && sigprocmask(SIG_BLOCK, &term, &wait_mask) < 0) {
		fprintf(stderr, "%s: sigprocmask: %s\n", o.prog, strerror(errno));
		return 1;
	}
	s = (struct server){ .opts = &o, .mode = mode, .accepting = 1 };
	s.loop = event_loop_new(mode);
	if (s.loop == NULL) {
		fprintf(stderr, "%s: --mode %s: %s\n", o.prog, mode, strerror(errno));
		return 2;
	}
	s.listen_fd = helper_listen(&o, o.port);
	if (s.listen_fd < 0)
		return 1;
	if (set_nonblocking(&s) < 0 || event_loop_set(s.loop, s.listen_fd, EVENT_READ) < 0) {
		fprintf(stderr, "%s: setting up the listener: %s\n", o.prog, strerror(errno));
		return 1;
	}
	helper_announce(&o, s.listen_fd);

	while (s.accepting || s.nconns > 0) {
		int timeout = run_timers(&s);

		if (event_loop_wait(s.loop, timeout, o.graceful ? &wait_mask : NULL,
				    on_event, &s) < 0 && errno != EINTR) {
			fprintf(stderr, "%s: %s: %s\n", o.prog, mode, strerror(errno));
			return 1;
		}
		if (helper_stopping && s.accepting) {
			s.accepting = 0;
			event_loop_set(s.loop, s.listen_fd, 0);
		}
	}
	return 0;
}
