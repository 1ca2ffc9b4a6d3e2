/*
 * policy_random.c - each connection to a worker drawn uniformly among
 * those with room.  The baseline queueing theory knows: with Poisson
 * arrivals, N workers under random are N independent M/G/1 queues, each
 * at the cluster's load (bench/policy-lab checks it against M/M/1).  Not a
 * good policy: a busy worker is as likely as an idle one.
 */
#include "cluster.h"
#include "policy/policy.h"
#include "policy/prng.h"

static struct worker *pick(struct cluster *c, struct listener *l,
			   const struct conn *conn, unsigned *at)
{
	(void)conn;
	return prng_worker_with_room(c, l, NULL, at);
}

const struct policy_ops policy_random = {
	.name = "random",
	.help = "like rr, to a worker drawn at random",
	.pick = pick,
	CHANNEL_OPS,
};
