/*
 * handshakes.c - the handshakes a listener had half done when it was cut
 * off from new connections, waited for before its acceptor stops.
 *
 * A drain that waits for a socket's accept queue (policy_shared.c,
 * drain_deferred: a reuseport scale-down, a stop) counts only completed
 * connections: TCP_INFO's tcpi_unacked on a listener is its accept queue.
 * A handshake whose SYN reached the socket before the cut (the steering
 * moved away from a removed slot, reuseport_group.c; the SYN filter of a
 * stop, syn_filter.c) is a request socket bound to that listener, and
 * its final ACK completes it *there*, whatever the steering or the
 * filter (which passes ACKs) says by then.  On loopback that ACK follows
 * within microseconds, but not always: the client's SYN-ACK waits in its
 * socket's backlog while its connect() holds the socket lock, softirqs
 * go to ksoftirqd behind busy tasks, a vCPU is descheduled, an ACK is
 * lost and retransmitted.  The client's connect() has returned by then.
 * When the ACK lands after the queue was found empty, the connection
 * sits in the queue of a socket whose acceptor has stopped, and is reset
 * when the socket closes (reuseport_close_slots, the exit); when it lands
 * after the close, the kernel drops the request socket (no
 * net.ipv4.tcp_migrate_req) and answers the ACK with a reset.  Either
 * way the client, which connected and sent its request, reads ECONNRESET
 * (drain::reuseport lost 1 of ~46,000 requests so under two busy loops).
 *
 * So at the cut the half-open handshakes on the listener's port are
 * listed (sock_diag, state SYN_RECV, by cookie: the kernel does not say
 * which listener of a reuseport group a request socket belongs to, so
 * every one on the port counts), and a deferred drain waits until none
 * of those is left, then one poll more (a completing handshake leaves
 * the hash table just before its connection enters the accept queue),
 * and only then looks at the queue.  Those made after the cut are not
 * waited for: they reach other sockets (steering) or none (a stop).  At
 * most HANDSHAKE_WAIT_MS: a client that vanished mid-handshake leaves a
 * request socket that the kernel retries for a minute.  Nothing is
 * listed, and nothing waited for, when the kernel will not dump sockets.
 * Not carried across an in-place upgrade (a cut being waited for then is
 * forgotten: the drain goes on as before this file).
 */
#include "net/handshakes.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HANDSHAKE_WAIT_MS 3000  /* a lost ACK's retransmissions, and more */
#define TCP_SYN_RECV_STATE 3
#define SETTLE_MS 5             /* the "one poll more": at least this long */

struct cookies {
	uint64_t *v;
	int n, cap;
};

static uint16_t port_of(const struct listener *l)
{
	return l->family == AF_INET ? ((const struct sockaddr_in *)&l->addr)->sin_port
				    : ((const struct sockaddr_in6 *)&l->addr)->sin6_port;
}

static int add(struct cookies *cs, uint64_t v)
{
	if (cs->n == cs->cap) {
		int cap = cs->cap ? cs->cap * 2 : 16;
		uint64_t *grown = realloc(cs->v, (size_t)cap * sizeof(*grown));

		if (!grown)
			return -1;
		cs->v = grown;
		cs->cap = cap;
	}
	cs->v[cs->n++] = v;
	return 0;
}

/* The cookies of the request sockets of family on port (network order).
 * 0, or -1 when the kernel would not tell. */
static int dump(int family, uint16_t port, struct cookies *out)
{
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), r = -1;

	if (fd < 0)
		return -1;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = 1u << TCP_SYN_RECV_STATE;  /* request sockets too */
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
		goto out;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *h;
		long rem = (long)n;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		for (h = (const void *)buf; NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			if (h->nlmsg_type == NLMSG_DONE) {
				r = h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) &&
				    *(const int *)NLMSG_DATA(h) < 0 ? -1 : 0;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				goto out;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) ||
			    m->idiag_state != TCP_SYN_RECV_STATE || m->id.idiag_sport != port)
				continue;
			if (add(out, (uint64_t)m->id.idiag_cookie[0] |
				     (uint64_t)m->id.idiag_cookie[1] << 32) < 0)
				goto out;
		}
	}
out:
	close(fd);
	return r;
}

/* Both families for an IPv6 listener: a dual-stack one takes IPv4
 * handshakes too. */
static int dump_listener(const struct listener *l, struct cookies *out)
{
	if (dump(l->family, port_of(l), out) < 0)
		return -1;
	if (l->family == AF_INET6 && dump(AF_INET, port_of(l), out) < 0)
		return -1;
	return 0;
}

void handshakes_cut(struct listener *l)
{
	struct cookies cs = { 0 };

	if (l->type != SOCK_STREAM || (l->family != AF_INET && l->family != AF_INET6))
		return;
	free(l->cut_reqs);
	l->cut_reqs = NULL;
	l->ncut = 0;
	l->cut_settle_ms = 0;
	if (dump_listener(l, &cs) < 0) {
		free(cs.v);
		return;
	}
	l->cut_reqs = cs.v;
	l->ncut = cs.n;
	l->cut_deadline_ms = loop_now_ms() + HANDSHAKE_WAIT_MS;
	if (cs.n)
		log_debug("%s: %d handshake(s) half done at the cut: waited for", l->name, cs.n);
}

unsigned handshakes_pending(struct listener *l)
{
	struct cookies now = { 0 };
	int64_t t = loop_now_ms();
	int i, k, kept = 0;

	if (l->ncut > 0) {
		if (t >= l->cut_deadline_ms) {
			log_debug("%s: %d handshake(s) still half done %d ms after the cut: "
				  "not waited for", l->name, l->ncut, HANDSHAKE_WAIT_MS);
			l->ncut = 0;
		} else if (dump_listener(l, &now) < 0) {
			l->ncut = 0;
		} else {
			for (i = 0; i < l->ncut; i++)
				for (k = 0; k < now.n; k++)
					if (now.v[k] == l->cut_reqs[i]) {
						l->cut_reqs[kept++] = l->cut_reqs[i];
						break;
					}
			l->ncut = kept;
		}
		free(now.v);
		if (l->ncut > 0)
			return (unsigned)l->ncut;
		free(l->cut_reqs);
		l->cut_reqs = NULL;
		l->cut_settle_ms = t;   /* one poll more: see the file comment */
		return 1;
	}
	if (l->cut_settle_ms) {
		if (t - l->cut_settle_ms < SETTLE_MS)
			return 1;
		l->cut_settle_ms = 0;
	}
	return 0;
}

void handshakes_free(struct listener *l)
{
	free(l->cut_reqs);
	l->cut_reqs = NULL;
	l->ncut = 0;
}
