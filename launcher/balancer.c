/*
 * balancer.c - the rr and leastconn policies: the master accepts and hands
 * each connection to one worker over that worker's channel (SCM_RIGHTS).
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
 * Not here: shared and reuseport (workers accept on the master's sockets
 * themselves; listener.c).
 */
#include "cluster.h"
#include "health.h"
#include "log.h"
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define WINDOW 4                /* connections queued on one channel, at most */
#define ACCEPT_BUDGET 64        /* connections per wakeup before yielding */
#define EMFILE_PAUSE_MS 100     /* out of fds: retry accept after this */

static void dispatch(struct cluster *c, struct listener *l);

static int is_channel_policy(enum policy p)
{
	return p == POLICY_RR || p == POLICY_LEASTCONN;
}

int balancer_uses_channel(const struct listener *l)
{
	return is_channel_policy(l->policy);
}

uint64_t route_open_conns(const struct route *r)
{
	return r->handed > r->closed ? r->handed - r->closed : 0;
}

uint64_t worker_open_conns(const struct worker *w)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < w->c->nlisteners; i++)
		n += route_open_conns(&w->routes[i]);
	return n;
}

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

/* May this route take a connection now?  Measures the queue only when the
 * master's own count says it might be full. */
static int has_room(struct cluster *c, struct worker *w, struct route *r)
{
	if ((w->state != W_STARTING && w->state != W_READY) || !r->listening ||
	    r->chan < 0 || r->full)
		return 0;
	if (r->queued_hint < WINDOW)
		return 1;
	r->queued_hint = queued(r);
	if (r->queued_hint < WINDOW)
		return 1;
	set_full(c, r, 1);
	return 0;
}

/* rr: the next worker with room after the cursor.  leastconn: the fewest
 * open connections (queued ones count), ties to the next in rotation.
 * *at is its position; the cursor moves only when a connection is really
 * handed over (a pick that finds no connection to give must not count). */
static struct worker *pick(struct cluster *c, struct listener *l, unsigned *at_out)
{
	struct worker *best = NULL;
	uint64_t best_open = 0;
	unsigned k, n = (unsigned)c->nworkers, best_at = 0;

	for (k = 1; k <= n; k++) {
		unsigned at = (l->cursor + k) % n;
		struct worker *w = c->workers[at];
		struct route *r = &w->routes[l->id];
		uint64_t open;

		if (!has_room(c, w, r))
			continue;
		if (l->policy == POLICY_RR) {
			best = w;
			best_at = at;
			break;
		}
		open = route_open_conns(r);
		if (!best || open < best_open) {
			best = w;
			best_open = open;
			best_at = at;
		}
	}
	*at_out = best_at;
	return best;
}

static int push_pending(struct listener *l, const struct conn *conn, int front)
{
	if (l->npending == l->cappending) {
		size_t cap = l->cappending ? l->cappending * 2 : 16;
		struct conn *grown = realloc(l->pending, cap * sizeof(*grown));
		if (!grown)
			return -1;
		l->pending = grown;
		l->cappending = cap;
	}
	if (front) {
		memmove(l->pending + 1, l->pending, l->npending * sizeof(*conn));
		l->pending[0] = *conn;
	} else {
		l->pending[l->npending] = *conn;
	}
	l->npending++;
	return 0;
}

static void pop_pending(struct listener *l, struct conn *conn)
{
	*conn = l->pending[0];
	memmove(l->pending, l->pending + 1, --l->npending * sizeof(*conn));
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

static void dispatch(struct cluster *c, struct listener *l)
{
	int budget;

	if (c->stopping)
		return;
	for (budget = ACCEPT_BUDGET; budget > 0; budget--) {
		unsigned at;
		struct worker *w = pick(c, l, &at);
		struct route *r;
		struct conn conn;

		if (!w) {
			watch(c, l, 0);         /* every worker is full */
			return;
		}
		if (!next_conn(c, l, &conn)) {
			watch(c, l, l->emfile_until == 0);
			return;
		}
		r = &w->routes[l->id];
		if (send_conn(r, &conn) == 0) {
			close(conn.fd);
			l->cursor = at;
			r->handed++;
			r->queued_hint++;
			health_conn_handed(c, w);
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
		if (push_pending(l, &conn, 1) < 0) {
			log_warnx("%s: out of memory: dropping a connection", l->name);
			close(conn.fd);
		}
	}
	watch(c, l, 1);         /* more may be waiting: come back */
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

int balancer_give(struct cluster *c, struct worker *w, struct listener *l)
{
	struct route *r = &w->routes[l->id];
	int sv[2];

	r->w = w;
	r->lid = l->id;
	if (l->policy == POLICY_REUSEPORT)
		return reuseport_slot_fd(c, l, w->slot);
	if (!is_channel_policy(l->policy))
		return l->fd;
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
	if (!l->registered && loop_add_fd(c->loop, l->fd, 0, listener_event, l) == 0)
		l->registered = 1;
	return r->chan_peer;
}

void balancer_kick(struct cluster *c, struct listener *l)
{
	if (is_channel_policy(l->policy))
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
	if (w->state == W_DRAINING && worker_open_conns(w) == 0)
		supervisor_worker_idle(c, w);
}

void balancer_stop(struct cluster *c)
{
	int i;

	for (i = 0; i < c->nlisteners; i++)
		watch(c, c->listeners[i], 0);
}
