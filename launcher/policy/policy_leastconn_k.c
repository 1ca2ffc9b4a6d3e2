/*
 * policy_leastconn_k.c - the load-aware policies steered in the kernel:
 * leastconn, p2c and jiq.  The group's program draws a slot by shares
 * that the master recomputes from the slots' loads every few milliseconds
 * (policy_steer.c); each policy here is only its reweigh, loads to
 * shares.
 *
 * The loads are stale by up to a refresh, and a program that sends
 * everything to the one least loaded slot would pile a refresh's worth of
 * connections onto it (Mitzenmacher, "How useful is old information?",
 * 2000: herding).  So each spreads over a set:
 *   leastconn  evenly (by --weights) among the least loaded half of the
 *              listening slots, ties included: at worst half the workers
 *              get twice their share until the next refresh;
 *   p2c        the choice p2c would make from those loads, as a
 *              distribution: the slot of rank r of m (0 the least loaded)
 *              gets (2(m-r)-1)/m^2, the chance it is the better of two
 *              draws, ties sharing their ranks' average;
 *   jiq        idle slots (nothing open or queued) weigh m, busy ones 1:
 *              the idle ones are preferred, never the only ones.
 * A slot where no worker listens (crashed, starting) gets nothing while
 * another listens.
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

static int same_load(const struct ranked *x, const struct ranked *y)
{
	return (unsigned __int128)x->load * y->weight == (unsigned __int128)y->load * x->weight;
}

/* The listening slots, least loaded first; returns how many. */
static int rank(struct cluster *c, const uint64_t *load, int n, struct ranked *r, int weighted)
{
	int i, m = 0;

	for (i = 0; i < n; i++)
		if (load[i] != UINT64_MAX)
			r[m++] = (struct ranked){ load[i], weighted ? weight_of_slot(c, i) : 1, i };
	qsort(r, (size_t)m, sizeof(*r), by_load);
	return m;
}

static void leastconn(struct cluster *c, struct listener *l, const uint64_t *load,
		      unsigned *shares, int n)
{
	struct ranked r[MAX_WORKERS];
	int m = rank(c, load, n, r, 1), k, i;

	(void)l;
	if (m == 0)
		return;
	k = (m + 1) / 2;
	for (i = 0; i < m && (i < k || same_load(&r[i], &r[k - 1])); i++)
		shares[r[i].slot] = r[i].weight;
}

static void p2c(struct cluster *c, struct listener *l, const uint64_t *load,
		unsigned *shares, int n)
{
	struct ranked r[MAX_WORKERS];
	int m = rank(c, load, n, r, 0), i, j, k;

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
			shares[i] = load[i] == 0 ? (unsigned)m : 1;
}

const struct policy_ops policy_leastconn_k = {
	.name = "leastconn",
	.help = "in the kernel: at random among the least loaded half, refreshed",
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
