/*
 * policy_leastconn_k.c - the load-aware policies steered in the kernel:
 * leastconn, p2c and jiq.  The group's program draws a slot by shares
 * that the master recomputes from the slots' loads every few milliseconds
 * (policy_steer.c); each policy here is only its reweigh, loads to
 * shares.  A load is what a slot holds open plus what waits in its
 * accept queue, in 1/STEER_LOAD_ONE of a connection, averaged over the
 * last 64 ms or so (steer_smooth): a slot that was busy at the last few
 * refreshes reads busy even if it was idle at this one.
 *
 * The loads are stale by up to a refresh, and a program that sends
 * everything to the one least loaded slot would pile a refresh's worth of
 * connections onto it (Mitzenmacher, "How useful is old information?",
 * 2000: herding).  So none of them gives everything to one slot:
 *   leastconn  a share that falls with the slot's backlog over the least
 *              loaded slot's, (b / (b + load - least))^3 of its weight,
 *              b the least load but at least one connection
 *              (steer_backlog_shares): a slot one connection ahead of an
 *              idle one gets 1/8, ten ahead 1/1331; with every slot
 *              loaded alike, the same ratio of loads counts alike (8
 *              against 6 open gets 0.42), so a busy cluster stays near
 *              an even spread.  Every listening slot keeps at least
 *              1/1024 of the largest share, so a slot whose load reads
 *              wrong (a count that never falls) is still tried;
 *   p2c        the choice p2c would make from those loads, as a
 *              distribution: the slot of rank r of m (0 the least loaded)
 *              gets (2(m-r)-1)/m^2, the chance it is the better of two
 *              draws, ties sharing their ranks' average;
 *   jiq        idle slots (on average less than half a connection open
 *              or queued) weigh m, busy ones 1: the idle ones are
 *              preferred, never the only ones.
 * Before (issue 21) leastconn gave the least loaded half an even share
 * and the rest none: with 2 slots, all to one slot chosen from 10 ms old
 * loads, and a slow slot that was idle at a refresh got a full share
 * until the next.
 * A slot where no worker listens (crashed, starting) gets nothing while
 * another listens.  After each of these, policy_steer.c cuts the share of
 * a slot measured much slower per connection than the others
 * (steer_slow_shares).
 */
#include "cluster.h"
#include "policy/policy.h"
#include "policy/policy_steer.h"
#include "policy/weights.h"

#include <stdlib.h>

struct ranked { uint64_t load; uint32_t weight; int slot; };

static int by_load(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	/* load/weight, compared without division */
	unsigned __int128 l = (unsigned __int128)x->load * y->weight;
	unsigned __int128 r = (unsigned __int128)y->load * x->weight;

	if (l != r)
		return l < r ? -1 : 1;
	return x->slot - y->slot;
}

/* The listening slots, least loaded first; returns how many. */
static int rank(const uint64_t *load, int n, struct ranked *r)
{
	int i, m = 0;

	for (i = 0; i < n; i++)
		if (load[i] != UINT64_MAX)
			r[m++] = (struct ranked){ load[i], 1, i };
	qsort(r, (size_t)m, sizeof(*r), by_load);
	return m;
}

#define SHARE_TOP 65536u       /* the least loaded slot's share, at weight 1 */
#define SHARE_FLOOR 1024u      /* every listening slot: >= the top / this */

void steer_backlog_shares(const uint64_t *load, const uint32_t *weight, unsigned *shares,
			  int n)
{
	double least = -1, b, wmax = 0;
	int i;

	for (i = 0; i < n; i++) {
		double per;

		shares[i] = 0;
		if (load[i] == UINT64_MAX)
			continue;
		per = (double)load[i] / (weight[i] ? weight[i] : 1);
		if (least < 0 || per < least)
			least = per;
		if (weight[i] > wmax)
			wmax = weight[i];
	}
	if (least < 0)
		return;
	b = least > STEER_LOAD_ONE ? least : STEER_LOAD_ONE;
	for (i = 0; i < n; i++) {
		double per, f, s, floor;

		if (load[i] == UINT64_MAX)
			continue;
		per = (double)load[i] / (weight[i] ? weight[i] : 1);
		f = b / (b + per - least);
		s = SHARE_TOP * ((weight[i] ? weight[i] : 1) / wmax) * f * f * f;
		floor = SHARE_TOP * ((weight[i] ? weight[i] : 1) / wmax) / SHARE_FLOOR;
		s = s < floor ? floor : s;
		shares[i] = s < 1 ? 1 : (unsigned)(s + 0.5);
	}
}

static void leastconn(struct cluster *c, struct listener *l, const uint64_t *load,
		      unsigned *shares, int n)
{
	uint32_t weight[MAX_WORKERS];
	int i;

	(void)l;
	for (i = 0; i < n; i++)
		weight[i] = weight_of_slot(c, i);
	steer_backlog_shares(load, weight, shares, n);
}

static void p2c(struct cluster *c, struct listener *l, const uint64_t *load,
		unsigned *shares, int n)
{
	struct ranked r[MAX_WORKERS];
	int m = rank(load, n, r), i, j, k;

	(void)c;
	(void)l;
	for (i = 0; i < m; i = j) {
		unsigned sum = 0;

		for (j = i; j < m && r[j].load == r[i].load; j++)
			sum += (unsigned)(2 * (m - j) - 1);
		for (k = i; k < j; k++)         /* x2 keeps the average whole-ish */
			shares[r[k].slot] = (2 * sum + (unsigned)(j - i) - 1) / (unsigned)(j - i);
	}
}

static void jiq(struct cluster *c, struct listener *l, const uint64_t *load,
		unsigned *shares, int n)
{
	int i, m = 0;

	(void)c;
	(void)l;
	for (i = 0; i < n; i++)
		m += load[i] != UINT64_MAX;
	for (i = 0; i < n; i++)
		if (load[i] != UINT64_MAX)
			shares[i] = load[i] < STEER_LOAD_ONE / 2 ? (unsigned)m : 1;
}

const struct policy_ops policy_leastconn_k = {
	.name = "leastconn",
	.help = "in the kernel: a share falling with the slot's backlog, refreshed",
	.takes_weights = 1,
	STEER_OPS,
	.slots_changed = steer_slots_changed_load,
	.reweigh = leastconn,
};

const struct policy_ops policy_p2c_k = {
	.name = "p2c",
	.help = "in the kernel: p2c's choice from refreshed loads, as shares",
	STEER_OPS,
	.slots_changed = steer_slots_changed_load,
	.reweigh = p2c,
};

const struct policy_ops policy_jiq_k = {
	.name = "jiq",
	.help = "in the kernel: idle slots weigh the number of slots, busy ones 1",
	STEER_OPS,
	.slots_changed = steer_slots_changed_load,
	.reweigh = jiq,
};
