/*
 * policy_sticky_k.c - sticky steered in the kernel: the group's program
 * hashes the client's source address (IPv4, or IPv6's 16 bytes folded)
 * into one of 256 buckets, and the buckets are dealt to the slots by jump
 * consistent hashing (reuseport_group.c).  A slot keeps its socket across
 * a crash and a reload (and a seccomp replacement's socket is named in its
 * place), so a client keeps its slot; only a change in the number of
 * slots moves clients: 1/(n+1) of them, to the new slot, on scale-up from
 * n, and only the removed slot's on scale-down.
 *
 * Unlike the hop's sticky, a slot whose worker is down (crashed, in
 * backoff) keeps its clients: their connections wait in its socket's
 * queue for the restarted worker instead of going elsewhere.
 */
#include "cluster.h"
#include "policy/policy.h"
#include "policy/policy_reuseport.h"
#include "policy/policy_steer.h"
#include "policy/reuseport_group.h"

extern const struct policy_ops policy_reuseport;

static void slots_changed(struct cluster *c, struct listener *l)
{
	reuseport_group_hash(l);
	policy_reuseport.slots_changed(c, l);
}

const struct policy_ops policy_sticky_k = {
	.name = "sticky",
	.help = "in the kernel: a hash of the client's address picks the slot",
	STEER_OPS,
	.slots_changed = slots_changed,
};
