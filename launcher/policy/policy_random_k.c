/*
 * policy_random_k.c - rr and random steered in the kernel: the group's
 * program draws the slot at random (SKF_AD_RANDOM), by --weights when
 * given, else evenly.  A program keeps no state from one connection to the
 * next, so rr's strict rotation becomes a random draw: the same shares
 * over time, not the same order (nor rr's bound of 4 queued on a worker:
 * a slow worker's socket queues what it is dealt).  The same program as
 * reuseport's, but weighted.
 */
#include "cluster.h"
#include "policy/policy.h"
#include "policy/policy_steer.h"

const struct policy_ops policy_rr_k = {
	.name = "rr",
	.help = "in the kernel: each connection to a slot drawn at random (by --weights)",
	.takes_weights = 1,
	STEER_OPS,
	.slots_changed = steer_slots_changed_shares,
};

const struct policy_ops policy_random_k = {
	.name = "random",
	.help = "in the kernel: each connection to a slot drawn at random",
	STEER_OPS,
	.slots_changed = steer_slots_changed_shares,
};
