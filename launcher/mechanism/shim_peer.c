/*
 * shim_peer.c - the shim's side of the wire (wire/protocol.h), as the
 * master hears it: each worker's doorbell, the processes of a worker that
 * attach over it, and every message they send.
 *
 * A worker is untrusted input.  Every message is checked with msg_valid()
 * before a field is read; anything unexpected (garbage, a wrong length, an
 * fd where none belongs, a listener id it was never given) marks the worker
 * as misbehaving, and it is killed: its exit is an ordinary crash for the
 * slot.  The master never blocks on a worker: reads and the one reply are
 * MSG_DONTWAIT.
 *
 * Not here: what a bind or a listen does (attach.c); the worker's process
 * (supervise/worker.c).
 */
#include "mechanism/shim_peer.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/spawn.h"
#include "mechanism/attach.h"
#include "net/listener.h"
#include "policy/balancer.h"
#include "policy/fd_short.h"
#include "policy/policy.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MSG_BUDGET 32           /* messages per wakeup from one process */
/* Processes of one worker that may talk to the master at once.  Each costs
 * the master an fd; without a bound one worker could take them all. */
#define MAX_PEERS 256

/* It broke the protocol: hear no more of it, and replace it (its exit is
 * an ordinary crash for the slot). */
void worker_misbehaved(struct worker *w, const char *why)
{
	if (w->misbehaved)
		return;         /* said and done: it is being killed */
	w->misbehaved = 1;
	log_warnx("worker %d (pid %d) %s; replacing it", w->slot, (int)w->pid, why);
	spawn_signal(w->pid, SIGKILL);
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
	} else if (err) {
		rep.err = err;
	} else {
		return;         /* the start-up stops: no answer (attach.c) */
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
	case MSG_FDS_SHORT:     /* an accept found its fd table full */
		if (!given_listener(w, m->listener.listener))
			return -1;
		fd_short_report(c, w, (pid_t)m->listener.backlog);
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
			/* that process is gone, or exec'd (its private channel is
			 * close-on-exec).  The main process's: tell retire.c as a
			 * closed doorbell does, since a forked child of the old
			 * image (uwsgi's workers, seen still in epoll_wait after
			 * the master re-exec'd on TERM) may hold the doorbell for
			 * the whole grace. */
			int main_process = p->pid == w->pid;

			remove_peer(w, p);
			if (main_process && w->c->hooks.doorbell_closed)
				w->c->hooks.doorbell_closed(w->c, w);
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
			/* every process closed it: closed here too (an upgrade
			 * carries only a doorbell somebody still holds) */
			loop_del_fd(loop, fd);
			close(fd);
			w->doorbell = -1;
			if (w->c->hooks.doorbell_closed)
				w->c->hooks.doorbell_closed(w->c, w);
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

int shim_peer_watch(struct worker *w, int doorbell)
{
	w->doorbell = doorbell;
	return loop_add_fd(w->c->loop, doorbell, EPOLLIN, doorbell_event, w);
}

int shim_peer_adopt_peer(struct worker *w, int fd, pid_t pid)
{
	struct msg_attach m = { .version = CLUSTER_PROTO_VERSION, .pid = pid };
	int n = w->npeers;

	if (fd < 0)
		return 0;
	add_peer(w, &m, fd);    /* closes fd when it cannot */
	return w->npeers > n ? 0 : -1;
}

void shim_peer_forget(struct worker *w)
{
	while (w->npeers)
		remove_peer(w, w->peers[0]);
	free(w->peers);
	w->peers = NULL;
	if (w->doorbell >= 0) {
		loop_del_fd(w->c->loop, w->doorbell);
		close(w->doorbell);
		w->doorbell = -1;
	}
}
