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
 * reuseport: one SO_REUSEPORT socket per worker slot, all created by the
 * master in slot order, so a slot's socket is at index `slot` of the
 * kernel's reuseport group.  A classic BPF program on the group picks one of
 * the first `target` sockets at random; on scale-down the removed slot's
 * socket thus stops getting new connections while its worker drains what
 * is queued on it (listener_slot_queued), and closing it (always the last
 * index) reorders nothing.  A restarted worker gets its slot's socket back,
 * queue included.
 *
 * Not here: who gets the connections (balancer.c).
 */
#include "cluster.h"
#include "log.h"
#include "loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 -1          /* headers older than the kernel: ENOSYS */
#endif

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

static const char *kind_name(const struct listener *l)
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

static void set_flag(int fd, int level, int name, int on)
{
	if (setsockopt(fd, level, name, &on, sizeof(on)) < 0)
		log_debug("setsockopt(%d, %d): %s", level, name, strerror(errno));
}

/* Bind (and listen) as the program would have, at addr.  Returns the fd, or
 * -1 with *err set to the errno the worker's bind() must fail with. */
static int open_socket(const struct msg_bind *req, const struct sockaddr_storage *addr,
		       socklen_t addrlen, int reuseport, int *err)
{
	/* Datagram sockets stay blocking: their O_NONBLOCK is the program's
	 * (see hooks_socket.c); the master never reads from them. */
	int nb = req->type == SOCK_STREAM ? SOCK_NONBLOCK : 0;
	int fd = socket(req->family, req->type | nb | SOCK_CLOEXEC, req->protocol);
	int r;

	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (req->family != AF_UNIX) {
		set_flag(fd, SOL_SOCKET, SO_REUSEADDR, !!(req->opts & BIND_OPT_REUSEADDR));
		if (reuseport || (req->opts & BIND_OPT_REUSEPORT))
			set_flag(fd, SOL_SOCKET, SO_REUSEPORT, 1);
		if (req->opts & BIND_OPT_KEEPALIVE)
			set_flag(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
		if (req->type == SOCK_STREAM && (req->opts & BIND_OPT_NODELAY))
			set_flag(fd, IPPROTO_TCP, TCP_NODELAY, 1);
		if (req->family == AF_INET6)
			set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY, !!(req->opts & BIND_OPT_V6ONLY));
	}
	if (req->family == AF_UNIX) {
		/* the socket file gets the program's permissions, not ours */
		mode_t old = umask((mode_t)(req->umask & 0777));
		r = bind(fd, (const struct sockaddr *)addr, addrlen);
		umask(old);
	} else {
		r = bind(fd, (const struct sockaddr *)addr, addrlen);
	}
	/* The backlog is every worker's queue, and the queue that holds
	 * connections while workers restart: ask for the most the kernel
	 * allows (net.core.somaxconn), not the program's own number. */
	if (r < 0 || (req->type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The socket files we bound, as found right after bind: at exit we remove
 * our own socket and nothing else (a file another program put at the path
 * meanwhile stays).  Indexed by listener id; kept here rather than in
 * struct listener only to leave cluster.h alone in this change.
 */
static struct {
	int known;
	dev_t dev;
	ino_t ino;
} bound_files[CLUSTER_MAX_LISTENERS];

/* l's socket path, NUL-terminated; 0 for an abstract name or not unix. */
static int unix_path(const struct listener *l, char *path, size_t cap)
{
	const struct sockaddr_un *un = (const void *)&l->req;
	size_t n;

	if (l->family != AF_UNIX || !un->sun_path[0])
		return 0;
	n = strnlen(un->sun_path, l->reqlen - offsetof(struct sockaddr_un, sun_path));
	if (n >= cap)
		return 0;
	memcpy(path, un->sun_path, n);
	path[n] = '\0';
	return 1;
}

static int has_dotdot(const char *path)
{
	const char *p;

	for (p = path; (p = strstr(p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return 1;
	return 0;
}

/* RESOLVE_NO_SYMLINKS by hand where openat2 is missing (kernels before
 * 5.6, valgrind): one component at a time from the previous one's fd;
 * O_NOFOLLOW with O_DIRECTORY fails on a symlink (ENOTDIR, as O_PATH opens
 * a symlink itself otherwise), reported as ELOOP like openat2 does. */
static int walk_nofollow(char *dir)
{
	int fd = open(dir[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char *p = dir;

	while (fd >= 0) {
		char *end, cut;
		int next, err;

		p += strspn(p, "/");
		if (!*p)
			break;
		end = p + strcspn(p, "/");
		cut = *end;
		*end = '\0';
		next = openat(fd, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		err = errno == ENOTDIR ? ELOOP : errno;
		*end = cut;
		close(fd);
		fd = next;
		if (fd < 0)
			errno = err;
		p = end;
	}
	return fd;
}

/*
 * --user: the master is root and the workers may own directories on the
 * socket's path.  AT_SYMLINK_NOFOLLOW guards only the last component: a
 * worker could swap a directory it owns for a symlink between bind and our
 * chown (or unlink at exit), and root would act on a file elsewhere.  So
 * the parent directory is opened with openat2(RESOLVE_NO_SYMLINKS) (or
 * walk_nofollow), and a ".." is refused too (renaming a directory it owns
 * would move where ".." leads); the last component is then acted on
 * relative to that fd.  The price: a path through a symlink
 * (/var/run -> /run) is not given to the workers' user; the real path is.
 * Returns the directory fd (O_PATH), or -1 with errno (ELOOP: a symlink or
 * "..").  *name points into path, at the last component.
 */
static int open_parent(const char *path, const char **name)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_NO_SYMLINKS,
	};
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
	const char *slash = strrchr(path, '/');
	int fd;

	if (has_dotdot(path)) {
		errno = ELOOP;
		return -1;
	}
	*name = slash ? slash + 1 : path;
	if (!**name || strlen(path) >= sizeof(dir)) {
		errno = EINVAL;
		return -1;
	}
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = (int)syscall(SYS_openat2, AT_FDCWD, dir, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = walk_nofollow(dir);
	return fd;
}

static void say_cannot_reach(const struct listener *l, const char *what)
{
	if (errno == ELOOP)
		log_warnx("%s: %s: a symlink or \"..\" on the path (give its real path)",
			  l->name, what);
	else
		log_warn("%s: %s", l->name, what);
}

/* Note the socket file just bound (see bound_files) and, under --user,
 * give it to the workers' user, as it would be if they had bound it
 * themselves. */
static void give_unix_file(struct cluster *c, const struct listener *l)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	const char *name = path;
	struct stat st;
	int dir = AT_FDCWD;

	if (!unix_path(l, path, sizeof(path)))
		return;
	bound_files[l->id].known = 0;
	if (c->creds.drop && (dir = open_parent(path, &name)) < 0) {
		say_cannot_reach(l, "socket file not given to the workers' user, "
				 "and left in place at exit");
		return;
	}
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode)) {
		if (c->creds.drop)
			log_warnx("%s: the socket file is gone or replaced; not given to the "
				  "workers' user", l->name);
	} else {
		bound_files[l->id].known = 1;
		bound_files[l->id].dev = st.st_dev;
		bound_files[l->id].ino = st.st_ino;
		if (c->creds.drop &&
		    fchownat(dir, name, c->creds.uid, c->creds.gid, AT_SYMLINK_NOFOLLOW) < 0)
			log_warn("%s: chown", l->name);
	}
	if (dir != AT_FDCWD)
		close(dir);
}

/* The program's own unlink at exit was kept from it (hooks_path.c): do it
 * for the program, if the path still names the socket we bound. */
static void remove_unix_file(struct cluster *c, const struct listener *l)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	const char *name = path;
	struct stat st;
	int dir = AT_FDCWD;

	if (!unix_path(l, path, sizeof(path)) || !bound_files[l->id].known)
		return;
	bound_files[l->id].known = 0;
	if (c->creds.drop && (dir = open_parent(path, &name)) < 0) {
		say_cannot_reach(l, "socket file left in place");
		return;
	}
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode) ||
	    st.st_dev != bound_files[l->id].dev || st.st_ino != bound_files[l->id].ino)
		log_debug("%s: the path no longer names our socket; left alone", l->name);
	else if (unlinkat(dir, name, 0) < 0)
		log_warn("%s: removing the socket file", l->name);
	if (dir != AT_FDCWD)
		close(dir);
}

static enum policy effective_policy(struct cluster *c, const struct msg_bind *req,
				    const char **why)
{
	enum policy p = c->opt->policy;

	*why = NULL;
	if (req->type == SOCK_DGRAM && (p == POLICY_RR || p == POLICY_LEASTCONN)) {
		*why = "datagrams cannot be handed out";
		return POLICY_SHARED;
	}
	if (req->family == AF_UNIX && p == POLICY_REUSEPORT) {
		*why = "unix sockets have no SO_REUSEPORT";
		return POLICY_SHARED;
	}
	return p;
}

/* Random choice among the first n sockets of the reuseport group. */
static void steer(struct listener *l, int n)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)(n > 0 ? n : 1)),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog;

	memset(&prog, 0, sizeof(prog));   /* padding after len goes to the kernel */
	prog.len = 3;
	prog.filter = code;

	/* TCP only: a random choice per datagram would split UDP flows */
	if (l->policy != POLICY_REUSEPORT || l->type != SOCK_STREAM)
		return;
	if (setsockopt(l->fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		log_warn("%s: steering the reuseport group", l->name);
}

static int grow_slots(struct listener *l, int slot)
{
	int n = slot + 8, i;
	int *grown;

	if (slot < l->nslot_fds)
		return 0;
	grown = realloc(l->slot_fds, (size_t)n * sizeof(*grown));
	if (!grown)
		return -1;
	for (i = l->nslot_fds; i < n; i++)
		grown[i] = -1;
	l->slot_fds = grown;
	l->nslot_fds = n;
	return 0;
}

int listener_slot_fd(struct cluster *c, struct listener *l, int slot)
{
	struct msg_bind req;
	int err, i;

	if (grow_slots(l, slot) < 0)
		return -1;
	/* Create every missing socket up to slot, in order: group index = slot. */
	memset(&req, 0, sizeof(req));
	req.family = l->family;
	req.type = l->type;
	req.protocol = l->protocol;
	req.opts = l->opts;
	for (i = 0; i <= slot; i++) {
		if (l->slot_fds[i] >= 0)
			continue;
		l->slot_fds[i] = open_socket(&req, &l->addr, l->addrlen, 1, &err);
		if (l->slot_fds[i] < 0) {
			errno = err;
			log_warn("%s: socket for worker %d", l->name, i);
			return -1;
		}
	}
	(void)c;
	return l->slot_fds[slot];
}

void listener_slots_changed(struct cluster *c)
{
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		if (l->policy != POLICY_REUSEPORT)
			continue;
		listener_slot_fd(c, l, c->target - 1);
		steer(l, c->target);
	}
}

unsigned listener_slot_queued(struct cluster *c, int slot)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		if (l->policy != POLICY_REUSEPORT || l->type != SOCK_STREAM ||
		    slot >= l->nslot_fds || l->slot_fds[slot] < 0)
			continue;
		/* On a listening socket tcpi_unacked is the accept queue. */
		if (getsockopt(l->slot_fds[slot], IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			n += ti.tcpi_unacked;
	}
	return n;
}

/* Close slot's socket of l, refusing what is still queued on it. */
static void close_slot_socket(struct listener *l, int slot)
{
	int fd = l->slot_fds[slot], conn, lost = 0;

	while (l->type == SOCK_STREAM && (conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(conn);
		lost++;
	}
	if (lost)
		log_warnx("%s: %d connection(s) queued on removed worker %d were refused",
			  l->name, lost, slot);
	close(fd);
	l->slot_fds[slot] = -1;
}

/* The kernel fills the hole a closed socket leaves in a reuseport group
 * with the group's last socket (reuseport_detach_sock), so closing any but
 * the last would put another slot's socket at the wrong index, where
 * steer() counts on index = slot.  Sockets therefore only ever go from the
 * top: every socket beyond the target that no worker uses (a draining one,
 * a replacement) is closed, from the highest down, stopping at the first
 * one still in use.  A slot whose worker leaves while a higher one still
 * works keeps its socket until that one is gone too; `slot`, the slot
 * that just became free, is where the caller noticed, not a limit.
 * O(workers + slots) per listener. */
void listener_close_slot(struct cluster *c, int slot)
{
	unsigned char used[MAX_WORKERS] = { 0 };
	int i, k;

	(void)slot;
	for (i = 0; i < c->nworkers; i++)
		if (c->workers[i]->slot >= 0 && c->workers[i]->slot < MAX_WORKERS)
			used[c->workers[i]->slot] = 1;
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];

		/* slot 0's socket is l->fd, and the target is at least 1 */
		for (k = l->nslot_fds - 1; k > 0 && k >= c->target; k--) {
			if (l->slot_fds[k] < 0)
				continue;
			if (k >= MAX_WORKERS || used[k])
				break;
			close_slot_socket(l, k);
		}
	}
}

static struct listener *create(struct cluster *c, const struct msg_bind *req, int *err)
{
	const char *why;
	enum policy policy = effective_policy(c, req, &why);
	struct listener *l;
	int fd;

	/* --user: the workers run unprivileged, the master does not.  Once the
	 * first generation is up, a worker may not make the master bind
	 * something new (a port below 1024, a path in a root-owned directory)
	 * unless --allow-bind says it may. */
	if (c->creds.drop && c->announced_ready && !c->opt->allow_bind) {
		*err = EACCES;
		log_warnx("a worker asked for a new address after start-up; refused "
			  "(--user without --allow-bind)");
		return NULL;
	}
	if (c->nlisteners >= CLUSTER_MAX_LISTENERS) {
		log_warnx("more than %d listeners: refusing another", CLUSTER_MAX_LISTENERS);
		*err = EMFILE;
		return NULL;
	}
	fd = open_socket(req, &req->addr, req->addrlen, policy == POLICY_REUSEPORT, err);
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
	l->policy = policy;
	describe(l);
	give_unix_file(c, l);
	c->listeners[c->nlisteners++] = l;
	if (policy == POLICY_REUSEPORT && grow_slots(l, 0) == 0) {
		l->slot_fds[0] = fd;
		listener_slot_fd(c, l, c->target - 1);
		steer(l, c->target);
	}
	if (why)
		log_warnx("%s: policy %s instead of %s: %s", l->name, policy_name(policy),
			  policy_name(c->opt->policy), why);
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
	if (!l)
		l = create(c, req, err);
	return l;
}

int listener_serves_path(struct cluster *c, const struct msg_bind *req)
{
	int i;

	if (req->family != AF_UNIX || !req_valid(req))
		return 0;
	for (i = 0; i < c->nlisteners; i++)
		if (same_key(c->listeners[i], req))
			return 1;
	return 0;
}

/* Said when a worker first listens (a datagram socket: when it binds), not
 * at bind: a client's bind before connect is not a listener to announce. */
void listener_announce(struct cluster *c, struct listener *l)
{
	if (l->announced)
		return;
	l->announced = 1;
	log_warnx("%s (%s) shared by %d worker%s, policy %s", l->name, kind_name(l),
		  c->target, c->target == 1 ? "" : "s", policy_name(l->policy));
}

void listener_close_all(struct cluster *c)
{
	int i, k;

	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];

		loop_del_fd(c->loop, l->fd);
		for (k = 0; k < l->nslot_fds; k++)
			if (l->slot_fds[k] >= 0 && l->slot_fds[k] != l->fd)
				close(l->slot_fds[k]);
		close(l->fd);
		remove_unix_file(c, l);
		for (k = 0; k < (int)l->npending; k++)
			close(l->pending[k].fd);
		free(l->pending);
		free(l->slot_fds);
		free(l);
	}
	c->nlisteners = 0;
}
