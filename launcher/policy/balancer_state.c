/*
 * balancer_state.c - the policy layer's part of an in-place upgrade
 * (surface/upgrade.h): balancer_save and balancer_restore, declared in
 * balancer.h.  A file of its own because it gathers the modules that
 * include balancer.h (weights.c, fd_short.c): from balancer.c that would
 * be an include cycle.
 *
 * What each policy carries:
 *   rr, jiq, sticky   nothing of their own: the rotation cursor is the
 *                     listener's (listener_save);
 *   leastconn         its heap (policy_data) names workers by pointer: not
 *                     carried, rebuilt on the next pick, as after any
 *                     workers/8 picks;
 *   random, p2c       the dice (prng.c) are seeded again in the new image:
 *                     a stream of draws has nothing to continue;
 *   --weights         the smooth round's current weights (weights.c);
 *   kernel variants   the reuseport groups' models (reuseport_group.c; the
 *                     programs stay attached to the sockets) and the load
 *                     refresh's timer, averages and counters (policy_steer.c);
 *   fd_short          each short worker's recheck, at the deadline worker.c
 *                     saved in the worker's record (fds_short_due).
 * The balancer's own (channels and listeners in the loop, a dispatch, the
 * EMFILE pause) is balancer_adopt's, from the listeners' records and the
 * routes worker_restore gave back.
 */
#include "policy/balancer.h"
#include "cluster.h"
#include "base/state.h"
#include "policy/fd_short.h"
#include "policy/policy_steer.h"
#include "policy/reuseport_group.h"
#include "policy/weights.h"

int balancer_save(struct cluster *c, struct state_out *o)
{
	weights_save(c, o);
	reuseport_group_save(c, o);
	steer_save(c, o);
	return 0;
}

/* The models before the loop's fds and timers: a timer armed here may
 * steer at its first turn, and must find its group. */
int balancer_restore(struct cluster *c, const struct state_in *in)
{
	if (weights_restore(c, in) < 0 || reuseport_group_restore(c, in) < 0 ||
	    balancer_adopt(c, in) < 0 || steer_restore(c, in) < 0 ||
	    fd_short_restore(c, in) < 0)
		return -1;
	return 0;
}
