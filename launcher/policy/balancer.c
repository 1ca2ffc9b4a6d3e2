/*
 * balancer.c - the channel policies' machinery (rr, leastconn, sticky: see
 * policy.h): the master accepts and hands each connection to the worker
 * the listener's policy picks, over that worker's channel (SCM_RIGHTS).
 *
 * Back-pressure.  A worker never has more than WINDOW connections waiting
 * on its channel.  The master holds the worker end of every channel too, so
 * it can read how much is queued: FIONREAD on a SEQPACKET socket is the
 * byte count of all queued messages, and every MSG_CONN has the same size.
 * When every worker is full the master stops watching the listener and the
 * kernel backlog is the queue.  To learn when a full worker takes one, the
 * master end is armed with EPOLLOUT|EPOLLET: an AF_UNIX sender's memory is
 * released when the receiver dequeues, and each release wakes the sender's
 * waiters, so every accept in the worker is one edge (verified on Linux 6.x;
 * a timer would add latency, an acknowledgement message would cost the
 * worker a system call per connection).  queued_hint spares the ioctl
 * while the master's own count says there is room.
 *
 * Nothing handed out is lost.  Because the master keeps the worker end, a
 * channel outlives its worker: connections still queued on it when the
 * worker dies, closes its listener or is retired are read back from the
 * master's copy and handed to another worker (balancer_take_back).  They
 * wait in the listener's pending queue, ahead of the kernel backlog, while
 * no worker can take them.
 *
 * Closes are counted by the shim on the worker's board (board.c), so the
 * master pays no system call per close; a shim without a board reports
 * each close in a message instead.
 *
 * Not here: who gets a connection (policy_rr.c, policy_leastconn.c,
 * policy_sticky.c); shared and reuseport (workers accept on the master's
 * sockets themselves).
 */
#include "policy/balancer.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"
#include "net/board.h"
#include "net/handshakes.h"
#include "net/sockets.h"
#include "policy/policy.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define WINDOW 4                /* connections queued on one channel, at most */
#define ACCEPT_BUDGET 64        /* connections per wakeup before yielding */
#define EMFILE_PAUSE_MS 100     /* out of fds: retry accept after this */

static void dispatch(struct cluster *c, struct listener *l);

/* The counting functions.  What the master trusts: its own counts (handed
 * and sent per route) and the kernel's; the board is the worker's word,
 * believed only inside what those prove, and where it is not believed
 * the worker reads busier, never idler.
 *   - A worker cannot have closed more than it got: handed (channel
 *     policies), or its accepts (socket policies).  A board that says it
 *     did is not believed at all for that listener: the worker counts as
 *     holding all it got (less the closes it reported one by one).  Read
 *     as "none open" instead, a board saying 2^64-1 made its worker idle
 *     forever, and leastconn, p2c and jiq gave it nearly every connection.
 *   - Accepts under shared and reuseport have no master's count: the
 *     kernel's bounds them (board_accept_ceiling, TCP only).
 *   - Sums saturate at COUNT_MAX instead of wrapping (to 0: idle), and
 *     stay positive in a long (retire.c keeps one there).
 * A worker can still look idler than it is by claiming exactly as many
 * closes as it got, which a fast honest worker also says; only the
 * census could tell, at a cost no pick can pay. */
#define COUNT_MAX ((uint64_t)INT64_MAX)

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a >= COUNT_MAX || b >= COUNT_MAX - a ? COUNT_MAX : a + b;
}

/* A worker accepts l's connections itself from a TCP socket: the kernel's
 * count of passive opens bounds them. */
static int tcp_socket(const struct listener *l)
{
	return !l->ops->channel && l->type == SOCK_STREAM && l->family != AF_UNIX;
}

/* What w got on l: handed by the master (channel policies), or accepted
 * by itself (socket policies, its board's count: no more than ceiling
 * on a TCP socket). */
static uint64_t got_on(const struct worker *w, const struct listener *l, uint64_t ceiling)
{
	uint64_t n;

	if (l->ops->channel)
		return w->routes[l->id].handed;
	n = board_accepted(w, l->id);
	return tcp_socket(l) && n > ceiling ? ceiling : n;
}

static uint64_t open_on(const struct worker *w, const struct listener *l, uint64_t ceiling)
{
	const struct route *r = &w->routes[l->id];
	uint64_t got = got_on(w, l, ceiling), closed = board_closed(w, l->id);

	/* r->closed <= r->handed (balancer_conn_closed), 0 without handing */
	if (r->closed >= got)
		return 0;
	got -= r->closed;
	return closed > got ? got : got - closed;       /* a lie: none closed */
}

/* Connections w has open on l: what it got, less what it closed, as far
 * as the master can believe it (above).  Drains and status ask the kernel
 * instead (census.c). */
uint64_t route_open_conns(const struct worker *w, const struct listener *l)
{
	return open_on(w, l, tcp_socket(l) ? board_accept_ceiling(w) : UINT64_MAX);
}

/* The sum over w's listeners of what f counts, the TCP sockets' part no
 * more than the kernel's ceiling (asked only when there is one). */
static uint64_t sum_routes(const struct worker *w,
			   uint64_t (*f)(const struct worker *, const struct listener *, uint64_t))
{
	uint64_t n = 0, tcp = 0, ceiling = UINT64_MAX;
	int i, any_tcp = 0;

	for (i = 0; i < w->c->nlisteners && !any_tcp; i++)
		any_tcp = tcp_socket(w->c->listeners[i]);
	if (any_tcp)
		ceiling = board_accept_ceiling(w);
	for (i = 0; i < w->c->nlisteners; i++) {
		const struct listener *l = w->c->listeners[i];

		if (tcp_socket(l))
			tcp = add_sat(tcp, f(w, l, ceiling));
		else
			n = add_sat(n, f(w, l, ceiling));
	}
	return add_sat(n, tcp > ceiling ? ceiling : tcp);
}

/* Connections w got: handed by the master (channel policies) or accepted
 * by the worker itself (socket policies, as its shim counted them, within
 * the kernel's ceiling): --max-requests. */
uint64_t worker_taken(const struct worker *w)
{
	return sum_routes(w, got_on);
}

/* Every listener's route_open_conns: the drain's fallback when the census
 * fails, and status's. */
uint64_t worker_open_conns(const struct worker *w)
{
	return sum_routes(w, open_on);
}

/* What the board says is still queued: sent, minus read back by us, minus
 * taken by the worker.  No system call; the worker counts after its
 * receive returns, so this errs high for a moment, never low.  Without a
 * board: WINDOW ("ask the kernel"). */
static unsigned estimate(const struct worker *w, const struct route *r)
{
	uint64_t gone, received;

	if (!w->board)
		return WINDOW;
	received = board_received(w, r->lid);
	gone = r->back + received;
	if (received > r->sent)
		return WINDOW;  /* a scribbled board: the kernel has the last word */
	if (gone >= r->sent)
		return 0;
	return r->sent - gone > WINDOW ? WINDOW : (unsigned)(r->sent - gone);
}

/* The kernel's answer: FIONREAD on the worker end is the byte count of
 * every queued message, and each MSG_CONN has the same size. */
static unsigned queued(const struct route *r)
{
	int bytes = 0;

	if (ioctl(r->chan_peer, FIONREAD, &bytes) < 0)
		return WINDOW;
	return (unsigned)bytes / sizeof(struct msg_conn);
}

static void watch(struct cluster *c, struct listener *l, int on)
{
	if (!l->registered || l->watching == on)
		return;
	if (loop_mod_fd(c->loop, l->fd, on ? EPOLLIN : 0) == 0)
		l->watching = on;
}

static void set_full(struct cluster *c, struct route *r, int full)
{
	if (r->full == full)
		return;
	r->full = full;
	loop_mod_fd(c->loop, r->chan, full ? EPOLLOUT | EPOLLET : 0);
}

/* May this route take a connection now?  Looks at the board only when the
 * master's own count says it might be full, and asks the kernel only when
 * the board says it is: "full" must be true, since only the worker taking
 * one wakes us again (EPOLLOUT, see the file comment). */
int channel_has_room(struct cluster *c, struct worker *w, struct listener *l)
{
	struct route *r = &w->routes[l->id];

	if ((w->state != W_STARTING && w->state != W_READY &&
	     !(w->state == W_DRAINING && r->drain_deferred)) || !r->listening ||
	    r->chan < 0 || r->full || r->draining || w->fds_short)
		return 0;
	if (r->queued_hint < WINDOW)
		return 1;
	r->queued_hint = estimate(w, r);
	if (r->queued_hint < WINDOW)
		return 1;
	r->queued_hint = queued(r);
	if (r->queued_hint < WINDOW)
		return 1;
	set_full(c, r, 1);
	return 0;
}

/* The next worker with room after the cursor; *at is its position.  The
 * cursor moves only when a connection is really handed over (a pick that
 * finds no connection to give must not count).  O(workers) at worst, O(1)
 * while the next one has room. */
struct worker *channel_next_with_room(struct cluster *c, struct listener *l, unsigned *at)
{
	unsigned k, n = (unsigned)c->nworkers;

	for (k = 1; k <= n; k++) {
		unsigned i = (l->cursor + k) % n;

		if (channel_has_room(c, c->workers[i], l)) {
			*at = i;
			return c->workers[i];
		}
	}
	return NULL;
}

/* The pending queue is a ring (l->pending, first at l->headpending): a
 * push at either end and a pop are O(1), so thousands of connections taken
 * back after a flood do not cost a memmove each.  Growing unwraps it. */
static int push_pending(struct listener *l, const struct conn *conn, int front)
{
	if (l->npending == l->cappending) {
		size_t cap = l->cappending ? l->cappending * 2 : 16, i;
		struct conn *grown = malloc(cap * sizeof(*grown));
		if (!grown)
			return -1;
		for (i = 0; i < l->npending; i++)
			grown[i] = l->pending[(l->headpending + i) % l->cappending];
		free(l->pending);
		l->pending = grown;
		l->cappending = cap;
		l->headpending = 0;
	}
	if (front) {
		l->headpending = (l->headpending + l->cappending - 1) % l->cappending;
		l->pending[l->headpending] = *conn;
	} else {
		l->pending[(l->headpending + l->npending) % l->cappending] = *conn;
	}
	l->npending++;
	return 0;
}

/* A connection that could not be handed now goes back to the head. */
static void keep_pending(struct listener *l, const struct conn *conn)
{
	if (push_pending(l, conn, 1) < 0) {
		log_warnx("%s: out of memory: dropping a connection", l->name);
		close(conn->fd);
	}
}

static void pop_pending(struct listener *l, struct conn *conn)
{
	*conn = l->pending[l->headpending];
	l->headpending = (l->headpending + 1) % l->cappending;
	l->npending--;
}

static void dispatch_again(struct loop *loop, void *data)
{
	struct listener *l = data;

	(void)loop;
	l->again_timer = 0;
	dispatch(l->c, l);
}

static void emfile_over(struct loop *loop, void *data)
{
	struct listener *l = data;

	(void)loop;
	l->emfile_until = 0;
	dispatch(l->c, l);
}

/* The next connection to hand out: one taken back first, then the kernel's.
 * Returns 1 with *conn filled, 0 when there is none now. */
static int next_conn(struct cluster *c, struct listener *l, struct conn *conn)
{
	if (l->npending) {
		pop_pending(l, conn);
		return 1;
	}
	if (l->emfile_until > loop_now_ms())
		return 0;
	for (int retries = 0;; retries++) {
		conn->peerlen = sizeof(conn->peer);
		conn->fd = accept4(l->fd, (struct sockaddr *)&conn->peer, &conn->peerlen,
				   SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (conn->fd >= 0) {
			l->accepted++;
			return 1;
		}
		switch (errno) {
		case EAGAIN:
			return 0;
		case ECONNABORTED: case EPROTO: case EPERM: case EINTR: case ENETDOWN:
		case ENOPROTOOPT: case EHOSTDOWN: case ENONET: case EHOSTUNREACH:
		case EOPNOTSUPP: case ENETUNREACH:
			/* that connection's trouble (accept(2)): next, but not
			 * forever: some of these also mean "cannot accept" */
			if (retries < 16)
				continue;
			/* fall through */
		default:
			/* Out of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM), or a
			 * listener that cannot accept at all: back off instead of
			 * spinning on a readable listener; the backlog keeps the
			 * clients.  Found by the fuzz target. */
			if (loop_now_ms() - l->emfile_logged >= 5000) {   /* not 10 lines a second */
				log_warn("%s: accept (pausing %d ms at a time)", l->name,
					 EMFILE_PAUSE_MS);
				l->emfile_logged = loop_now_ms();
			}
			l->emfile_until = loop_now_ms() + EMFILE_PAUSE_MS;
			loop_timer(c->loop, EMFILE_PAUSE_MS, emfile_over, l);
			return 0;
		}
	}
}

static int send_conn(struct route *r, const struct conn *conn)
{
	struct msg_conn m;

	memset(&m, 0, sizeof(m));
	msg_init(&m, MSG_CONN, 0);
	m.addrlen = conn->peerlen;
	memcpy(&m.peer, &conn->peer, conn->peerlen);
	return msg_send(r->chan, &m, sizeof(m), conn->fd, MSG_DONTWAIT);
}

/* Hand out connections of l while some worker has room: ACCEPT_BUDGET at a
 * time, then come back through the loop.  A policy that must see the peer
 * to choose (sticky) gets the connection first; one that finds no room
 * for it puts it back at the head of the pending queue and the master
 * stops accepting until a channel frees up. */
static void dispatch(struct cluster *c, struct listener *l)
{
	int budget, peer = l->ops->pick_needs_peer;

	if (c->stopping && !l->syns_stopped)
		return;
	for (budget = ACCEPT_BUDGET; budget > 0; budget--) {
		unsigned at = 0;
		struct worker *w = NULL;
		struct route *r;
		struct conn conn;

		if (!peer && !(w = l->ops->pick(c, l, NULL, &at))) {
			watch(c, l, 0);         /* every worker is full */
			return;
		}
		if (!next_conn(c, l, &conn)) {
			watch(c, l, l->emfile_until == 0);
			return;
		}
		if (peer && !(w = l->ops->pick(c, l, &conn, &at))) {
			keep_pending(l, &conn);
			watch(c, l, 0);
			return;
		}
		r = &w->routes[l->id];
		if (send_conn(r, &conn) == 0) {
			close(conn.fd);
			l->cursor = at;
			r->handed++;
			r->sent++;
			r->queued_hint++;
			if (c->hooks.conn_handed)
				c->hooks.conn_handed(c, w);
			if (l->ops->handed)
				l->ops->handed(c, l, w);
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET) {
			r->listening = 0;       /* its end is gone: a dead route */
		} else {
			if (errno != EAGAIN && errno != ENOBUFS)
				log_warn("worker %d (pid %d): handing over a connection",
					 w->slot, (int)w->pid);
			set_full(c, r, 1);
		}
		keep_pending(l, &conn);
	}
	watch(c, l, 1);         /* more may be waiting: come back */
	/* taken-back ones wait in us, not in the backlog: no event would
	 * bring us back for them */
	if (l->npending && !l->again_timer)
		l->again_timer = loop_timer(c->loop, 0, dispatch_again, l);
}

static void listener_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct listener *l = data;

	(void)loop;
	(void)fd;
	(void)events;
	dispatch(l->c, l);
}

/* A full worker took a connection off its channel (see the file comment). */
static void channel_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct route *r = data;
	struct cluster *c = r->w->c;

	(void)loop;
	(void)fd;
	(void)events;
	if (!r->full)
		return;
	r->queued_hint = queued(r);
	if (r->queued_hint >= WINDOW)
		return;
	set_full(c, r, 0);
	dispatch(c, c->listeners[r->lid]);
}

int channel_attach(struct cluster *c, struct worker *w, struct listener *l)
{
	struct route *r = &w->routes[l->id];
	int sv[2];

	if (r->chan >= 0)
		return r->chan_peer;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (loop_add_fd(c->loop, sv[0], 0, channel_event, r) < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	r->chan = sv[0];
	r->chan_peer = sv[1];
	r->full = 0;
	r->queued_hint = 0;
	r->draining = 0;
	if (!l->registered && loop_add_fd(c->loop, l->fd, 0, listener_event, l) == 0)
		l->registered = 1;
	return r->chan_peer;
}

/* At a stop (give_back 0) on a listener that drops new SYNs
 * (syns_stopped, listener.c), the master keeps handing out what the kernel
 * already queued on it, to the stopping workers too (drain_deferred), and
 * a worker takes no more only once that queue and the taken-back ones are
 * gone: the listener closes after the workers and would reset them. */
void channel_drain(struct cluster *c, struct worker *w, struct listener *l, int give_back)
{
	struct route *r = &w->routes[l->id];

	if (!give_back && c->stopping && l->syns_stopped) {
		r->drain_deferred = 1;
		return;
	}
	r->draining = 1;
	if (give_back)
		balancer_take_back(c, w, l);
}

unsigned channel_pending(struct cluster *c, struct worker *w, struct listener *l)
{
	struct route *r = &w->routes[l->id];
	unsigned q = r->chan_peer >= 0 ? queued(r) : 0;

	if (r->drain_deferred) {
		/* and the handshakes begun before the SYN filter, which
		 * complete into l->fd's queue later (net/handshakes.c) */
		unsigned left = socket_accept_queue(l->fd) + (unsigned)l->npending +
				handshakes_pending(l);

		if (left > 0 && r->listening && r->chan >= 0) {
			dispatch(c, l);
			return q + left;
		}
		r->drain_deferred = 0;
		r->draining = 1;
	}
	return q;
}

void channel_release(struct cluster *c, struct worker *w, struct listener *l)
{
	balancer_drop_route(c, w, l);
}

void balancer_kick(struct cluster *c, struct listener *l)
{
	if (l->ops->channel)
		dispatch(c, l);
}

void balancer_take_back(struct cluster *c, struct worker *w, struct listener *l)
{
	struct route *r = &w->routes[l->id];
	struct msg_conn m;
	struct conn conn;
	ssize_t n;
	int fd;

	if (r->chan_peer < 0)
		return;
	while ((n = msg_recv(r->chan_peer, &m, sizeof(m), &fd, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) != 0) {
		if (n > 0 || errno == EBADMSG || errno == EMFILE)
			r->back++;      /* one of ours left the channel (estimate()) */
		if (n < 0) {
			if (errno == EBADMSG)
				continue;
			if (errno == EMFILE) {  /* consumed: the kernel closed it */
				log_warnx("%s: out of fds: a connection taken back from "
					  "worker %d was lost", l->name, w->slot);
				continue;
			}
			break;
		}
		if (!msg_valid(&m, (size_t)n) || m.hdr.type != MSG_CONN || fd < 0) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		conn.fd = fd;
		conn.peerlen = m.addrlen;
		memcpy(&conn.peer, &m.peer, m.addrlen);
		if (push_pending(l, &conn, 0) < 0) {
			close(fd);
			continue;
		}
		if (r->handed > r->closed)
			r->handed--;
	}
	r->queued_hint = 0;
	set_full(c, r, 0);
	if (l->npending)
		log_debug("%s: %zu connection(s) taken back from worker %d",
			  l->name, l->npending, w->slot);
	dispatch(c, l);
}

/* The worker let go of listener l (closed it, or is gone): give back what
 * is queued and drop the channel, so a later bind gets a fresh one. */
void balancer_drop_route(struct cluster *c, struct worker *w, struct listener *l)
{
	struct route *r = &w->routes[l->id];

	r->listening = 0;
	r->bound = 0;
	r->draining = r->drain_deferred = 0;
	if (r->chan < 0)
		return;
	balancer_take_back(c, w, l);
	loop_del_fd(c->loop, r->chan);
	close(r->chan);
	close(r->chan_peer);
	r->chan = r->chan_peer = -1;
	r->full = 0;
}

void balancer_release(struct cluster *c, struct worker *w)
{
	int i;

	for (i = 0; i < c->nlisteners; i++)
		balancer_drop_route(c, w, c->listeners[i]);
}

void balancer_conn_closed(struct cluster *c, struct worker *w, uint32_t lid)
{
	struct route *r;

	if (lid >= (uint32_t)c->nlisteners)
		return;
	r = &w->routes[lid];
	if (r->closed < r->handed)
		r->closed++;
}

void balancer_stop(struct cluster *c)
{
	int i;

	for (i = 0; i < c->nlisteners; i++)
		if (!c->listeners[i]->syns_stopped)     /* see channel_drain */
			watch(c, c->listeners[i], 0);
}

/* A listener as the old image left it in the loop (its record, written by
 * listener_save): registered, watched, a dispatch or an EMFILE pause due. */
static int adopt_listener(struct cluster *c, struct listener *l, const struct state_rec *r)
{
	int registered = r ? (int)rec_i64(r, "registered", 0) : 0;
	int watching = r ? (int)rec_i64(r, "watching", 0) : 0;

	l->registered = l->watching = 0;
	l->again_timer = 0;
	if (registered) {
		if (loop_add_fd(c->loop, l->fd, watching ? EPOLLIN : 0, listener_event, l) < 0) {
			log_warn("upgrade: %s: watching the listener", l->name);
			return -1;
		}
		l->registered = 1;
		l->watching = watching;
	}
	/* emfile_over was armed without keeping its id: its deadline is
	 * emfile_until itself */
	if (l->emfile_until > 0 && !loop_timer_at(c->loop, l->emfile_until, emfile_over, l))
		return -1;
	/* One dispatch on the first turn after the adoption, for every
	 * channel listener: what the old image was about to do (a dispatch
	 * due, connections taken back and waiting in the pending ring, a
	 * kick) is done, and a channel that went quiet across the exec is
	 * looked at again.  dispatch() asks everything afresh, so one too
	 * many costs a pick. */
	if (l->ops->channel && (l->registered || l->npending) &&
	    !(l->again_timer = loop_timer_at(c->loop, loop_now_ms(), dispatch_again, l)))
		return -1;
	return 0;
}

int balancer_adopt(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r;
	int i, k;

	/* worker_restore gave back each route's values and fds; the loop
	 * knows none of them yet.  A full route waits for EPOLLOUT, edge-
	 * triggered: the first epoll_wait reports a writable channel at
	 * once, and channel_event measures it. */
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];

		for (k = 0; k < c->nlisteners; k++) {
			struct route *rt = &w->routes[k];

			rt->w = w;
			rt->lid = (uint32_t)k;
			if (rt->chan < 0)
				continue;
			if (loop_add_fd(c->loop, rt->chan, rt->full ? EPOLLOUT | EPOLLET : 0,
					channel_event, rt) < 0) {
				log_warn("upgrade: worker %d (pid %d): its channel for %s", w->slot,
					 (int)w->pid, c->listeners[k]->name);
				return -1;
			}
		}
	}
	for (i = 0; i < c->nlisteners; i++) {
		for (r = state_first(in, "listener"); r; r = state_next(r))
			if (rec_u64(r, "id", UINT64_MAX) == (uint64_t)i)
				break;
		if (adopt_listener(c, c->listeners[i], r) < 0)
			return -1;
	}
	return 0;
}
