/*
 * loop.c - epoll plus timers, in the spirit of redis' ae.c.
 *
 * fd records live in a table indexed by fd number (grown on demand), so a
 * callback can delete any fd, including its own, while events are being
 * dispatched: a deleted record is simply skipped.
 *
 * Timers are a binary min-heap on (deadline, id) in an array grown on
 * demand: a cluster of 1024 workers that all crash at once has 1024 restart
 * timers, plus kill, drain and client timers.  The nearest deadline is the
 * root, adding and running are O(log n); cancelling looks the id up with a
 * scan, O(n), which is fine for the few thousand timers there can be.  Ids
 * come from a 64-bit counter and are never reused, so cancelling an id that
 * already fired finds nothing and does nothing.
 *
 * The clock is a seam for tests: loop_set_clock() replaces it, and
 * loop_run_due() runs what is due by it, so that code built on timers
 * (restarts, drains, kills, health checks) is driven through time in
 * process without sleeping.
 */
#include "base/loop.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 64

struct fd_rec {
	fd_handler *cb;
	void *data;
	uint64_t gen;           /* changes when the fd is re-registered */
};

struct timer {
	int64_t when;
	uint64_t id;            /* > 0; orders timers due at the same ms */
	timer_handler *cb;
	void *data;
};

struct loop {
	int ep;
	int stop;
	struct fd_rec *fds;
	int nfds;
	uint64_t gen;
	struct timer *timers;   /* a min-heap: timers[0] is due first */
	size_t ntimers, captimers;
	uint64_t next_timer;
	timer_handler *before_sleep;    /* once per turn, before epoll_wait */
	void *before_sleep_data;
	uint64_t turn;                  /* turns begun (loop_turn) */
};

/* The tests' clock (loop_set_clock), or NULL for CLOCK_MONOTONIC.  A
 * global, as loop_now_ms() is: every caller of it must see one time. */
static loop_clock *clock_override;

void loop_set_clock(loop_clock *now)
{
	clock_override = now;
}

int64_t loop_now_ms(void)
{
	struct timespec ts;

	if (clock_override)
		return clock_override();
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
	free(loop->timers);
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

static int timer_before(const struct timer *a, const struct timer *b)
{
	return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void timer_swap(struct loop *loop, size_t i, size_t j)
{
	struct timer t = loop->timers[i];

	loop->timers[i] = loop->timers[j];
	loop->timers[j] = t;
}

static void sift_up(struct loop *loop, size_t i)
{
	while (i > 0 && timer_before(&loop->timers[i], &loop->timers[(i - 1) / 2])) {
		timer_swap(loop, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct loop *loop, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, min = i;

		if (l < loop->ntimers && timer_before(&loop->timers[l], &loop->timers[min]))
			min = l;
		if (r < loop->ntimers && timer_before(&loop->timers[r], &loop->timers[min]))
			min = r;
		if (min == i)
			return;
		timer_swap(loop, i, min);
		i = min;
	}
}

/* Take timers[i] out: the last one fills the hole and moves up or down. */
static void remove_timer(struct loop *loop, size_t i)
{
	if (i != --loop->ntimers) {
		loop->timers[i] = loop->timers[loop->ntimers];
		sift_down(loop, i);
		sift_up(loop, i);
	}
}

uint64_t loop_timer(struct loop *loop, int64_t ms, timer_handler *cb, void *data)
{
	struct timer *t;

	if (loop->ntimers == loop->captimers) {
		size_t n = loop->captimers ? loop->captimers * 2 : 64;
		struct timer *grown = realloc(loop->timers, n * sizeof(*grown));

		if (!grown) {
			log_warn("timer");
			return 0;
		}
		loop->timers = grown;
		loop->captimers = n;
	}
	t = &loop->timers[loop->ntimers++];
	t->id = ++loop->next_timer;
	t->when = loop_now_ms() + (ms > 0 ? ms : 0);
	t->cb = cb;
	t->data = data;
	sift_up(loop, loop->ntimers - 1);
	return loop->next_timer;
}

/* O(n), like cancel: only an upgrade asks (surface/upgrade.c). */
int64_t loop_timer_due(const struct loop *loop, uint64_t id)
{
	size_t i;

	if (!id)
		return -1;
	for (i = 0; i < loop->ntimers; i++)
		if (loop->timers[i].id == id)
			return loop->timers[i].when;
	return -1;
}

uint64_t loop_timer_at(struct loop *loop, int64_t when, timer_handler *cb, void *data)
{
	return loop_timer(loop, when - loop_now_ms(), cb, data);
}

/* O(n): see the file comment. */
void loop_timer_cancel(struct loop *loop, uint64_t id)
{
	size_t i;

	if (!id)
		return;
	for (i = 0; i < loop->ntimers; i++)
		if (loop->timers[i].id == id) {
			remove_timer(loop, i);
			return;
		}
}

/* ms until the nearest timer, or -1 when there is none. */
static int next_timeout(struct loop *loop)
{
	int64_t left;

	if (!loop->ntimers)
		return -1;
	left = loop->timers[0].when - loop_now_ms();
	if (left < 0)
		return 0;
	return left > 60000 ? 60000 : (int)left;
}

/* Run what is due.  A callback may add or cancel timers: each is taken out
 * of the heap before its callback runs, and the root is looked at afresh
 * every time.  Timers added meanwhile (ids above `last`) wait for the next
 * round even when due at once, so a callback that re-arms itself with 0 ms
 * cannot keep the loop from epoll.  Since they are due no earlier than
 * `now` and sort after older timers of the same ms, one of them at the root
 * means nothing older is due. */
static void run_timers(struct loop *loop)
{
	int64_t now = loop_now_ms();
	uint64_t last = loop->next_timer;

	while (!loop->stop && loop->ntimers && loop->timers[0].when <= now &&
	       loop->timers[0].id <= last) {
		timer_handler *cb = loop->timers[0].cb;
		void *data = loop->timers[0].data;

		remove_timer(loop, 0);
		cb(loop, data);
	}
}

void loop_run_due(struct loop *loop)
{
	run_timers(loop);
}

void loop_run(struct loop *loop)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t gens[MAX_EVENTS];

	while (!loop->stop) {
		int n, i;

		loop->turn++;
		if (loop->before_sleep)
			loop->before_sleep(loop, loop->before_sleep_data);
		if (loop->stop)
			break;
		n = epoll_wait(loop->ep, evs, MAX_EVENTS, next_timeout(loop));

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

void loop_set_before_sleep(struct loop *loop, timer_handler *cb, void *data)
{
	loop->before_sleep = cb;
	loop->before_sleep_data = data;
}

uint64_t loop_turn(const struct loop *loop)
{
	return loop->turn;
}

void loop_stop(struct loop *loop)
{
	loop->stop = 1;
}
