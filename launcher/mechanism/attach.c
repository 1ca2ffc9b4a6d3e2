/*
 * attach.c - what a worker's bind() and listen() do, whichever mechanism
 * carried them (the shim's messages, shim_peer.c; a trapped system call,
 * seccomp_notify.c).
 *
 * A bind finds the cluster's listener for the address or creates it.  A
 * new listener is bound with the --user credentials once the worker's
 * start-up is over (bind_creds); stops the start-up when something
 * outside the cluster holds its address (stops_start); and gets its
 * policy here, after the fallbacks by kind (policy_for_bind) and for a
 * socket systemd handed us without SO_REUSEPORT
 * (policy_for_plain_socket).  The policy then attaches the worker: the fd its bind()
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
#include "base/loop.h"
#include "mechanism/mechanism.h"
#include "net/holder.h"
#include "net/listener.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "policy/policy_steer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* --user: the credentials w's bind of a new address is made with, NULL for
 * the master's own.  A unix socket's file is always made as the workers'
 * user, so a worker makes no file where that user may not.  A port is
 * bound with the master's rights (below 1024 included) only during the
 * start-up of w's slot: until the slot first listens (and a moment more
 * for the program's next addresses, SLOT_BINDS_SETTLE_MS), or takes a
 * connection, and for good: the slot's later workers get the addresses
 * the cluster has, and new ones with the user's rights, as without
 * cluster-run, unless --allow-bind.  Until its slot ever listens, a
 * worker has --ready-timeout from its own start.  So a worker that serves
 * never gets a privileged port, whatever the other slots do.  (A seccomp
 * worker's connections are not counted: its slot's listen alone ends
 * its start-up.) */
static const struct creds *bind_creds(struct cluster *c, struct worker *w,
				      const struct msg_bind *m)
{
	int64_t now = loop_now_ms(), until;
	struct slot *s;

	if (!c->creds.drop)
		return NULL;
	if (m->family == AF_UNIX)
		return &c->creds;
	if (c->opt->allow_bind || w->slot < 0 || w->slot >= MAX_WORKERS)
		return NULL;
	s = &c->slots[w->slot];
	if ((!s->binds_until || s->binds_until > now) && worker_taken(w) > 0)
		s->binds_until = now;
	until = s->binds_until ? s->binds_until
			       : w->started_ms + (int64_t)(c->opt->ready_timeout * 1000.0);
	return now < until ? NULL : &c->creds;
}

/* The start-up stops at an address held outside the cluster: retrying
 * cannot clear that, and the program would only print its error once per
 * worker and restart.  One line, the address and its holder when the
 * kernel says; status 1.  The worker gets no answer: it is killed before
 * the program could print its own error (slots.c).  Only the first
 * generation's binds: later ones (a reload's new address) fail as the
 * program's own bind, and the running workers keep serving.  Nor when
 * the holder is one of our own listeners: a program that binds [::]:P
 * and then 0.0.0.0:P gets its own EADDRINUSE, as without cluster-run,
 * and may well go on without the second. */
static int stops_start(struct cluster *c, const struct msg_bind *m, int err)
{
	char name[128], holder[200];

	if (err != EADDRINUSE || c->started_up || c->generation > 0 || c->stopping)
		return 0;
	if (c->start_failed)
		return 1;
	if (listener_owns_socket(c, holder_describe(m, holder, sizeof(holder))))
		return 0;
	listener_req_name(m, name, sizeof(name));
	log_warnx("cannot bind %s: %s%s%s; stopping", name, strerror(err), holder[0] ? ", " : "",
		  holder);
	c->start_failed = 1;
	c->exit_status = EXIT_FAILURE_;
	c->slots_dirty = 1;
	return 1;
}

/* The program prints its own bind error, but not always the address: name
 * it, once per address in a row (a crash loop would repeat it). */
static void bind_failed(struct worker *w, const struct msg_bind *m, int err,
			const struct creds *as)
{
	static char last[128];
	char name[128];

	listener_req_name(m, name, sizeof(name));
	if (!strcmp(last, name))
		return;
	snprintf(last, sizeof(last), "%s", name);
	if (as && m->family != AF_UNIX)
		log_warnx("cannot bind %s: %s (worker %d asked after its start-up: bound with "
			  "the --user rights; --allow-bind lets cluster-run bind it)", name,
			  strerror(err), w->slot);
	else
		log_warnx("cannot bind %s: %s", name, strerror(err));
}

/* A new listener for m, with its policy; NULL with *err, or with *err 0
 * when w must get no answer (stops_start). */
static struct listener *create(struct cluster *c, struct worker *w, const struct msg_bind *m,
			       int *err)
{
	const struct policy_ops *asked = c->opt->policy, *ops;
	const struct creds *as = bind_creds(c, w, m);
	const char *why;
	struct listener *l;
	int plain;

	ops = policy_for_bind(asked, m, &why);
	l = listener_create(c, m, ops->per_slot_sockets, as, &plain, err);
	if (!l) {
		if (stops_start(c, m, *err))
			*err = 0;
		else
			bind_failed(w, m, *err, as);
		return NULL;
	}
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
 * with *err the errno its bind() fails with, or with *err 0 when the
 * start-up stops (stops_start): then the worker gets no answer.  The
 * shim's MSG_BIND and a seccomp worker's trapped bind (seccomp_notify.c)
 * both come here. */
struct listener *worker_bind(struct worker *w, const struct msg_bind *m, int *fd, int *err)
{
	struct cluster *c = w->c;
	struct listener *l;
	struct route *r;

	*fd = -1;
	l = listener_find(c, w, m, err);
	if (!l && !*err && c->start_failed)
		return NULL;    /* stopping: no answer, as for the first */
	if (!l && !*err)
		l = create(c, w, m, err);
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
	log_warnx("%s (%s) shared by %d worker%s, policy %s, via %s%s%s", l->name,
		  listener_kind(l), c->target, c->target == 1 ? "" : "s", l->ops->name,
		  via_name(c->prog->via), l->ops->served_as || l->ops->in_kernel ? ", " : "",
		  l->ops->served_as ? l->ops->served_as :
		  l->ops->in_kernel ? "steered in the kernel" : "");
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

