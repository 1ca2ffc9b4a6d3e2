/*
 * hooks_socket.c - the socket calls a server makes on its listeners: bind,
 * listen, accept, accept4, and what runtimes use to inspect a listener
 * (getsockname, getpeername, getsockopt, setsockopt, shutdown).
 *
 * Clustered: TCP and UDP sockets (IPv4 and IPv6) and unix stream sockets
 * bound by a process running under cluster-run; every other call goes
 * straight to libc.  A clustered fd is one of two things (enum bind_mode):
 *
 *   socket   a real listening socket of the master's (the socket
 *            policies: shared, where every worker has the same one, and
 *            reuseport, where each slot has its own).  accept is native;
 *            a stream socket stays O_NONBLOCK because that flag lives on
 *            the open file description the master (and under shared every
 *            worker) shares, so blocking accept is emulated with poll()
 *            and the app's view of O_NONBLOCK is kept in the table
 *            (hooks_fd.c).
 *   channel  the worker end of a SEQPACKET channel (the channel policies:
 *            rr, leastconn, sticky, random, p2c, jiq).  accept receives
 *            one MSG_CONN and returns its fd.  The channel is this
 *            worker's own, so O_NONBLOCK is real.
 *
 * Each hook is: the exported symbol, then the work, then libc.  Hooks
 * behave like libc: -1 with errno.
 *
 * Owns the swap of the master's fd over the app's at bind, accept on both
 * kinds, the answers for a channel's name and options, and giving a
 * client's socket back at connect.  Must not edit the fd table but
 * through fdtable.c, talk to the master but through master.c, or change
 * a socket it does not manage (it reads SO_TYPE and the like to decide,
 * then passes the call to libc).
 */
#include "shim.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <string.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int shim_bind(int fd, const struct sockaddr *addr, socklen_t len) SHIM_EXPORT(bind);
int shim_listen(int fd, int backlog) SHIM_EXPORT(listen);
int shim_accept(int fd, struct sockaddr *addr, socklen_t *len) SHIM_EXPORT(accept);
int shim_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) SHIM_EXPORT(accept4);
int shim_getsockname(int fd, struct sockaddr *addr, socklen_t *len) SHIM_EXPORT(getsockname);
int shim_getpeername(int fd, struct sockaddr *addr, socklen_t *len) SHIM_EXPORT(getpeername);
int shim_getsockopt(int fd, int level, int name, void *val, socklen_t *len) SHIM_EXPORT(getsockopt);
int shim_setsockopt(int fd, int level, int name, const void *val, socklen_t len) SHIM_EXPORT(setsockopt);
int shim_shutdown(int fd, int how) SHIM_EXPORT(shutdown);
int shim_connect(int fd, const struct sockaddr *addr, socklen_t len) SHIM_EXPORT(connect);

static int sockopt_int(int fd, int level, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (real_getsockopt(fd, level, name, &v, &len) < 0)
		return -1;
	return v;
}

/* The kinds we cluster: TCP and UDP over IPv4/IPv6, unix stream sockets
 * bound to a path or an abstract name (not autobind). */
static int clustered_kind(int family, socklen_t len, int type, int proto)
{
	if (family == AF_INET || family == AF_INET6) {
		if (len < (family == AF_INET ? sizeof(struct sockaddr_in)
					     : sizeof(struct sockaddr_in6)))
			return 0;
		return (type == SOCK_STREAM && proto == IPPROTO_TCP) ||
		       (type == SOCK_DGRAM && proto == IPPROTO_UDP);
	}
	return family == AF_UNIX && type == SOCK_STREAM &&
	       len > offsetof(struct sockaddr_un, sun_path) + 1 &&
	       len <= sizeof(struct sockaddr_un);
}

/* Copy a unix address, making a relative path absolute: the master's cwd
 * is not the worker's.  0, or -1 when it would not fit. */
static int unix_addr(const struct sockaddr *addr, socklen_t len, struct msg_bind *req)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
	struct sockaddr_un *out = (struct sockaddr_un *)&req->addr;
	size_t plen = strnlen(un->sun_path, len - offsetof(struct sockaddr_un, sun_path));
	char cwd[sizeof(out->sun_path)];
	size_t clen;

	if (un->sun_path[0] == '\0' || un->sun_path[0] == '/') {   /* abstract, absolute */
		memcpy(out, un, len);
		req->addrlen = len;
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	clen = strlen(cwd);
	if (clen + 1 + plen + 1 > sizeof(out->sun_path))
		return -1;
	out->sun_family = AF_UNIX;
	memcpy(out->sun_path, cwd, clen);
	out->sun_path[clen] = '/';
	memcpy(out->sun_path + clen + 1, un->sun_path, plen);
	out->sun_path[clen + 1 + plen] = '\0';
	req->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + clen + 1 + plen + 1);
	return 0;
}

/* The process's umask, without changing it (umask() is set-and-get). */
static uint32_t current_umask(void)
{
	char buf[1024];
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	char *p;

	if (fd < 0)
		return 022;
	n = read(fd, buf, sizeof(buf) - 1);
	real_close(fd);
	if (n <= 0)
		return 022;
	buf[n] = '\0';
	p = strstr(buf, "Umask:");
	return p ? (uint32_t)strtoul(p + 6, NULL, 8) : 022;
}

/* Fill req when (fd, addr) is something we cluster (clustered_kind) while
 * the shim is active. */
static int clusterable(int fd, const struct sockaddr *addr, socklen_t len,
		       struct msg_bind *req)
{
	int family, type, proto;

	if (!addr || len < sizeof(sa_family_t) || !shim_enabled() || shim_vforked())
		return 0;
	family = addr->sa_family;
	type = sockopt_int(fd, SOL_SOCKET, SO_TYPE);
	proto = sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL);
	if (!clustered_kind(family, len, type, proto) || fdtable_find_checked(fd) >= 0)
		return 0;
	/* A UDP socket bound to port 0 is a client waiting for its replies
	 * (a server picks its port): sharing it would send them anywhere. */
	if (type == SOCK_DGRAM &&
	    ((family == AF_INET && ((const struct sockaddr_in *)addr)->sin_port == 0) ||
	     (family == AF_INET6 && ((const struct sockaddr_in6 *)addr)->sin6_port == 0)))
		return 0;
	memset(req, 0, sizeof(*req));
	req->family = family;
	req->type = type;
	req->protocol = proto;
	if (family == AF_UNIX) {
		if (unix_addr(addr, len, req) < 0) {
			shim_warn("unix socket path too long to make absolute; "
				  "fd %d is bound without clustering", fd);
			return 0;
		}
		req->umask = current_umask();
		return 1;
	}
	req->addrlen = family == AF_INET ? sizeof(struct sockaddr_in)
					 : sizeof(struct sockaddr_in6);
	memcpy(&req->addr, addr, req->addrlen);
	req->opts = bindopt_read(fd, family, type);
	return 1;
}

/* Put the master's fd over the app's, keeping the app's FD_CLOEXEC and
 * O_NONBLOCK.  This happens inside bind(), before the app can register the
 * fd with epoll (epoll keys on the open file description, so a later swap
 * would be invisible to it). */
static int install(int fd, int mfd, const struct msg_bind *req,
		   const struct msg_bind_reply *rep)
{
	struct shim_listener l;
	int fdflags = real_fcntl(fd, F_GETFD, NULL);
	int flflags = real_fcntl(fd, F_GETFL, NULL);

	if (fdflags < 0 || flflags < 0)
		return -1;
	/* A channel is this worker's own, and a shared datagram socket has no
	 * accept to emulate (recv is not hooked): there O_NONBLOCK is real.
	 * A shared stream socket stays non-blocking; the app's flag is a view. */
	int emulate = rep->mode == BIND_MODE_SOCKET && rep->type == SOCK_STREAM;

	if (!emulate && real_fcntl(mfd, F_SETFL, (void *)(long)(flflags & O_NONBLOCK)) < 0)
		return -1;
	if (real_dup3(mfd, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		return -1;
	memset(&l, 0, sizeof(l));
	l.mode = (int)rep->mode;
	l.family = req->family;
	l.type = rep->type;
	l.protocol = rep->protocol;
	l.emulate_nonblock = emulate;
	l.listening = rep->type == SOCK_DGRAM;
	l.app_nonblock = !!(flflags & O_NONBLOCK);
	l.opts = req->opts;
	l.addrlen = rep->addrlen;
	memcpy(&l.addr, &rep->addr, rep->addrlen);
	l.reqlen = req->addrlen;
	memcpy(&l.req, &req->addr, req->addrlen);
	fdtable_set_listener(rep->listener, &l);
	return fdtable_add(fd, rep->listener);
}

int shim_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct msg_bind req;
	struct msg_bind_reply rep;
	int mfd, saved = errno;

	if (!clusterable(fd, addr, len, &req)) {
		errno = saved;
		return real_bind(fd, addr, len);
	}
	if (master_bind(&req, &rep, &mfd) < 0) {
		shim_warn("cannot reach the cluster-run master (%s); "
			  "fd %d is bound without clustering", strerror(errno), fd);
		errno = saved;
		return real_bind(fd, addr, len);
	}
	if (rep.err) {
		if (mfd >= 0)
			real_close(mfd);
		errno = rep.err;
		return -1;
	}
	if (mfd < 0 || rep.listener >= CLUSTER_MAX_LISTENERS ||
	    (rep.mode != BIND_MODE_SOCKET && rep.mode != BIND_MODE_CHANNEL) ||
	    install(fd, mfd, &req, &rep) < 0) {
		shim_warn("bad answer from the master for fd %d (%s); "
			  "bound without clustering", fd, strerror(errno));
		if (mfd >= 0)
			real_close(mfd);
		errno = saved;
		return real_bind(fd, addr, len);
	}
	real_close(mfd);
	shim_debug("fd %d is listener %u (%s)", fd, rep.listener,
		   rep.mode == BIND_MODE_SOCKET ? "socket" : "channel");
	errno = saved;
	return 0;
}

int shim_listen(int fd, int backlog)
{
	int lid = fdtable_find_checked(fd);
	struct shim_listener *l;

	if (lid < 0 || !(l = fdtable_listener((uint32_t)lid)))
		return real_listen(fd, backlog);
	/* The master listened with its own backlog when it bound: never
	 * change it from one worker, it is every worker's queue. */
	l->listening = 1;
	l->shut = 0;
	master_report(MSG_LISTEN, (uint32_t)lid, backlog);
	return 0;
}

/* Signals a thread raises on itself (faults, abort, a write to a closed
 * pipe): they cannot interrupt a thread sleeping in poll(), and crash
 * handlers (sanitizers, Python's faulthandler, breakpad) catch them
 * without SA_RESTART. */
static int synchronous_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
	       sig == SIGTRAP || sig == SIGSYS || sig == SIGABRT || sig == SIGPIPE;
}

/* A real blocking accept() is restarted after a signal whose handler has
 * SA_RESTART; the poll() we wait in never is.  We cannot tell which signal
 * came, so restart only when every caught asynchronous signal restarts
 * (glibc's signal() sets SA_RESTART; a handler without it is there to
 * interrupt, and gets its EINTR).  Only runs on EINTR. */
static int signals_restart(void)
{
	struct sigaction sa;
	int sig;

	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || synchronous_signal(sig) ||
		    sigaction(sig, NULL, &sa) < 0)
			continue;
		if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN &&
		    !(sa.sa_flags & SA_RESTART))
			return 0;
	}
	return 1;
}

/* Wait for readiness as a blocking accept would: SO_RCVTIMEO (0: timed
 * out, errno EAGAIN) and SA_RESTART (1: go on; -1: EINTR).  On a drained
 * listener (its fd buried: never readable again) a signal always ends the
 * wait with EINTR: a restarted wait would sleep for good, where the real
 * accept would have woken at the next connection, and the signal is most
 * likely the stop.  uwsgi's prefork workers need it: a worker that lost
 * the race for a connection sits in a blocking accept, and on its
 * master's SIGTERM (restarting) it only leaves once accept returns; its
 * master waits for it (worker-reload-mercy, 60 s) before it re-execs. */
static int wait_readable(int fd, int drained)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timeval tv = { 0, 0 };
	socklen_t tlen = sizeof(tv);
	int r, timeout = -1;

	if (real_getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &tlen) == 0 &&
	    (tv.tv_sec || tv.tv_usec))
		timeout = (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
	r = poll(&p, 1, timeout);
	if (r < 0)
		return errno == EINTR && !drained && signals_restart() ? 1 : -1;
	if (r == 0) {
		errno = EAGAIN;
		return 0;
	}
	return 1;
}

/* Accept on the master's socket (shared, reuseport): natively, unless the
 * master drained this listener (drain.c): then never again.  Blocking
 * accept is emulated on the shared non-blocking socket with poll. */
static int accept_socket(int fd, struct sockaddr *addr, socklen_t *len,
			 int flags, int lid, const struct shim_listener *l)
{
	for (;;) {
		int token = drain_enter((uint32_t)lid), r;

		if (token < 0) {
			r = -1;
			errno = EAGAIN;
		} else {
			r = real_accept4(fd, addr, len, flags);
			int saved = errno;
			drain_leave((uint32_t)lid, r, token);
			errno = saved;
		}
		if (r >= 0 || errno != EAGAIN || l->app_nonblock || !l->emulate_nonblock)
			return r;
		/* a drained fd never is readable: wait for a signal */
		r = wait_readable(fd, token < 0);
		if (r <= 0)
			return -1;
	}
}

/* The master is gone: put a socket that never becomes readable over the
 * channel, so a level-triggered loop does not spin on EOF.  The worker is
 * about to be killed anyway (PR_SET_PDEATHSIG). */
static void bury_channel(int fd)
{
	/* made once, by whichever thread (or handler) gets here first: a
	 * compare-and-swap, the loser closes its pair.  keep_peer is never
	 * used, only kept open so that keep never reads EOF. */
	static _Atomic int keep = -1, keep_peer = -1;
	int k = atomic_load(&keep), sv[2], expect = -1;

	if (k < 0) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return;
		if (atomic_compare_exchange_strong(&keep, &expect, sv[0])) {
			atomic_store(&keep_peer, sv[1]);
			k = sv[0];
		} else {
			real_close(sv[0]);
			real_close(sv[1]);
			k = expect;
		}
	}
	real_dup3(k, fd, O_CLOEXEC);
}

/* Out of fds.  A connection received when the kernel cannot install its
 * fd is lost (closed), where a real accept() would fail with EMFILE and
 * leave it queued.  So near the limit, and after one loss, each accept
 * first peeks: a peek that cannot install the fd leaves the message where
 * it is, and accept fails with EMFILE as it would without cluster-run. */
static _Atomic int fd_pressure;         /* accepts left in careful mode */
static _Atomic long nofile_cur;         /* soft RLIMIT_NOFILE, cached */

static void note_fd_level(int cfd)
{
	struct rlimit rl;
	long cur = atomic_load(&nofile_cur);

	if (!cur && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		cur = rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
		atomic_store(&nofile_cur, cur);
	}
	if (cur && cfd + 16 >= cur) {
		atomic_store(&fd_pressure, 64);
		atomic_store(&nofile_cur, 0);   /* the app may raise it: read again */
	}
}

/* Tell the master this process cannot take a connection now (its fd
 * table is full), so what is queued on the channel goes to other workers
 * and no more comes until the master sees free fds here again (it looks
 * at /proc itself: we would only learn of them at an accept it no longer
 * gives us reason to make).  At most one report per 100 ms per process:
 * a program that retries accept in a loop must not flood the doorbell. */
static void report_fds_short(int lid)
{
	static _Atomic long last_ms;
	struct timespec ts;
	long now, prev = atomic_load(&last_ms);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;    /* never 0 */
	if (prev && now - prev < 100)
		return;
	atomic_store(&last_ms, now);
	master_report(MSG_FDS_SHORT, (uint32_t)lid, (int)getpid());
}

/* 0: go on and receive (an fd can be installed, or the receive will say
 * EAGAIN/EOF itself); -1 with errno EMFILE (or EINTR while waiting). */
static int room_for_fd(int fd, int rflags)
{
	struct msg_conn m;
	int got;
	ssize_t n;

	if (atomic_load(&fd_pressure) <= 0)
		return 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		n = msg_recv(fd, &m, sizeof(m), &got, rflags | MSG_PEEK | MSG_DONTWAIT);
		if (got >= 0)
			real_close(got);
		if (n < 0 && errno == EMFILE)
			return -1;
		if (n > 0)
			atomic_fetch_sub(&fd_pressure, 1);
		if (n >= 0 || errno != EAGAIN || (real_fcntl(fd, F_GETFL, NULL) & O_NONBLOCK))
			return 0;
		/* A blocking accept(2) takes its fd before it waits, so at the
		 * limit it fails at once: a program may wait for that EMFILE
		 * to free fds, and the master gives a full worker nothing to
		 * peek at (launcher/policy/fd_short.c). */
		got = real_fcntl(fd, F_DUPFD_CLOEXEC, (void *)0L);
		if (got < 0 && (errno == EMFILE || errno == ENFILE)) {
			errno = EMFILE;
			return -1;
		}
		if (got >= 0)
			real_close(got);
		/* blocking accept: wait for a message before looking at it */
		if (poll(&p, 1, -1) < 0 && errno == EINTR)
			return -1;
	}
}

static int accept_channel(int fd, struct sockaddr *addr, socklen_t *len,
			  int flags, int lid, struct shim_listener *l)
{
	struct msg_conn m;
	int cfd, rflags = (flags & SOCK_CLOEXEC) ? MSG_CMSG_CLOEXEC : 0;
	ssize_t n;

	for (;;) {
		if (room_for_fd(fd, rflags) < 0) {
			if (errno == EMFILE)
				report_fds_short(lid);
			return -1;      /* EMFILE, or EINTR */
		}
		n = msg_recv(fd, &m, sizeof(m), &cfd, rflags);
		if (n < 0) {
			if (errno == EBADMSG)
				continue;
			if (errno == EMFILE) {
				atomic_store(&fd_pressure, 64);
				shim_warn("out of fds: a connection was lost; accepting carefully");
				report_fds_short(lid);
				errno = EMFILE;
			}
			return -1;
		}
		if (n == 0) {
			if (l->shut) {
				errno = EINVAL;
				return -1;
			}
			shim_warn("the cluster-run master is gone");
			bury_channel(fd);
			errno = EAGAIN;
			if (real_fcntl(fd, F_GETFL, NULL) & O_NONBLOCK)
				return -1;
			continue;
		}
		if (msg_valid(&m, (size_t)n) && m.hdr.type == MSG_CONN && cfd >= 0)
			break;
		if (cfd >= 0)
			real_close(cfd);
	}
	/* The master accepts with SOCK_NONBLOCK (what event-driven servers
	 * ask for); only a blocking accept pays for the change. */
	if (!(flags & SOCK_NONBLOCK)) {
		int fl = real_fcntl(cfd, F_GETFL, NULL);
		if (fl >= 0)
			real_fcntl(cfd, F_SETFL, (void *)(long)(fl & ~O_NONBLOCK));
	}
	if (addr && len) {
		socklen_t copy = *len < m.addrlen ? *len : m.addrlen;
		memcpy(addr, &m.peer, copy);
		*len = m.addrlen;
	}
	conn_track(cfd, (uint32_t)lid);
	io_conn_opened(cfd);
	conn_received((uint32_t)lid);
	note_fd_level(cfd);
	return cfd;
}

int shim_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int lid = fdtable_find(fd);
	struct shim_listener *l;

	if (lid < 0 || !(l = fdtable_listener((uint32_t)lid)))
		return real_accept4(fd, addr, len, flags);
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	if (l->mode == BIND_MODE_SOCKET)
		return accept_socket(fd, addr, len, flags, lid, l);
	return accept_channel(fd, addr, len, flags, lid, l);
}

int shim_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (fdtable_find(fd) < 0)
		return real_accept(fd, addr, len);
	return shim_accept4(fd, addr, len, 0);
}

/* The listener record behind fd when fd is a channel, else NULL. */
static struct shim_listener *channel_of(int fd)
{
	int lid = fdtable_find_checked(fd);
	struct shim_listener *l;

	if (lid < 0 || !(l = fdtable_listener((uint32_t)lid)))
		return NULL;
	return l->mode == BIND_MODE_CHANNEL ? l : NULL;
}

int shim_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct shim_listener *l = channel_of(fd);
	socklen_t copy;

	if (!l)
		return real_getsockname(fd, addr, len);
	if (!addr || !len) {
		errno = EFAULT;
		return -1;
	}
	copy = *len < l->addrlen ? *len : l->addrlen;
	memcpy(addr, &l->addr, copy);
	*len = l->addrlen;
	return 0;
}

int shim_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (!channel_of(fd))
		return real_getpeername(fd, addr, len);
	errno = ENOTCONN;
	return -1;
}

static int put_int(void *val, socklen_t *len, int v)
{
	if (!val || !len || *len < sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(val, &v, sizeof(int));
	*len = sizeof(int);
	return 0;
}

/* Answer as the TCP listener would: Python, Node, Java, systemd and
 * Rust's socket2 inspect listeners this way. */
int shim_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct shim_listener *l = channel_of(fd);
	uint32_t bit;

	if (!l)
		return real_getsockopt(fd, level, name, val, len);
	if ((bit = bindopt_bit(level, name)))
		return put_int(val, len, !!(l->opts & bit));
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_TYPE:      return put_int(val, len, l->type);
		case SO_DOMAIN:    return put_int(val, len, l->family);
		case SO_PROTOCOL:  return put_int(val, len, l->protocol);
		case SO_ACCEPTCONN: return put_int(val, len, l->listening && !l->shut);
		case SO_ERROR:     return put_int(val, len, 0);
		default:           break;
		}
	} else if (level == IPPROTO_TCP || level == IPPROTO_IP || level == IPPROTO_IPV6) {
		errno = ENOPROTOOPT;
		return -1;
	}
	return real_getsockopt(fd, level, name, val, len);
}

/* Options set on a channel after bind cannot reach the master's socket;
 * they are accepted (and the boolean ones remembered for getsockopt) so
 * that servers which tune their listener keep working. */
int shim_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct shim_listener *l = channel_of(fd);
	uint32_t bit;
	int on;

	if (!l)
		return real_setsockopt(fd, level, name, val, len);
	if (level != SOL_SOCKET && level != IPPROTO_TCP && level != IPPROTO_IP &&
	    level != IPPROTO_IPV6)
		return real_setsockopt(fd, level, name, val, len);
	/* IPV6_V6ONLY is fixed once bound (the kernel refuses to change it):
	 * getsockopt goes on answering what the socket was bound with. */
	bit = bindopt_bit(level, name) & ~BIND_OPT_V6ONLY;
	if (bit && val && len >= sizeof(int)) {
		memcpy(&on, val, sizeof(int));
		if (on)
			l->opts |= bit;
		else
			l->opts &= ~bit;
	}
	return 0;
}

/* shutdown() on a listener stops it.  On a channel the real shutdown makes
 * blocked accepts return (they read EOF and see l->shut).  A shared socket
 * is every worker's: it is left alone and only this worker stops. */
int shim_shutdown(int fd, int how)
{
	int lid = fdtable_find_checked(fd);
	struct shim_listener *l;

	if (lid < 0 || !(l = fdtable_listener((uint32_t)lid)))
		return real_shutdown(fd, how);
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
		errno = EINVAL;
		return -1;
	}
	if (how == SHUT_WR)
		return 0;
	l->shut = 1;
	master_report(MSG_UNLISTEN, (uint32_t)lid, 0);
	if (l->mode == BIND_MODE_CHANNEL)
		return real_shutdown(fd, SHUT_RD);
	return 0;
}

/* A client that bound before connecting (curl --interface, nginx
 * proxy_bind, Python's source_address): bind() cannot tell it from a
 * server, so it was clustered.  At connect() it gets a socket of its own
 * back, bound as it asked, with its flags and the options it set before
 * bind; the master forgets this worker's bind (a port-0 listener is kept
 * for the next one).  A fixed source port stays with the master: that
 * connect fails with EADDRINUSE (README, limits). */
static int give_back(int fd, uint32_t lid, const struct shim_listener *l)
{
	int fdflags = real_fcntl(fd, F_GETFD, NULL), last, nfd, nb;

	nb = l->emulate_nonblock ? l->app_nonblock
				 : !!(real_fcntl(fd, F_GETFL, NULL) & O_NONBLOCK);
	if (fdflags < 0 || master_release(lid) < 0)
		return -1;
	nfd = socket(l->family, SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0),
		     l->protocol);
	if (nfd < 0)
		return -1;
	/* Best effort: an option that cannot be set is left at the kernel's
	 * default; the bind below is what must succeed. */
	(void)bindopt_apply(nfd, l->family, SOCK_STREAM, l->opts);
	if (real_bind(nfd, (const struct sockaddr *)&l->req, l->reqlen) < 0 ||
	    real_dup3(nfd, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		int saved = errno;
		real_close(nfd);
		errno = saved;
		return -1;
	}
	real_close(nfd);
	fdtable_remove(fd, &last);
	shim_debug("fd %d was a client's: unclustered before connect", fd);
	return 0;
}

int shim_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int lid = fdtable_find(fd);
	struct shim_listener *l;

	if (lid < 0 || !(l = fdtable_listener((uint32_t)lid)) || l->type != SOCK_STREAM ||
	    l->listening || fdtable_find_checked(fd) != lid)
		return real_connect(fd, addr, len);
	if (give_back(fd, (uint32_t)lid, l) < 0)
		return -1;
	return real_connect(fd, addr, len);
}
