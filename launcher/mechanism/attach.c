/*
 * attach.c - what a worker's bind() and listen() do, whichever mechanism
 * carried them (the shim's messages, shim_peer.c; a trapped system call,
 * seccomp_notify.c).
 *
 * A bind finds the cluster's listener for the address or creates it; a new
 * listener gets its policy here, after the fallbacks by kind
 * (policy_for_bind) and for a socket systemd handed us without
 * SO_REUSEPORT (policy_for_plain_socket).  The policy then attaches the worker: the fd its bind()
 * gets is the shared socket, its slot's socket or its channel end.  A
 * listen() marks the worker and the listener; the supervisor acts on the
 * marks before the loop sleeps, so nothing here calls up into it.
 *
 * Not here: binding sockets (net/listener.c), what a policy does with a
 * worker (policy/), when workers start and stop (supervise/).
 */
#include "mechanism/attach.h"
#include "cluster.h"
#include "base/log.h"
#include "mechanism/mechanism.h"
#include "net/listener.h"
#include "policy/policy.h"
#include "policy/policy_steer.h"

#include <errno.h>
#include <sys/socket.h>

/* A new listener for m, with its policy. */
static struct listener *create(struct cluster *c, const struct msg_bind *m, int *err)
{
	const struct policy_ops *asked = c->opt->policy, *ops;
	const char *why;
	struct listener *l;
	int plain;

	ops = policy_for_bind(asked, m, &why);
	l = listener_create(c, m, ops->per_slot_sockets, &plain, err);
	if (!l)
		return NULL;
	if (plain)
		ops = policy_for_plain_socket(ops, &why);
	l->ops = ops;
	if (ops->slots_changed)
		ops->slots_changed(c, l);
	if (why)
		log_warnx("%s: policy %s instead of %s: %s", l->name, ops->name, asked->name, why);
	return l;
}

/* w binds what m asks for: the listener, and in *fd what the worker must
 * hold (the shared socket, its slot's socket or its channel end), or NULL
 * with *err the errno its bind() fails with.  The shim's MSG_BIND and a
 * seccomp worker's trapped bind (seccomp_notify.c) both come here. */
struct listener *worker_bind(struct worker *w, const struct msg_bind *m, int *fd, int *err)
{
	struct cluster *c = w->c;
	struct listener *l;
	struct route *r;

	*fd = -1;
	l = listener_find(c, w, m, err);
	if (!l && !*err)
		l = create(c, m, err);
	if (l) {
		w->routes[l->id].w = w;
		w->routes[l->id].lid = l->id;
	}
	if (l && (*fd = l->ops->attach(c, w, l)) < 0) {
		*err = errno;
		l = NULL;
	}
	if (!l)
		return NULL;
	r = &w->routes[l->id];
	r->bound = r->given = 1;
	r->released = 0;
	r->listening = l->type == SOCK_DGRAM;   /* no listen() to wait for */
	return l;
}

/* Said when a worker first listens (a datagram socket: when it binds), not
 * at bind: a client's bind before connect is not a listener to announce. */
static void announce(struct cluster *c, struct listener *l)
{
	if (l->announced)
		return;
	l->announced = 1;
	log_warnx("%s (%s) shared by %d worker%s, policy %s, via %s%s", l->name,
		  listener_kind(l), c->target, c->target == 1 ? "" : "s", l->ops->name,
		  via_name(c->prog->via), l->ops->in_kernel ? ", steered in the kernel" : "");
}

/* w listens on l (a datagram socket: it bound it): it may get
 * connections.  Both marks are applied before the loop sleeps
 * (supervisor.c). */
void worker_listening(struct worker *w, struct listener *l)
{
	w->routes[l->id].listening = w->routes[l->id].bound;
	steer_worker_listening(w->c, l);
	announce(w->c, l);
	l->kick = 1;
	w->heard_listen = 1;
}

