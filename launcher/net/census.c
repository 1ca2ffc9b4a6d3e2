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
 *      sockets whose local port is a listener's, in any connected state,
 *      and of unix stream sockets named like a listener (an accepted unix
 *      socket carries its listener's name), as a sorted set of inodes;
 *   2. a worker's sockets: /proc/PID/fd of the worker's process and its
 *      descendants (/proc/PID/task/TID/children), "socket:[INODE]" links;
 *   3. what the worker holds is the size of the intersection.
 *
 * It costs a dump of the machine's connected sockets and a walk of the
 * worker's fd tables, so it runs while workers drain (every few tens of
 * milliseconds) and for status, never per connection.  One dump serves
 * every caller of a turn of the loop (c->census): a scrape, a status
 * request and the drain checks that fall in the same turn share it, and a
 * drain keeps using an older one while it is good for it (census_since).
 * The walk of fd tables is per worker asked about, at each call.
 *
 * Not counted: connections a worker's process passed to an unrelated
 * process (SCM_RIGHTS), and descendants that left the tree (a daemon that
 * double-forked is reparented to us, not to the worker).
 */
#include "net/census.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"

#include <dirent.h>
#include <errno.h>
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

static int listens_on_port(struct cluster *c, int family, uint16_t port)
{
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		const struct listener *l = c->listeners[i];
		uint16_t lp;

		if (l->type != SOCK_STREAM || l->family != family)
			continue;
		lp = family == AF_INET ? ((const struct sockaddr_in *)&l->addr)->sin_port
				       : ((const struct sockaddr_in6 *)&l->addr)->sin6_port;
		if (lp == port)
			return 1;
	}
	return 0;
}

static int listens_on_path(struct cluster *c, const char *name, size_t len)
{
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		const struct listener *l = c->listeners[i];
		const struct sockaddr_un *a = (const void *)&l->req;
		size_t n = l->reqlen - offsetof(struct sockaddr_un, sun_path);

		if (l->family != AF_UNIX)
			continue;
		if (a->sun_path[0])     /* a path: the kernel's name has no NUL */
			n = strnlen(a->sun_path, n);
		if (n == len && !memcmp(a->sun_path, name, len))
			return 1;
	}
	return 0;
}

/* One sock_diag dump: send req, feed every answer to take().  0 or -1. */
static int dump(const void *req, size_t len,
		int (*take)(struct cluster *, struct census *, struct nlmsghdr *),
		struct cluster *c, struct census *cs)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	char buf[32768];
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), ret = -1;

	if (fd < 0)
		return -1;
	if (sendto(fd, req, len, 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
		goto out;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				ret = 0;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR || take(c, cs, h) < 0)
				goto out;
		}
	}
out:
	close(fd);
	return ret;
}

static int take_inet(struct cluster *c, struct census *cs, struct nlmsghdr *h)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return 0;
	if (listens_on_port(c, m->idiag_family, m->id.idiag_sport))
		return add_inode(cs, m->idiag_inode);
	return 0;
}

static int take_unix(struct cluster *c, struct census *cs, struct nlmsghdr *h)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	size_t rem;
	struct rtattr *a;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return 0;
	rem = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	for (a = (struct rtattr *)(m + 1); RTA_OK(a, rem); a = RTA_NEXT(a, rem))
		if (a->rta_type == UNIX_DIAG_NAME &&
		    listens_on_path(c, RTA_DATA(a), RTA_PAYLOAD(a)))
			return add_inode(cs, m->udiag_ino);
	return 0;
}

/* A sock_diag dump request of len bytes: the header both kinds share. */
static void dump_header(struct nlmsghdr *h, size_t len)
{
	h->nlmsg_len = (uint32_t)len;
	h->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
}

static int dump_inet(struct cluster *c, struct census *cs, int family)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req;

	memset(&req, 0, sizeof(req));
	dump_header(&req.h, sizeof(req));
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = TCP_HELD_STATES;
	return dump(&req, sizeof(req), take_inet, c, cs);
}

static int dump_unix(struct cluster *c, struct census *cs)
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
	return dump(&req, sizeof(req), take_unix, c, cs);
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
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
	if (cs->n > 1)
		qsort(cs->inodes, cs->n, sizeof(*cs->inodes), cmp_ulong);
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
	if (!cs && !(cs = c->census = calloc(1, sizeof(*cs))))
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
	if (!c->census)
		return;
	free(c->census->inodes);
	free(c->census);
	c->census = NULL;
}

/* Sockets of ours among pid's fds; -1 when its fds cannot be read. */
static long held_by(const struct census *cs, pid_t pid)
{
	char path[64], link[64];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return errno == ENOENT ? 0 : -1;        /* gone: holds nothing */
	while ((e = readdir(d))) {
		char fdpath[320];
		unsigned long ino;
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, e->d_name);
		len = readlink(fdpath, link, sizeof(link) - 1);
		if (len <= 8 || memcmp(link, "socket:[", 8))
			continue;
		link[len] = '\0';
		ino = strtoul(link + 8, NULL, 10);
		if (bsearch(&ino, cs->inodes, cs->n, sizeof(ino), cmp_ulong))
			n++;
	}
	closedir(d);
	return n;
}

/* pid and its descendants, depth first.  A connection several of them
 * hold (fork-per-connection) counts once per holder: the answer only has
 * to be 0 exactly when nothing is held. */
static long held_by_tree(const struct census *cs, pid_t pid, int depth)
{
	char path[64];
	struct dirent *t;
	long total, n;
	DIR *tasks;

	if ((total = held_by(cs, pid)) < 0 || depth > 32)
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
			if ((n = held_by_tree(cs, child, depth + 1)) < 0) {
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

long census_held(const struct census *cs, const struct worker *w)
{
	if (!cs)
		return -1;
	if (cs->n == 0)
		return 0;
	return held_by_tree(cs, w->pid, 0);
}
