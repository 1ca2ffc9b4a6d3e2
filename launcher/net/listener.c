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
#include "base/state.h"
#include "net/census.h"
#include "net/handshakes.h"
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
	/* the filter passes the final ACK of a handshake begun before it:
	 * the drains wait for those too (handshakes.c) */
	if (ok)
		handshakes_cut(l);
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
		handshakes_free(l);
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

/*
 * The upgrade.  What crosses, and what does not:
 *   - every listener field below, its sockets (l->fd, the per-slot ones)
 *     and the connections in its pending ring, head first: a connection
 *     the old image accepted and had not handed yet is handed by the new
 *     one (policy_state_restore arms a dispatch);
 *   - policy_data is not carried: only leastconn has one, a heap naming
 *     workers by pointer, rebuilt on its next pick;
 *   - registered, watching, again_timer and the EMFILE pause are the
 *     balancer's to put back in the loop: it reads them from this record;
 *   - holder.c holds nothing (a diagnostic run once on a failed bind);
 *     census.c only its number (census_save);
 *   - systemd's sockets (sd_listen.c) are lifecycle.c's, which carries
 *     them (lifecycle_save): the listeners among them are l->fd here too.
 */
static listener_policy_lookup *policy_lookup;

void listener_set_policy_lookup(listener_policy_lookup *fn)
{
	policy_lookup = fn;
}

static void save_one(const struct listener *l, struct state_out *o)
{
	int64_t due = loop_timer_due(l->c->loop, l->again_timer);
	size_t k;
	int i;

	state_rec(o, "listener");
	state_u64(o, "id", l->id);
	state_fd(o, "fd", l->fd);
	state_i64(o, "family", l->family);
	state_i64(o, "type", l->type);
	state_i64(o, "protocol", l->protocol);
	state_u64(o, "opts", l->opts);
	state_bytes(o, "req", &l->req, l->reqlen);
	state_bytes(o, "addr", &l->addr, l->addrlen);
	state_str(o, "policy", l->ops ? l->ops->name : NULL);
	state_i64(o, "in_kernel", l->ops ? l->ops->in_kernel : 0);
	state_i64(o, "announced", l->announced);
	state_i64(o, "registered", l->registered);
	state_i64(o, "watching", l->watching);
	state_i64(o, "kick", l->kick);
	state_i64(o, "again", due >= 0);
	state_u64(o, "cursor", l->cursor);
	state_u64(o, "accepted", l->accepted);
	state_i64(o, "emfile_until", l->emfile_until);
	state_i64(o, "emfile_logged", l->emfile_logged);
	state_i64(o, "syns_stopped", l->syns_stopped);
	state_i64(o, "inherited", l->inherited);
	state_str(o, "name", l->name);
	state_i64(o, "nslot_fds", l->nslot_fds);
	socket_file_save(l, o);
	for (i = 0; i < l->nslot_fds; i++) {
		if (l->slot_fds[i] < 0)
			continue;
		state_rec(o, "listener_slot");
		state_u64(o, "lid", l->id);
		state_i64(o, "slot", i);
		state_fd(o, "fd", l->slot_fds[i]);
	}
	for (k = 0; k < l->npending; k++) {
		const struct conn *conn = &l->pending[(l->headpending + k) % l->cappending];

		state_rec(o, "listener_conn");
		state_u64(o, "lid", l->id);
		state_fd(o, "fd", conn->fd);
		state_bytes(o, "peer", &conn->peer, conn->peerlen);
	}
}

int listener_save(struct cluster *c, struct state_out *o)
{
	int i;

	for (i = 0; i < c->nlisteners; i++)
		save_one(c->listeners[i], o);
	census_save(c, o);
	return 0;
}

static struct listener *restore_one(struct cluster *c, const struct state_rec *r)
{
	const char *policy = rec_str(r, "policy", NULL);
	int kernel = (int)rec_i64(r, "in_kernel", 0);
	struct listener *l;
	long len;

	if (rec_u64(r, "id", UINT64_MAX) != (uint64_t)c->nlisteners ||
	    c->nlisteners >= CLUSTER_MAX_LISTENERS) {
		log_warnx("upgrade: listener %d is missing or out of order in the state",
			  c->nlisteners);
		return NULL;
	}
	if (!(l = calloc(1, sizeof(*l)))) {
		log_warn("upgrade: listener");
		return NULL;
	}
	l->c = c;
	l->id = (uint32_t)c->nlisteners;
	l->fd = rec_fd(r, "fd");
	l->family = (int)rec_i64(r, "family", AF_INET);
	l->type = (int)rec_i64(r, "type", SOCK_STREAM);
	l->protocol = (int)rec_i64(r, "protocol", 0);
	l->opts = (uint32_t)rec_u64(r, "opts", 0);
	len = rec_bytes(r, "req", &l->req, sizeof(l->req));
	l->reqlen = len > 0 ? (socklen_t)len : 0;
	len = rec_bytes(r, "addr", &l->addr, sizeof(l->addr));
	l->addrlen = len > 0 ? (socklen_t)len : 0;
	l->ops = policy && policy_lookup ? policy_lookup(policy, kernel) : NULL;
	l->announced = (int)rec_i64(r, "announced", 1);
	l->kick = (int)rec_i64(r, "kick", 0);
	l->cursor = (unsigned)rec_u64(r, "cursor", 0);
	l->accepted = rec_u64(r, "accepted", 0);
	l->emfile_until = rec_i64(r, "emfile_until", 0);
	l->emfile_logged = rec_i64(r, "emfile_logged", 0);
	l->syns_stopped = (int)rec_i64(r, "syns_stopped", 0);
	l->inherited = (int)rec_i64(r, "inherited", 0);
	snprintf(l->name, sizeof(l->name), "%s", rec_str(r, "name", ""));
	if (!l->name[0])
		describe(l);
	c->listeners[c->nlisteners++] = l;     /* listener_close_all frees it from here */
	if (l->fd < 0 || !l->ops) {
		log_warnx("upgrade: listener %s: %s", l->name, l->fd < 0 ? "no socket in the state" :
			  "a policy this build does not know");
		return NULL;
	}
	len = rec_i64(r, "nslot_fds", 0);
	if (len > 0 && len <= MAX_WORKERS + 8) {
		int i;

		if (!(l->slot_fds = malloc((size_t)len * sizeof(*l->slot_fds)))) {
			log_warn("upgrade: listener %s", l->name);
			return NULL;
		}
		for (i = 0; i < len; i++)
			l->slot_fds[i] = -1;
		l->nslot_fds = (int)len;
	}
	socket_file_restore(l, r);
	return l;
}

/* A connection of the ring, at its tail: the ring was saved head first. */
static int restore_conn(struct listener *l, const struct state_rec *r)
{
	struct conn conn;
	long len;

	memset(&conn, 0, sizeof(conn));
	if ((conn.fd = rec_fd(r, "fd")) < 0)
		return 0;
	len = rec_bytes(r, "peer", &conn.peer, sizeof(conn.peer));
	conn.peerlen = len > 0 ? (socklen_t)len : 0;
	if (l->npending == l->cappending) {
		size_t cap = l->cappending ? l->cappending * 2 : 16;
		struct conn *grown = realloc(l->pending, cap * sizeof(*grown));

		if (!grown) {   /* not closed: the old binary may take it back */
			log_warn("upgrade: %s: a pending connection", l->name);
			return -1;
		}
		l->pending = grown;
		l->cappending = cap;
	}
	l->pending[l->npending++] = conn;       /* headpending is 0 */
	return 0;
}

int listener_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r;

	for (r = state_first(in, "listener"); r; r = state_next(r))
		if (!restore_one(c, r))
			return -1;
	for (r = state_first(in, "listener_slot"); r; r = state_next(r)) {
		uint64_t lid = rec_u64(r, "lid", UINT64_MAX);
		int64_t slot = rec_i64(r, "slot", -1);
		struct listener *l;

		if (lid >= (uint64_t)c->nlisteners)
			continue;
		l = c->listeners[lid];
		if (slot < 0 || slot >= l->nslot_fds) {
			log_warnx("upgrade: %s: a socket for slot %lld beyond its %d", l->name,
				  (long long)slot, l->nslot_fds);
			return -1;
		}
		l->slot_fds[slot] = rec_fd(r, "fd");
	}
	for (r = state_first(in, "listener_conn"); r; r = state_next(r)) {
		uint64_t lid = rec_u64(r, "lid", UINT64_MAX);

		if (lid < (uint64_t)c->nlisteners && restore_conn(c->listeners[lid], r) < 0)
			return -1;
	}
	return census_restore(c, in);
}
