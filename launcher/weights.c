/*
 * weights.c - weighted rr and leastconn (see weights.h).  The weights are
 * per slot, so a restarted or reloaded worker keeps its slot's weight and
 * its place in the round.
 *
 * A pick only plans a round: which slots took part, their total weight
 * and the slot chosen.  weights_handed applies the plan once the balancer
 * really handed the connection over; the balancer asks for a worker before
 * it knows there is a connection to give (balancer.c, dispatch), and an
 * unused pick must leave the round as it was.
 *
 * State: one round per listener, allocated on first use (about 12 KiB:
 * MAX_WORKERS slots), kept for the master's life, as listeners are.
 */
#include "weights.h"
#include "cluster.h"

#include <stdlib.h>

struct round {
	int64_t current[MAX_WORKERS];   /* smooth WRR's current weight, by slot */
	/* the planned round: slots taking part (a reload can briefly run
	 * an old and a new worker per slot: room for both) */
	uint16_t part[2 * MAX_WORKERS];
	int npart;
	int64_t total;                  /* their weights' sum */
	int chosen;                     /* the planned winner's slot, or -1 */
};

static struct round *rounds[CLUSTER_MAX_LISTENERS];

int weights_on(const struct cluster *c)
{
	return c->opt->nweights > 0;
}

uint32_t weight_of_slot(const struct cluster *c, int slot)
{
	if (slot >= 0 && slot < c->opt->nweights && c->opt->weights[slot] > 0)
		return (uint32_t)c->opt->weights[slot];
	return 1;
}

static struct round *round_of(const struct listener *l)
{
	struct round *r;

	if (l->id >= CLUSTER_MAX_LISTENERS)
		return NULL;
	if (!rounds[l->id]) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
		r->chosen = -1;
		rounds[l->id] = r;
	}
	return rounds[l->id];
}

static void plan_reset(struct round *r)
{
	r->npart = 0;
	r->total = 0;
	r->chosen = -1;
}

/* w takes part in the planned round; returns its standing (current +
 * weight), the round's highest standing wins. */
static int64_t plan_add(struct round *r, const struct cluster *c, const struct worker *w)
{
	uint32_t wt = weight_of_slot(c, w->slot);

	if (r->npart < (int)(sizeof(r->part) / sizeof(r->part[0])))
		r->part[r->npart++] = (uint16_t)w->slot;
	r->total += wt;
	return r->current[w->slot] + wt;
}

struct worker *weights_rr_pick(struct cluster *c, struct listener *l, unsigned *at)
{
	struct round *r = round_of(l);
	unsigned k, n = (unsigned)c->nworkers;
	struct worker *best = NULL;
	int64_t best_standing = 0;

	if (!r)
		return channel_next_with_room(c, l, at);        /* out of memory */
	plan_reset(r);
	for (k = 1; k <= n; k++) {
		unsigned i = (l->cursor + k) % n;
		struct worker *w = c->workers[i];
		int64_t standing;

		if (w->slot < 0 || w->slot >= MAX_WORKERS || !channel_has_room(c, w, l))
			continue;
		standing = plan_add(r, c, w);
		if (!best || standing > best_standing) {
			best = w;
			best_standing = standing;
			*at = i;
		}
	}
	r->chosen = best ? best->slot : -1;
	return best;
}

struct worker *weights_leastconn_pick(struct cluster *c, struct listener *l, unsigned *at)
{
	struct round *r = round_of(l);
	unsigned k, n = (unsigned)c->nworkers;
	struct worker *best = NULL;
	uint64_t low_open = 0, low_wt = 1;
	int64_t best_standing = 0;
	int any = 0;

	if (!r)
		return channel_next_with_room(c, l, at);
	plan_reset(r);
	for (k = 1; k <= n; k++) {
		unsigned i = (l->cursor + k) % n;
		struct worker *w = c->workers[i];
		uint64_t open, wt, lhs, rhs;
		int64_t standing;

		if (w->slot < 0 || w->slot >= MAX_WORKERS || !channel_has_room(c, w, l))
			continue;
		open = route_open_conns(w, l);
		wt = weight_of_slot(c, w->slot);
		lhs = open * low_wt;            /* open/wt < low_open/low_wt ? */
		rhs = low_open * wt;
		if (!any || lhs < rhs) {        /* a new lowest: a new tie set */
			any = 1;
			low_open = open;
			low_wt = wt;
			plan_reset(r);
			best = NULL;
		} else if (lhs > rhs) {
			continue;
		}
		standing = plan_add(r, c, w);
		if (!best || standing > best_standing) {
			best = w;
			best_standing = standing;
			*at = i;
		}
	}
	r->chosen = best ? best->slot : -1;
	return best;
}

void weights_handed(struct cluster *c, struct listener *l, struct worker *w)
{
	struct round *r;
	int i;

	if (!weights_on(c) || l->id >= CLUSTER_MAX_LISTENERS || !(r = rounds[l->id]))
		return;
	if (r->chosen < 0 || r->chosen != w->slot)
		return;                 /* not the planned pick: leave the round */
	for (i = 0; i < r->npart; i++)
		r->current[r->part[i]] += weight_of_slot(c, r->part[i]);
	r->current[r->chosen] -= r->total;
	r->chosen = -1;
}
