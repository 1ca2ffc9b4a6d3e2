/*
 * policy.h - what a connection-scheduling policy is: one table of
 * operations per policy, one file per policy (policy_*.c).
 *
 * Each listener has the policy that applies to it after fallbacks (UDP
 * under rr is shared; unix under reuseport is shared: listener.c), and the
 * rest of the master asks that listener's table, never --policy.  Adding a
 * policy is a new file and one line in policy_ops_of().
 *
 * Two families:
 *   channel policies (rr, leastconn, sticky, random, p2c, jiq): the master accepts and hands
 *     each connection to the worker `pick` names, over the worker's channel
 *     (balancer.c does the handing, the back-pressure and taking back);
 *   socket policies (shared, reuseport): workers accept on the master's
 *     sockets themselves; to drain one, the master sets its drain bit on
 *     the worker's board and the shim stops the app accepting (board.c,
 *     shim/drain.c).
 */
#ifndef LAUNCHER_POLICY_H
#define LAUNCHER_POLICY_H

#include "base/options.h"

struct cluster;
struct worker;
struct listener;
struct conn;

struct policy_ops {
	enum policy id;
	const char *name;
	int channel;            /* the master hands out connections */
	int pick_needs_peer;    /* pick() must see the connection (sticky) */

	/* The fd worker w's bind() of l gets (a channel end or a socket), or
	 * -1 with errno. */
	int (*attach)(struct cluster *c, struct worker *w, struct listener *l);
	/* Channel policies: who takes conn now, or NULL when nobody can (then
	 * the master stops accepting until a worker has room).  conn is NULL
	 * when the peer is not known yet (pick_needs_peer == 0 only).  *at is
	 * the worker's index in c->workers, for the rotation cursor. */
	struct worker *(*pick)(struct cluster *c, struct listener *l,
			       const struct conn *conn, unsigned *at);
	/* Stop giving w new connections from l.  give_back: hand what is
	 * already queued for w to other workers (a retirement); 0: leave it
	 * for w to finish (a stop, where nobody else will take it). */
	void (*drain)(struct cluster *c, struct worker *w, struct listener *l, int give_back);
	/* Connections of l still on their way to w (queued on its channel or
	 * its slot's socket, or being accepted right now).  A drained worker
	 * is stopped only once this is 0 everywhere. */
	unsigned (*pending)(struct cluster *c, struct worker *w, struct listener *l);
	/* The number of slots changed (c->target); may be NULL. */
	void (*slots_changed)(struct cluster *c, struct listener *l);
	/* w let go of l (closed it) or is gone; may be NULL. */
	void (*release)(struct cluster *c, struct worker *w, struct listener *l);
	/* Channel policies: the connection pick() chose w for was handed to
	 * w (a pick may go unused when no connection was waiting); may be
	 * NULL.  For state that must move only per real hand-over, like the
	 * rotation cursor (weights.c). */
	void (*handed)(struct cluster *c, struct listener *l, struct worker *w);
};

extern const struct policy_ops policy_rr, policy_leastconn, policy_sticky,
	policy_shared, policy_reuseport, policy_random, policy_p2c, policy_jiq;

const struct policy_ops *policy_ops_of(enum policy p);

/* balancer.c: the channel family's shared operations.  A channel policy's
 * table is its id, name and pick, plus CHANNEL_OPS. */
#define CHANNEL_OPS .channel = 1, .attach = channel_attach, .drain = channel_drain, \
	.pending = channel_pending, .release = channel_release
int channel_attach(struct cluster *c, struct worker *w, struct listener *l);
void channel_drain(struct cluster *c, struct worker *w, struct listener *l, int give_back);
unsigned channel_pending(struct cluster *c, struct worker *w, struct listener *l);
void channel_release(struct cluster *c, struct worker *w, struct listener *l);
/* May w take a connection of l now?  (Measures its channel when needed.) */
int channel_has_room(struct cluster *c, struct worker *w, struct listener *l);
/* rr's choice: the next worker with room after l's cursor, or NULL. */
struct worker *channel_next_with_room(struct cluster *c, struct listener *l, unsigned *at);

/* board.c-backed drain for the socket family. */
void socket_drain(struct cluster *c, struct worker *w, struct listener *l, int give_back);
unsigned socket_pending(struct cluster *c, struct worker *w, struct listener *l);

#endif
