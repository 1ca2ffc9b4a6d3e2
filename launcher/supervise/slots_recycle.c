/*
 * slots_recycle.c - replacing a worker that health.c gives up on
 * (supervisor_replace, handed to health_start by supervisor.c): one that
 * grew too big or served its --max-requests is recycled through the same
 * replacing step as a reload (slot_replace); a hung one is taken out at
 * once (stop_hung) and its slot refilled without a backoff.
 *
 * Must not: recycle more than one slot at a time, nor during a rolling
 * restart (a paused canary excepted): a worker that is not its slot's
 * active, listening one is left alone unless hung.  Changes slots only
 * through slots.h (slot_fill, slot_replace).
 *
 * Not here: deciding that a worker is too big, has served enough or
 * hangs (health.c); the replacing step and the restart after an exit
 * (slots.c); draining a recycled worker once its replacement listens
 * (retire.c).
 */
#include "supervise/slots_recycle.h"
#include "cluster.h"
#include "base/log.h"
#include "supervise/retire.h"
#include "supervise/slots.h"
#include "supervise/worker.h"

#include <signal.h>

/* Any slot being replaced, or with a worker still leaving? */
static int replacing_anywhere(const struct cluster *c)
{
	int i;

	for (i = 0; i < c->target; i++)
		if (c->slots[i].state == SLOT_REPLACING || slots_leaving(&c->slots[i]))
			return 1;
	return 0;
}

/* A hung worker out of service at once: no more connections, what is
 * queued for it handed to others, the stop signal and SIGCONT (a stopped
 * process must be able to act on it), SIGKILL --grace later. */
static void stop_hung(struct cluster *c, struct worker *w)
{
	int i;

	worker_set_state(w, W_DRAINING);
	for (i = 0; i < c->nlisteners; i++)
		if (w->routes[i].bound)
			c->listeners[i]->ops->drain(c, w, c->listeners[i], 1);
	worker_stop(c, w, c->opt->stop_signal);
	worker_signal(w, SIGCONT);
}

/* health.c: replace w by a new worker in its slot.  Not now (memory,
 * requests): the slot goes through the same replacing step as a reload
 * (the new worker starts; once it listens, w is drained and stopped).
 * Now (hung): w is taken out at once (stop_hung) and the slot refilled
 * right away, without a backoff.  One at a time, shared with rolling
 * restarts: while a reload or another replacement is under way, or when
 * w is not its slot's active, listening worker, -1 and nothing done (the
 * caller asks again); except that a hung worker is still taken out, and
 * its slot restarted when it exits as after a crash.  -1 also while
 * stopping.  0 when under way. */
int supervisor_replace(struct cluster *c, struct worker *w, const char *reason,
		       const char *detail, int now)
{
	struct slot *s = &c->slots[w->slot];

	if (c->stopping || w->state != W_READY)
		return -1;
	/* a paused canary may wait for hours: recycling goes on meanwhile */
	if ((slots_reloading(c) && !c->roll_paused) || replacing_anywhere(c) || s->active != w ||
	    s->state != SLOT_ACTIVE) {
		if (!now)
			return -1;
		log_warnx("worker %d (pid %d): stopping it (%s: %s); a new one starts when it "
			  "has exited", w->slot, (int)w->pid, reason, detail);
		stop_hung(c, w);
		return 0;
	}
	log_warnx("worker %d (pid %d): replacing it (%s: %s)", w->slot, (int)w->pid,
		  reason, detail);
	if (now) {
		/* straight to STARTING (fill), no BACKOFF in between: nothing
		 * waits on a timer; slot_fill() counts the restart, and a failed
		 * fork/exec goes to BACKOFF as after a crash */
		stop_hung(c, w);
		s->active = NULL;
		slot_fill(s);
		return 0;
	}
	s->restarts++;
	slot_replace(s, s->rel);
	return s->state == SLOT_REPLACING ? 0 : -1;
}
