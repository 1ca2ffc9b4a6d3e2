/*
 * listener.c - the registry of addresses the master has bound.
 *
 * The master binds each clustered address once, on the first worker's
 * request, and keeps the socket for its whole life: workers come and go,
 * the socket and the connections queued on it stay.  Binding in the master
 * is what makes EADDRINUSE and EACCES come back as the worker's own bind()
 * errno, exactly as without clustering.
 *
 * The key is the address as the program asked for it: family, address,
 * port and, for IPv6, scope and IPV6_V6ONLY.  So 0.0.0.0:P, 127.0.0.1:P,
 * [::]:P and [::1]:P are different listeners, as they are to the kernel.
 * Port 0 is "random the first time, predictable thereafter" (Node's rule):
 * a worker's n-th bind of ADDR:0 gets the n-th listener created for ADDR:0.
 *
 * Not here: who gets the connections (balancer.c).
 */
#include "cluster.h"
#include "log.h"
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int req_valid(const struct msg_bind *req)
{
	if (req->type != SOCK_STREAM)
		return 0;
	if (req->family == AF_INET)
		return req->addrlen == sizeof(struct sockaddr_in);
	if (req->family == AF_INET6)
		return req->addrlen == sizeof(struct sockaddr_in6);
	return 0;
}

static uint16_t req_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Same key: see the file comment.  sin6_flowinfo does not matter to bind. */
static int same_key(const struct listener *l, const struct msg_bind *req)
{
	if (l->family != req->family || req_port(&l->req) != req_port(&req->addr))
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

static void describe(struct listener *l)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (l->family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&l->addr;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(l->name, sizeof(l->name), "%s:%u", host, ntohs(a->sin_port));
	} else {
		const struct sockaddr_in6 *a = (const void *)&l->addr;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(l->name, sizeof(l->name), "[%s]:%u", host, ntohs(a->sin6_port));
	}
}

static void set_flag(int fd, int level, int name, int on)
{
	if (setsockopt(fd, level, name, &on, sizeof(on)) < 0)
		log_debug("setsockopt(%d, %d): %s", level, name, strerror(errno));
}

/* Bind and listen as the program would have.  Returns the fd, or -1 with
 * *err set to the errno the worker's bind() must fail with. */
static int open_socket(const struct msg_bind *req, int *err)
{
	int fd = socket(req->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	set_flag(fd, SOL_SOCKET, SO_REUSEADDR, !!(req->opts & BIND_OPT_REUSEADDR));
	if (req->opts & BIND_OPT_REUSEPORT)
		set_flag(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (req->opts & BIND_OPT_KEEPALIVE)
		set_flag(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	if (req->opts & BIND_OPT_NODELAY)
		set_flag(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (req->family == AF_INET6)
		set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY, !!(req->opts & BIND_OPT_V6ONLY));
	/* The backlog is every worker's queue, and the queue that holds
	 * connections while workers restart: ask for the most the kernel
	 * allows (net.core.somaxconn), not the program's own number. */
	if (bind(fd, (const struct sockaddr *)&req->addr, req->addrlen) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static struct listener *create(struct cluster *c, const struct msg_bind *req, int *err)
{
	struct listener *l;
	int fd;

	if (c->nlisteners >= CLUSTER_MAX_LISTENERS) {
		log_warnx("more than %d listeners: refusing another", CLUSTER_MAX_LISTENERS);
		*err = EMFILE;
		return NULL;
	}
	fd = open_socket(req, err);
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
	l->policy = c->opt->policy;
	describe(l);
	c->listeners[c->nlisteners++] = l;
	listener_announce(c, l);
	return l;
}

struct listener *listener_for(struct cluster *c, struct worker *w,
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
		/* Port 0: the first one of these this worker was not given. */
		if (zero && w->routes[cand->id].given && !w->routes[cand->id].bound)
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
	if (!l)
		l = create(c, req, err);
	return l;
}

void listener_announce(struct cluster *c, struct listener *l)
{
	log_warnx("%s (tcp) shared by %d worker%s, policy %s", l->name, c->target,
		  c->target == 1 ? "" : "s", policy_name(l->policy));
}

void listener_close_all(struct cluster *c)
{
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		size_t k;

		loop_del_fd(c->loop, l->fd);
		close(l->fd);
		for (k = 0; k < l->npending; k++)
			close(l->pending[k].fd);
		free(l->pending);
		free(l);
	}
	c->nlisteners = 0;
}
