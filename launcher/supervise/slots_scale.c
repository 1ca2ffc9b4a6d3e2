/*
 * slots_scale.c - changing the number of slots: TTIN/TTOU one at a time
 * (supervisor_scale), cluster-ctl scale N one step at a time
 * (supervisor_scale_to).
 *
 * A slot added past the target is born again EMPTY (a slot used before
 * may still be DRAINING, its leaving workers finding it by index) and
 * filled; the last slot removed has its timers cancelled and its workers
 * retired, and is DRAINING until they have left (slots.c's
 * slots_worker_exited empties it) or EMPTY at once.  The policies hear of
 * the new count (policies_slots_changed) before any worker starts or
 * leaves.
 *
 * Must not: change a slot's state other than through slot_set(), nor
 * start a worker other than through slot_fill() (slots.h), so that the
 * table of edges and the before-sleep pass see every change.
 *
 * Not here: the state machine, starts and restarts (slots.c); draining
 * the removed slot's workers (retire.c); what each policy does with the
 * new count (its slots_changed, policy.c); the waiting of cluster-ctl
 * scale --wait (surface/control_wait.c).
 */
#include "supervise/slots_scale.h"
#include "cluster.h"
#include "base/log.h"
#include "policy/policy.h"
#include "policy/policy_reuseport.h"
#include "supervise/release.h"
#include "supervise/retire.h"
#include "supervise/slots.h"

static void scale_up(struct cluster *c)
{
	enum slot_state st;
	struct slot *s;

	if (c->target >= MAX_WORKERS) {
		log_warnx("already at %d workers, the most there can be", MAX_WORKERS);
		return;
	}
	s = &c->slots[c->target];
	/* a slot used before had its timers cancelled when it was removed;
	 * its leaving workers, if any, still find it by index.  Born again
	 * empty: from DRAINING that is an edge of its own (slot_set) */
	st = s->state;
	release_drop(s->rel);
	release_drop(s->next_rel);
	/* a paused canary stays the few slots it is: a new slot runs the
	 * release the others run; during a rollout that goes on, the new one */
	*s = (struct slot){ .c = c, .index = c->target, .state = st,
			    .rel = release_hold(c->roll_paused && c->previous ? c->previous
						: c->release) };
	slot_set(s, SLOT_EMPTY);
	c->target++;
	log_warnx("scaling up to %d workers", c->target);
	policies_slots_changed(c);
	slot_fill(s);
}

static void scale_down(struct cluster *c)
{
	struct slot *s;
	int i;

	if (c->target <= 1) {
		log_warnx("already at one worker: not scaling down");
		return;
	}
	c->target--;
	s = &c->slots[c->target];
	log_warnx("scaling down to %d worker%s", c->target, c->target == 1 ? "" : "s");
	policies_slots_changed(c);
	slot_cancel_timers(s);
	s->active = s->next = NULL;
	for (i = 0; i < c->nworkers; i++)
		if (c->workers[i]->slot == s->index)
			worker_retire(c, c->workers[i], 1, c->opt->stop_signal);
	if (slots_leaving(s)) {
		slot_set(s, SLOT_DRAINING);
	} else {
		slot_set(s, SLOT_EMPTY);
		/* no worker to serve what was steered to it meanwhile */
		reuseport_close_slots(c, s->index);
	}
}

void supervisor_scale(struct cluster *c, int delta)
{
	if (c->stopping)
		return;
	if (delta > 0)
		scale_up(c);
	else
		scale_down(c);
}

/* cluster-ctl scale N: one step at a time, as TTIN/TTOU would. */
int supervisor_scale_to(struct cluster *c, int n)
{
	if (n < 1 || n > MAX_WORKERS || c->stopping)
		return -1;
	while (c->target < n)
		scale_up(c);
	while (c->target > n)
		scale_down(c);
	return 0;
}
