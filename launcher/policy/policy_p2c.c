/*
 * policy_p2c.c - the power of two random choices (Mitzenmacher 2001): draw
 * two distinct workers with room, give the connection to the one with
 * fewer open connections (route_open_conns: handed minus closed, queued
 * ones included), ties to either at random.  Gets most of leastconn's
 * benefit while looking at two workers instead of all: O(1) per
 * connection while most workers have room.
 *
 * With one worker with room it gets the connection; with two, p2c is
 * leastconn with random ties.
 */
#include "cluster.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "policy/prng.h"

static struct worker *pick(struct cluster *c, struct listener *l,
			   const struct conn *conn, unsigned *at)
{
	unsigned at_a = 0, at_b = 0;
	struct worker *a, *b;

	(void)conn;
	a = prng_worker_with_room(c, l, NULL, &at_a);
	if (!a)
		return NULL;
	b = prng_worker_with_room(c, l, a, &at_b);
	/* a and b come in random order, so "a unless b is less busy" breaks
	 * ties at random */
	if (b && route_open_conns(b, l) < route_open_conns(a, l)) {
		*at = at_b;
		return b;
	}
	*at = at_a;
	return a;
}

const struct policy_ops policy_p2c = {
	.name = "p2c",
	.help = "like rr, to the less busy of two drawn at random",
	.pick = pick,
	CHANNEL_OPS,
};
