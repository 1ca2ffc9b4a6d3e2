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
 */
#include "cluster.h"
#include "net/board.h"
#include "policy/policy.h"

void socket_drain(struct cluster *c, struct worker *w, struct listener *l, int give_back)
{
	(void)c;
	(void)give_back;        /* nothing is queued for one worker alone */
	w->routes[l->id].draining = 1;
	if (l->type == SOCK_STREAM)
		board_set_drain(w, l->id);
}

unsigned socket_pending(struct cluster *c, struct worker *w, struct listener *l)
{
	(void)c;
	if (l->type != SOCK_STREAM || !w->routes[l->id].draining)
		return 0;
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
