/*
 * listener.c - the registry of addresses the master has bound.
 *
 * The master binds each clustered address once, on the first worker's
 * request, and keeps the socket for its whole life: workers come and go,
 * the socket and the connections queued on it stay.  Binding in the master
 * is what makes EADDRINUSE and EACCES come back as the worker's own bind()
 * errno, exactly as without clustering.
 *
 * The key is the address as the program asked for it: type, family,
 * address, port and, for IPv6, scope and IPV6_V6ONLY; for unix sockets the
 * path (made absolute by the shim) or abstract name.  So 0.0.0.0:P,
 * 127.0.0.1:P, [::]:P and [::1]:P are different listeners, as they are to
 * the kernel.  Port 0 is "random the first time, predictable thereafter"
 * (Node's rule): a worker's n-th bind of ADDR:0 gets the n-th listener
 * created for ADDR:0.
 *
 * Policies per kind: UDP has no connections to hand out, so rr and
 * leastconn fall back to shared for it (Node does the same); unix sockets
 * have no SO_REUSEPORT, so reuseport falls back to shared for them.  The
 * announcement line says so.
 *
 * Each listener carries the table of its policy after those fallbacks
 * (policy/policy.c's policy_for_bind, applied by mechanism/attach.c, one
 * layer up); nothing here knows one policy from another.
 *
 * Not here: opening sockets (sockets.c); who gets the connections
 * (policy_*.c, balancer.c); what happens to a unix socket's file
 * (socket_file.c).
 */
#include "net/listener.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/options.h"
#include "net/sd_listen.h"
#include "net/socket_file.h"
#include "net/sockets.h"
#include "net/syn_filter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int req_valid(const struct msg_bind *req)
{
	int stream = req->type == SOCK_STREAM, dgram = req->type == SOCK_DGRAM;

	switch (req->family) {
	case AF_INET:
		return req->addrlen == sizeof(struct sockaddr_in) &&
		       ((stream && req->protocol == IPPROTO_TCP) ||
			(dgram && req->protocol == IPPROTO_UDP));
	case AF_INET6:
		return req->addrlen == sizeof(struct sockaddr_in6) &&
		       ((stream && req->protocol == IPPROTO_TCP) ||
			(dgram && req->protocol == IPPROTO_UDP));
	case AF_UNIX:
		return stream && req->addrlen > offsetof(struct sockaddr_un, sun_path) + 1 &&
		       req->addrlen <= sizeof(struct sockaddr_un);
	default:
		return 0;
	}
}

static uint16_t req_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 1;       /* unix: never "port 0" */
}

/* A path is a string (programs pass sizeof(struct sockaddr_un) or the
 * exact length); an abstract name is all its bytes. */
static int same_unix_name(const struct sockaddr_storage *a, socklen_t alen,
			  const struct sockaddr_storage *b, socklen_t blen)
{
	const struct sockaddr_un *x = (const void *)a, *y = (const void *)b;
	size_t off = offsetof(struct sockaddr_un, sun_path);

	if (x->sun_path[0] && y->sun_path[0])
		return strncmp(x->sun_path, y->sun_path, sizeof(x->sun_path)) == 0;
	return alen == blen && !memcmp(x->sun_path, y->sun_path, alen - off);
}

/* Same key: see the file comment.  sin6_flowinfo does not matter to bind. */
static int same_key(const struct listener *l, const struct msg_bind *req)
{
	if (l->family != req->family || l->type != req->type)
		return 0;
	if (req->family == AF_UNIX)
		return same_unix_name(&l->req, l->reqlen, &req->addr, req->addrlen);
	if (req_port(&l->req) != req_port(&req->addr))
		return 0;
	if (req->family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&l->req, *b = (const void *)&req->addr;
		return a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	{
		const struct sockaddr_in6 *a = (const void *)&l->req, *b = (const void *)&req->addr;
		return !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) &&
		       a->sin6_scope_id == b->sin6_scope_id &&
		       !!(l->opts & BIND_OPT_V6ONLY) == !!(req->opts & BIND_OPT_V6ONLY);
	}
}

const char *listener_kind(const struct listener *l)
{
	if (l->family == AF_UNIX)
		return "unix";
	return l->type == SOCK_DGRAM ? "udp" : "tcp";
}

static void describe(struct listener *l)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (l->family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&l->addr;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(l->name, sizeof(l->name), "%s:%u", host, ntohs(a->sin_port));
	} else if (l->family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&l->addr;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(l->name, sizeof(l->name), "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_un *a = (const void *)&l->req;
		size_t n = l->reqlen - offsetof(struct sockaddr_un, sun_path);
		if (a->sun_path[0])
			snprintf(l->name, sizeof(l->name), "%.*s", (int)strnlen(a->sun_path, n), a->sun_path);
		else    /* abstract: shown as @name, like ss does */
			snprintf(l->name, sizeof(l->name), "@%.*s", (int)n - 1, a->sun_path + 1);
	}
}

void listener_req_name(const struct msg_bind *req, char *name, size_t cap)
{
	struct listener tmp;

	memset(&tmp, 0, sizeof(tmp));
	tmp.family = req->family;
	tmp.reqlen = req->addrlen;
	memcpy(&tmp.addr, &req->addr, req->addrlen);
	memcpy(&tmp.req, &req->addr, req->addrlen);
	describe(&tmp);
	snprintf(name, cap, "%s", tmp.name);
}

struct listener *listener_create(struct cluster *c, const struct msg_bind *req,
				 int per_slot, const struct creds *as, int *plain, int *err)
{
	struct listener *l;
	int fd, inherited;

	if (c->nlisteners >= CLUSTER_MAX_LISTENERS) {
		log_warnx("more than %d listeners: refusing another", CLUSTER_MAX_LISTENERS);
		*err = EMFILE;
		return NULL;
	}
	*plain = 0;
	inherited = (fd = sd_listen_take(c, req, plain)) >= 0;     /* systemd's */
	if (!inherited)
		fd = socket_open_listener(req, &req->addr, req->addrlen,
					  per_slot ? SOCKET_FIRST_OF_GROUP : SOCKET_FIRST, as, err);
	if (fd < 0)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		*err = ENOMEM;
		return NULL;
	}
	l->c = c;
	l->id = (uint32_t)c->nlisteners;
	l->fd = fd;
	l->family = req->family;
	l->type = req->type;
	l->protocol = req->protocol;
	l->opts = req->opts;
	l->reqlen = req->addrlen;
	memcpy(&l->req, &req->addr, req->addrlen);
	l->addrlen = sizeof(l->addr);
	if (getsockname(fd, (struct sockaddr *)&l->addr, &l->addrlen) < 0) {
		*err = errno;
		close(fd);
		free(l);
		return NULL;
	}
	describe(l);
	l->inherited = inherited;
	if (!inherited)
		socket_file_adopt(c, l);
	c->listeners[c->nlisteners++] = l;
	return l;
}

int listener_owns_socket(const struct cluster *c, unsigned long ino)
{
	struct stat st;
	int i, k;

	for (i = 0; i < c->nlisteners; i++) {
		const struct listener *l = c->listeners[i];

		if (fstat(l->fd, &st) == 0 && st.st_ino == ino)
			return 1;
		for (k = 0; k < l->nslot_fds; k++)
			if (l->slot_fds[k] >= 0 && fstat(l->slot_fds[k], &st) == 0 &&
			    st.st_ino == ino)
				return 1;
	}
	return 0;
}

struct listener *listener_find(struct cluster *c, struct worker *w,
			       const struct msg_bind *req, int *err)
{
	int zero = req_port(&req->addr) == 0, i;
	struct listener *l = NULL;

	*err = 0;
	if (!req_valid(req)) {
		*err = EINVAL;
		return NULL;
	}
	for (i = 0; i < c->nlisteners && !l; i++) {
		struct listener *cand = c->listeners[i];
		if (!same_key(cand, req))
			continue;
		/* Port 0: the first one of these this worker was not given
		 * (or gave back: a client's bind before connect). */
		if (zero && w->routes[cand->id].given && !w->routes[cand->id].bound &&
		    !w->routes[cand->id].released)
			continue;
		if (zero && w->routes[cand->id].bound &&
		    !(req->opts & BIND_OPT_REUSEPORT))
			continue;
		l = cand;
	}
	if (l && w->routes[l->id].bound && !(req->opts & BIND_OPT_REUSEPORT)) {
		*err = EADDRINUSE;      /* as a second bind in one program is */
		return NULL;
	}
	return l;
}

int listener_serves_path(struct cluster *c, const struct msg_bind *req)
{
	int i;

	if (req->family != AF_UNIX || !req_valid(req))
		return 0;
	if (sd_listen_serves_path(c, req))      /* systemd's, bound or not yet */
		return 1;
	for (i = 0; i < c->nlisteners; i++)
		if (same_key(c->listeners[i], req))
			return 1;
	return 0;
}

/* The SYN filter (syn_filter.c) on each of l's sockets.  A socket that
 * refuses it keeps taking connections, and the workers of l then stop
 * accepting at once as before (syns_stopped stays 0): waiting for a queue
 * that keeps filling would only wait out --grace. */
static void stop_syns(struct listener *l)
{
	int k, ok = 1;

	if (l->family == AF_UNIX || l->type != SOCK_STREAM || l->syns_stopped)
		return;
	if (syn_filter_attach(l->fd) < 0) {
		log_warn("%s: cannot stop new connections before closing", l->name);
		return;
	}
	for (k = 0; k < l->nslot_fds; k++)
		if (l->slot_fds[k] >= 0 && l->slot_fds[k] != l->fd &&
		    syn_filter_attach(l->slot_fds[k]) < 0) {
			log_warn("%s: cannot stop new connections on worker %d's socket",
				 l->name, k);
			ok = 0;
		}
	l->syns_stopped = ok;
	log_debug("%s: new connections stopped; %u queued on its socket", l->name,
		  socket_accept_queue(l->fd));
}

void listener_stop_syns(struct cluster *c)
{
	int i;

	for (i = 0; i < c->nlisteners; i++)
		stop_syns(c->listeners[i]);
}

void listener_close_all(struct cluster *c)
{
	int i, k;

	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];

		/* systemd's socket stays open in systemd after we exit, with
		 * the SYN filter a stop put on it: the next cluster-run would
		 * get a socket that drops every new connection.  Ours are
		 * closed (nothing to undo, and no window for a SYN to be
		 * queued and then reset). */
		if (l->inherited && l->syns_stopped && syn_filter_detach(l->fd) < 0)
			log_warn("%s: cannot let new connections in again", l->name);
		loop_del_fd(c->loop, l->fd);
		for (k = 0; k < l->nslot_fds; k++)
			if (l->slot_fds[k] >= 0 && l->slot_fds[k] != l->fd)
				close(l->slot_fds[k]);
		close(l->fd);
		socket_file_remove(c, l);
		loop_timer_cancel(c->loop, l->again_timer);
		if (l->npending)
			log_warnx("%s: %zu connection(s) waiting for a worker are refused at exit",
				  l->name, l->npending);
		for (k = 0; k < (int)l->npending; k++)
			close(l->pending[(l->headpending + (size_t)k) % l->cappending].fd);
		free(l->pending);
		free(l->policy_data);
		free(l->slot_fds);
		free(l);
	}
	c->nlisteners = 0;
}

/* A worker listened with `backlog`: the master's socket(s) take that number,
 * or --backlog when given, as the program's own listener would have without
 * cluster-run.  A queue as long as somaxconn lets thousands of connections
 * whose clients gave up wait after a flood, each still served in turn; the
 * program's number bounds that.  The trade-off: that queue is also what
 * holds new connections while no worker accepts (every worker restarting),
 * so a small backlog makes clients retry their SYN sooner (README). */
void listener_set_backlog(struct cluster *c, struct listener *l, int backlog)
{
	int n = c->opt->backlog > 0 ? c->opt->backlog : backlog, i;

	if (l->type != SOCK_STREAM)
		return;
	if (l->nslot_fds == 0 && listen(l->fd, n) < 0)
		log_warn("%s: listen backlog %d", l->name, n);
	for (i = 0; i < l->nslot_fds; i++)
		if (l->slot_fds[i] >= 0 && listen(l->slot_fds[i], n) < 0)
			log_warn("%s: listen backlog %d (slot %d)", l->name, n, i);
}
