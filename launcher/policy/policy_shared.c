/*
 * policy_shared.c - the shared policy: every worker accepts on the
 * master's one listening socket (how nginx, gunicorn and prefork servers
 * share a socket).  No hop through the master; the kernel decides who gets
 * each connection.
 *
 * Also the socket family's drain, which reuseport uses too: the master
 * sets the listener's drain bit on the worker's board and the shim stops
 * the app accepting (shim/drain.c); the connection count that is left is
 * what the app is still serving, which the census finds (census.c).
 * Datagram sockets cannot be drained: nothing is accepted from them, and
 * the shim does not hook recv.
 *
 * At a stop the socket a worker accepts from closes once the workers are
 * gone, and the kernel resets what is still queued on it.  So when its
 * listener drops new SYNs (syns_stopped: listener.c), the drain bit waits
 * (drain_deferred) until that socket's accept queue is empty: the workers
 * keep accepting (under shared, every worker from the one queue) and
 * serve what the kernel already completed.  A seccomp worker reads no
 * board, but its drain waits for the queue the same way (retire.c asks
 * pending).  A reload or scale-down under shared needs none of this: the
 * socket stays and the other workers take its queue.
 */
#include "cluster.h"
#include "net/board.h"
#include "net/handshakes.h"
#include "net/sockets.h"
#include "policy/policy.h"

/* The socket w accepts l's connections from, or -1 (its slot has none:
 * nothing is queued for it). */
static int accept_socket(const struct worker *w, const struct listener *l)
{
	if (!l->ops->per_slot_sockets)
		return l->fd;
	if (w->slot >= 0 && w->slot < l->nslot_fds)
		return l->slot_fds[w->slot];
	return -1;
}

void socket_drain(struct cluster *c, struct worker *w, struct listener *l, int give_back)
{
	struct route *r = &w->routes[l->id];

	(void)c;
	r->draining = 1;
	if (l->type != SOCK_STREAM)
		return;
	/* give_back 0 is a stop: nobody else takes the queue (see above) */
	if (!give_back && l->syns_stopped) {
		r->drain_deferred = 1;
		return;
	}
	board_set_drain(w, l->id);
}

unsigned socket_pending(struct cluster *c, struct worker *w, struct listener *l)
{
	struct route *r = &w->routes[l->id];
	unsigned q;

	(void)c;
	if (l->type != SOCK_STREAM || !r->draining)
		return 0;
	if (r->drain_deferred) {
		/* handshakes begun before the cut complete into this queue
		 * later: an empty queue is final only once they are done
		 * (net/handshakes.c) */
		if ((q = handshakes_pending(l)) > 0)
			return q;
		if ((q = socket_accept_queue(accept_socket(w, l))) > 0)
			return q;
		r->drain_deferred = 0;
		board_set_drain(w, l->id);
	}
	return board_in_accept(w, l->id);
}

static int attach(struct cluster *c, struct worker *w, struct listener *l)
{
	(void)c;
	(void)w;
	return l->fd;
}

const struct policy_ops policy_shared = {
	.name = "shared",
	.help = "one socket: every worker accepts on it",
	.attach = attach,
	.drain = socket_drain,
	.pending = socket_pending,
};
