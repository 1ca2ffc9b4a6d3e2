/*
 * census.c - which accepted connections each worker still holds, asked of
 * the kernel rather than counted.
 *
 * Counting closes in the shim cannot be complete: a runtime may close a
 * socket inside libc (fclose of an fdopen'ed socket), through io_uring, or
 * in an exec'd program that has no shim; and a fork-per-connection server
 * (busybox httpd, socat fork, inetd-style) closes its copy in the parent
 * while a child still serves the connection, so the parent's close is not
 * the connection's end.  The kernel knows the truth:
 *
 *   1. the cluster's connections: sock_diag dumps of TCP (IPv4, IPv6)
 *      sockets whose local port is a listener's (the kernel filters by
 *      port), in any connected state, and of unix stream sockets named
 *      like a listener (an accepted unix socket carries its listener's
 *      name), as a sorted set of inodes;
 *   2. a worker's sockets: /proc/PID/fd of the worker's process and its
 *      descendants (/proc/PID/task/TID/children), "socket:[INODE]" links;
 *   3. what the worker holds is the size of the intersection.
 *
 * It costs a dump of the cluster's connections and a walk of the
 * worker's fd tables, so it runs while workers drain (every few tens of
 * milliseconds) and for status and metrics, never per connection.  The
 * kernel walks every TCP socket of the network namespace for a dump,
 * TIME_WAIT ones included (25-35 ms with 131,072 of them on a test
 * machine, bench/README.md), but a filter on the listeners' ports
 * (census_inet_request) keeps the others out of the answer: the host's
 * other connections, and the client ends of connections made from this
 * host, are never copied to us.  One dump serves every caller of a turn
 * of the loop (c->census): a scrape, a status request and the drain checks
 * that fall in the same turn share it, and a drain keeps using an older
 * one while it is good for it (census_since).  The walk of fd tables is
 * per worker asked about, at each call.
 *
 * It decides nothing: retire.c (when a worker may stop) and report.c
 * (what status shows) ask it, and choose what to do when it cannot tell.
 *
 * Not counted: connections a worker's process passed to an unrelated
 * process (SCM_RIGHTS), and descendants that left the tree while the
 * worker's process runs (a daemon that double-forked is reparented to us,
 * not to the worker; once the worker's process exits, the daemon is the
 * worker's process: supervise/follow.c).
 */
#include "net/census.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct census {
	unsigned long *inodes;          /* sorted */
	size_t n, cap;
	unsigned long seq;              /* dumps taken so far, this one included */
	uint64_t turn;                  /* of the loop, when it was taken */
	int ok;                         /* the kernel answered */
};

/* TCP states a connection accepted from a listener can be in while a
 * process still holds it (everything but LISTEN, TIME_WAIT, CLOSE,
 * SYN_SENT and request sockets). */
#define TCP_HELD_STATES ((1u << 1) | (1u << 4) | (1u << 5) | (1u << 8) | \
			 (1u << 9) | (1u << 11))   /* ESTABLISHED FIN_WAIT1/2
						     * CLOSE_WAIT LAST_ACK CLOSING */

static int add_inode(struct census *cs, unsigned long ino)
{
	if (!ino)
		return 0;
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 256;
		unsigned long *grown = realloc(cs->inodes, cap * sizeof(*grown));
		if (!grown)
			return -1;
		cs->inodes = grown;
		cs->cap = cap;
	}
	cs->inodes[cs->n++] = ino;
	return 0;
}

/* The local port of a TCP listener of the family, in network order; 0
 * for any other listener. */
static uint16_t tcp_port(const struct listener *l, int family)
{
	if (l->type != SOCK_STREAM || l->family != family)
		return 0;
	return family == AF_INET ? ((const struct sockaddr_in *)&l->addr)->sin_port
				 : ((const struct sockaddr_in6 *)&l->addr)->sin6_port;
}

static int listens_on_port(const struct cluster *c, int family, uint16_t port)
{
	int i;

	for (i = 0; i < c->nlisteners; i++)
		if (port && tcp_port(c->listeners[i], family) == port)
			return 1;
	return 0;
}

static int listens_on_path(const struct cluster *c, const char *name, size_t len)
{
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		const struct listener *l = c->listeners[i];
		const struct sockaddr_un *a = (const void *)&l->req;
		size_t n = l->reqlen - offsetof(struct sockaddr_un, sun_path);

		if (l->family != AF_UNIX)
			continue;
		if (a->sun_path[0])     /* a path: up to its NUL, if it has one */
			n = strnlen(a->sun_path, n);
		if (n == len && !memcmp(a->sun_path, name, len))
			return 1;
	}
	return 0;
}

/* The kernel's name of a unix socket (UNIX_DIAG_NAME) as listens_on_path
 * compares it: a path without the NUL that ends it (Linux 6.x reports
 * the NUL, older kernels the name as the program bound it, with or
 * without), an abstract name (leading NUL) byte for byte. */
static size_t unix_name_len(const char *name, size_t len)
{
	return len && name[0] ? strnlen(name, len) : len;
}

/* The kernel filters what it dumps (its own check stays below: the
 * filter is what makes a dump cheap, the check what makes it right). */
static int take_inet(const struct cluster *c, struct census *cs, int family,
		     const struct nlmsghdr *h)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->idiag_family != family)
		return 0;
	if (listens_on_port(c, m->idiag_family, m->id.idiag_sport))
		return add_inode(cs, m->idiag_inode);
	return 0;
}

static int take_unix(const struct cluster *c, struct census *cs, const struct nlmsghdr *h)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct rtattr *a;
	long rem;       /* signed: RTA_NEXT past a bad length goes below 0 */

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return 0;
	rem = (long)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	for (a = (const struct rtattr *)(m + 1); RTA_OK(a, rem); a = RTA_NEXT(a, rem))
		if (a->rta_type == UNIX_DIAG_NAME &&
		    listens_on_path(c, RTA_DATA(a), unix_name_len(RTA_DATA(a), RTA_PAYLOAD(a))))
			return add_inode(cs, m->udiag_ino);
	return 0;
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

int census_parse(struct census *cs, const struct cluster *c, int family,
		 const void *buf, size_t len)
{
	const struct nlmsghdr *h;
	long rem = (long)len;   /* signed: see take_unix */

	for (h = buf; NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem)) {
		if (h->nlmsg_type == NLMSG_DONE) {
			/* a dump that failed half-way ends with its errno */
			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) &&
			    *(const int *)NLMSG_DATA(h) < 0)
				return -1;
			if (cs->n > 1)
				qsort(cs->inodes, cs->n, sizeof(*cs->inodes), cmp_ulong);
			return 1;
		}
		if (h->nlmsg_type == NLMSG_ERROR)
			return -1;
		if ((family == AF_UNIX ? take_unix(c, cs, h) : take_inet(c, cs, family, h)) < 0)
			return -1;
	}
	return 0;
}

/* One sock_diag dump: send req, parse every answer.  0 or -1. */
static int dump(const void *req, size_t len, const struct cluster *c, struct census *cs,
		int family)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	char buf[32768];
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), r = -1;

	if (fd < 0)
		return -1;
	if (sendto(fd, req, len, 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
		goto out;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (r = census_parse(cs, c, family, buf, (size_t)n)) != 0)
			break;
	}
out:
	close(fd);
	return r > 0 ? 0 : -1;
}

/* A sock_diag dump request of len bytes: the header both kinds share. */
static void dump_header(struct nlmsghdr *h, size_t len)
{
	h->nlmsg_len = (uint32_t)len;
	h->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
}

/* Appends "local port == port" to the filter at bc: the kernel's
 * bytecode runs each op and moves on by `yes` bytes when it holds, by `no`
 * when not; the program accepts a socket by reaching its very end, rejects
 * it by jumping 4 bytes past it.  S_GE and S_LE, not S_EQ, which older
 * kernels lack: they refuse the whole dump for an op they do not know.
 * The port operand is an op of its own, in host order.  Every jump lands
 * on the chain of `yes` moves, as the kernel's audit wants. */
static size_t port_equals(struct inet_diag_bc_op *bc, uint16_t port)
{
	/* GE's no skips LE too: 16 bytes of its own and LE's, + 4 = reject */
	bc[0] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_GE, 8, 20 };
	bc[1] = (struct inet_diag_bc_op){ 0, 0, port };
	bc[2] = (struct inet_diag_bc_op){ INET_DIAG_BC_S_LE, 8, 12 };
	bc[3] = (struct inet_diag_bc_op){ 0, 0, port };
	return 4 * sizeof(*bc);
}

/* "port a or port b or ...", as ss(8) compiles an or: each test is
 * followed by a JMP that its match lands on and that jumps to the end
 * (accept); a failed test's "reject" lands just past that JMP, on the next
 * test.  The last test has no JMP: its reject is the program's.  Returns
 * the program's length, 20 bytes a port less 4. */
static size_t port_filter(struct inet_diag_bc_op *bc, const uint16_t *ports, int n)
{
	size_t len = 0, each = 4 * sizeof(*bc) + sizeof(*bc);
	size_t total = n * each - sizeof(*bc);
	int i;

	for (i = 0; i < n; i++) {
		len += port_equals(bc + len / sizeof(*bc), ports[i]);
		if (i == n - 1)
			break;
		/* the JMP's own 4 bytes plus everything after it */
		bc[len / sizeof(*bc)] = (struct inet_diag_bc_op){
			INET_DIAG_BC_JMP, 4, (unsigned short)(total - len) };
		len += sizeof(*bc);
	}
	return len;
}

size_t census_inet_request(const struct cluster *c, int family, void *buf, size_t cap)
{
	struct inet_diag_req_v2 r;
	struct nlmsghdr h;
	struct rtattr a;
	uint16_t ports[CLUSTER_MAX_LISTENERS];
	int i, k, n = 0;
	size_t bclen, len;
	char *p = buf;

	for (i = 0; i < c->nlisteners; i++) {
		uint16_t port = ntohs(tcp_port(c->listeners[i], family));
		for (k = 0; k < n && ports[k] != port; k++)
			;
		if (port && k == n)
			ports[n++] = port;
	}
	bclen = n ? n * 5 * sizeof(struct inet_diag_bc_op) - sizeof(struct inet_diag_bc_op) : 0;
	len = NLMSG_LENGTH(sizeof(r)) + (n ? RTA_SPACE(bclen) : 0);
	if (len > cap)
		return 0;
	memset(buf, 0, len);
	memset(&h, 0, sizeof(h));
	dump_header(&h, len);
	memset(&r, 0, sizeof(r));
	r.sdiag_family = (uint8_t)family;
	r.sdiag_protocol = IPPROTO_TCP;
	r.idiag_states = TCP_HELD_STATES;
	memcpy(p, &h, sizeof(h));
	memcpy(p + NLMSG_HDRLEN, &r, sizeof(r));
	if (n) {
		a.rta_type = INET_DIAG_REQ_BYTECODE;
		a.rta_len = (unsigned short)RTA_LENGTH(bclen);
		memcpy(p + NLMSG_LENGTH(sizeof(r)), &a, sizeof(a));
		port_filter((struct inet_diag_bc_op *)(p + NLMSG_LENGTH(sizeof(r)) + RTA_LENGTH(0)),
			    ports, n);
	}
	return len;
}

static int dump_inet(const struct cluster *c, struct census *cs, int family)
{
	char req[CENSUS_REQUEST_MAX] __attribute__((aligned(NLMSG_ALIGNTO)));
	size_t len = census_inet_request(c, family, req, sizeof(req));

	return len ? dump(req, len, c, cs, family) : -1;
}

static int dump_unix(const struct cluster *c, struct census *cs)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req;

	memset(&req, 0, sizeof(req));
	dump_header(&req.h, sizeof(req));
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_states = 1u << 1;   /* ESTABLISHED */
	req.r.udiag_show = UDIAG_SHOW_NAME;
	return dump(&req, sizeof(req), c, cs, AF_UNIX);
}

struct census *census_new(void)
{
	return calloc(1, sizeof(struct census));
}

void census_free(struct census *cs)
{
	if (!cs)
		return;
	free(cs->inodes);
	free(cs);
}

int census_has(const struct census *cs, unsigned long ino)
{
	return cs && cs->n && bsearch(&ino, cs->inodes, cs->n, sizeof(ino), cmp_ulong);
}

/* A new dump into cs, whose array is reused.  0, or -1 when the kernel
 * would not answer. */
static int take(struct cluster *c, struct census *cs)
{
	int i, inet = 0, inet6 = 0, un = 0;

	cs->n = 0;
	for (i = 0; i < c->nlisteners; i++) {
		const struct listener *l = c->listeners[i];
		if (l->type != SOCK_STREAM)
			continue;
		inet |= l->family == AF_INET;
		inet6 |= l->family == AF_INET6;
		un |= l->family == AF_UNIX;
	}
	if ((inet && dump_inet(c, cs, AF_INET) < 0) ||
	    (inet6 && dump_inet(c, cs, AF_INET6) < 0) ||
	    (un && dump_unix(c, cs) < 0))
		return -1;
	return 0;
}

/* The last census if it is this turn's and numbered mark or later, or,
 * with any_age, if it is good and numbered mark or later; else a new one.
 * A failed census is kept for its turn only, so that every caller of the
 * turn does not ask again a kernel that just said no. */
static struct census *get(struct cluster *c, unsigned long mark, int any_age)
{
	struct census *cs = c->census;
	uint64_t turn = loop_turn(c->loop);

	if (cs && cs->seq >= mark && cs->seq) {
		if (cs->turn == turn)
			return cs->ok ? cs : NULL;
		if (any_age && cs->ok)
			return cs;
	}
	if (!cs && !(cs = c->census = census_new()))
		return NULL;
	cs->seq++;
	cs->turn = turn;
	cs->ok = take(c, cs) == 0;
	return cs->ok ? cs : NULL;
}

struct census *census_fresh(struct cluster *c)
{
	return get(c, 0, 0);
}

struct census *census_since(struct cluster *c, unsigned long mark)
{
	return get(c, mark, 1);
}

unsigned long census_next_mark(const struct cluster *c)
{
	return c->census ? c->census->seq + 1 : 1;
}

void census_close(struct cluster *c)
{
	census_free(c->census);
	c->census = NULL;
}

/* Calls fn(fd, inode, arg) for each socket among pid's fds: 0, or -1
 * when its fds cannot be read (ENOENT: it is gone). */
static int each_socket(pid_t pid, void (*fn)(int fd, unsigned long ino, void *arg),
		       void *arg)
{
	char path[64], link[64];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return -1;
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		/* relative to the open directory: a path from / would walk
		 * /proc, PID and fd again for every fd (a third of the cost) */
		len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (len <= 8 || memcmp(link, "socket:[", 8))
			continue;
		link[len] = '\0';
		fn(atoi(e->d_name), strtoul(link + 8, NULL, 10), arg);
	}
	closedir(d);
	return 0;
}

/* What a walk of a process tree does at each process (held_by_tree). */
struct held_walk {
	const struct census *cs;
	census_held_fn *fn;     /* NULL: only count */
	void *arg;
	pid_t pid;              /* the process being walked */
	long n;
};

static void count_held(int fd, unsigned long ino, void *arg)
{
	struct held_walk *h = arg;

	if (!census_has(h->cs, ino))
		return;
	h->n++;
	if (h->fn)
		h->fn(h->pid, fd, ino, h->arg);
}

/* Sockets of ours among pid's fds; -1 when its fds cannot be read. */
static long held_by(struct held_walk *h, pid_t pid)
{
	long before = h->n;

	h->pid = pid;
	if (each_socket(pid, count_held, h) < 0)
		return errno == ENOENT ? 0 : -1;        /* gone: holds nothing */
	return h->n - before;
}

struct inode_list {
	unsigned long *inodes;
	size_t n, cap;
};

static void list_inode(int fd, unsigned long ino, void *arg)
{
	struct inode_list *l = arg;

	(void)fd;
	if (l->n < l->cap)
		l->inodes[l->n] = ino;
	l->n++;
}

long census_proc_sockets(pid_t pid, unsigned long *inodes, size_t cap)
{
	struct inode_list l = { inodes, 0, cap };

	if (each_socket(pid, list_inode, &l) < 0)
		return -1;
	return (long)l.n;
}

/* pid and its descendants, depth first.  A connection several of them
 * hold (fork-per-connection) counts once per holder: the answer only has
 * to be 0 exactly when nothing is held. */
static long held_by_tree(struct held_walk *h, pid_t pid, int depth)
{
	char path[64];
	struct dirent *t;
	long total, n;
	DIR *tasks;

	if ((total = held_by(h, pid)) < 0 || depth > 32)
		return total;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(tasks = opendir(path)))
		return total;
	while ((t = readdir(tasks))) {
		char cpath[340];
		FILE *f;
		int child;

		if (t->d_name[0] == '.')
			continue;
		snprintf(cpath, sizeof(cpath), "%s/%s/children", path, t->d_name);
		if (!(f = fopen(cpath, "re")))
			continue;
		while (fscanf(f, "%d", &child) == 1) {
			if ((n = held_by_tree(h, child, depth + 1)) < 0) {
				total = -1;
				break;
			}
			total += n;
		}
		fclose(f);
		if (total < 0)
			break;
	}
	closedir(tasks);
	return total;
}

long census_each_held(const struct census *cs, const struct worker *w,
		      census_held_fn *fn, void *arg)
{
	struct held_walk h = { .cs = cs, .fn = fn, .arg = arg };

	if (!cs)
		return -1;
	if (cs->n == 0)
		return 0;
	return held_by_tree(&h, w->pid, 0);
}

long census_held(const struct census *cs, const struct worker *w)
{
	return census_each_held(cs, w, NULL, NULL);
}

void census_save(const struct cluster *c, struct state_out *o)
{
	if (!c->census)
		return;
	state_rec(o, "census");
	state_u64(o, "seq", c->census->seq);
}

/* A census numbered as the last one, that no caller takes (not ok, and of
 * no turn the new loop will have): the next asks the kernel, as seq+1. */
int census_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "census");

	if (!r)
		return 0;
	if (!c->census && !(c->census = census_new())) {
		log_warn("census");
		return -1;
	}
	c->census->seq = (unsigned long)rec_u64(r, "seq", 0);
	c->census->turn = UINT64_MAX;
	c->census->ok = 0;
	c->census->n = 0;
	return 0;
}
