/*
 * accept_rate.c - accepts per second per worker, from one sample of its
 * count a second.
 *
 * The count is worker_taken() (balancer.c): what the master handed it
 * under a channel policy, or what its shim counted on its board under
 * shared and reuseport (bounded by the kernel's).  Each worker has a ring
 * of the last ACCEPT_RATE_WINDOW_MAX + 1 samples (time, count); a rate
 * over k seconds is the count's growth between the newest sample and the
 * one k samples older, over the time between them.  So "the last second"
 * is the last whole sampling interval: up to a second old when asked, and
 * a burst shorter than a second is averaged over it.  A worker's first
 * sample is its start with a count of 0, so that it has a rate from its
 * first second on.
 *
 * A worker that accepts for itself without a board (through seccomp: no
 * shim to count) has no rate: -1, never a 0 that would look idle.  The
 * rings are kept by the worker's serial (unique for the run), and those of
 * workers gone are dropped at the next sample.
 *
 * Not here: connection durations (the shim's histogram on the board,
 * read by report.c).
 */
#include "supervise/accept_rate.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"
#include "net/board.h"
#include "policy/balancer.h"

#include <stdlib.h>
#include <string.h>

#define RING (ACCEPT_RATE_WINDOW_MAX + 1)
#define SAMPLE_MS 1000

struct ring {
	uint64_t serial;
	int64_t at[RING];       /* loop ms */
	uint64_t count[RING];
	unsigned head;          /* the next slot to write */
	unsigned n;             /* samples in the ring */
};

struct accept_rates {
	struct cluster *c;
	struct ring *rings;
	int nrings, cap;
	uint64_t timer;
};

/* Whether the master can count w's accepts: its board, or every listener
 * handing connections out (worker_taken then counts the master's own). */
static int countable(const struct cluster *c, const struct worker *w)
{
	int i;

	if (board_kept(w))
		return 1;
	for (i = 0; i < c->nlisteners; i++)
		if (!c->listeners[i]->ops->channel)
			return 0;
	return 1;
}

static void push(struct ring *r, int64_t at, uint64_t count)
{
	r->at[r->head] = at;
	r->count[r->head] = count;
	r->head = (r->head + 1) % RING;
	if (r->n < RING)
		r->n++;
}

/* w's ring, at or after *hint (workers keep their order between samples),
 * or NULL. */
static struct ring *find(struct accept_rates *ar, const struct worker *w, int *hint)
{
	int i, k;

	for (k = 0; k < ar->nrings; k++) {
		i = (*hint + k) % ar->nrings;
		if (ar->rings[i].serial == w->serial) {
			*hint = i + 1;
			return &ar->rings[i];
		}
	}
	return NULL;
}

/* One sample of every worker, into a new array of rings in c->workers'
 * order: the rings of workers gone are left behind. */
static void sample(struct loop *loop, void *data)
{
	struct accept_rates *ar = data;
	struct cluster *c = ar->c;
	struct ring *fresh;
	int64_t now = loop_now_ms();
	int i, hint = 0;

	ar->timer = loop_timer(loop, SAMPLE_MS, sample, ar);
	fresh = calloc((size_t)(c->nworkers ? c->nworkers : 1), sizeof(*fresh));
	if (!fresh) {
		log_warnx("accept rates: out of memory (rates stay as they were)");
		return;
	}
	for (i = 0; i < c->nworkers; i++) {
		const struct worker *w = c->workers[i];
		struct ring *old = find(ar, w, &hint), *r = &fresh[i];

		if (old) {
			*r = *old;
		} else {
			r->serial = w->serial;
			if (w->started_ms < now)
				push(r, w->started_ms, 0);
		}
		push(r, now, worker_taken(w));
	}
	free(ar->rings);
	ar->rings = fresh;
	ar->nrings = c->nworkers;
}

int accept_rate_start(struct cluster *c)
{
	struct accept_rates *ar = c->rates ? NULL : calloc(1, sizeof(*ar));

	if (c->rates)
		return 0;               /* restored after an upgrade */
	if (!ar)
		return -1;
	ar->c = c;
	c->rates = ar;
	sample(c->loop, ar);
	return 0;
}

void accept_rate_free(struct cluster *c)
{
	struct accept_rates *ar = c->rates;

	if (!ar)
		return;
	loop_timer_cancel(c->loop, ar->timer);
	free(ar->rings);
	free(ar);
	c->rates = NULL;
}

double accept_rate(struct cluster *c, const struct worker *w, int window_s)
{
	struct accept_rates *ar = c->rates;
	const struct ring *r;
	unsigned newest, oldest, back;
	int hint = 0;

	if (!ar || !countable(c, w) || !(r = find(ar, w, &hint)) || r->n < 2)
		return ar && countable(c, w) ? 0 : -1;
	if (window_s < 1)
		window_s = 1;
	back = (unsigned)window_s < r->n - 1 ? (unsigned)window_s : r->n - 1;
	newest = (r->head + RING - 1) % RING;
	oldest = (newest + RING - back) % RING;
	if (r->at[newest] <= r->at[oldest] || r->count[newest] <= r->count[oldest])
		return 0;
	return (double)(r->count[newest] - r->count[oldest]) * 1000.0 /
	       (double)(r->at[newest] - r->at[oldest]);
}

/* --- an in-place upgrade (accept_rate.h) --- */

int accept_rate_save(struct cluster *c, struct state_out *o)
{
	const struct accept_rates *ar = c->rates;
	int i;

	if (!ar)
		return 0;
	state_rec(o, "accept_rates");
	state_i64(o, "timer_due", loop_timer_due(c->loop, ar->timer));
	for (i = 0; i < ar->nrings; i++) {
		const struct ring *r = &ar->rings[i];

		state_rec(o, "accept_ring");
		state_u64(o, "worker", r->serial);
		state_u64(o, "head", r->head);
		state_u64(o, "n", r->n);
		state_bytes(o, "at", r->at, sizeof(r->at));
		state_bytes(o, "count", r->count, sizeof(r->count));
	}
	return 0;
}

int accept_rate_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *rec = state_first(in, "accept_rates");
	struct accept_rates *ar;
	int n = 0;
	int64_t due;

	if (!rec)
		return 0;               /* accept_rate_start makes it afresh */
	for (const struct state_rec *r = state_first(in, "accept_ring"); r; r = state_next(r))
		n++;
	ar = calloc(1, sizeof(*ar));
	if (!ar || !(ar->rings = calloc((size_t)(n ? n : 1), sizeof(*ar->rings)))) {
		free(ar);
		log_warnx("upgrade: accept rates: out of memory");
		return -1;
	}
	ar->c = c;
	/* a ring another build sized differently is dropped: the rate of
	 * that worker starts again from its next samples */
	for (const struct state_rec *r = state_first(in, "accept_ring"); r; r = state_next(r)) {
		struct ring *g = &ar->rings[ar->nrings];

		g->serial = rec_u64(r, "worker", 0);
		g->head = (unsigned)rec_u64(r, "head", 0);
		g->n = (unsigned)rec_u64(r, "n", 0);
		if (g->head >= RING || g->n > RING ||
		    rec_bytes(r, "at", g->at, sizeof(g->at)) != (long)sizeof(g->at) ||
		    rec_bytes(r, "count", g->count, sizeof(g->count)) != (long)sizeof(g->count))
			continue;
		ar->nrings++;
	}
	due = rec_i64(rec, "timer_due", -1);
	ar->timer = loop_timer_at(c->loop, due >= 0 ? due : loop_now_ms() + SAMPLE_MS, sample, ar);
	c->rates = ar;
	return 0;
}
