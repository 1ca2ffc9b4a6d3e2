/*
 * policy_reuseport.c - the reuseport policy: one SO_REUSEPORT listening
 * socket per worker slot, made and kept by the master; workers accept on
 * their slot's socket themselves.
 *
 * Every slot's socket is created in slot order, so slot i's socket is at
 * index i of the kernel's reuseport group.  A classic BPF program on the
 * group picks one of the first `target` sockets at random; on scale-down
 * the removed slot's socket thus stops getting new connections while its
 * worker drains what is queued on it (reuseport_slot_queued), and sockets
 * are closed from the top only, so the kernel never moves one into a hole
 * and index = slot keeps holding.  A restarted worker gets its slot's
 * socket back, queue included.
 *
 * Draining: a retiring worker of a slot that stays (reload) stops
 * accepting at once: its replacement shares the slot's socket and takes
 * the queue.  A worker of a removed slot (scale-down) first accepts what
 * is queued on its socket, which gets nothing new, and only then stops
 * accepting (drain_deferred: policy_shared.c's socket_pending waits for
 * the queue).  At a stop every slot's worker does the same, its socket
 * dropping new SYNs meanwhile (listener.c).  The shim does the stopping
 * (board.c, shim/drain.c).
 *
 * Not here: the listener registry (net/listener.c); the steering program
 * (reuseport_group.c); when workers are retired (supervise/slots.c,
 * supervise/retire.c).
 */
#include "policy/policy_reuseport.h"
#include "cluster.h"
#include "base/log.h"
#include "net/handshakes.h"
#include "net/sockets.h"
#include "policy/policy.h"
#include "policy/reuseport_group.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int grow(struct listener *l, int slot)
{
	int n = slot + 8, i;
	int *grown;

	if (slot < l->nslot_fds)
		return 0;
	grown = realloc(l->slot_fds, (size_t)n * sizeof(*grown));
	if (!grown)
		return -1;
	for (i = l->nslot_fds; i < n; i++)
		grown[i] = -1;
	l->slot_fds = grown;
	l->nslot_fds = n;
	return 0;
}

static int slot_fd(struct listener *l, int slot)
{
	struct msg_bind req;
	int err, i;

	if (grow(l, slot) < 0)
		return -1;
	if (l->slot_fds[0] < 0)
		l->slot_fds[0] = l->fd;         /* slot 0's is the first one bound */
	/* Create every missing socket up to slot, in order: group index = slot. */
	memset(&req, 0, sizeof(req));
	req.family = l->family;
	req.type = l->type;
	req.protocol = l->protocol;
	req.opts = l->opts;
	for (i = 0; i <= slot; i++) {
		if (l->slot_fds[i] >= 0)
			continue;
		l->slot_fds[i] = socket_open_listener(&req, &l->addr, l->addrlen, SOCKET_JOIN,
						      NULL, &err);
		if (l->slot_fds[i] < 0) {
			errno = err;
			log_warn("%s: socket for worker %d", l->name, i);
			return -1;
		}
		reuseport_group_join(l, l->slot_fds[i]);
	}
	return l->slot_fds[slot];
}

static void slots_changed(struct cluster *c, struct listener *l)
{
	slot_fd(l, c->target - 1);
	reuseport_group_steer(l, c->target);
	/* A SYN steered to a removed slot before this completes its
	 * handshake on that slot's socket, however late its ACK: the
	 * removed worker's drain waits for those (net/handshakes.c).
	 * Listed at every change, after the steering: a scale-up's list is
	 * never waited for. */
	if (l->type == SOCK_STREAM)
		handshakes_cut(l);
}

/* The accept queue of slot's socket of l. */
static unsigned slot_queued(struct listener *l, int slot)
{
	if (l->type != SOCK_STREAM || slot >= l->nslot_fds)
		return 0;
	return socket_accept_queue(l->slot_fds[slot]);
}

/* Connections queued on slot's sockets, every reuseport listener (the
 * hang check, health.c). */
unsigned reuseport_slot_queued(struct cluster *c, int slot)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i]->ops->per_slot_sockets)
			n += slot_queued(c->listeners[i], slot);
	return n;
}

static int attach(struct cluster *c, struct worker *w, struct listener *l)
{
	(void)c;
	return slot_fd(l, w->slot);
}

static void drain(struct cluster *c, struct worker *w, struct listener *l, int give_back)
{
	struct route *r = &w->routes[l->id];

	/* a removed slot's queue has nobody else to go to */
	if (give_back && w->slot >= c->target && l->type == SOCK_STREAM) {
		r->draining = 1;
		r->drain_deferred = 1;
		return;
	}
	socket_drain(c, w, l, give_back);
}

static unsigned pending(struct cluster *c, struct worker *w, struct listener *l)
{
	struct route *r = &w->routes[l->id];

	/* scaled back up meanwhile: the slot's new worker takes the queue
	 * (at a stop every slot is below the target: the queue is w's) */
	if (r->drain_deferred && w->slot < c->target && !c->stopping) {
		r->drain_deferred = 0;
		socket_drain(c, w, l, 1);
	}
	return socket_pending(c, w, l);
}

const struct policy_ops policy_reuseport = {
	.name = "reuseport",
	.help = "one SO_REUSEPORT socket per slot",
	.per_slot_sockets = 1,
	.attach = attach,
	.drain = drain,
	.pending = pending,
	.slots_changed = slots_changed,
};

/* Close slot's socket of l, refusing what is still queued on it. */
static void close_slot_socket(struct listener *l, int slot)
{
	int fd = l->slot_fds[slot], conn, lost = 0;

	while (l->type == SOCK_STREAM && (conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(conn);
		lost++;
	}
	if (lost)
		log_warnx("%s: %d connection(s) queued on removed worker %d were refused",
			  l->name, lost, slot);
	close(fd);
	reuseport_group_leave(l, fd);
	l->slot_fds[slot] = -1;
}

/* The kernel fills the hole a closed socket leaves in a reuseport group
 * with the group's last socket (reuseport_detach_sock), so closing any but
 * the last would put another slot's socket at the wrong index, where
 * the in-order steering counts on index = slot.  Sockets therefore only ever go from the
 * top: every socket beyond the target that no worker uses (a draining one,
 * a replacement) is closed, from the highest down, stopping at the first
 * one still in use.  A slot whose worker leaves while a higher one still
 * works keeps its socket until that one is gone too; `slot`, the slot
 * that just became free, is where the caller noticed, not a limit.
 * O(workers + slots) per listener. */
void reuseport_close_slots(struct cluster *c, int slot)
{
	unsigned char used[MAX_WORKERS] = { 0 };
	int i, k;

	(void)slot;
	for (i = 0; i < c->nworkers; i++)
		if (c->workers[i]->slot >= 0 && c->workers[i]->slot < MAX_WORKERS)
			used[c->workers[i]->slot] = 1;
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];

		/* slot 0's socket is l->fd, and the target is at least 1 */
		for (k = l->nslot_fds - 1; k > 0 && k >= c->target; k--) {
			if (l->slot_fds[k] < 0)
				continue;
			if (k >= MAX_WORKERS || used[k])
				break;
			close_slot_socket(l, k);
		}
	}
}
