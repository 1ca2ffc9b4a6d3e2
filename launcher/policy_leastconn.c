/*
 * policy_leastconn.c - least connections: each connection goes to the
 * worker with the fewest open ones (queued on its channel included), ties
 * to the next in rotation.  Open counts are handed minus closed, the
 * closes counted by the shim on the worker's board (board.c).
 *
 * O(workers) per connection.  With --weights, open/weight instead
 * (weights.c).
 */
#include "cluster.h"
#include "weights.h"

static struct worker *pick(struct cluster *c, struct listener *l,
			   const struct conn *conn, unsigned *at)
{
	struct worker *best = NULL;
	uint64_t best_open = 0;
	unsigned k, n = (unsigned)c->nworkers;

	(void)conn;
	if (weights_on(c))
		return weights_leastconn_pick(c, l, at);
	for (k = 1; k <= n; k++) {
		unsigned i = (l->cursor + k) % n;
		struct worker *w = c->workers[i];
		uint64_t open;

		if (!channel_has_room(c, w, l))
			continue;
		open = route_open_conns(w, l);
		if (!best || open < best_open) {
			best = w;
			best_open = open;
			*at = i;
		}
	}
	return best;
}

const struct policy_ops policy_leastconn = {
	.id = POLICY_LEASTCONN,
	.name = "leastconn",
	.pick = pick,
	CHANNEL_OPS,
	.handed = weights_handed,
};
