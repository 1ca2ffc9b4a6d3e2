/*
 * policy_leastconn.c - least connections: each connection goes to the
 * worker with the fewest open ones (queued on its channel included), ties
 * to the next in rotation.  Open counts are handed minus closed, the
 * closes counted by the shim on the worker's board (board.c).
 *
 * Cost.  The master hears of no close (the board is read when needed), so
 * no structure can stay ordered by open counts on its own.  Instead a pick
 * reads every worker's count and builds a min-heap on (open, place in the
 * rotation), and the next picks pop and push it, adding the one just
 * handed, until workers/8 picks have been made from it (at least one): so
 * O(log workers) per pick plus O(workers) every workers/8 picks, a cost per
 * connection that stays flat as workers grow, while each worker gets
 * about one connection of eight on a heap that does not see closes (with
 * 8 workers or fewer every pick builds afresh, as an exact scan would).
 * A pick that finds nobody in an old heap builds a fresh one before it
 * says "nobody" (the master stops accepting on that answer).  A pick only
 * names the top; the heap counts the connection when the balancer really
 * handed it (handed(), below): the balancer asks before accept, and once
 * per wake-up accept then says EAGAIN, so a pick counted at once made the
 * next worker in rotation lose its turn until the next build.  A heap entry
 * names the worker by pointer and place, so a worker freed meanwhile only
 * makes the pick rebuild.
 *
 * With --weights, open/weight instead, by a scan (weights.c).
 */
#include "cluster.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "policy/weights.h"

#include <stdlib.h>

struct entry {
	uint64_t open;
	unsigned seq;           /* place in the rotation after the cursor */
	unsigned at;            /* index in c->workers */
	const struct worker *w;
};

struct order {
	unsigned picks;         /* made from this heap, and how many it may serve */
	unsigned budget;
	unsigned n, cap;
	struct entry e[];
};

static int before(const struct entry *a, const struct entry *b)
{
	return a->open < b->open || (a->open == b->open && a->seq < b->seq);
}

static void sift_down(struct order *o, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;
		struct entry t;

		if (l < o->n && before(&o->e[l], &o->e[m]))
			m = l;
		if (r < o->n && before(&o->e[r], &o->e[m]))
			m = r;
		if (m == i)
			return;
		t = o->e[i];
		o->e[i] = o->e[m];
		o->e[m] = t;
		i = m;
	}
}

/* Every worker with room now, ordered.  NULL when out of memory. */
static struct order *build(struct cluster *c, struct listener *l)
{
	struct order *o = l->policy_data;
	unsigned k, n = (unsigned)c->nworkers, i;

	if (!o || o->cap < n) {
		struct order *grown = realloc(o, sizeof(*o) + (n + 16) * sizeof(o->e[0]));
		if (!grown)
			return NULL;
		o = grown;
		o->cap = n + 16;
		l->policy_data = o;
	}
	o->n = 0;
	o->picks = 0;
	o->budget = n / 8 > 1 ? n / 8 : 1;
	for (k = 1; k <= n; k++) {
		unsigned at = (l->cursor + k) % n;
		struct worker *w = c->workers[at];

		if (!channel_has_room(c, w, l))
			continue;
		o->e[o->n++] = (struct entry){ .open = route_open_conns(w, l), .seq = k,
					       .at = at, .w = w };
	}
	for (i = o->n / 2; i-- > 0;)
		sift_down(o, i);
	return o;
}

static int still_there(const struct cluster *c, const struct entry *e)
{
	return e->at < (unsigned)c->nworkers && c->workers[e->at] == e->w;
}

static struct worker *pick(struct cluster *c, struct listener *l,
			   const struct conn *conn, unsigned *at)
{
	struct order *o = l->policy_data;
	int rebuilt = 0;

	(void)conn;
	if (weights_on(c))
		return weights_leastconn_pick(c, l, at);
	if (!o || o->picks >= o->budget) {
		if (!(o = build(c, l)))
			return NULL;
		rebuilt = 1;
	}
	for (;;) {
		if (!o->n) {
			if (rebuilt || !(o = build(c, l)))
				return NULL;
			rebuilt = 1;
			continue;
		}
		struct entry *top = &o->e[0];
		struct worker *w;

		if (!still_there(c, top)) {
			if (rebuilt || !(o = build(c, l)))
				return NULL;
			rebuilt = 1;
			continue;
		}
		w = c->workers[top->at];
		if (!channel_has_room(c, w, l)) {       /* full since: out for this turn */
			o->e[0] = o->e[--o->n];
			sift_down(o, 0);
			continue;
		}
		*at = top->at;
		return w;       /* counted by handed() if it gets one */
	}
}

/* The balancer handed w a connection: the top of the heap (what pick
 * named) has one more open. */
static void handed(struct cluster *c, struct listener *l, struct worker *w)
{
	struct order *o = l->policy_data;

	weights_handed(c, l, w);
	if (weights_on(c) || !o || !o->n)
		return;
	if (!still_there(c, &o->e[0]) || o->e[0].w != w) {
		o->picks = o->budget;   /* not what we named: build afresh */
		return;
	}
	o->e[0].open++;
	o->picks++;
	sift_down(o, 0);
}

const struct policy_ops policy_leastconn = {
	.name = "leastconn",
	.help = "like rr, to the worker with the fewest open connections",
	.takes_weights = 1,
	.pick = pick,
	CHANNEL_OPS,
	.handed = handed,
};
