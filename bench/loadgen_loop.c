/*
 * loadgen_loop.c - one load generator thread: an epoll loop over its slots.
 *
 * A slot is one place a request can be in flight: a connection in
 * keep-alive mode, a series of short connections in close mode.  Free
 * slots wait in a FIFO, so that at a low open-loop rate requests still
 * spread over every keep-alive connection (and so over every worker the
 * connections landed on) instead of reusing the one that came back last.
 *
 * Closed loop (no -R): every free slot starts its next request at once;
 * latency runs from the moment the request is started (connect included in
 * close mode).  Open loop (-R): request i of this thread is *due* at a time
 * fixed in advance, first_ns + i * interval_ns (or, with -P, after
 * exponentially distributed gaps of the same mean: Poisson arrivals),
 * whether or not a slot is free; its latency runs from that intended time,
 * so a stalled server shows up as latency instead of silently lowering the
 * rate (the "coordinated omission" that closed loops suffer).  Due
 * requests that find no free slot simply wait; those still unsent at the
 * end are reported as `unsent`.
 *
 * Sockets are registered edge-triggered once, for reading and writing, and
 * every handler reads or writes until EAGAIN.  A request started before the
 * end of the warmup is never recorded, whatever happens to it.
 *
 * This module does not print the report or merge threads (loadgen.c,
 * loadgen_stats.c) and knows HTTP only through http_resp.h.
 */
#include "loadgen.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define SCAN_NS      (10 * 1000000ull)  /* timeout / cooldown scan period */
#define COOLDOWN_NS  (10 * 1000000ull)  /* a slot rests after a connect error */
#define MAX_EVENTS   256
#define READ_BUF     65536

enum slot_state {
	SLOT_IDLE,        /* in the free FIFO; fd >= 0: an open connection */
	SLOT_CONNECTING,
	SLOT_SENDING,
	SLOT_RECEIVING,
	SLOT_AWAIT_EOF,   /* response complete, waiting for the server's close */
	SLOT_COOLDOWN,    /* free again at deadline_ns */
};

struct slot {
	int fd;
	uint32_t gen;            /* bumped on close: stale events are ignored */
	enum slot_state state;
	uint64_t started_ns;     /* intended (open loop) or actual start */
	uint64_t deadline_ns;
	size_t sent;
	size_t got;              /* bytes of this request's answer so far */
	int reused;              /* its connection answered a request before */
	struct http_resp resp;
};

struct loop {
	struct run *run;
	const struct options *opt;
	struct stats *st;
	int ep;
	int n_slots;
	struct slot *slots;
	int *free_q;             /* FIFO of free slot indexes */
	int free_head, free_count;
	int n_busy;              /* neither free nor cooling down */
	uint64_t first_ns;       /* open loop: when request 0 is due */
	double interval_ns;      /* mean gap between two of our requests */
	uint64_t issued;         /* open loop: requests sent so far */
	uint32_t next_source;    /* -S: the next source address's index */
	uint64_t next_ns;        /* open loop: when request `issued` is due */
	uint64_t rng;            /* xorshift64* state for Poisson gaps */
	int budget_done;
	int no_pwait2;
	int warned_connect, warned_bad;
	char buf[READ_BUF];
};

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void free_push(struct loop *l, int idx)
{
	l->free_q[(l->free_head + l->free_count) % l->n_slots] = idx;
	l->free_count++;
}

static int free_pop(struct loop *l)
{
	int idx = l->free_q[l->free_head];
	l->free_head = (l->free_head + 1) % l->n_slots;
	l->free_count--;
	return idx;
}

static int measured(const struct loop *l, const struct slot *s)
{
	return s->started_ns >= l->run->measure_ns;
}

static void slot_close(struct slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->reused = 0;
	s->gen++;
}

/* Busy slot -> free FIFO, keeping the connection if keep_open. */
static void slot_release(struct loop *l, struct slot *s, int keep_open)
{
	if (!keep_open)
		slot_close(s);
	else
		s->reused = 1;
	s->state = SLOT_IDLE;
	free_push(l, (int)(s - l->slots));
	l->n_busy--;
}

/* The request on s failed: count it under *counter, drop the connection.
 * Connect errors rest the slot a little so a refused port is not hammered. */
static void slot_fail(struct loop *l, struct slot *s, uint64_t *counter,
		      uint64_t now)
{
	if (measured(l, s)) {
		(*counter)++;
		if (counter == &l->st->err_reset && s->reused && s->got == 0)
			l->st->lost_unanswered++;
	}
	if (counter == &l->st->err_connect) {
		slot_close(s);
		s->state = SLOT_COOLDOWN;
		s->deadline_ns = now + COOLDOWN_NS;
		l->n_busy--;
		return;
	}
	slot_release(l, s, 0);
}

static void warn_connect(struct loop *l, int err)
{
	if (l->warned_connect++)
		return;
	fprintf(stderr, "%s: connect to %s:%s: %s\n", LOADGEN_NAME,
		l->opt->host, l->opt->port, strerror(err));
}

/* Opens a nonblocking connection for s.  Returns 0 if it is already
 * established, 1 if in progress, -1 with errno. */
static int open_conn(struct loop *l, struct slot *s)
{
	const struct run *run = l->run;
	int fd = socket(run->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->fd = fd;
	if (run->opt.sources > 0 && run->addr.ss_family == AF_INET) {
		/* the next of 127.0.0.2 .. 127.0.0.(sources+1), port 0 */
		struct sockaddr_in src = { .sin_family = AF_INET };

		src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(l->next_source++ %
							    (unsigned)run->opt.sources));
		/* the port is chosen at connect, as without a bind: bind's own
		 * choice would not reuse TIME_WAIT ports and runs out sooner */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&src, sizeof(src)) < 0) {
			int err = errno;
			slot_close(s);
			errno = err;
			return -1;
		}
	}
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.u64 = ((uint64_t)s->gen << 32) | (uint64_t)(s - l->slots),
	};
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;
		slot_close(s);
		errno = err;
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&run->addr, run->addr_len) == 0)
		return 0;
	if (errno == EINPROGRESS)
		return 1;
	int err = errno;
	slot_close(s);
	errno = err;
	return -1;
}

static void send_request(struct loop *l, struct slot *s, uint64_t now)
{
	const struct run *run = l->run;
	while (s->sent < run->request_len) {
		ssize_t n = send(s->fd, run->request + s->sent,
				 run->request_len - s->sent, MSG_NOSIGNAL);
		if (n > 0) {
			s->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;           /* EPOLLOUT edge resumes us */
		slot_fail(l, s, &l->st->err_reset, now);
		return;
	}
	s->state = SLOT_RECEIVING;
}

/* The server closed a kept connection between two requests: a new one
 * will be opened, which is no loss. */
static void closed_between(struct loop *l, struct slot *s, uint64_t now)
{
	if (now >= l->run->measure_ns)
		l->st->reconnects++;
	slot_close(s);
}

/* --careful: whether anything waits on the idle connection fd, which can
 * only be the server's close (EOF, reset) or bytes nobody asked for; both
 * mean it cannot carry the next request.  A close still on its way is
 * not seen: no client can see it (lost, lost_unanswered). */
static int closed_meanwhile(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) > 0;
}

static void start_request(struct loop *l, int idx, uint64_t started, uint64_t now)
{
	struct slot *s = &l->slots[idx];
	s->started_ns = started;
	s->deadline_ns = now + (uint64_t)l->opt->timeout_ms * 1000000ull;
	s->sent = 0;
	s->got = 0;
	http_resp_reset(&s->resp);
	l->n_busy++;
	if (s->fd >= 0 && l->opt->careful && closed_meanwhile(s->fd))
		closed_between(l, s, now);
	if (s->fd < 0) {
		int r = open_conn(l, s);
		if (r < 0) {
			warn_connect(l, errno);
			slot_fail(l, s, &l->st->err_connect, now);
			return;
		}
		if (r > 0) {
			s->state = SLOT_CONNECTING;
			return;
		}
	}
	s->state = SLOT_SENDING;
	send_request(l, s, now);
}

static void on_connected(struct loop *l, struct slot *s, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		warn_connect(l, err);
		slot_fail(l, s, &l->st->err_connect, now);
		return;
	}
	s->state = SLOT_SENDING;
	send_request(l, s, now);
}

static void bad_response(struct loop *l, struct slot *s, const char *why,
			 uint64_t now)
{
	if (!l->warned_bad++)
		fprintf(stderr, "%s: bad response: %s\n", LOADGEN_NAME, why);
	slot_fail(l, s, &l->st->err_bad_response, now);
}

/* The response on s is complete: record it, then free the slot or wait for
 * the server to close (close mode: the server closes first, so the
 * TIME_WAIT state stays on its side and the client's ports are reusable). */
static void complete_response(struct loop *l, struct slot *s, uint64_t now)
{
	if (measured(l, s)) {
		if (s->resp.status >= 200 && s->resp.status < 300) {
			l->st->requests++;
			hist_record(&l->st->hist, now - s->started_ns);
			stats_count_worker(l->st, s->resp.worker);
		} else {
			l->st->err_status++;
		}
	}
	if (s->resp.keep_alive && l->opt->keep_alive) {
		slot_release(l, s, 1);
	} else if (!s->resp.keep_alive) {
		/* keep-alive mode: the server ends the connection after this
		 * answer (Connection: close), the next request needs a new one */
		if (l->opt->keep_alive && now >= l->run->measure_ns)
			l->st->reconnects++;
		s->state = SLOT_AWAIT_EOF;
		s->deadline_ns = now + (uint64_t)l->opt->timeout_ms * 1000000ull;
	} else {
		slot_release(l, s, 0);     /* server ignored our close: we close */
	}
}

/* Bytes nobody asked for, after a complete response or on an idle
 * connection: the server is broken; drop the connection. */
static void unsolicited(struct loop *l, struct slot *s)
{
	if (!l->warned_bad++)
		fprintf(stderr, "%s: bad response: unsolicited data\n", LOADGEN_NAME);
	if (measured(l, s))
		l->st->err_bad_response++;
	if (s->state == SLOT_IDLE)
		slot_close(s);              /* already in the free FIFO */
	else
		slot_release(l, s, 0);
}

/* n bytes arrived in l->buf.  Returns 1 if the slot still owns the same
 * connection and wants more. */
static int on_bytes(struct loop *l, struct slot *s, size_t n, uint64_t now)
{
	if (s->state != SLOT_RECEIVING) {
		unsolicited(l, s);
		return 0;
	}
	s->got += n;
	size_t used = http_resp_feed(&s->resp, l->buf, n);
	if (s->resp.state == RESP_ERROR) {
		bad_response(l, s, s->resp.error, now);
		return 0;
	}
	if (s->resp.state != RESP_DONE)
		return 1;
	uint32_t gen = s->gen;
	complete_response(l, s, now);
	if (used == n)
		return s->gen == gen;
	if (s->gen == gen)
		unsolicited(l, s);
	return 0;
}

static void on_eof(struct loop *l, struct slot *s, uint64_t now)
{
	if (s->state == SLOT_RECEIVING) {
		if (http_resp_eof(&s->resp)) {
			complete_response(l, s, now);
			if (s->state == SLOT_AWAIT_EOF)
				slot_release(l, s, 0);
			else
				slot_close(s);
		} else {
			slot_fail(l, s, &l->st->err_reset, now);
		}
	} else if (s->state == SLOT_AWAIT_EOF) {
		slot_release(l, s, 0);
	} else if (s->state == SLOT_IDLE) {
		closed_between(l, s, now);  /* idle keep-alive closed by server */
	}
}

static void read_ready(struct loop *l, struct slot *s, uint64_t now)
{
	for (;;) {
		ssize_t n = recv(s->fd, l->buf, sizeof(l->buf), 0);
		if (n > 0) {
			if (!on_bytes(l, s, (size_t)n, now))
				return;
			continue;
		}
		if (n == 0) {
			on_eof(l, s, now);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (s->state == SLOT_RECEIVING)
			slot_fail(l, s, &l->st->err_reset, now);
		else if (s->state == SLOT_AWAIT_EOF)
			slot_release(l, s, 0);
		else if (s->state == SLOT_IDLE)
			closed_between(l, s, now);
		return;
	}
}

static void handle_event(struct loop *l, const struct epoll_event *ev, uint64_t now)
{
	uint32_t idx = (uint32_t)ev->data.u64;
	struct slot *s = &l->slots[idx];
	if ((uint32_t)(ev->data.u64 >> 32) != s->gen || s->fd < 0)
		return;
	uint32_t e = ev->events;
	if (s->state == SLOT_CONNECTING && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		on_connected(l, s, now);
	else if (s->state == SLOT_SENDING && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		send_request(l, s, now);
	if (s->fd < 0)
		return;
	if ((s->state == SLOT_RECEIVING || s->state == SLOT_AWAIT_EOF ||
	     s->state == SLOT_IDLE) &&
	    (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		read_ready(l, s, now);
}

/* Expires requests past their deadline and ends cooldowns. */
static void scan_slots(struct loop *l, uint64_t now)
{
	for (int i = 0; i < l->n_slots; i++) {
		struct slot *s = &l->slots[i];
		if (now < s->deadline_ns)
			continue;
		switch (s->state) {
		case SLOT_CONNECTING:
		case SLOT_SENDING:
		case SLOT_RECEIVING:
			slot_fail(l, s, &l->st->err_timeout, now);
			break;
		case SLOT_AWAIT_EOF:
			slot_release(l, s, 0);
			break;
		case SLOT_COOLDOWN:
			s->state = SLOT_IDLE;
			free_push(l, i);
			break;
		default:
			break;
		}
	}
}

/* Takes one unit of the -n budget for a request starting at started. */
static int take_budget(struct loop *l, uint64_t started)
{
	uint64_t max = l->opt->max_requests;
	if (max == 0 || started < l->run->measure_ns)
		return 1;
	if (atomic_fetch_add(&l->run->budget_used, 1) < max)
		return 1;
	l->budget_done = 1;
	return 0;
}

/* A uniform double in (0, 1] (xorshift64*). */
static double uniform(struct loop *l)
{
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	uint64_t x = l->rng * 2685821657736338717ull;
	return ((double)(x >> 11) + 1.0) / 9007199254740992.0;
}

/* Moves the open-loop schedule to the next request.  The constant-rate
 * schedule is recomputed from the start each time so it never drifts. */
static void advance_schedule(struct loop *l)
{
	l->issued++;
	if (l->opt->poisson)
		l->next_ns += (uint64_t)(-log(uniform(l)) * l->interval_ns);
	else
		l->next_ns = l->first_ns + (uint64_t)((double)l->issued * l->interval_ns);
}

static void dispatch(struct loop *l, uint64_t now)
{
	if (l->opt->rate <= 0) {
		while (l->free_count > 0 && !l->budget_done && take_budget(l, now))
			start_request(l, free_pop(l), now, now);
		return;
	}
	while (l->next_ns <= now && l->free_count > 0 && !l->budget_done) {
		uint64_t t = l->next_ns;
		if (!take_budget(l, t))
			break;
		advance_schedule(l);
		start_request(l, free_pop(l), t, now);
	}
}

static int wait_events(struct loop *l, struct epoll_event *evs, uint64_t now,
		       uint64_t wake)
{
	uint64_t d = wake > now ? wake - now : 0;
	if (!l->no_pwait2) {
		struct timespec ts = {
			.tv_sec = (time_t)(d / 1000000000ull),
			.tv_nsec = (long)(d % 1000000000ull),
		};
		int n = epoll_pwait2(l->ep, evs, MAX_EVENTS, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		l->no_pwait2 = 1;
	}
	return epoll_wait(l->ep, evs, MAX_EVENTS, (int)((d + 999999) / 1000000));
}

/* Counts what the end cut off: measured requests in flight, and (open
 * loop) measured requests that were due but never sent. */
static void count_leftovers(struct loop *l, uint64_t end)
{
	for (int i = 0; i < l->n_slots; i++) {
		struct slot *s = &l->slots[i];
		if ((s->state == SLOT_CONNECTING || s->state == SLOT_SENDING ||
		     s->state == SLOT_RECEIVING) && measured(l, s))
			l->st->inflight_at_end++;
	}
	if (l->opt->rate <= 0 || l->budget_done)
		return;
	/* walk the rest of the schedule; estimate past ten million steps */
	for (int steps = 0; l->next_ns < end; steps++) {
		if (steps == 10000000) {
			l->st->unsent += (uint64_t)((double)(end - l->next_ns) / l->interval_ns);
			break;
		}
		if (l->next_ns >= l->run->measure_ns)
			l->st->unsent++;
		advance_schedule(l);
	}
}

static int loop_init(struct loop *l, struct run *run, int index, int conns,
		     struct stats *st)
{
	l->run = run;
	l->opt = &run->opt;
	l->st = st;
	l->n_slots = conns;
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->slots = calloc((size_t)conns, sizeof(*l->slots));
	l->free_q = calloc((size_t)conns, sizeof(*l->free_q));
	if (l->ep < 0 || !l->slots || !l->free_q) {
		fprintf(stderr, "%s: thread %d: setup: %s\n", LOADGEN_NAME, index,
			strerror(errno));
		return -1;
	}
	for (int i = 0; i < conns; i++) {
		l->slots[i].fd = -1;
		l->slots[i].state = SLOT_IDLE;
		free_push(l, i);
	}
	if (l->opt->rate > 0) {
		double step = 1e9 / l->opt->rate;  /* between two requests overall */
		l->interval_ns = step * l->opt->threads;
		l->first_ns = run->start_ns + (uint64_t)(step * index);
		l->next_ns = l->first_ns;
		l->rng = (run->start_ns ^ 0x9e3779b97f4a7c15ull) * (uint64_t)(index + 1) | 1;
	}
	/* open-loop send times need sub-millisecond wakeups */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	return 0;
}

static void loop_free(struct loop *l)
{
	if (l->slots)
		for (int i = 0; i < l->n_slots; i++)
			slot_close(&l->slots[i]);
	if (l->ep >= 0)
		close(l->ep);
	free(l->slots);
	free(l->free_q);
}

int loop_run(struct run *run, int index, int conns, struct stats *st)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (!l) {
		fprintf(stderr, "%s: thread %d: out of memory\n", LOADGEN_NAME, index);
		return -1;
	}
	l->ep = -1;
	if (loop_init(l, run, index, conns, st) < 0) {
		loop_free(l);
		free(l);
		return -1;
	}
	struct timespec start = {
		.tv_sec = (time_t)(run->start_ns / 1000000000ull),
		.tv_nsec = (long)(run->start_ns % 1000000000ull),
	};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &start, NULL) == EINTR &&
	       !atomic_load(&run->stop))
		;
	struct epoll_event evs[MAX_EVENTS];
	uint64_t next_scan = run->start_ns + SCAN_NS;
	uint64_t now = now_ns();
	while (now < run->end_ns && !atomic_load(&run->stop) &&
	       !(l->budget_done && l->n_busy == 0)) {
		dispatch(l, now);
		uint64_t wake = run->end_ns < next_scan ? run->end_ns : next_scan;
		if (l->opt->rate > 0 && l->free_count > 0 && !l->budget_done &&
		    l->next_ns < wake)
			wake = l->next_ns;
		int n = wait_events(l, evs, now, wake);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "%s: epoll_wait: %s\n", LOADGEN_NAME, strerror(errno));
			break;
		}
		now = now_ns();
		for (int i = 0; i < n; i++)
			handle_event(l, &evs[i], now);
		if (now >= next_scan) {
			scan_slots(l, now);
			next_scan = now + SCAN_NS;
		}
	}
	st->finish_ns = now < run->end_ns ? now : run->end_ns;
	count_leftovers(l, run->end_ns);
	loop_free(l);
	free(l);
	return 0;
}
