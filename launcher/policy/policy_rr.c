/*
 * policy_rr.c - round robin (Node's default): the master hands each
 * connection to the next worker that has room on its channel.  An even
 * spread; a full worker is skipped, never waited for.  With --weights,
 * smooth weighted round robin (weights.c).
 */
#include "cluster.h"
#include "policy/policy.h"
#include "policy/weights.h"

static struct worker *pick(struct cluster *c, struct listener *l,
			   const struct conn *conn, unsigned *at)
{
	(void)conn;
	if (weights_on(c))
		return weights_rr_pick(c, l, at);
	return channel_next_with_room(c, l, at);
}

const struct policy_ops policy_rr = {
	.name = "rr",
	.help = "the master hands each connection to the next worker",
	.takes_weights = 1,
	.pick = pick,
	CHANNEL_OPS,
	.handed = weights_handed,
};
