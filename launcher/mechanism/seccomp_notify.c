/*
 * seccomp_notify.c - the master's half of clustering through seccomp user
 * notification: each seccomp worker's notify fd is in the loop, and each
 * bind or listen the program makes waits, trapped, until it is answered
 * here.
 *
 * A bind is answered as the shim's MSG_BIND would be (worker_bind: the
 * listener registry, then the policy's socket), except that the socket is
 * put into the program by the kernel: SECCOMP_IOCTL_NOTIF_ADDFD with
 * SETFD replaces the program's socket at its own fd number, keeping its
 * FD_CLOEXEC.  The request is rebuilt from the program's memory
 * (process_vm_readv) and from its socket, duplicated with pidfd_getfd:
 * type, protocol, the options it set before bind, and O_NONBLOCK (the
 * socket the program gets takes its O_NONBLOCK: a file flag, shared with
 * the master's copy and, under shared, every worker).
 *
 * Pids are looked up by number, and a number can be reused.  So the
 * notification's id is checked (NOTIF_ID_VALID) after everything looked
 * up by number and before anything is taken from the process: after the
 * memory is read and the process is pinned by a pidfd (pidfd_open),
 * before its socket is taken through that pidfd.  While the id is valid
 * the thread is alive, blocked in the call, so its pid was not reused
 * since the notification came; a thread killed meanwhile makes the id
 * invalid for good (seccomp_unotify(2)).  Checked before pidfd_open, a
 * thread killed between the check and the open could have its pid reused
 * by a stranger, whose fds the master would then take.
 *
 * The notification's buffers are sized by the kernel
 * (SECCOMP_GET_NOTIF_SIZES), not by our headers: a newer kernel's
 * structures may be larger, and RECV writes (and SEND reads) the
 * kernel's size.
 *
 * What is not ours goes on untouched (SECCOMP_USER_NOTIF_FLAG_CONTINUE):
 * binds of other families, of port 0 (clients and probes: Go binds
 * [::1]:0 to learn whether IPv6 works), a socket already bound, anything
 * we cannot read.  A port-0 socket that then listens is a server after
 * all: it is clustered at listen() (listen_port_zero).  A listen on a socket we gave is answered 0 without the
 * kernel's listen: the master's backlog stays the largest there is (the
 * program's number would shrink every worker's queue).
 *
 * A setsid is noted (trapped_setsid) and goes on.
 *
 * One notify fd per worker (its filter was installed in its own child),
 * so a notification needs no pid lookup to find its worker; req.pid is a
 * thread, mapped to its process (Tgid) only for pidfd_open.  The master
 * never blocks here: a notification whose thread was killed meanwhile
 * makes RECV fail with ENOENT, and every answer is one ioctl.
 *
 * Not here: the filter (seccomp_filter.c); which socket a policy gives.
 */
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "mechanism/attach.h"
#include "mechanism/seccomp_filter.h"
#include "mechanism/seccomp_reuseport.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* The notification and the answer, at the size the kernel says
 * (notify_buffers); allocated once, the master has one thread. */
static struct seccomp_notif *notif;
static struct seccomp_notif_resp *resp;
static size_t notif_size, resp_size;

/* At the first seccomp spawn: 0, or -1 (out of memory). */
static int notify_buffers(void)
{
	struct seccomp_notif_sizes sizes;

	if (notif)
		return 0;
	notif_size = sizeof(*notif);
	resp_size = sizeof(*resp);
	memset(&sizes, 0, sizeof(sizes));
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0) {
		if (sizes.seccomp_notif > notif_size)
			notif_size = sizes.seccomp_notif;
		if (sizes.seccomp_notif_resp > resp_size)
			resp_size = sizes.seccomp_notif_resp;
	}
	notif = calloc(1, notif_size);
	resp = calloc(1, resp_size);
	if (notif && resp)
		return 0;
	free(notif);
	free(resp);
	notif = NULL;
	resp = NULL;
	return -1;
}

/* In the child, just before exec (spawn.c): async-signal-safe. */
static int child_install(const struct spawn_args *a)
{
	return seccomp_child_install(a->filter, a->notify_sock);
}

int seccomp_spawn_prepare(struct cluster *c, struct spawn_args *a, int *sock)
{
	int sv[2];

	(void)c;
	if (notify_buffers() < 0) {
		log_warnx("seccomp: out of memory");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("seccomp: socketpair");
		return -1;
	}
	a->filter = seccomp_filter_prog();
	a->child_last = child_install;
	a->notify_sock = sv[1];
	*sock = sv[0];
	return 0;
}

/* The notify fd the child sent with its one byte (seccomp_filter.c), or
 * -1: nothing came, or something else than that message did. */
static int recv_notify_fd(int sock)
{
	char byte;
	int fd;
	ssize_t n = msg_recv(sock, &byte, 1, &fd, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n == 1)
		return fd;
	if (fd >= 0)            /* an empty message with an fd */
		close(fd);
	return -1;
}

static void notify_event(struct loop *loop, int fd, uint32_t events, void *data);

int seccomp_spawn_done(struct cluster *c, struct worker *w, int sock)
{
	/* the child sent it before exec, and spawn_process waited for exec */
	w->notify_fd = recv_notify_fd(sock);
	close(sock);
	if (w->notify_fd < 0) {
		log_warnx("worker %d (pid %d): no seccomp notify fd came back; "
			  "its binds are not clustered", w->slot, (int)w->pid);
		return -1;
	}
	if (loop_add_fd(c->loop, w->notify_fd, EPOLLIN, notify_event, w) < 0) {
		log_warn("worker %d: seccomp notify fd", w->slot);
		close(w->notify_fd);
		w->notify_fd = -1;
		return -1;
	}
	return 0;
}

/* A notification already waiting is heard as soon as the loop runs: the
 * trapped thread slept through the exec (the filter belongs to it, not
 * to us). */
int seccomp_worker_adopt(struct cluster *c, struct worker *w, int fd)
{
	w->notify_fd = -1;
	if (fd < 0)
		return 0;
	if (notify_buffers() < 0 || loop_add_fd(c->loop, fd, EPOLLIN, notify_event, w) < 0) {
		/* left open: should the upgrade fall back, the old image
		 * takes it again */
		log_warn("worker %d (pid %d): seccomp notify fd", w->slot, (int)w->pid);
		return -1;
	}
	w->notify_fd = fd;
	return 0;
}

static void close_notify(struct worker *w)
{
	if (w->notify_fd < 0)
		return;
	loop_del_fd(w->c->loop, w->notify_fd);
	close(w->notify_fd);
	w->notify_fd = -1;
}

void seccomp_worker_free(struct cluster *c, struct worker *w)
{
	if (c->prog->via == VIA_SECCOMP)
		seccomp_reuseport_worker_gone(c, w);
	close_notify(w);
}

/* Answer: 0 (success), an errno, or "let the kernel run it".  The
 * kernel reads resp_size bytes: the fields it has beyond ours stay 0. */
static void answer(int nfd, uint64_t id, int err, int cont)
{
	memset(resp, 0, resp_size);
	resp->id = id;
	resp->error = cont ? 0 : -err;
	resp->flags = cont ? SECCOMP_USER_NOTIF_FLAG_CONTINUE : 0;
	if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
		log_warn("seccomp: answering a notification");
}

static pid_t tgid_of(pid_t tid)
{
	char path[64], line[128];
	FILE *f;
	pid_t tgid = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

/* A pidfd for the process of the thread that made the call (*tgid its
 * pid), or -1 when it is gone.  Looked up by number: good only once the
 * caller has checked the notification since (still_trapped). */
static int pin_process(const struct seccomp_notif *req, pid_t *tgid)
{
	*tgid = tgid_of(req->pid);
	if (*tgid < 0)
		return -1;
	return (int)syscall(SYS_pidfd_open, *tgid, 0);
}

/* Whether the call is still trapped.  Then its thread has been alive
 * since the notification came (a killed one invalidates the id for good),
 * so every lookup by its number made before this one found it: the
 * memory read, the Tgid, the process pinned.  See the file comment. */
static int still_trapped(int nfd, const struct seccomp_notif *req)
{
	uint64_t id = req->id;

	return ioctl(nfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* The program's fd, duplicated into the master through the pinned
 * process (pidfd_getfd), or -1. */
static int grab_fd(int pidfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

/* Whether the program's fd has FD_CLOEXEC: fdinfo's flags carry O_CLOEXEC. */
static int fd_cloexec(pid_t tgid, int fd)
{
	char path[64], line[128];
	unsigned long flags = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)tgid, fd);
	f = fopen(path, "re");
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %lo", &flags) == 1)
			break;
	fclose(f);
	return (flags & O_CLOEXEC) != 0;
}

static int get_int(int fd, int level, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, level, name, &v, &len) < 0)
		return -1;
	return v;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* The rest of the request, from the program's socket: 0, or -1 when the
 * socket is not one to cluster (then the kernel runs the call).  At bind
 * the socket must not be bound yet (the kernel says EINVAL then). */
static int describe_socket(int sock, struct msg_bind *m, int at_bind)
{
	struct sockaddr_storage now;
	socklen_t len = sizeof(now);

	m->family = get_int(sock, SOL_SOCKET, SO_DOMAIN);
	m->type = get_int(sock, SOL_SOCKET, SO_TYPE);
	m->protocol = get_int(sock, SOL_SOCKET, SO_PROTOCOL);
	if (m->family != m->addr.ss_family ||
	    !((m->type == SOCK_STREAM && m->protocol == IPPROTO_TCP) ||
	      (m->type == SOCK_DGRAM && m->protocol == IPPROTO_UDP)))
		return -1;
	if (getsockname(sock, (struct sockaddr *)&now, &len) < 0 ||
	    (at_bind && port_of(&now) != 0))
		return -1;
	m->opts = bindopt_read(sock, m->family, m->type);
	return 0;
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && !!(fl & O_NONBLOCK) != on)
		fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* Read the sockaddr the program passed: 0, or -1.  Read by pid: not to
 * be trusted before still_trapped says so. */
static int read_addr(const struct seccomp_notif *req, struct msg_bind *m)
{
	uint64_t len = req->data.args[2];
	struct iovec local = { .iov_base = &m->addr, .iov_len = (size_t)len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)req->data.args[1],
				.iov_len = (size_t)len };

	if (len < sizeof(sa_family_t) || len > sizeof(m->addr))
		return -1;
	if (process_vm_readv(req->pid, &local, 1, &remote, 1, 0) != (ssize_t)len)
		return -1;
	m->addrlen = (uint32_t)len;
	return 0;
}

static struct listener *inject(struct worker *w, const struct seccomp_notif *req,
			       pid_t tgid, int sock, const struct msg_bind *m);

static void trapped_bind(struct worker *w, const struct seccomp_notif *req)
{
	int nfd = w->notify_fd, pfd = (int)req->data.args[0], sock = -1, pidfd = -1;
	struct msg_bind m;
	struct listener *l;
	pid_t tgid = -1;

	memset(&m, 0, sizeof(m));
	/* The address decides whether the bind is ours at all, read before
	 * anything else: most binds that are not (port 0, other families)
	 * cost no pidfd.  Wrong only if the thread died, and then CONTINUE
	 * answers nobody. */
	if (read_addr(req, &m) < 0 ||
	    (m.addr.ss_family != AF_INET && m.addr.ss_family != AF_INET6) ||
	    (m.addr.ss_family == AF_INET && m.addrlen != sizeof(struct sockaddr_in)) ||
	    (m.addr.ss_family == AF_INET6 && m.addrlen != sizeof(struct sockaddr_in6)) ||
	    port_of(&m.addr) == 0 ||
	    (pidfd = pin_process(req, &tgid)) < 0 ||
	    /* here: after the memory read and pidfd_open, before pidfd_getfd */
	    !still_trapped(nfd, req) ||
	    (sock = grab_fd(pidfd, pfd)) < 0 ||
	    describe_socket(sock, &m, 1) < 0) {
		if (sock >= 0)
			close(sock);
		if (pidfd >= 0)
			close(pidfd);
		answer(nfd, req->id, 0, 1);
		return;
	}
	close(pidfd);
	l = inject(w, req, tgid, sock, &m);
	if (l && l->type == SOCK_DGRAM)
		worker_listening(w, l);
	if (l)
		answer(nfd, req->id, 0, 0);
}

/* Bind m for w and put the socket the policy gives into the program at
 * the fd number of the trapped call, in place of its own socket (sock, a
 * copy, closed here).  The listener, or NULL once the call was answered
 * with the error. */
static struct listener *inject(struct worker *w, const struct seccomp_notif *req,
			       pid_t tgid, int sock, const struct msg_bind *m)
{
	int nfd = w->notify_fd, pfd = (int)req->data.args[0], give, err;
	int nonblock = (fcntl(sock, F_GETFL) & O_NONBLOCK) != 0;
	struct seccomp_notif_addfd addfd;
	struct listener *l;

	close(sock);
	l = worker_bind(w, m, &give, &err);
	if (!l) {
		if (err)        /* 0: the start-up stops, no answer (attach.c) */
			answer(nfd, req->id, err, 0);
		return NULL;
	}
	give = seccomp_reuseport_give(w, l, give);
	set_nonblock(give, nonblock);
	memset(&addfd, 0, sizeof(addfd));
	addfd.id = req->id;
	addfd.flags = SECCOMP_ADDFD_FLAG_SETFD;
	addfd.srcfd = (uint32_t)give;
	addfd.newfd = (uint32_t)pfd;
	/* by pid again: if the thread died since still_trapped, the flag may
	 * be a stranger's, but ADDFD then fails (ENOENT) and puts nothing */
	addfd.newfd_flags = fd_cloexec(tgid, pfd) ? O_CLOEXEC : 0;
	if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) < 0) {
		err = errno;
		if (err != ENOENT)      /* ENOENT: the thread is gone */
			log_warn("worker %d (pid %d): putting %s into its fd %d",
				 w->slot, (int)tgid, l->name, pfd);
		answer(nfd, req->id, err == ENOENT ? EINTR : err, 0);
		return NULL;
	}
	return l;
}

/* Which of our listeners the program's socket is, or NULL. */
static struct listener *listener_of_socket(struct cluster *c, int sock)
{
	struct stat st, ours;
	int i, k;

	if (fstat(sock, &st) < 0)
		return NULL;
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];

		if (fstat(l->fd, &ours) == 0 && ours.st_ino == st.st_ino && ours.st_dev == st.st_dev)
			return l;
		for (k = 0; k < l->nslot_fds; k++)
			if (l->slot_fds[k] >= 0 && fstat(l->slot_fds[k], &ours) == 0 &&
			    ours.st_ino == st.st_ino && ours.st_dev == st.st_dev)
				return l;
		if (seccomp_reuseport_owns(l, &st))
			return l;
	}
	return NULL;
}

/* A TCP socket the program bound itself listens: it was bound to port 0
 * (every other bind was ours).  Only now is it known to be a server, not
 * a client or a probe, so only now does it become the listener ADDR:0
 * (random the first time, the same for later workers): the master's
 * socket replaces it, and the program's getsockname() after listen()
 * sees the port every worker shares.  NULL: not one to cluster (answered
 * CONTINUE) or failed (answered with the error). */
static struct listener *listen_port_zero(struct worker *w, const struct seccomp_notif *req,
					 pid_t tgid, int sock)
{
	struct msg_bind m;
	socklen_t len = sizeof(m.addr);

	memset(&m, 0, sizeof(m));
	if (getsockname(sock, (struct sockaddr *)&m.addr, &len) < 0 ||
	    (m.addr.ss_family != AF_INET && m.addr.ss_family != AF_INET6) ||
	    describe_socket(sock, &m, 0) < 0 || m.type != SOCK_STREAM) {
		close(sock);
		answer(w->notify_fd, req->id, 0, 1);
		return NULL;
	}
	m.addrlen = len;
	if (m.addr.ss_family == AF_INET)
		((struct sockaddr_in *)&m.addr)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&m.addr)->sin6_port = 0;
	return inject(w, req, tgid, sock, &m);
}

static void trapped_listen(struct worker *w, const struct seccomp_notif *req)
{
	struct listener *l = NULL;
	pid_t tgid = -1;
	int pidfd = pin_process(req, &tgid), sock = -1;

	/* here too: after pidfd_open, before pidfd_getfd (the file comment):
	 * the socket decides which listener this is, and a stranger's could
	 * name one of ours */
	if (pidfd >= 0 && still_trapped(w->notify_fd, req))
		sock = grab_fd(pidfd, (int)req->data.args[0]);
	if (pidfd >= 0)
		close(pidfd);
	if (sock < 0) {
		answer(w->notify_fd, req->id, 0, 1);
		return;
	}
	l = listener_of_socket(w->c, sock);
	if (!l) {
		if (!(l = listen_port_zero(w, req, tgid, sock)))
			return;
	} else {
		close(sock);
	}
	if (!w->routes[l->id].bound) {
		answer(w->notify_fd, req->id, 0, 1);
		return;
	}
	answer(w->notify_fd, req->id, 0, 0);
	seccomp_reuseport_listening(w, l);      /* steer first: the old one may go */
	worker_listening(w, l);
}

/* A process of w leaves w's session and group for one of its own (it
 * daemonizes): the new session's id is its pid, noted so that follow.c
 * knows the processes of that session as w's.  The call itself goes on. */
static void trapped_setsid(struct worker *w, const struct seccomp_notif *req)
{
	pid_t tgid = tgid_of(req->pid);

	/* the Tgid read is good only if the thread is still the one trapped */
	if (tgid > 0 && still_trapped(w->notify_fd, req))
		w->sessions[w->nsessions++ % WORKER_SESSIONS] = tgid;
	answer(w->notify_fd, req->id, 0, 1);
}

static void notify_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct worker *w = data;
	struct seccomp_notif *req = notif;

	(void)loop;
	/* RECV blocks when nothing is pending: only after EPOLLIN (a
	 * notification whose thread died since then fails with ENOENT) */
	if (!(events & EPOLLIN)) {
		close_notify(w);        /* no process under the filter left */
		return;
	}
	/* the kernel's size, zeroed: RECV refuses a buffer that is not */
	memset(req, 0, notif_size);
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
		if (errno == ENOENT || errno == EINTR)
			return;         /* that thread was killed meanwhile */
		log_warn("worker %d (pid %d): seccomp notification", w->slot, (int)w->pid);
		close_notify(w);
		return;
	}
	if (w->misbehaved) {
		answer(fd, req->id, 0, 1);
		return;
	}
	switch (req->data.nr) {
	case __NR_bind:
		trapped_bind(w, req);
		break;
	case __NR_listen:
		trapped_listen(w, req);
		break;
	case __NR_setsid:
		trapped_setsid(w, req);
		break;
	default:
		answer(fd, req->id, 0, 1);
		break;
	}
}
