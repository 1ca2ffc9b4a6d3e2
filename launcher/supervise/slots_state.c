/*
 * slots_state.c - the slots' part of an in-place upgrade (slots_save,
 * slots_restore; the order is surface/upgrade.h's): one "slot" record per
 * slot in use, its workers and releases by serial and its timers as
 * deadlines, the "retire" records of every worker's drain check and kill
 * timer, and the target.
 *
 * Must not: signal or message a worker, nor start one: restore only
 * rebuilds the slots and re-arms the timers (slot_rearm in slots.c,
 * retire_rearm in retire.c), so the way back to the old binary stays
 * open.  A field added to struct slot adds a key here.
 *
 * Not here: the state file's format (base/state.c); the workers' and
 * releases' own records (worker.c, release.c), restored before these;
 * the timers' handlers (slots.c).
 */
#include "supervise/slots_state.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"
#include "supervise/release.h"
#include "supervise/retire.h"
#include "supervise/slots.h"
#include "supervise/worker.h"

#include <string.h>

static int slot_in_use(const struct cluster *c, const struct slot *s)
{
	return s->index < c->target || s->state != SLOT_EMPTY || s->active || s->next ||
	       s->rel || s->next_rel;
}

int slots_save(struct cluster *c, struct state_out *o)
{
	int i;

	for (i = 0; i < MAX_WORKERS; i++) {
		const struct slot *s = &c->slots[i];

		if (!s->c || !slot_in_use(c, s))
			continue;
		state_rec(o, "slot");
		state_i64(o, "index", i);
		state_str(o, "state", slot_state_name(s->state));
		state_u64(o, "active", s->active ? s->active->serial : 0);
		state_u64(o, "next", s->next ? s->next->serial : 0);
		state_u64(o, "release", s->rel ? s->rel->serial : 0);
		state_u64(o, "next_release", s->next_rel ? s->next_rel->serial : 0);
		state_i64(o, "timer_due", loop_timer_due(c->loop, s->timer));
		state_i64(o, "ready_due", loop_timer_due(c->loop, s->ready_timer));
		state_i64(o, "failures", s->failures);
		state_i64(o, "listen_failures", s->listen_failures);
		state_i64(o, "backoff_step", s->backoff_step);
		state_i64(o, "last_status", s->last_status);
		state_u64(o, "restarts", s->restarts);
		state_i64(o, "ever_filled", s->ever_filled);
		state_i64(o, "binds_until", s->binds_until);
	}
	/* retire.c's timers (worker.h cannot include retire.h: retire.c
	 * includes it), by the slots' modules, which call retire.c anyway */
	for (i = 0; i < c->nworkers; i++) {
		const struct worker *w = c->workers[i];

		state_rec(o, "retire");
		state_u64(o, "worker", w->serial);
		state_i64(o, "drain_due", loop_timer_due(c->loop, w->drain_timer));
		state_i64(o, "kill_due", loop_timer_due(c->loop, w->kill_timer));
	}
	state_rec(o, "slots");
	state_i64(o, "target", c->target);
	state_i64(o, "slots_dirty", c->slots_dirty);
	return 0;
}

static int slot_state_by_name(const char *name, enum slot_state *st)
{
	enum slot_state s;

	for (s = SLOT_EMPTY; s <= SLOT_STOPPING; s++)
		if (!strcmp(name, slot_state_name(s))) {
			*st = s;
			return 0;
		}
	return -1;
}

/* A worker the slot names is one of its own (worker_restore made it). */
static struct worker *slot_worker(struct cluster *c, int index, uint64_t serial, int *bad)
{
	struct worker *w = worker_by_serial(c, serial);

	if (serial && (!w || w->slot != index))
		*bad = 1;
	return w && w->slot == index ? w : NULL;
}

static int restore_slot(struct cluster *c, const struct state_rec *r)
{
	int64_t index = rec_i64(r, "index", -1);
	struct slot *s;
	int bad = 0;

	if (index < 0 || index >= MAX_WORKERS)
		return -1;
	s = &c->slots[index];
	if (slot_state_by_name(rec_str(r, "state", ""), &s->state) < 0)
		return -1;
	s->active = slot_worker(c, (int)index, rec_u64(r, "active", 0), &bad);
	s->next = slot_worker(c, (int)index, rec_u64(r, "next", 0), &bad);
	release_set(&s->rel, release_by_serial(rec_u64(r, "release", 0)));
	release_set(&s->next_rel, release_by_serial(rec_u64(r, "next_release", 0)));
	s->failures = (int)rec_i64(r, "failures", 0);
	s->listen_failures = (int)rec_i64(r, "listen_failures", 0);
	s->backoff_step = (int)rec_i64(r, "backoff_step", 0);
	s->last_status = (int)rec_i64(r, "last_status", 0);
	s->restarts = (unsigned)rec_u64(r, "restarts", 0);
	s->ever_filled = (int)rec_i64(r, "ever_filled", 0);
	s->binds_until = rec_i64(r, "binds_until", 0);
	slot_rearm(s, rec_i64(r, "timer_due", -1), rec_i64(r, "ready_due", -1));
	return bad ? -1 : 0;
}

int slots_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r;
	int i;

	for (i = 0; i < MAX_WORKERS; i++)
		c->slots[i] = (struct slot){ .c = c, .index = i };
	if ((r = state_first(in, "slots"))) {
		c->target = (int)rec_i64(r, "target", c->target);
		c->slots_dirty = (int)rec_i64(r, "slots_dirty", 1);
	}
	if (c->target < 1 || c->target > MAX_WORKERS) {
		log_warnx("upgrade: %d slots: not a number of workers", c->target);
		return -1;
	}
	for (r = state_first(in, "slot"); r; r = state_next(r))
		if (restore_slot(c, r) < 0) {
			log_warnx("upgrade: slot %lld: its record is wrong (a state, or a "
				  "worker not of its own)", (long long)rec_i64(r, "index", -1));
			return -1;
		}
	for (r = state_first(in, "retire"); r; r = state_next(r)) {
		struct worker *w = worker_by_serial(c, rec_u64(r, "worker", 0));

		if (w)
			retire_rearm(c, w, rec_i64(r, "drain_due", -1), rec_i64(r, "kill_due", -1));
	}
	return 0;
}
