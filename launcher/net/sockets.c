/*
 * sockets.c - open a listening socket as the program would have opened it:
 * the options it set before bind() (forwarded by the shim, set with the
 * wire's bindopt_apply), its umask for a unix socket's file, and listen()
 * for stream sockets.  Used by the registry (listener.c) for an address's
 * first socket and by the reuseport policy for every slot's own.  And the
 * one question asked of such a socket later: how many connections wait in
 * its accept queue (the reuseport policy's scale-down, a retiring seccomp
 * worker's drain).
 *
 * Ownership.  An address's first socket is bound and listens without
 * SO_REUSEPORT, whatever the policy or the program asks: so its bind (or
 * listen) fails with EADDRINUSE whenever anything outside the cluster
 * holds the address (another cluster-run, a native server with or
 * without SO_REUSEPORT, of any uid), and it can join no reuseport group
 * it did not create.  Only once it listens alone is SO_REUSEPORT set on
 * it, when the policy adds slot sockets to it or the program asked for
 * it; the kernel makes the group when the second socket joins.  Setting
 * it between bind and listen would not do: a process of the same uid
 * with SO_REUSEADDR can bind beside a socket that does not listen yet,
 * listen first, and the later listen would join its group (checked on
 * this machine's 6.18 kernel, like everything in this comment).  The
 * price: until a second socket joins, there is no group to steer
 * (SO_ATTACH_REUSEPORT_CBPF fails with EINVAL: reuseport_group.c does not
 * steer one socket).  What stays open: once SO_REUSEPORT is set, a
 * process of the master's uid that sets it too can still join (the
 * kernel tells sockets apart by uid alone), as it could join the program's
 * own socket without cluster-run when the program asked for SO_REUSEPORT.
 *
 * --user: a socket can be bound with the workers' credentials (bind_as),
 * in a child that takes them all (groups, gid, uid, so no capability is
 * left) and binds the master's socket, which it shares: a unix socket's
 * file is then created, or refused, as the program would have it, and a
 * port below 1024 refused.  A child rather than setfsuid around the bind:
 * setfsuid leaves the master's supplementary groups and
 * CAP_NET_BIND_SERVICE in force.
 */
#include "net/sockets.h"
#include "cluster.h"
#include "base/log.h"

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Bind fd to addr in a child that has as's credentials, and mask as its
 * umask (the socket is the same file in the child: the bind is ours).
 * 0, or -1 with errno (the child's bind error).  The child makes system
 * calls only, and its exit status carries the errno. */
static int bind_as(int fd, const struct sockaddr *addr, socklen_t len,
		   const struct creds *as, mode_t mask)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		umask(mask);
		if (setgroups((size_t)as->ngroups, as->groups) < 0 ||
		    setresgid(as->gid, as->gid, as->gid) < 0 ||
		    setresuid(as->uid, as->uid, as->uid) < 0)
			_exit(EPERM);
		_exit(bind(fd, addr, len) < 0 ? (errno & 0xff) : 0);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st)) {
		errno = EIO;
		return -1;
	}
	errno = WEXITSTATUS(st);
	return errno ? -1 : 0;
}

static int bind_listener(int fd, const struct msg_bind *req, const struct sockaddr_storage *addr,
			 socklen_t addrlen, const struct creds *as)
{
	mode_t mask = (mode_t)(req->umask & 0777), old;
	int r;

	if (as && as->drop)
		return bind_as(fd, (const struct sockaddr *)addr, addrlen, as, mask);
	if (req->family != AF_UNIX)
		return bind(fd, (const struct sockaddr *)addr, addrlen);
	/* the socket file gets the program's permissions, not ours */
	old = umask(mask);
	r = bind(fd, (const struct sockaddr *)addr, addrlen);
	umask(old);
	return r;
}

int socket_open_listener(const struct msg_bind *req, const struct sockaddr_storage *addr,
			 socklen_t addrlen, enum socket_role role, const struct creds *as,
			 int *err)
{
	/* Datagram sockets stay blocking: their O_NONBLOCK is the program's
	 * (see the shim's hooks_socket.c); the master never reads from them. */
	int nb = req->type == SOCK_STREAM ? SOCK_NONBLOCK : 0;
	int fd = socket(req->family, req->type | nb | SOCK_CLOEXEC, req->protocol);
	uint32_t opts = req->opts & ~BIND_OPT_REUSEPORT;
	int one = 1;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	/* see the file comment: a joining socket is the only one that has
	 * SO_REUSEPORT before it binds */
	if (role == SOCKET_JOIN)
		opts |= BIND_OPT_REUSEPORT;
	/* an option that cannot be set is not worth failing the bind for */
	if (bindopt_apply(fd, req->family, req->type, opts) < 0)
		log_debug("setting the program's socket options: %s", strerror(errno));
	/* Until a worker says which backlog it wants (listener_set_backlog),
	 * the most the kernel allows: the queue must hold what arrives while
	 * the first workers start. */
	if (bind_listener(fd, req, addr, addrlen, as) < 0 ||
	    (req->type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0))
		goto fail;
	if (role != SOCKET_JOIN && req->family != AF_UNIX &&
	    (role == SOCKET_FIRST_OF_GROUP || (req->opts & BIND_OPT_REUSEPORT)) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	return fd;
fail:
	*err = errno;
	close(fd);
	return -1;
}


/* TCP_INFO on a listening socket reports the accept queue's length in
 * tcpi_unacked (and its limit in tcpi_sacked): one system call, no lock
 * on the queue.  Half-open connections (SYN_RECV) are not in it: they
 * are not in the accept queue until their handshake completes. */
unsigned socket_accept_queue(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return ti.tcpi_unacked;
}
