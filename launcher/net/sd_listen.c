/*
 * sd_listen.c - systemd socket activation without libsystemd: started with
 * LISTEN_PID=<our pid> and LISTEN_FDS=N, fds 3..3+N-1 are listening sockets
 * systemd (or systemd-socket-activate, or any manager speaking the same
 * protocol) bound for us, named by LISTEN_FDNAMES.
 *
 * A worker's bind() whose address matches an inherited socket gets that
 * socket instead of one the master binds: same family, type and port, and
 * the same address, or a wildcard on either side (the unit's
 * ListenStream=127.0.0.1:8080 wins over a program's 0.0.0.0:8080); for unix
 * sockets the same path or abstract name.  So the master needs no
 * privilege for low ports, and the socket, with the connections the kernel
 * queued on it, outlives a restart of cluster-run itself.
 *
 * Policies: rr, leastconn and shared use the socket as the listener.
 * reuseport makes the inherited socket slot 0's and binds the other slots'
 * sockets next to it, which the kernel allows only when the inherited one
 * has SO_REUSEPORT (ReusePort=yes in the .socket unit); without it the
 * listener falls back to shared and says so.  The other slots' sockets are
 * the master's: a restart of cluster-run resets what is queued on them
 * (unless net.ipv4.tcp_migrate_req=1), so for restarts that lose nothing
 * use rr or shared under socket activation.
 *
 * The variables are removed from the environment, so workers (and what
 * they run) do not take the sockets for their own.  A unix socket's file
 * is systemd's: the master never removes or chowns it, and a worker's
 * unlink() of it before bind() is kept from happening, as for the
 * master's own socket files.
 *
 * Not here: the registry (listener.c); the notify protocol (sd_notify.c).
 */
#include "net/sd_listen.h"
#include "cluster.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3

static int parse_env_count(const char *name, long max, long *out)
{
	const char *s = getenv(name);
	char *end;

	if (!s)
		return 0;
	errno = 0;
	*out = strtol(s, &end, 10);
	if (errno || end == s || *end || *out < 0 || *out > max) {
		log_warnx("%s=%s: not a number; socket activation ignored", name, s);
		return -1;
	}
	return 1;
}

/* The name'th entry of LISTEN_FDNAMES (colon-separated), or "". */
static void fd_name(const char *names, int index, char *out, size_t cap)
{
	const char *p = names;
	size_t len;

	out[0] = '\0';
	while (p && index-- > 0) {
		p = strchr(p, ':');
		if (p)
			p++;
	}
	if (!p)
		return;
	len = strcspn(p, ":");
	snprintf(out, cap, "%.*s", (int)len, p);
}

/* One inherited fd: a socket we can use, or -1 (logged) to leave alone. */
static int inspect(struct inherited_socket *s)
{
	int v = 0;
	socklen_t len = sizeof(v);

	if (fcntl(s->fd, F_SETFD, FD_CLOEXEC) < 0) {
		log_warn("socket activation: fd %d", s->fd);
		return -1;
	}
	if (getsockopt(s->fd, SOL_SOCKET, SO_TYPE, &s->type, &len) < 0 ||
	    (len = sizeof(s->addr),
	     getsockname(s->fd, (struct sockaddr *)&s->addr, &len) < 0)) {
		log_warn("socket activation: fd %d is not a socket", s->fd);
		return -1;
	}
	s->addrlen = len;
	s->family = s->addr.ss_family;
	len = sizeof(v);
	if (s->type == SOCK_STREAM &&
	    (getsockopt(s->fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || !v)) {
		log_warnx("socket activation: fd %d is not listening (Accept=yes is not "
			  "supported: cluster-run wants the listening socket)", s->fd);
		return -1;
	}
	len = sizeof(v);
	if (getsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &v, &len) == 0)
		s->reuseport = v;
	return 0;
}

int sd_listen_collect(struct sd_listen *s)
{
	const char *names = getenv("LISTEN_FDNAMES");
	long pid = 0, n = 0;
	int r, i;

	memset(s, 0, sizeof(*s));
	r = parse_env_count("LISTEN_PID", 1L << 30, &pid);
	if (r > 0 && (r = parse_env_count("LISTEN_FDS", 4096, &n)) > 0 && pid != (long)getpid())
		r = 0;          /* meant for another process: not ours to take */
	if (r > 0 && n > 0) {
		s->socks = calloc((size_t)n, sizeof(*s->socks));
		if (!s->socks) {
			log_warn("socket activation");
			r = -1;
		}
	}
	for (i = 0; r > 0 && i < n; i++) {
		struct inherited_socket *k = &s->socks[s->n];

		k->fd = SD_LISTEN_FDS_START + i;
		fd_name(names, i, k->name, sizeof(k->name));
		if (inspect(k) == 0)
			s->n++;
	}
	if (s->n)
		log_debug("socket activation: %d socket(s) from the service manager", s->n);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r < 0 ? -1 : 0;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static int wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
}

/* See the file comment for what matches. */
static int matches(const struct inherited_socket *s, const struct msg_bind *req)
{
	if (s->family != req->family || s->type != req->type)
		return 0;
	if (req->family == AF_UNIX) {
		const struct sockaddr_un *x = (const void *)&s->addr, *y = (const void *)&req->addr;
		size_t off = offsetof(struct sockaddr_un, sun_path);

		if (x->sun_path[0] && y->sun_path[0])
			return !strncmp(x->sun_path, y->sun_path, sizeof(x->sun_path));
		return s->addrlen == req->addrlen && !x->sun_path[0] && !y->sun_path[0] &&
		       !memcmp(x->sun_path, y->sun_path, s->addrlen - off);
	}
	if (port_of(&req->addr) == 0 || port_of(&s->addr) != port_of(&req->addr))
		return 0;
	return wildcard(&req->addr) || wildcard(&s->addr) || same_addr(&s->addr, &req->addr);
}

int sd_listen_take(struct cluster *c, const struct msg_bind *req, int *plain)
{
	struct sd_listen *s = c->inherited;
	int i;

	for (i = 0; s && i < s->n; i++) {
		struct inherited_socket *k = &s->socks[i];

		if (k->used || !matches(k, req))
			continue;
		*plain = !k->reuseport;
		/* Stream listeners are the master's to poll (rr) and shared
		 * by every worker (shared): non-blocking, as the master's own
		 * are; the largest backlog, as for the master's own. */
		if (k->type == SOCK_STREAM &&
		    (fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK) < 0 ||
		     listen(k->fd, SOMAXCONN) < 0)) {
			log_warn("socket activation: fd %d", k->fd);
			continue;
		}
		k->used = 1;
		log_debug("socket activation: fd %d%s%s serves the program's bind", k->fd,
			  k->name[0] ? " named " : "", k->name);
		return k->fd;
	}
	return -1;
}

int sd_listen_serves_path(struct cluster *c, const struct msg_bind *req)
{
	struct sd_listen *s = c->inherited;
	int i;

	for (i = 0; s && i < s->n; i++)
		if (s->socks[i].family == AF_UNIX && matches(&s->socks[i], req))
			return 1;
	return 0;
}

void sd_listen_report_unused(struct sd_listen *s)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!s->socks[i].used)
			log_warnx("socket activation: fd %d%s%s matches no address the program "
				  "bound; unused", s->socks[i].fd, s->socks[i].name[0] ? " " : "",
				  s->socks[i].name);
}

void sd_listen_close(struct sd_listen *s)
{
	int i;

	/* the used ones are listeners now: listener_close_all closes them */
	for (i = 0; i < s->n; i++)
		if (!s->socks[i].used)
			close(s->socks[i].fd);
	free(s->socks);
	s->socks = NULL;
	s->n = 0;
}
