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

#include "cluster.h"

struct cluster;
struct worker;
struct listener;
struct conn;


extern const struct policy_ops policy_rr, policy_leastconn, policy_sticky,
	policy_shared, policy_reuseport, policy_random, policy_p2c, policy_jiq;

const struct policy_ops *policy_ops_of(enum policy p);
const char *policy_name(enum policy p);
/* The policy a new listener for req gets when `asked` is wanted: datagrams
 * cannot be handed out (a channel policy falls back to shared, as in
 * Node), unix sockets have no SO_REUSEPORT (reuseport falls back to
 * shared).  *why says why, or is NULL when asked is kept. */
const struct policy_ops *policy_for_bind(const struct policy_ops *asked,
					 const struct msg_bind *req, const char **why);
/* The number of slots changed (c->target): every listener's policy hears. */
void policies_slots_changed(struct cluster *c);

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
