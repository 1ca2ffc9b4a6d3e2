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
#include "policy/weights.h"
#include "cluster.h"
#include "base/log.h"
#include "base/state.h"
#include "policy/policy_state.h"
#include "policy/balancer.h"
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

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

/* The planned round's winner so far: the highest standing, the first
 * in rotation on a tie. */
struct winner {
	struct worker *w;
	int64_t standing;
	unsigned at;
};

/* w (at position i) takes part in the planned round; it wins so far if
 * it stands highest. */
static void consider(struct round *r, const struct cluster *c, struct worker *w,
		     unsigned i, struct winner *best)
{
	int64_t standing = plan_add(r, c, w);

	if (!best->w || standing > best->standing)
		*best = (struct winner){ .w = w, .standing = standing, .at = i };
}

/* May w take part: a slot the round can index, with room on its channel. */
static int eligible(struct cluster *c, struct worker *w, struct listener *l)
{
	return w->slot >= 0 && w->slot < MAX_WORKERS && channel_has_room(c, w, l);
}

/* The round is planned: remember its winner for weights_handed. */
static struct worker *decide(struct round *r, const struct winner *best, unsigned *at)
{
	r->chosen = best->w ? best->w->slot : -1;
	if (best->w)
		*at = best->at;
	return best->w;
}

struct worker *weights_rr_pick(struct cluster *c, struct listener *l, unsigned *at)
{
	struct round *r = round_of(l);
	unsigned k, n = (unsigned)c->nworkers;
	struct winner best = { 0 };

	if (!r)
		return channel_next_with_room(c, l, at);        /* out of memory */
	plan_reset(r);
	for (k = 1; k <= n; k++) {
		unsigned i = (l->cursor + k) % n;

		if (eligible(c, c->workers[i], l))
			consider(r, c, c->workers[i], i, &best);
	}
	return decide(r, &best, at);
}

struct worker *weights_leastconn_pick(struct cluster *c, struct listener *l, unsigned *at)
{
	struct round *r = round_of(l);
	unsigned k, n = (unsigned)c->nworkers;
	struct winner best = { 0 };
	uint64_t low_open = 0, low_wt = 1;
	int any = 0;

	if (!r)
		return channel_next_with_room(c, l, at);
	plan_reset(r);
	for (k = 1; k <= n; k++) {
		unsigned i = (l->cursor + k) % n;
		struct worker *w = c->workers[i];
		uint64_t open, wt, lhs, rhs;

		if (!eligible(c, w, l))
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
			best.w = NULL;
		} else if (lhs > rhs) {
			continue;
		}
		consider(r, c, w, i, &best);
	}
	return decide(r, &best, at);
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

/* Only the slots whose current weight is not 0, one record each: a round
 * is MAX_WORKERS wide and mostly zeros. */
void weights_save(struct cluster *c, struct state_out *o)
{
	int i, k;

	for (i = 0; i < c->nlisteners && i < CLUSTER_MAX_LISTENERS; i++)
		for (k = 0; rounds[i] && k < MAX_WORKERS; k++) {
			if (!rounds[i]->current[k])
				continue;
			state_rec(o, "weights");
			state_i64(o, "lid", i);
			state_i64(o, "slot", k);
			state_i64(o, "current", rounds[i]->current[k]);
		}
}

int weights_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r;
	struct round *rd;
	int i;

	for (i = 0; i < CLUSTER_MAX_LISTENERS; i++)
		free(rounds[i]);
	memset(rounds, 0, sizeof(rounds));
	for (r = state_first(in, "weights"); r; r = state_next(r)) {
		int64_t lid = rec_i64(r, "lid", -1), slot = rec_i64(r, "slot", -1);

		if (lid < 0 || lid >= c->nlisteners || slot < 0 || slot >= MAX_WORKERS)
			continue;
		if (!(rd = round_of(c->listeners[lid]))) {
			log_warn("upgrade: weights");
			return -1;
		}
		rd->current[slot] = rec_i64(r, "current", 0);
	}
	return 0;
}
