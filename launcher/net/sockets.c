/*
 * sockets.c - open a listening socket as the program would have opened it:
 * the options it set before bind() (forwarded by the shim, set with the
 * wire's bindopt_apply), its umask for a unix socket's file, and listen()
 * for stream sockets.  Used by the registry (listener.c) for an address's
 * first socket and by the reuseport policy for every slot's own.  And the
 * one question asked of such a socket later: how many connections wait in
 * its accept queue (the reuseport policy's scale-down, a retiring seccomp
 * worker's drain).
 */
#include "net/sockets.h"
#include "cluster.h"
#include "base/log.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int socket_open_listener(const struct msg_bind *req, const struct sockaddr_storage *addr,
			 socklen_t addrlen, int reuseport, int *err)
{
	/* Datagram sockets stay blocking: their O_NONBLOCK is the program's
	 * (see the shim's hooks_socket.c); the master never reads from them. */
	int nb = req->type == SOCK_STREAM ? SOCK_NONBLOCK : 0;
	int fd = socket(req->family, req->type | nb | SOCK_CLOEXEC, req->protocol);
	int r;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	/* an option that cannot be set is not worth failing the bind for */
	if (bindopt_apply(fd, req->family, req->type,
			  req->opts | (reuseport ? BIND_OPT_REUSEPORT : 0)) < 0)
		log_debug("setting the program's socket options: %s", strerror(errno));
	if (req->family == AF_UNIX) {
		/* the socket file gets the program's permissions, not ours */
		mode_t old = umask((mode_t)(req->umask & 0777));
		r = bind(fd, (const struct sockaddr *)addr, addrlen);
		umask(old);
	} else {
		r = bind(fd, (const struct sockaddr *)addr, addrlen);
	}
	/* Until a worker says which backlog it wants (listener_set_backlog),
	 * the most the kernel allows: the queue must hold what arrives while
	 * the first workers start. */
	if (r < 0 || (req->type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
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
