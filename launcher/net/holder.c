/*
 * holder.c - who holds an address the master could not bind (EADDRINUSE),
 * as the kernel tells it: for the one line that stops a start-up
 * (mechanism/attach.c).
 *
 *   1. the socket: a sock_diag dump of TCP or UDP sockets (IPv4 and IPv6:
 *      [::]:P and 0.0.0.0:P collide) on the port, the best match first (a
 *      listener on the same address, then one on a wildcard, then
 *      connections in TIME_WAIT); for a unix path, the listening unix
 *      socket whose file (UNIX_DIAG_VFS) is the one at the path;
 *   2. its owner: the uid the kernel reports, and the first process whose
 *      fd table holds the socket's inode (/proc/PID/fd), with its name.
 *
 * Only a hint: it runs once, on a failure, and says less when it cannot
 * tell (another user's processes are hidden from a master that is not
 * root; the uid is still known).  The whole host's sockets and processes
 * are walked, which is why nothing else calls it.
 *
 * Not here: the census of the cluster's own connections (census.c).
 */
#include "net/holder.h"
#include "wire/protocol.h"

#include <arpa/inet.h>
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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#define TCP_LISTEN_STATE 10
#define TCP_TIME_WAIT_STATE 6

struct best {
	const struct msg_bind *req;
	int rank;               /* 0: nothing found yet */
	unsigned long ino;
	unsigned uid;
	int have_uid;
	int timewait;
	ino_t file_ino;         /* unix: the file at the path */
	dev_t file_dev;
};

/* 4 bytes of an IPv4 address or 16 of an IPv6 one, all zero? */
static int all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		if (*b++)
			return 0;
	return 1;
}

/* How well a socket of family at addr (the kernel's idiag_src) answers
 * req's address: 2 the same address, 1 a wildcard on either side (or
 * across families: a dual-stack [::] takes IPv4 too), 0 none. */
static int address_rank(const struct msg_bind *req, int family, const uint32_t *src)
{
	const uint32_t mapped[3] = { 0, 0, htonl(0xffff) };

	if (req->family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&req->addr;
		uint32_t want = a->sin_addr.s_addr;

		if (family == AF_INET)
			return src[0] == want ? 2 : (!src[0] || !want);
		if (all_zero(src, 16))
			return 1;
		return !memcmp(src, mapped, sizeof(mapped)) && (src[3] == want || !want);
	} else {
		const struct sockaddr_in6 *a = (const void *)&req->addr;
		int any = all_zero(&a->sin6_addr, 16);

		if (family == AF_INET6)
			return !memcmp(src, &a->sin6_addr, 16) ? 2 : (any || all_zero(src, 16));
		return any;
	}
}

static uint16_t req_port(const struct msg_bind *req)
{
	if (req->family == AF_INET)
		return ((const struct sockaddr_in *)&req->addr)->sin_port;
	return ((const struct sockaddr_in6 *)&req->addr)->sin6_port;
}

static void take_inet(struct best *b, int family, const struct nlmsghdr *h)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	int rank, tw;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || m->id.idiag_sport != req_port(b->req))
		return;
	if (!(rank = address_rank(b->req, family, m->id.idiag_src)))
		return;
	/* a connection accepted from a listener shares its port: only the
	 * listener (or, for UDP, any socket) owns it; TIME_WAIT ranks last */
	tw = b->req->type == SOCK_STREAM && m->idiag_state == TCP_TIME_WAIT_STATE;
	if (b->req->type == SOCK_STREAM && !tw && m->idiag_state != TCP_LISTEN_STATE)
		return;
	rank = tw ? 1 : rank + 1;
	if (rank > b->rank) {
		b->rank = rank;
		b->ino = m->idiag_inode;
		b->uid = m->idiag_uid;
		b->have_uid = 1;
		b->timewait = tw;
	}
}

/* The kernel gives the file's device as it keeps it (12 bits of major,
 * then 20 of minor), not as stat() encodes it. */
static int same_file(const struct unix_diag_vfs *v, const struct best *b)
{
	return v->udiag_vfs_ino == b->file_ino && v->udiag_vfs_dev >> 20 == major(b->file_dev) &&
	       (v->udiag_vfs_dev & 0xfffff) == minor(b->file_dev);
}

static void take_unix(struct best *b, const struct nlmsghdr *h)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	const struct sockaddr_un *want = (const void *)&b->req->addr;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	const struct rtattr *a;
	long rem;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) || b->rank)
		return;
	rem = (long)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	for (a = (const struct rtattr *)(m + 1); RTA_OK(a, rem); a = RTA_NEXT(a, rem)) {
		int match = 0;

		if (a->rta_type == UNIX_DIAG_VFS && want->sun_path[0] &&
		    RTA_PAYLOAD(a) >= sizeof(struct unix_diag_vfs))
			match = same_file(RTA_DATA(a), b);
		if (a->rta_type == UNIX_DIAG_NAME && !want->sun_path[0])
			match = RTA_PAYLOAD(a) == (size_t)(b->req->addrlen - off) &&
				!memcmp(RTA_DATA(a), want->sun_path, RTA_PAYLOAD(a));
		if (match) {
			b->rank = 1;
			b->ino = m->udiag_ino;
			return;
		}
	}
}

/* One dump; every answer to take_inet or take_unix. */
static void dump(struct best *b, const void *req, size_t len, int family)
{
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	const struct nlmsghdr *h;
	ssize_t n;

	if (fd < 0)
		return;
	if (sendto(fd, req, len, 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
		goto out;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0 || (n < 0 && errno == EINTR)) {
		long rem = (long)n;

		for (h = (const void *)buf; n > 0 && NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
				goto out;
			if (family == AF_UNIX)
				take_unix(b, h);
			else
				take_inet(b, family, h);
		}
	}
out:
	close(fd);
}

static void dump_inet(struct best *b, int family)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = (uint8_t)(b->req->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP);
	req.r.idiag_states = b->req->type == SOCK_STREAM ?
		(1u << TCP_LISTEN_STATE) | (1u << TCP_TIME_WAIT_STATE) : ~0u;
	dump(b, &req, sizeof(req), family);
}

static void dump_unix(struct best *b)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_states = 1u << TCP_LISTEN_STATE;
	req.r.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS;
	dump(b, &req, sizeof(req), AF_UNIX);
}

/* Whether pid holds socket inode ino. */
static int holds(const char *pid, unsigned long ino)
{
	char path[300], link[64], want[40];
	struct dirent *e;
	int found = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	if (!(d = opendir(path)))
		return 0;
	while (!found && (e = readdir(d))) {
		ssize_t len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);

		if (len > 0) {
			link[len] = '\0';
			found = !strcmp(link, want);
		}
	}
	closedir(d);
	return found;
}

/* The first process (lowest pid) holding socket ino: its name and pid,
 * and *pid; 0 when none can be seen. */
static int find_process(unsigned long ino, char *comm_out, size_t cap, long *pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long best = -1;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && holds(e->d_name, ino)) {
			long pid = strtol(e->d_name, NULL, 10);
			if (best < 0 || pid < best)
				best = pid;
		}
	closedir(d);
	if (best < 0)
		return 0;
	{
		char path[64], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%ld/comm", best);
		if ((f = fopen(path, "re"))) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		snprintf(comm_out, cap, "%s", comm[0] ? comm : "?");
	}
	*pid = best;
	return 1;
}

unsigned long holder_describe(const struct msg_bind *req, char *out, size_t cap)
{
	struct best b = { .req = req };
	char who[64] = "";
	struct stat st;
	long pid = 0;

	out[0] = '\0';
	if (req->family == AF_UNIX) {
		const struct sockaddr_un *un = (const void *)&req->addr;

		if (un->sun_path[0]) {
			if (stat(un->sun_path, &st) < 0)
				return 0;
			if (!S_ISSOCK(st.st_mode)) {
				snprintf(out, cap, "a file that is not a socket is in the way");
				return 0;
			}
			b.file_ino = st.st_ino;
			b.file_dev = st.st_dev;
			b.uid = st.st_uid;      /* the file's owner: who bound it */
			b.have_uid = 1;
		}
		dump_unix(&b);
		if (!b.rank) {
			if (un->sun_path[0])
				snprintf(out, cap, "a socket file no process listens on "
					 "(left behind by an earlier run? remove it)");
			return 0;
		}
	} else {
		dump_inet(&b, AF_INET);
		dump_inet(&b, AF_INET6);
		if (!b.rank)
			return 0;
		if (b.timewait) {
			snprintf(out, cap, "by connections in TIME_WAIT (the program does not "
				 "set SO_REUSEADDR)");
			return 0;
		}
	}
	if (find_process(b.ino, who, sizeof(who), &pid) && b.have_uid)
		snprintf(out, cap, "held by %s (pid %ld, uid %u)", who, pid, b.uid);
	else if (who[0])
		snprintf(out, cap, "held by %s (pid %ld)", who, pid);
	else if (b.have_uid)
		snprintf(out, cap, "held by a process of uid %u", b.uid);
	else
		snprintf(out, cap, "held by another process");
	return b.ino;
}
