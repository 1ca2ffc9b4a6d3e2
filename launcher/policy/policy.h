/*
 * policy.h - what a connection-scheduling policy is: one table of
 * operations per policy, one file per policy (policy_*.c).
 *
 * Each listener has the policy that applies to it after fallbacks (UDP
 * under rr is shared; unix under reuseport is shared: policy_for_bind),
 * and the rest of the master asks that listener's table, never --policy,
 * and never which policy it is: it asks the table's capabilities
 * (channel, per_slot_sockets, takes_weights: cluster.h).  Adding a policy
 * is a new file and one line in policy.c's table.
 *
 * Two families:
 *   channel policies (rr, leastconn, sticky, random, p2c, jiq): the master accepts and hands
 *     each connection to the worker `pick` names, over the worker's channel
 *     (balancer.c does the handing, the back-pressure and taking back);
 *   kernel variants of the channel policies (policy_*_k.c, in_kernel):
 *     per-slot SO_REUSEPORT sockets as reuseport's, steered by a BPF
 *     program the master recomputes (policy_steer.c, reuseport_group.c);
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


/* Every policy, in the order users see them, then NULL (policy.c). */
extern const struct policy_ops *const policy_table[];
/* The policy called name (-p), or NULL. */
const struct policy_ops *policy_by_name(const char *name);
/* The table a listener named in an upgrade's state (net/listener.c):
 * name, and whether it is the variant steered in the kernel (which has
 * the same name); NULL when this build has no such policy. */
const struct policy_ops *policy_by_saved_name(const char *name, int in_kernel);
/* The variant of ops steered in the kernel (--steer kernel, seccomp):
 * ops itself when it has no hop (shared, reuseport, a variant), NULL when
 * a channel policy has none. */
const struct policy_ops *policy_in_kernel(const struct policy_ops *ops);
/* What serves ops through seccomp, where the master never sees accept:
 * a channel policy's variant steered in the kernel (NULL when it has
 * none), shared's stand-in on per-slot sockets (policy_shared_k.c: one
 * shared socket cannot be drained through seccomp), else ops itself. */
const struct policy_ops *policy_through_seccomp(const struct policy_ops *ops);
/* The policy without -p: through seccomp, or through the shim. */
const struct policy_ops *policy_default(int through_seccomp);
/* Whether each worker has a queue of its own the master can measure (its
 * channel, or its slot's socket): what --hang-timeout needs (health.c). */
int policy_queue_per_worker(const struct policy_ops *ops);
/* The names of the policies `which` keeps (every one when NULL), in table
 * order, into buf: "a, b, c", or "a, b or c" when conj is "or".  For
 * --help and error lines; returns buf. */
const char *policy_list(char *buf, size_t cap, int (*which)(const struct policy_ops *),
			const char *conj);
/* The policy a new listener for req gets when `asked` is wanted: datagrams
 * cannot be handed out (a channel policy falls back to shared, as in
 * Node), unix sockets have no SO_REUSEPORT (reuseport falls back to
 * shared).  *why says why, or is NULL when asked is kept. */
const struct policy_ops *policy_for_bind(const struct policy_ops *asked,
					 const struct msg_bind *req, const char **why);
/* The policy of a listener whose socket systemd handed over without
 * SO_REUSEPORT, when ops was meant for it: a policy with a socket per slot
 * falls back to shared (*why says why); any other is kept. */
const struct policy_ops *policy_for_plain_socket(const struct policy_ops *ops, const char **why);
/* The number of slots changed (c->target): every listener's policy hears. */
void policies_slots_changed(struct cluster *c);

/* balancer.c: the channel family's shared operations.  A channel policy's
 * table is its name, help and pick, plus CHANNEL_OPS. */
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
