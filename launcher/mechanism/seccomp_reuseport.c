/*
 * seccomp_reuseport.c - rolling restart and scale-down of seccomp workers
 * under reuseport, without losing a request.
 *
 * The shim stops a retiring worker from accepting; through seccomp the
 * master cannot, and a Go server dies at once on SIGTERM, taking the
 * connections it accepted with it.  So the old worker must be starved
 * first and stopped only once it has nothing left:
 *   1. a replacement's bind gets a SO_REUSEPORT socket of its own, not
 *      its slot's (which the old worker still accepts on);
 *   2. when the replacement listens, steering sends the slot's share to
 *      that socket (reuseport_group.c: the socket is appended to the
 *      group, so the slot no longer sits at index = slot);
 *   3. the old worker is retired (retire.c, the one drain for both
 *      mechanisms): it keeps accepting what is queued on the old socket
 *      and nothing new arrives there; the drain waits until that socket's
 *      accept queue is empty (seccomp_reuseport_queued) and the worker
 *      holds no connection of the cluster's (census.c); then, or after
 *      --grace, the stop signal;
 *   4. when it is gone, its socket is closed (the group moves its last
 *      socket into the hole; steering follows) and the replacement's
 *      socket becomes the slot's.
 * Scale-down is steps 3 and 4 alone (policy/policy_reuseport.c already steers the
 * removed slot away).  The kernel variants and shared's stand-in
 * (policy_shared_k.c) have per-slot sockets too and take the same path;
 * one socket every worker shares could starve nobody, which is why shared
 * is not served that way through seccomp.
 *
 * Replacements in progress are few (one slot at a time, plus scaling), so
 * they are a short list searched linearly.
 *
 * Not here: the drain loop and the stop signal (supervise/retire.c, a
 * layer above, which asks this file what is queued).  Nothing here calls
 * up into supervise/.
 */
#include "mechanism/seccomp_reuseport.h"
#include "cluster.h"
#include "base/log.h"
#include "base/state.h"
#include "net/sockets.h"
#include "policy/policy.h"
#include "policy/policy_reuseport.h"
#include "policy/reuseport_group.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct pending_socket {         /* a replacement's own socket */
	const struct listener *l;
	struct worker *w;
	int slot;
	int fd;
	int live;               /* its worker listens: the slot is steered to it */
};

static struct pending_socket *pend;
static int npend;

static struct pending_socket *find(const struct listener *l, const struct worker *w)
{
	int i;

	for (i = 0; i < npend; i++)
		if (pend[i].l == l && pend[i].w == w)
			return &pend[i];
	return NULL;
}

static void drop(struct pending_socket *p)
{
	*p = pend[--npend];
}

static int slot_socket(const struct listener *l, int slot)
{
	return slot >= 0 && slot < l->nslot_fds ? l->slot_fds[slot] : -1;
}

/* Another worker of w's slot holds l: w replaces it. */
static int replaces_someone(struct worker *w, const struct listener *l)
{
	struct cluster *c = w->c;
	int i;

	for (i = 0; i < c->nworkers; i++) {
		struct worker *o = c->workers[i];
		if (o != w && o->slot == w->slot && o->routes[l->id].bound && !find(l, o))
			return 1;
	}
	return 0;
}

int seccomp_reuseport_give(struct worker *w, struct listener *l, int fd)
{
	struct pending_socket *p, *grown;
	struct msg_bind req;
	int fresh, err;

	if (!l->ops->per_slot_sockets || l->type != SOCK_STREAM ||
	    fd != slot_socket(l, w->slot) || !replaces_someone(w, l))
		return fd;
	if ((p = find(l, w)))
		return p->fd;
	memset(&req, 0, sizeof(req));
	req.family = l->family;
	req.type = l->type;
	req.protocol = l->protocol;
	req.opts = l->opts;
	fresh = socket_open_listener(&req, &l->addr, l->addrlen, SOCKET_JOIN, NULL, &err);
	grown = fresh < 0 ? NULL : realloc(pend, (size_t)(npend + 1) * sizeof(*pend));
	if (!grown) {
		if (fresh >= 0)
			close(fresh);
		log_warnx("%s: no socket of its own for the replacement of worker %d (%s); "
			  "it shares the old one", l->name, w->slot, strerror(fresh < 0 ? err : ENOMEM));
		return fd;
	}
	pend = grown;
	pend[npend++] = (struct pending_socket){ .l = l, .w = w, .slot = w->slot, .fd = fresh };
	reuseport_group_join(l, fresh);
	return fresh;
}

void seccomp_reuseport_listening(struct worker *w, struct listener *l)
{
	struct pending_socket *p = find(l, w);

	if (!p || p->live)
		return;
	p->live = 1;
	if (reuseport_group_serve(l, p->slot, p->fd) < 0)
		log_warnx("%s: out of memory: worker %d's share stays on the old socket",
			  l->name, p->slot);
	reuseport_group_steer(l, w->c->target);
}

int seccomp_reuseport_owns(const struct listener *l, const struct stat *st)
{
	struct stat ours;
	int i;

	for (i = 0; i < npend; i++)
		if (pend[i].l == l && fstat(pend[i].fd, &ours) == 0 &&
		    ours.st_ino == st->st_ino && ours.st_dev == st->st_dev)
			return 1;
	return 0;
}

int seccomp_reuseport_socket(const struct worker *w, const struct listener *l)
{
	const struct pending_socket *p = find(l, w);

	return p ? p->fd : -1;
}

int seccomp_reuseport_sockets(const struct listener *l, int *fds, int max)
{
	int i, n = 0;

	for (i = 0; i < npend; i++)
		if (pend[i].l == l && n++ < max)
			fds[n - 1] = pend[i].fd;
	return n;
}

static void set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* w is gone.  Its own pending socket (a replacement that died) is closed;
 * a replacement of w's slot takes over w's socket's place (step 4). */
void seccomp_reuseport_worker_gone(struct cluster *c, struct worker *w)
{
	int i, changed;

	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		struct pending_socket *p = find(l, w);
		int k, old, held = p ? p->fd : slot_socket(l, w->slot);

		changed = 0;
		/* A blocking program made its socket blocking (seccomp_notify.c),
		 * and the master's accept in close_slot_socket must not block. */
		if (l->ops->per_slot_sockets && l->type == SOCK_STREAM && held >= 0 &&
		    w->routes[l->id].bound)
			set_nonblocking(held);
		if (p) {
			if (p->live)
				reuseport_group_serve(l, p->slot, -1);
			close(p->fd);
			reuseport_group_leave(l, p->fd);
			drop(p);
			changed = 1;
		} else if (w->routes[l->id].bound) {
			for (k = 0; k < npend; k++)
				if (pend[k].l == l && pend[k].slot == w->slot)
					break;
			if (k < npend && (old = slot_socket(l, w->slot)) >= 0) {
				/* l->fd first: the group model checks it */
				if (l->fd == old)
					l->fd = pend[k].fd;
				l->slot_fds[w->slot] = pend[k].fd;
				reuseport_group_serve(l, w->slot, -1);  /* its own now */
				close(old);
				reuseport_group_leave(l, old);
				drop(&pend[k]);
				changed = 1;
			}
		}
		if (changed)
			reuseport_group_steer(l, c->target);
	}
}

/* Connections queued on the sockets w accepts on (step 3): retire.c waits
 * until there are none before it asks the census.  Only for a seccomp
 * worker: a shim worker stops accepting at once, and what is queued on its
 * slot's socket is its replacement's to take (policy_reuseport.c). */
unsigned seccomp_reuseport_queued(struct cluster *c, struct worker *w)
{
	unsigned n = 0;
	int i;

	if (c->prog->via != VIA_SECCOMP)
		return 0;
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		struct pending_socket *p = find(l, w);
		int fd = p ? p->fd : slot_socket(l, w->slot);

		if (!l->ops->per_slot_sockets || l->type != SOCK_STREAM ||
		    !w->routes[l->id].bound || fd < 0)
			continue;
		n += socket_accept_queue(fd);
	}
	return n;
}

int seccomp_reuseport_save(struct cluster *c, struct state_out *o)
{
	int i;

	(void)c;
	for (i = 0; i < npend; i++) {
		state_rec(o, "seccomp_pend");
		state_u64(o, "lid", pend[i].l->id);
		state_u64(o, "serial", pend[i].w->serial);
		state_i64(o, "slot", pend[i].slot);
		state_fd(o, "fd", pend[i].fd);
		state_i64(o, "live", pend[i].live);
	}
	return 0;
}

/* A socket whose worker the new image does not have (it cannot be: the
 * old one dropped it at the worker's end) is left alone, not closed: a
 * restore closes nothing, since a later module's failure gives the same
 * state back to the old binary.  Its place in the steering was
 * reuseport_group.c's to carry. */
int seccomp_reuseport_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r;
	int n = 0, i;

	for (r = state_first(in, "seccomp_pend"); r; r = state_next(r))
		n++;
	free(pend);
	pend = NULL;
	npend = 0;
	if (n && !(pend = calloc((size_t)n, sizeof(*pend)))) {
		log_warn("upgrade: replacement sockets");
		return -1;
	}
	for (r = state_first(in, "seccomp_pend"); r; r = state_next(r)) {
		uint64_t lid = rec_u64(r, "lid", UINT64_MAX), serial = rec_u64(r, "serial", 0);
		int fd = rec_fd(r, "fd");
		struct worker *w = NULL;

		for (i = 0; i < c->nworkers && !w; i++)
			if (c->workers[i]->serial == serial)
				w = c->workers[i];
		if (fd < 0)
			continue;
		if (lid >= (uint64_t)c->nlisteners || !w) {
			log_warnx("upgrade: a replacement socket of worker serial %llu has no "
				  "listener or worker here: left alone", (unsigned long long)serial);
			continue;
		}
		pend[npend++] = (struct pending_socket){
			.l = c->listeners[lid], .w = w, .fd = fd,
			.slot = (int)rec_i64(r, "slot", w->slot),
			.live = (int)rec_i64(r, "live", 0),
		};
	}
	if (npend)
		log_debug("upgrade: %d replacement socket(s) of a rolling restart adopted", npend);
	return 0;
}
