/*
 * helper_common.c - listener setup, the reply, and blocking service of one
 * connection, shared by the test servers (see helper_common.h for the
 * protocol; the command line and signals are in helper_options.c).
 *
 * Everything here is deliberately ordinary: socket/setsockopt/bind/listen,
 * blocking read/send on accepted connections.  A program using this behaves
 * like any small C server, which is the point: the shim must cope.
 */
#include "helper_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int served;

static int make_address(const struct helper_opts *o, int port,
			struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, o->addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, o->addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		*len = sizeof(*sin6);
		return 0;
	}
	fprintf(stderr, "%s: bad address '%s'\n", o->prog, o->addr);
	return -1;
}

static int set_options(const struct helper_opts *o, int fd, int family)
{
	int one = 1;

	if (o->reuseaddr &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		fprintf(stderr, "%s: setsockopt SO_REUSEADDR: %s\n", o->prog, strerror(errno));
		return -1;
	}
	if (o->reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		fprintf(stderr, "%s: setsockopt SO_REUSEPORT: %s\n", o->prog, strerror(errno));
		return -1;
	}
	if (o->v6only >= 0 && family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &o->v6only, sizeof(o->v6only)) < 0) {
		fprintf(stderr, "%s: setsockopt IPV6_V6ONLY: %s\n", o->prog, strerror(errno));
		return -1;
	}
	return 0;
}

int helper_bind(const struct helper_opts *o, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	if (make_address(o, port, &ss, &len) < 0)
		return -1;
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", o->prog, strerror(errno));
		return -1;
	}
	if (set_options(o, fd, ss.ss_family) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		fprintf(stderr, "%s: bind %s:%d: %s\n", o->prog, o->addr, port,
			strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int helper_start_listening(const struct helper_opts *o, int fd)
{
	if (o->exit_after_bind >= 0)
		exit(o->exit_after_bind);
	if (o->stall_worker >= 0 && atoi(o->worker) == o->stall_worker && o->worker[0] != '-')
		for (;;)
			pause();
	helper_sleep_ms(o->listen_delay_ms);
	if (listen(fd, o->backlog) < 0) {
		fprintf(stderr, "%s: listen: %s\n", o->prog, strerror(errno));
		return -1;
	}
	return 0;
}

int helper_listen(const struct helper_opts *o, int port)
{
	int fd = helper_bind(o, port);

	if (fd >= 0 && helper_start_listening(o, fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int helper_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

void helper_announce(const struct helper_opts *o, int fd)
{
	printf("listening %s %d\n", o->addr, helper_local_port(fd));
	fflush(stdout);
}

void helper_format_peer(const struct sockaddr_storage *ss, socklen_t len,
			char *buf, size_t size)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET && len >= sizeof(*sin) &&
	    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, size, "%s:%d", ip, ntohs(sin->sin_port));
	else if (ss->ss_family == AF_INET6 && len >= sizeof(*sin6) &&
		 inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, size, "[%s]:%d", ip, ntohs(sin6->sin6_port));
	else
		snprintf(buf, size, "unknown(family=%d,len=%u)", ss->ss_family,
			 (unsigned)len);
}

int helper_request_complete(const char *buf, size_t len)
{
	return len >= HELPER_REQUEST_MAX || memmem(buf, len, "\r\n\r\n", 4) != NULL;
}

int helper_format_reply(const struct helper_opts *o, char *out, size_t size,
			int listen_fd, const char *listener,
			const struct sockaddr_storage *peer, socklen_t peer_len,
			const char *extra)
{
	char peer_text[128];
	int n;

	helper_format_peer(peer, peer_len, peer_text, sizeof(peer_text));
	n = snprintf(out, size,
		     "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
		     "Connection: close\r\nX-Worker: %s\r\n\r\n"
		     "worker=%s\npid=%ld\nport=%d\nlistener=%s\npeer=%s\n%s",
		     o->worker, o->worker, (long)getpid(), helper_local_port(listen_fd),
		     listener, peer_text, extra != NULL ? extra : "");
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "%s: reply does not fit in %zu bytes\n", o->prog, size);
		return -1;
	}
	return n;
}

static int read_request(int fd)
{
	char buf[HELPER_REQUEST_MAX];
	size_t len = 0;

	while (!helper_request_complete(buf, len)) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		len += (size_t)n;
	}
	return 0;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* --hold: keep the connection until the client closes it. */
static void wait_for_close(int fd)
{
	char buf[512];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0)
		if (n < 0 && errno != EINTR)
			return;
}

void helper_serve(const struct helper_opts *o, int conn, int listen_fd,
		  const char *listener, const struct sockaddr_storage *peer,
		  socklen_t peer_len, const char *extra)
{
	char reply[HELPER_REPLY_MAX];
	int len;

	if (o->print_accepted) {
		char peer_text[128];

		/* a whole line per printf (stdio locks the stream), flushed
		 * now: the test reads it while the connection is served */
		helper_format_peer(peer, peer_len, peer_text, sizeof(peer_text));
		printf("accepted %s\n", peer_text);
		fflush(stdout);
	}
	if (read_request(conn) < 0) {
		fprintf(stderr, "%s: read: %s\n", o->prog, strerror(errno));
		close(conn);
		return;
	}
	helper_sleep_ms(o->slow_ms);
	len = helper_format_reply(o, reply, sizeof(reply), listen_fd, listener,
				  peer, peer_len, extra);
	if (len >= 0 && send_all(conn, reply, (size_t)len) < 0)
		fprintf(stderr, "%s: send: %s\n", o->prog, strerror(errno));
	if (o->hold)
		wait_for_close(conn);
	if (close(conn) < 0)
		fprintf(stderr, "%s: close: %s\n", o->prog, strerror(errno));
	helper_count_served(o);
}

/* --fill-fds-after: every fd number this process may still use, taken by
 * /dev/null, kept open. */
static void fill_fd_table(const struct helper_opts *o)
{
	int n = 0;

	while (open("/dev/null", O_RDONLY) >= 0)
		n++;
	fprintf(stderr, "%s: fd table full (%d more fds open): %s\n", o->prog, n,
		strerror(errno));
}

void helper_count_served(const struct helper_opts *o)
{
	int n = atomic_fetch_add(&served, 1) + 1;

	if (o->crash_after > 0 && n >= o->crash_after)
		abort();
	if (o->fill_fds_after > 0 && n == o->fill_fds_after)
		fill_fd_table(o);
}

int helper_accept_error(const struct helper_opts *o, int err)
{
	switch (err) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM:
		return 0;
	case EAGAIN:
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		helper_sleep_ms(10);  /* do not spin while it lasts */
		return 0;
	default:
		fprintf(stderr, "%s: accept: %s\n", o->prog, strerror(err));
		return -1;
	}
}
