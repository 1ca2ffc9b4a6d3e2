/*
 * policy_state.c - the policy layer's part of an in-place upgrade: each
 * policy module's model, then the balancer's channels and listeners
 * (policy_state.h says what each carries).
 */
#include "policy/policy_state.h"
#include "policy/balancer.h"

int policy_state_save(struct cluster *c, struct state_out *o)
{
	weights_save(c, o);
	reuseport_group_save(c, o);
	steer_save(c, o);
	return 0;
}

/* The models before the loop's fds and timers: a timer armed here may
 * steer at its first turn, and must find its group. */
int policy_state_restore(struct cluster *c, const struct state_in *in)
{
	if (weights_restore(c, in) < 0 || reuseport_group_restore(c, in) < 0 ||
	    balancer_adopt(c, in) < 0 || steer_restore(c, in) < 0 || fd_short_restore(c, in) < 0)
		return -1;
	return 0;
}
