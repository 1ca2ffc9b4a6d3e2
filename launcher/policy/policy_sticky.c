/*
 * policy_sticky.c - session affinity: every connection from one client
 * address goes to the same slot while the number of slots is unchanged,
 * and to that slot's new worker after a restart or a reload (slots are
 * stable).  What socket.io and other stateful servers need; Node's
 * cluster has none.
 *
 * The slot is a hash of the client's IP address (not its port) modulo the
 * number of slots; an IPv4-mapped IPv6 address hashes as the IPv4 one.
 * When the slot's worker is full the connection waits for it (back-
 * pressure, like rr); when the slot has no listening worker at all (its
 * worker crashed and the new one is not up yet) the connection goes to
 * the next worker with room instead of waiting for the restart: affinity
 * is broken for that moment rather than the client kept waiting through
 * a backoff.  Unix-socket clients have no address: rotation.
 *
 * Not done: an in-kernel variant (a reuseport BPF program hashing the
 * source address) with no hop through the master.
 */
#include "cluster.h"
#include "policy/policy.h"

#include <netinet/in.h>
#include <string.h>

/* FNV-1a, then a final mix: cheap and spread well enough for a modulo. */
static uint32_t hash_bytes(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--) {
		h ^= *p++;
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

/* 0 when the peer has no address to be sticky to. */
static int peer_hash(const struct conn *conn, uint32_t *h)
{
	const struct sockaddr_storage *ss = &conn->peer;

	if (ss->ss_family == AF_INET && conn->peerlen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *a = (const void *)ss;
		*h = hash_bytes((const void *)&a->sin_addr, 4);
		return 1;
	}
	if (ss->ss_family == AF_INET6 && conn->peerlen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *a = (const void *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
			*h = hash_bytes(a->sin6_addr.s6_addr + 12, 4);
		else
			*h = hash_bytes(a->sin6_addr.s6_addr, 16);
		return 1;
	}
	return 0;
}

static struct worker *pick(struct cluster *c, struct listener *l,
			   const struct conn *conn, unsigned *at)
{
	struct worker *w;
	uint32_t h;
	int i;

	if (!conn || !peer_hash(conn, &h) || c->target < 1)
		return channel_next_with_room(c, l, at);
	w = c->slots[h % (uint32_t)c->target].active;
	/* a worker out of fds is as good as absent: waiting for it would
	 * hold every client behind this one (fd_short.c) */
	if (w && w->routes[l->id].listening && !w->routes[l->id].draining && !w->fds_short &&
	    (w->state == W_STARTING || w->state == W_READY)) {
		if (!channel_has_room(c, w, l))
			return NULL;            /* wait for it */
		for (i = 0; i < c->nworkers; i++)
			if (c->workers[i] == w)
				*at = (unsigned)i;
		return w;
	}
	return channel_next_with_room(c, l, at);
}

const struct policy_ops policy_sticky = {
	.name = "sticky",
	.help = "like rr, one client address to one slot",
	.pick_needs_peer = 1,
	.pick = pick,
	CHANNEL_OPS,
};
