/*
 * loop.c - epoll plus timers, in the spirit of redis' ae.c.
 *
 * fd records live in a table indexed by fd number (grown on demand), so a
 * callback can delete any fd, including its own, while events are being
 * dispatched: a deleted record is simply skipped.  Timers are a small
 * unsorted array scanned for the nearest deadline: the master has a few
 * dozen at most (restart backoff, grace periods), so O(n) is the right
 * trade-off against a heap.
 */
#include "loop.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_TIMERS 256
#define MAX_EVENTS 64

struct fd_rec {
	fd_handler *cb;
	void *data;
	uint64_t gen;           /* changes when the fd is re-registered */
};

struct timer {
	uint64_t id;            /* 0 = free */
	int64_t when;
	timer_handler *cb;
	void *data;
};

struct loop {
	int ep;
	int stop;
	struct fd_rec *fds;
	int nfds;
	uint64_t gen;
	struct timer timers[MAX_TIMERS];
	uint64_t next_timer;
};

int64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->ep = epoll_create1(EPOLL_CLOEXEC);
	if (loop->ep < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	close(loop->ep);
	free(loop->fds);
	free(loop);
}

static int ensure_fd(struct loop *loop, int fd)
{
	struct fd_rec *grown;
	int n;

	if (fd < loop->nfds)
		return 0;
	n = loop->nfds ? loop->nfds : 64;
	while (n <= fd)
		n *= 2;
	grown = realloc(loop->fds, (size_t)n * sizeof(*grown));
	if (!grown)
		return -1;
	memset(grown + loop->nfds, 0, (size_t)(n - loop->nfds) * sizeof(*grown));
	loop->fds = grown;
	loop->nfds = n;
	return 0;
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, fd_handler *cb, void *data)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (ensure_fd(loop, fd) < 0)
		return -1;
	if (epoll_ctl(loop->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	loop->fds[fd].cb = cb;
	loop->fds[fd].data = data;
	loop->fds[fd].gen = ++loop->gen;
	return 0;
}

int loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(loop->ep, EPOLL_CTL_MOD, fd, &ev);
}

void loop_del_fd(struct loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->nfds || !loop->fds[fd].cb)
		return;
	epoll_ctl(loop->ep, EPOLL_CTL_DEL, fd, NULL);
	loop->fds[fd].cb = NULL;
	loop->fds[fd].data = NULL;
}

uint64_t loop_timer(struct loop *loop, int64_t ms, timer_handler *cb, void *data)
{
	int i;

	for (i = 0; i < MAX_TIMERS; i++) {
		struct timer *t = &loop->timers[i];
		if (t->id)
			continue;
		t->id = ++loop->next_timer;
		t->when = loop_now_ms() + (ms > 0 ? ms : 0);
		t->cb = cb;
		t->data = data;
		return t->id;
	}
	log_warnx("too many timers");
	return 0;
}

void loop_timer_cancel(struct loop *loop, uint64_t id)
{
	int i;

	if (!id)
		return;
	for (i = 0; i < MAX_TIMERS; i++)
		if (loop->timers[i].id == id)
			loop->timers[i].id = 0;
}

/* ms until the nearest timer, or -1 when there is none. */
static int next_timeout(struct loop *loop)
{
	int64_t now = loop_now_ms(), best = -1;
	int i;

	for (i = 0; i < MAX_TIMERS; i++) {
		const struct timer *t = &loop->timers[i];
		if (!t->id)
			continue;
		if (best < 0 || t->when - now < best)
			best = t->when - now < 0 ? 0 : t->when - now;
	}
	return best > 60000 ? 60000 : (int)best;
}

static void run_timers(struct loop *loop)
{
	int64_t now = loop_now_ms();
	int i;

	for (i = 0; i < MAX_TIMERS && !loop->stop; i++) {
		struct timer *t = &loop->timers[i];
		timer_handler *cb;
		void *data;

		if (!t->id || t->when > now)
			continue;
		cb = t->cb;
		data = t->data;
		t->id = 0;
		cb(loop, data);
	}
}

void loop_run(struct loop *loop)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t gens[MAX_EVENTS];

	while (!loop->stop) {
		int n = epoll_wait(loop->ep, evs, MAX_EVENTS, next_timeout(loop));
		int i;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("epoll_wait");
			break;
		}
		for (i = 0; i < n; i++)
			gens[i] = loop->fds[evs[i].data.fd].gen;
		for (i = 0; i < n && !loop->stop; i++) {
			int fd = evs[i].data.fd;
			struct fd_rec *r = &loop->fds[fd];

			/* Skip fds deleted (or replaced) by an earlier callback. */
			if (r->cb && r->gen == gens[i])
				r->cb(loop, fd, evs[i].events, r->data);
		}
		run_timers(loop);
	}
}

void loop_stop(struct loop *loop)
{
	loop->stop = 1;
}
