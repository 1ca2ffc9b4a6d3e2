/*
 * worker.c - one worker: its process, its environment, and the messages its
 * processes send the master (protocol.h).
 *
 * A worker is untrusted input.  Every message is checked with msg_valid()
 * before a field is read; anything unexpected (garbage, a wrong length, an
 * fd where none belongs, a listener id it was never given) marks the worker
 * as misbehaving, and the supervisor replaces it.  The master never blocks
 * on a worker: reads and the one reply are MSG_DONTWAIT.
 *
 * What the supervisor must act on (a process started listening) is marked
 * on the worker and applied in the loop's before-sleep pass, so nothing
 * here calls back up into the supervisor.
 *
 * Not here: when workers start and stop (slots.c), where connections go
 * (policy_*.c, balancer.c).
 */
#include "supervise/worker.h"
#include "cluster.h"
#include "base/envfile.h"
#include "base/log.h"
#include "base/logline.h"
#include "base/loop.h"
#include "base/output.h"
#include "base/spawn.h"
#include "mechanism/seccomp.h"
#include "net/board.h"
#include "net/listener.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "supervise/guard.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define MSG_BUDGET 32           /* messages per wakeup from one process */
/* Processes of one worker that may talk to the master at once.  Each costs
 * the master an fd; without a bound one worker could take them all. */
#define MAX_PEERS 256


/* Processes are started and signalled through c->procs when a test set
 * it (spawn.h), else for real. */
static const struct proc_ops real_procs = { .spawn = spawn_process, .kill = kill };

static const struct proc_ops *procs_of(const struct cluster *c)
{
	return c->procs ? c->procs : &real_procs;
}

static int starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* The program's environment: ours with --env-file and -e over it (envfile.c),
 * minus stale cluster variables, plus the slot's.  The shim goes first in
 * LD_PRELOAD; the user's entries follow.  A seccomp worker (doorbell -1)
 * gets neither the shim nor a doorbell. */
static char **build_env(struct cluster *c, int slot, int doorbell)
{
	char **base = env_list_overlay(&c->opt->env, environ);
	const char *preload = NULL;
	size_t n = 0, k = 0;
	struct stat st;
	char **env;

	if (!base)
		return NULL;
	while (base[n])
		if (starts_with(base[n++], "LD_PRELOAD="))
			preload = base[n - 1] + strlen("LD_PRELOAD=");
	env = calloc(n + 5, sizeof(*env));
	if (!env) {
		free(base);
		return NULL;
	}
	for (n = 0; base[n]; n++) {
		const char *e = base[n];
		if (starts_with(e, CLUSTER_ENV_FD "=") || starts_with(e, CLUSTER_ENV_WORKER_ID "=") ||
		    starts_with(e, CLUSTER_ENV_WORKERS "=") || starts_with(e, "LD_PRELOAD="))
			continue;
		env[k++] = strdup(e);
	}
	if (doorbell < 0) {
		if ((preload && asprintf(&env[k++], "LD_PRELOAD=%s", preload) < 0) ||
		    asprintf(&env[k++], "%s=%d", CLUSTER_ENV_WORKER_ID, slot) < 0 ||
		    asprintf(&env[k++], "%s=%d", CLUSTER_ENV_WORKERS, c->target) < 0)
			env[k - 1] = NULL;
		free(base);
		return env;
	}
	/* fd:inode, so that a program started later from a saved copy of
	 * this environment cannot mistake another fd for the doorbell */
	if (fstat(doorbell, &st) < 0 ||
	    asprintf(&env[k++], "%s=%d:%lu", CLUSTER_ENV_FD, doorbell, (unsigned long)st.st_ino) < 0 ||
	    asprintf(&env[k++], "%s=%d", CLUSTER_ENV_WORKER_ID, slot) < 0 ||
	    asprintf(&env[k++], "%s=%d", CLUSTER_ENV_WORKERS, c->target) < 0 ||
	    asprintf(&env[k++], "LD_PRELOAD=%s%s%s", c->shim_path,
		     preload && *preload ? ":" : "", preload ? preload : "") < 0)
		env[k - 1] = NULL;
	free(base);
	return env;
}

static void free_env(char **env)
{
	size_t i;

	for (i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

const char *worker_state_name(enum worker_state st)
{
	switch (st) {
	case W_STARTING: return "starting";
	case W_READY:    return "ready";
	case W_DRAINING: return "draining";
	case W_STOPPING: return "stopping";
	}
	return "?";
}

/*
 * A worker's states only move forward, and it is always drained before it
 * is stopped: retire.c drains, then worker_stop(); slots.c's stop_hung
 * drains (at once) too.  A worker is born STARTING (worker_spawn) and
 * leaves the table by exiting (worker_free), from any state.  Setting the
 * state it already has is no transition and always allowed.
 */
#define TO(st) (1u << (st))
static const unsigned worker_edges[] = {
	[W_STARTING] =
		TO(W_READY) |           /* it listens (slots_worker_listening) */
		TO(W_DRAINING),         /* retired before it listened: stop,
					 * scale-down, a replaced slot */
	[W_READY] =
		TO(W_DRAINING),         /* retired; or hung (stop_hung) */
	[W_DRAINING] =
		TO(W_STOPPING),         /* nothing left, or --grace ran out */
	[W_STOPPING] = 0,               /* only its exit */
};
#undef TO

int worker_transition_allowed(enum worker_state from, enum worker_state to)
{
	const unsigned n = sizeof(worker_edges) / sizeof(worker_edges[0]);

	if ((unsigned)from >= n || (unsigned)to >= n)
		return 0;
	return from == to || (worker_edges[from] >> to & 1u);
}

/* The one way a worker changes state; an edge not in the table is a bug:
 * a debug build (NDEBUG unset) aborts, a release build says so and goes
 * on as asked (as slots.c's slot_set does). */
void worker_set_state(struct worker *w, enum worker_state to)
{
	if (!worker_transition_allowed(w->state, to)) {
		log_warnx("bug: worker %d (pid %d): %s -> %s is not a worker transition",
			  w->slot, (int)w->pid, worker_state_name(w->state),
			  worker_state_name(to));
#ifndef NDEBUG
		abort();
#endif
	}
	if (w->state != to)
		log_debug("worker %d (pid %d): %s -> %s", w->slot, (int)w->pid,
			  worker_state_name(w->state), worker_state_name(to));
	w->state = to;
}

/* It broke the protocol: hear no more of it, and replace it (its exit is
 * an ordinary crash for the slot). */
void worker_misbehaved(struct worker *w, const char *why)
{
	if (w->misbehaved)
		return;         /* said and done: it is being killed */
	w->misbehaved = 1;
	log_warnx("worker %d (pid %d) %s; replacing it", w->slot, (int)w->pid, why);
	worker_signal(w, SIGKILL);
}

static void remove_peer(struct worker *w, struct peer *p)
{
	int i;

	loop_del_fd(w->c->loop, p->fd);
	close(p->fd);
	for (i = 0; i < w->npeers; i++)
		if (w->peers[i] == p) {
			w->peers[i] = w->peers[--w->npeers];
			break;
		}
	free(p);
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
	l = listener_for(c, w, m, err);
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

/* w listens on l (a datagram socket: it bound it): it may get
 * connections.  Both marks are applied before the loop sleeps
 * (supervisor.c). */
void worker_listening(struct worker *w, struct listener *l)
{
	w->routes[l->id].listening = w->routes[l->id].bound;
	listener_announce(w->c, l);
	l->kick = 1;
	w->heard_listen = 1;
}

static void reply_bind(struct peer *p, const struct msg_bind *m)
{
	struct worker *w = p->w;
	struct msg_bind_reply rep;
	struct listener *l;
	int err, fd;

	memset(&rep, 0, sizeof(rep));
	msg_init(&rep, MSG_BIND_REPLY, m->hdr.seq);
	l = worker_bind(w, m, &fd, &err);
	if (l) {
		rep.listener = l->id;
		rep.mode = l->ops->channel ? BIND_MODE_CHANNEL : BIND_MODE_SOCKET;
		rep.type = l->type;
		rep.protocol = l->protocol;
		rep.addrlen = l->addrlen;
		memcpy(&rep.addr, &l->addr, l->addrlen);
	} else {
		rep.err = err;
	}
	if (msg_send(p->fd, &rep, sizeof(rep), fd, MSG_DONTWAIT) < 0)
		log_warn("worker %d (pid %d): bind reply", w->slot, (int)p->pid);
	if (l && l->type == SOCK_DGRAM)
		worker_listening(w, l);
}

static void reply_ok(struct peer *p, uint32_t seq, int err)
{
	struct msg_bind_reply rep;

	memset(&rep, 0, sizeof(rep));
	msg_init(&rep, MSG_BIND_REPLY, seq);
	rep.err = err;
	if (msg_send(p->fd, &rep, sizeof(rep), -1, MSG_DONTWAIT) < 0)
		log_warn("worker %d (pid %d): reply", p->w->slot, (int)p->pid);
}

static void reply_unlink(struct peer *p, const struct msg_bind *m)
{
	struct msg_bind_reply rep;

	memset(&rep, 0, sizeof(rep));
	msg_init(&rep, MSG_BIND_REPLY, m->hdr.seq);
	rep.err = listener_serves_path(p->w->c, m) ? 0 : ENOENT;
	if (msg_send(p->fd, &rep, sizeof(rep), -1, MSG_DONTWAIT) < 0)
		log_warn("worker %d (pid %d): unlink reply", p->w->slot, (int)p->pid);
}

/* MSG_BOARD: the worker's board (board.c), for the shim to map. */
static void reply_board(struct peer *p, uint32_t seq)
{
	struct msg_bind_reply rep;
	struct worker *w = p->w;

	memset(&rep, 0, sizeof(rep));
	msg_init(&rep, MSG_BIND_REPLY, seq);
	rep.err = w->board_fd >= 0 ? 0 : ENOMEM;
	if (msg_send(p->fd, &rep, sizeof(rep), rep.err ? -1 : w->board_fd, MSG_DONTWAIT) < 0)
		log_warn("worker %d (pid %d): board reply", w->slot, (int)p->pid);
}

static struct listener *given_listener(struct worker *w, uint32_t lid)
{
	if (lid >= (uint32_t)w->c->nlisteners || !w->routes[lid].given)
		return NULL;
	return w->c->listeners[lid];
}

/* One message from one of the worker's processes.  0, or -1: misbehaved.
 * buf holds n bytes in a buffer of at least sizeof(union any_msg); fd is
 * what came with it (closed here).  The fuzz target calls this directly. */
int worker_handle_message(struct peer *p, void *buf, ssize_t n, int fd)
{
	union any_msg *m = buf;
	struct worker *w = p->w;
	struct cluster *c = w->c;
	struct listener *l;

	if (fd >= 0) {
		close(fd);
		return -1;
	}
	if (!msg_valid(m, (size_t)n))
		return -1;
	switch (m->hdr.type) {
	case MSG_BIND:
		if (p->fd == w->doorbell)
			return -1;      /* a request on the doorbell: no one to answer */
		reply_bind(p, &m->bind);
		return 0;
	case MSG_UNLINK:
		if (p->fd == w->doorbell)
			return -1;
		reply_unlink(p, &m->bind);
		return 0;
	case MSG_LISTEN:
		if (!(l = given_listener(w, m->listener.listener)))
			return -1;
		listener_set_backlog(c, l, m->listener.backlog);
		worker_listening(w, l);
		return 0;
	case MSG_UNLISTEN:
		if (!(l = given_listener(w, m->listener.listener)))
			return -1;
		balancer_drop_route(c, w, l);
		return 0;
	case MSG_RELEASE:       /* a client's bind: see give_back in the shim */
		if (p->fd == w->doorbell || !(l = given_listener(w, m->listener.listener)))
			return -1;
		balancer_drop_route(c, w, l);
		w->routes[l->id].released = 1;
		reply_ok(p, m->hdr.seq, 0);
		return 0;
	case MSG_BOARD:
		if (p->fd == w->doorbell)
			return -1;
		reply_board(p, m->hdr.seq);
		return 0;
	case MSG_CONN_CLOSED:
		if (!given_listener(w, m->listener.listener))
			return -1;
		balancer_conn_closed(c, w, m->listener.listener);
		return 0;
	default:
		return -1;
	}
}

static void peer_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct peer *p = data;
	struct worker *w = p->w;
	union any_msg m;
	int budget, got;

	(void)loop;
	(void)events;
	if (w->misbehaved) {
		remove_peer(w, p);      /* being killed: hear no more of it */
		return;
	}
	for (budget = MSG_BUDGET; budget > 0; budget--) {
		ssize_t n = msg_recv(fd, &m, sizeof(m), &got, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 && errno == EBADMSG) {
			worker_misbehaved(w, "sent an oversized message");
			return;
		}
		if (n <= 0) {
			remove_peer(w, p);      /* that process is gone */
			return;
		}
		if (worker_handle_message(p, &m, n, got) < 0) {
			worker_misbehaved(w, "sent a malformed message");
			return;
		}
	}
}

static void add_peer(struct worker *w, const struct msg_attach *m, int fd)
{
	struct peer *p, **grown;

	if (m->version != CLUSTER_PROTO_VERSION) {
		log_warnx("worker %d (pid %d): shim protocol %u, master %u: "
			  "mixed cluster-run versions?", w->slot, (int)m->pid,
			  m->version, CLUSTER_PROTO_VERSION);
		close(fd);
		return;
	}
	if (w->npeers >= MAX_PEERS) {
		close(fd);
		worker_misbehaved(w, "attached too many processes");
		return;
	}
	p = calloc(1, sizeof(*p));
	grown = realloc(w->peers, (size_t)(w->npeers + 1) * sizeof(*grown));
	if (!p || !grown) {
		free(p);
		if (grown)
			w->peers = grown;
		close(fd);
		return;
	}
	w->peers = grown;
	p->fd = fd;
	p->pid = m->pid;
	p->w = w;
	if (loop_add_fd(w->c->loop, fd, EPOLLIN, peer_event, p) < 0) {
		close(fd);
		free(p);
		return;
	}
	w->peers[w->npeers++] = p;
	w->attached = 1;
}

static void doorbell_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct worker *w = data;
	union any_msg m;
	int got;

	(void)events;
	for (;;) {
		ssize_t n;

		if (w->misbehaved) {
			loop_del_fd(loop, fd);  /* being killed: hear no more of it */
			return;
		}
		n = msg_recv(fd, &m, sizeof(m), &got, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 && errno == EBADMSG) {        /* oversized, or too many fds */
			worker_misbehaved(w, "sent garbage on its doorbell");
			return;
		}
		if (n < 0 && errno == EMFILE) {         /* our fds, not its fault */
			log_warnx("worker %d: out of fds: a process's attach was dropped", w->slot);
			continue;
		}
		if (n <= 0) {
			loop_del_fd(loop, fd);  /* every process closed it */
			return;
		}
		if (msg_valid(&m, (size_t)n) && m.hdr.type == MSG_ATTACH && got >= 0) {
			add_peer(w, &m.attach, got);
			continue;
		}
		/* the one-way reports (protocol.h), from any process of it */
		w->doorbell_peer.fd = fd;
		w->doorbell_peer.w = w;
		w->doorbell_peer.pid = w->pid;
		if (worker_handle_message(&w->doorbell_peer, &m, n, got) < 0) {
			worker_misbehaved(w, "sent garbage on its doorbell");
			return;
		}
	}
}

struct worker *worker_spawn(struct cluster *c, int slot)
{
	struct spawn_args a = { .path = c->prog->path, .argv = c->opt->argv,
				.out_fd = -1, .err_fd = -1, .nofile = &c->nofile,
				.creds = &c->creds };
	struct worker *w = calloc(1, sizeof(*w)), **grown;
	int db[2] = { -1, -1 }, i, err, notify_sock = -1;
	int seccomp = c->prog->via == VIA_SECCOMP;

	grown = realloc(c->workers, (size_t)(c->nworkers + 1) * sizeof(*grown));
	if (!w || !grown) {
		free(w);
		if (grown)
			c->workers = grown;
		errno = ENOMEM;
		return NULL;
	}
	c->workers = grown;
	w->c = c;
	w->slot = slot;
	w->doorbell = -1;
	w->board_fd = -1;
	if (board_create(w) < 0)
		log_warn("worker %d: board (closes will be reported one by one)", slot);
	w->notify_fd = -1;
	for (i = 0; i < CLUSTER_MAX_LISTENERS; i++)
		w->routes[i].chan = w->routes[i].chan_peer = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, db) < 0)
		goto fail;
	a.keep_fd = seccomp ? -1 : db[1];
	a.envp = build_env(c, slot, a.keep_fd);
	if (seccomp && seccomp_spawn_prepare(c, &a, &notify_sock) < 0) {
		free_env(a.envp);
		a.envp = NULL;
	}
	if (logline_pipes_wanted())
		w->out = output_new(c->loop, slot, &a.out_fd, &a.err_fd);
	w->pid = a.envp ? procs_of(c)->spawn(&a) : -1;
	err = errno;
	free_env(a.envp);
	close(db[1]);
	if (a.filter)
		close(a.notify_sock);
	if (a.out_fd >= 0)
		close(a.out_fd);
	if (a.err_fd >= 0)
		close(a.err_fd);
	if (w->pid < 0) {
		if (notify_sock >= 0)
			close(notify_sock);
		errno = err;
		goto fail;
	}
	if (seccomp)
		seccomp_spawn_done(c, w, notify_sock);
	guard_watch(c, w->pid);
	w->doorbell = db[0];
	if (loop_add_fd(c->loop, w->doorbell, EPOLLIN, doorbell_event, w) < 0)
		log_warn("worker %d: doorbell", slot);
	if (w->out)
		output_set_pid(w->out, w->pid);
	w->state = W_STARTING;          /* born so: no transition */
	w->generation = c->generation;
	w->started_ms = loop_now_ms();
	c->workers[c->nworkers++] = w;
	log_event("worker %d (pid %d) started", slot, (int)w->pid);
	return w;
fail:
	err = errno;
	if (db[0] >= 0)
		close(db[0]);
	output_free(w->out);
	board_free(w);
	free(w);
	errno = err;
	return NULL;
}

void worker_signal(struct worker *w, int sig)
{
	/* The whole process group: a wrapper script's server, a prefork
	 * server's children.  The group is the worker's pid (spawn.c). */
	const struct proc_ops *p = procs_of(w->c);

	if (p->kill(-w->pid, sig) < 0 && errno == ESRCH)
		p->kill(w->pid, sig);
}

struct worker *worker_by_pid(struct cluster *c, pid_t pid)
{
	int i;

	for (i = 0; i < c->nworkers; i++)
		if (c->workers[i]->pid == pid)
			return c->workers[i];
	return NULL;
}

int worker_listens_like(const struct worker *w, const struct worker *old)
{
	int i, any = 0;

	for (i = 0; i < w->c->nlisteners; i++) {
		if (old && old->routes[i].listening && !w->routes[i].listening)
			return 0;
		any |= w->routes[i].listening;
	}
	return any;
}

void worker_free(struct cluster *c, struct worker *w)
{
	int i;

	seccomp_worker_free(c, w);
	balancer_release(c, w);
	while (w->npeers)
		remove_peer(w, w->peers[0]);
	free(w->peers);
	if (w->doorbell >= 0) {
		loop_del_fd(c->loop, w->doorbell);
		close(w->doorbell);
	}
	output_free(w->out);
	board_free(w);
	loop_timer_cancel(c->loop, w->drain_timer);
	loop_timer_cancel(c->loop, w->kill_timer);
	for (i = 0; i < c->nworkers; i++)
		if (c->workers[i] == w) {
			memmove(c->workers + i, c->workers + i + 1,
				(size_t)(c->nworkers - i - 1) * sizeof(*c->workers));
			c->nworkers--;
			break;
		}
	free(w);
}
