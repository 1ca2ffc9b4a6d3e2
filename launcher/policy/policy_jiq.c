/*
 * policy_jiq.c - join the idle queue (Lu et al., 2011): a connection goes
 * to a worker with no open connection if there is one, else to the next
 * worker with room in rotation (rr).
 *
 * The paper keeps an "I-queue" of idle servers that servers join
 * themselves, so the dispatcher never searches.  Here a worker becomes
 * idle by closing connections, which the shim counts on its board without
 * telling the master (balancer.c), so there is nothing to join.  Instead
 * the search is a rotating scan that starts after the last worker picked
 * and stops at the first idle one with room: each check is a few memory
 * reads (route_open_conns), no system call.  With k idle workers spread
 * evenly the scan visits about n/k workers; when none is idle it visits
 * all n (memory reads again) before falling back to rotation.
 */
#include "cluster.h"
#include "policy/balancer.h"
#include "policy/policy.h"

static struct worker *pick(struct cluster *c, struct listener *l,
			   const struct conn *conn, unsigned *at)
{
	unsigned k, n = (unsigned)c->nworkers;

	(void)conn;
	for (k = 1; k <= n; k++) {
		unsigned i = (l->cursor + k) % n;
		struct worker *w = c->workers[i];

		if (route_open_conns(w, l) == 0 && channel_has_room(c, w, l)) {
			*at = i;
			return w;
		}
	}
	return channel_next_with_room(c, l, at);
}

const struct policy_ops policy_jiq = {
	.name = "jiq",
	.help = "like rr, to an idle worker if any, else in turn",
	.pick = pick,
	CHANNEL_OPS,
};
