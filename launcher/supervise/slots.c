/*
 * slots.c - the workers' lifecycle as one state machine per slot: start,
 * restart with backoff, give up on a crash loop, rolling restart,
 * graceful stop.
 *
 * A slot is a stable worker position (CLUSTER_WORKER_ID).  It runs a
 * release (release.c: its restarts run the same one); a replacement may
 * bring another (a reload, rollout.c).  Its states:
 *
 *   EMPTY      no worker and none coming (beyond the target, given up, or
 *              stopped)
 *   BACKOFF    its worker exited; the restart timer is running
 *   STARTING   its worker runs but does not listen yet
 *   ACTIVE     its worker listens
 *   REPLACING  rolling restart: the active worker serves while its
 *              replacement (next) starts, or while a failed replacement's
 *              retry waits on the timer
 *   DRAINING   removed by a scale-down: its workers are leaving
 *   STOPPING   the cluster is stopping: its workers are leaving
 *
 * Every change goes through slot_set(), which checks it against the table
 * of edges (slot_edges, below) and marks the cluster so that the loop's
 * before-sleep pass (slots_step, then rollout.c's rollout_step) says when
 * every worker listens and advances a rolling restart, once per turn:
 * handlers never call back up into a half-done transition.  A worker the
 * slot no longer counts on (the old one after a replacement took over, a
 * removed slot's) is *leaving*: retire.c drains and stops it.  Which slot
 * is replaced when is rollout.c's; how is here (slot_replace).
 *
 * Restart policy (pm2 and Einhorn style): a worker that dies after a long
 * run (--min-uptime) is restarted at once; one that dies quickly waits
 * backoff_min, then twice as long each time, up to backoff_max.  A slot
 * whose workers exit --max-restarts times in a row before ever listening is
 * a crash loop: cluster-run stops everything and exits with that worker's
 * status.  During a rolling restart the same failures of a replacement
 * abort the reload and keep the old workers instead (c->roll_failed tells
 * rollout.c).
 *
 * Not here, though they change slots through slot_set() and slot_fill()
 * (slots.h): scaling up and down (slots_scale.c), replacing a worker that
 * health.c gives up on, recycled or hung (slots_recycle.c), and the
 * slots' part of an in-place upgrade (slots_state.c, which re-arms the
 * timers through slot_rearm).  Those call into this file; it calls none
 * of them.
 */
#include "supervise/slots.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "mechanism/seccomp_reuseport.h"
#include "net/listener.h"
#include "net/syn_filter.h"
#include "policy/balancer.h"
#include "policy/policy_reuseport.h"
#include "supervise/health.h"
#include "supervise/lifecycle.h"
#include "supervise/release.h"
#include "supervise/retire.h"
#include "supervise/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int64_t secs_ms(double s)
{
	return (int64_t)(s * 1000.0 + 0.5);
}

const char *slot_state_name(enum slot_state st)
{
	switch (st) {
	case SLOT_EMPTY:     return "empty";
	case SLOT_BACKOFF:   return "backoff";
	case SLOT_STARTING:  return "starting";
	case SLOT_ACTIVE:    return "active";
	case SLOT_REPLACING: return "replacing";
	case SLOT_DRAINING:  return "draining";
	case SLOT_STOPPING:  return "stopping";
	}
	return "?";
}

/*
 * The slot lifecycle's edges, read off the code that takes them.  A
 * slot_set() to the state the slot already has is no transition and is
 * always allowed (a retried replacement stays REPLACING, a failed restart
 * BACKOFF, a stop finds an empty slot empty).
 *
 * A slot is born EMPTY (slots_start); scale_up (slots_scale.c) reuses a
 * slot beyond the old target, EMPTY or DRAINING, and puts it back to
 * EMPTY through slot_set.  An ACTIVE or REPLACING slot gives up only when
 * its worker listened and then daemonized leaving nothing to follow
 * (follow.c): that was no start, so its exit counts against
 * --max-restarts after all.
 */
#define TO(st) (1u << (st))
static const unsigned slot_edges[] = {
	[SLOT_EMPTY] =
		TO(SLOT_STARTING) |     /* slot_fill: first start, scale-up */
		TO(SLOT_BACKOFF) |      /* slot_fill: fork/exec failed, retry later */
		TO(SLOT_STOPPING),      /* stop after a give-up, a retired worker
					 * of the slot still leaving */
	[SLOT_BACKOFF] =
		TO(SLOT_STARTING) |     /* restart_due: slot_fill */
		TO(SLOT_EMPTY) |        /* give up, scale-down, stop: nothing left */
		TO(SLOT_DRAINING) |     /* scale-down, a retired worker leaving */
		TO(SLOT_STOPPING),      /* stop, ditto */
	[SLOT_STARTING] =
		TO(SLOT_ACTIVE) |       /* its worker listens */
		TO(SLOT_BACKOFF) |      /* it exited first: restart later */
		TO(SLOT_EMPTY) |        /* ... once too often: give up */
		TO(SLOT_DRAINING) |     /* scale-down */
		TO(SLOT_STOPPING),      /* stop */
	[SLOT_ACTIVE] =
		TO(SLOT_EMPTY) |        /* give up: it daemonized, nothing to follow */
		TO(SLOT_REPLACING) |    /* reload step, recycling */
		TO(SLOT_STARTING) |     /* a hung worker replaced now: its successor
					 * starts at once, no backoff
					 * (supervisor_replace, slots_recycle.c) */
		TO(SLOT_BACKOFF) |      /* its worker exited */
		TO(SLOT_DRAINING) |     /* scale-down */
		TO(SLOT_STOPPING),      /* stop */
	[SLOT_REPLACING] =
		TO(SLOT_EMPTY) |        /* give up, as ACTIVE (a failed replacement's
					 * retry waits meanwhile) */
		TO(SLOT_ACTIVE) |       /* handed over; or the replacement could not
					 * start, or the reload was aborted */
		TO(SLOT_STARTING) |     /* handed over before it listens (ready
					 * timeout), or the old worker died first */
		TO(SLOT_BACKOFF) |      /* the old worker died while a failed
					 * replacement's retry waits */
		TO(SLOT_DRAINING) |     /* scale-down */
		TO(SLOT_STOPPING),      /* stop */
	[SLOT_DRAINING] =
		TO(SLOT_EMPTY),         /* its last worker left, or scale-up reuses it */
	[SLOT_STOPPING] =
		TO(SLOT_EMPTY),         /* its last worker left */
};
#undef TO

int slot_transition_allowed(enum slot_state from, enum slot_state to)
{
	const unsigned n = sizeof(slot_edges) / sizeof(slot_edges[0]);

	if ((unsigned)from >= n || (unsigned)to >= n)
		return 0;
	return from == to || (slot_edges[from] >> to & 1u);
}

/* The one way a slot changes state.  An edge not in the table is a bug in
 * this file or a slots_*.c: a debug build (NDEBUG unset, meson's default
 * here) stops there with a core to look at; a release build says so and
 * goes on as asked, as it did before there was a table. */
void slot_set(struct slot *s, enum slot_state to)
{
	if (!slot_transition_allowed(s->state, to)) {
		log_warnx("bug: slot %d: %s -> %s is not a slot transition", s->index,
			  slot_state_name(s->state), slot_state_name(to));
#ifndef NDEBUG
		abort();
#endif
	}
	if (s->state != to)
		log_debug("slot %d: %s -> %s", s->index, slot_state_name(s->state),
			  slot_state_name(to));
	s->state = to;
	s->c->slots_dirty = 1;
}

void slot_cancel_timers(struct slot *s)
{
	loop_timer_cancel(s->c->loop, s->timer);
	loop_timer_cancel(s->c->loop, s->ready_timer);
	s->timer = s->ready_timer = 0;
	release_set(&s->next_rel, NULL);
}

/* "exited with status 1" / "killed by signal 9 (Killed)" */
static void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended (wait status 0x%x)", st);
}

/* A shell's convention: the program's status, or 128+N for signal N. */
static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st) ? WEXITSTATUS(st) : EXIT_GAVE_UP_CLEAN;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return EXIT_FAILURE_;
}

/* Workers of slot s other than its active one and its replacement. */
int slots_leaving(const struct slot *s)
{
	const struct cluster *c = s->c;
	int i, n = 0;

	for (i = 0; i < c->nworkers; i++) {
		const struct worker *w = c->workers[i];
		if (w->slot == s->index && w != s->active && w != s->next)
			n++;
	}
	return n;
}

static void restart_due(struct loop *loop, void *data);
static void retry_replacement(struct loop *loop, void *data);

static int64_t next_delay(struct cluster *c, struct slot *s, int64_t uptime_ms)
{
	int64_t d;
	int k;

	if (uptime_ms >= secs_ms(c->opt->min_uptime))
		s->backoff_step = 0;
	if (s->backoff_step++ == 0)
		return 0;
	d = secs_ms(c->opt->backoff_min);
	for (k = 1; k < s->backoff_step - 1 && d < secs_ms(c->opt->backoff_max); k++)
		d *= 2;
	return d < secs_ms(c->opt->backoff_max) ? d : secs_ms(c->opt->backoff_max);
}

static void give_up(struct cluster *c, struct slot *s, const char *how)
{
	log_warnx("worker %d keeps exiting before it listens (last: %s); "
		  "giving up after %d attempts", s->index, how, s->failures);
	c->exit_status = status_code(s->last_status);
	supervisor_stop(c, SIGTERM);
}

/* The slot's worker exited unasked (or never started): restart after the
 * backoff, or give up on a crash loop. */
static void restart_later(struct slot *s, int ever_ready, int64_t uptime, const char *how)
{
	struct cluster *c = s->c;
	int64_t delay;

	if (!ever_ready)
		s->failures++;
	if (c->opt->max_restarts && s->failures >= c->opt->max_restarts) {
		slot_set(s, SLOT_EMPTY);
		give_up(c, s, how);
		return;
	}
	delay = uptime < 0 ? secs_ms(c->opt->backoff_max) : next_delay(c, s, uptime);
	if (delay)
		log_debug("worker %d: restart in %lld ms", s->index, (long long)delay);
	s->timer = loop_timer(c->loop, delay, restart_due, s);
	slot_set(s, SLOT_BACKOFF);
}

void slot_fill(struct slot *s)
{
	struct cluster *c = s->c;
	struct worker *w;

	if (c->stopping || s->index >= c->target || s->active)
		return;
	w = worker_spawn(c, s->index, s->rel);
	if (w && s->ever_filled)
		s->restarts++;
	s->ever_filled = 1;
	if (!w) {
		log_warn("worker %d: cannot start %s", s->index,
			 s->rel ? s->rel->path : c->prog->path);
		s->last_status = EXIT_CANNOT_EXEC << 8;
		restart_later(s, 0, -1, "could not be started");
		return;
	}
	s->active = w;
	slot_set(s, SLOT_STARTING);
}

static void restart_due(struct loop *loop, void *data)
{
	struct slot *s = data;

	(void)loop;
	s->timer = 0;
	if (s->state == SLOT_BACKOFF)
		slot_fill(s);
}

/* The replacement listens where the old worker did (or --ready-timeout
 * passed): it becomes the slot's worker, and the old one leaves. */
static void hand_over(struct slot *s)
{
	struct cluster *c = s->c;
	struct worker *old = s->active, *nw = s->next;

	loop_timer_cancel(c->loop, s->ready_timer);
	s->ready_timer = 0;
	s->next = NULL;
	s->active = nw;
	release_set(&s->rel, nw->rel);
	release_set(&s->next_rel, NULL);
	log_event("worker %d: pid %d listens and replaces pid %d", s->index, (int)nw->pid,
		  (int)old->pid);
	worker_retire(c, old, 1, c->opt->stop_signal);
	slot_set(s, nw->state == W_READY ? SLOT_ACTIVE : SLOT_STARTING);
}

static void ready_timeout(struct loop *loop, void *data)
{
	struct slot *s = data;

	(void)loop;
	s->ready_timer = 0;
	if (s->state != SLOT_REPLACING || !s->next)
		return;
	log_warnx("worker %d (pid %d): not listening on every address after %gs; "
		  "replacing the old worker anyway", s->index, (int)s->next->pid,
		  s->c->opt->ready_timeout);
	hand_over(s);
}

static void spawn_replacement(struct slot *s)
{
	struct cluster *c = s->c;
	struct worker *nw = worker_spawn(c, s->index, s->next_rel);

	if (!nw) {
		log_warn("reload: cannot start worker %d; keeping the old one", s->index);
		release_set(&s->next_rel, NULL);
		slot_set(s, SLOT_ACTIVE);
		if (slots_reloading(c)) {       /* rollout.c: the rollout stops here */
			lifecycle_reload_aborted(c, s->index, "could not be started");
			c->roll_failed = 1;
		}
		return;
	}
	s->next = nw;
	s->ready_timer = loop_timer(c->loop, secs_ms(c->opt->ready_timeout), ready_timeout, s);
	slot_set(s, SLOT_REPLACING);
}

static void retry_replacement(struct loop *loop, void *data)
{
	struct slot *s = data;

	(void)loop;
	s->timer = 0;
	if (s->state == SLOT_REPLACING && !s->next && !s->c->stopping)
		spawn_replacement(s);
}

/* Start slot s's replacement, running rel: it serves from when it
 * listens, and the old worker leaves then (hand_over).  rollout.c calls
 * this for each slot of a batch. */
void slot_replace(struct slot *s, struct release *rel)
{
	release_set(&s->next_rel, rel);
	spawn_replacement(s);
}

/* The new generation does not start: keep the running workers and forget
 * the failed attempts.  Replacements already starting in other slots of
 * the batch go on (they may well listen); rollout.c starts no more. */
void slots_stop_replacing(struct cluster *c)
{
	int i;

	for (i = 0; i < c->target; i++) {
		struct slot *s = &c->slots[i];

		s->failures = 0;
		if (s->state == SLOT_REPLACING && !s->next) {
			slot_cancel_timers(s);
			slot_set(s, SLOT_ACTIVE);
		}
	}
}

static void abort_roll(struct cluster *c, struct slot *failed, const char *how)
{
	log_warnx("reload aborted: the new worker %d keeps exiting before it "
		  "listens (last: %s); the running workers stay", failed->index, how);
	lifecycle_reload_aborted(c, failed->index, how);
	slots_stop_replacing(c);
	c->roll_failed = slots_reloading(c);
}

static void replacement_failed(struct slot *s, int st, const char *how)
{
	struct cluster *c = s->c;

	s->last_status = st;
	s->failures++;
	if (c->opt->max_restarts && s->failures >= c->opt->max_restarts) {
		abort_roll(c, s, how);
		return;
	}
	s->timer = loop_timer(c->loop, next_delay(c, s, 0), retry_replacement, s);
}

void slots_worker_listening(struct cluster *c, struct worker *w)
{
	struct slot *s = &c->slots[w->slot];

	if (w->state != W_STARTING)
		return;
	if (w == s->next && s->state == SLOT_REPLACING) {
		if (!worker_listens_like(w, s->active))
			return;
		worker_set_state(w, W_READY);
		w->ever_ready = 1;
		s->listen_failures = s->failures;
		s->failures = 0;
		hand_over(s);
	} else if (w == s->active && s->state == SLOT_STARTING) {
		if (!worker_listens_like(w, NULL))
			return;
		worker_set_state(w, W_READY);
		w->ever_ready = 1;
		s->listen_failures = s->failures;
		s->failures = 0;
		slot_set(s, SLOT_ACTIVE);
	} else {
		return;
	}
	if (w->pid != w->spawned_pid)   /* it daemonized before it bound (follow.c) */
		log_warnx("worker %d (pid %d) daemonized: following pid %d, and it listens",
			  w->slot, (int)w->spawned_pid, (int)w->pid);
	/* the slot listens: its start-up ends (attach.c) */
	if (!s->binds_until || s->binds_until > loop_now_ms() + SLOT_BINDS_SETTLE_MS)
		s->binds_until = loop_now_ms() + SLOT_BINDS_SETTLE_MS;
	loop_timer_cancel(c->loop, c->quiet_timer);
	c->quiet_timer = 0;
}

/* The workers whose processes started listening since the last pass
 * (attach.c marks them: the mechanism sits below us). */
void slots_heard_listens(struct cluster *c)
{
	int i;

	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		if (w->heard_listen) {
			w->heard_listen = 0;
			slots_worker_listening(c, w);
		}
	}
}

void slots_worker_exited(struct cluster *c, struct worker *w, int st)
{
	struct slot *s = &c->slots[w->slot];
	int retiring = w->state == W_DRAINING || w->state == W_STOPPING;
	int was_active = w == s->active, was_next = w == s->next;
	/* a worker that daemonized and left nothing to follow (follow.c,
	 * which said so in a line of its own) never really started */
	int ever_ready = w->ever_ready && !w->daemon_failed;
	int64_t uptime = loop_now_ms() - w->started_ms;
	char how[96];

	describe_status(st, how, sizeof(how));
	if (w->state == W_STOPPING && WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL)
		snprintf(how, sizeof(how), "stopped by signal %d (%s), as asked", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	if (w->daemon_failed) {
		snprintf(how, sizeof(how), "daemonized, nothing to follow");
		st = 0;         /* what the program did; we killed what it left */
		/* it may have listened before it daemonized: that was no start */
		if (w->ever_ready)
			s->failures = s->listen_failures;
	} else if (!retiring)
		log_warnx("worker %d (pid %d) %s", w->slot, (int)w->pid, how);
	else if (c->opt->verbose)
		log_warnx("worker %d (pid %d) %s (retired)", w->slot, (int)w->pid, how);
	if (!retiring && !c->stopping)
		health_note_exit(c, w, how);
	worker_free(c, w);
	c->slots_dirty = 1;
	if (was_next) {                         /* a replacement that never listened */
		s->next = NULL;
		loop_timer_cancel(c->loop, s->ready_timer);
		s->ready_timer = 0;
		if (!c->stopping && s->state == SLOT_REPLACING)
			replacement_failed(s, st, how);
	} else if (was_active) {
		s->active = NULL;
		if (c->stopping || s->index >= c->target) {
			/* leaving anyway */
		} else if (s->state == SLOT_REPLACING && s->next) {
			/* the old one died while its replacement starts: the
			 * replacement is the slot's worker now (no second one) */
			s->active = s->next;
			s->next = NULL;
			release_set(&s->rel, s->active->rel);
			release_set(&s->next_rel, NULL);
			loop_timer_cancel(c->loop, s->ready_timer);
			s->ready_timer = 0;
			slot_set(s, SLOT_STARTING);
		} else {
			slot_cancel_timers(s);
			s->last_status = st;
			restart_later(s, ever_ready, uptime, how);
		}
	}
	if ((s->state == SLOT_DRAINING || s->state == SLOT_STOPPING) && !s->active &&
	    slots_leaving(s) == 0)
		slot_set(s, SLOT_EMPTY);
	if (s->index >= c->target && slots_leaving(s) == 0)
		reuseport_close_slots(c, s->index);
}

/* Say once when the whole first generation listens: users (and tests)
 * know from then on that every worker takes connections. */
static void announce_ready(struct cluster *c)
{
	int i;

	if (c->started_up)
		return;
	for (i = 0; i < c->target; i++)
		if (c->slots[i].state != SLOT_ACTIVE)
			return;
	c->started_up = 1;
	log_warnx("%d worker%s listening", c->target, c->target == 1 ? "" : "s");
	lifecycle_ready(c);
}

static void kill_all(struct cluster *c);

/* A first-generation bind found its address held outside the cluster
 * (attach.c said so in one line and set the status): every worker is
 * killed at once, before a program prints its own error for it (the
 * worker that asked got no answer) or anything is restarted. */
static void abandon_start(struct cluster *c)
{
	if (c->stopping)
		return;
	supervisor_stop(c, SIGTERM);
	kill_all(c);
}

void slots_step(struct cluster *c)
{
	if (!c->slots_dirty)
		return;
	c->slots_dirty = 0;
	if (c->start_failed) {
		abandon_start(c);
		return;
	}
	announce_ready(c);
}

int slots_reloading(const struct cluster *c)
{
	return c->rolled < c->generation;
}

void slots_start(struct cluster *c)
{
	int i;

	c->target = c->opt->workers;
	if (!c->release)
		c->release = release_hold(release_initial(c));
	for (i = 0; i < c->target; i++)
		c->slots[i] = (struct slot){ .c = c, .index = i,
					     .rel = release_hold(c->release) };
	for (i = 0; i < c->target && !c->stopping; i++)
		slot_fill(&c->slots[i]);
}

static void kill_all(struct cluster *c)
{
	int i;

	c->killed = 1;
	for (i = 0; i < c->nworkers; i++)
		worker_signal(c->workers[i], SIGKILL);
}

/* Graceful stop: the TCP listeners drop new SYNs (listener.c: clients
 * retry, and reach whoever binds the port next), the workers accept what
 * the kernel already queued (under shared and reuseport: policy_shared.c),
 * stop taking connections, finish the ones they accepted (at most
 * --grace), then get the stop signal (TERM: --stop-signal; INT and QUIT
 * as they are) and SIGKILL --grace later.  A second
 * stop signal kills at once.  The loop ends in the before-sleep pass once
 * no worker is left. */
/* The SYN filter on the sockets a seccomp replacement was given during a
 * reload, which are in no slot of their listener yet (listener.c cannot
 * see them): left out, one keeps taking connections while its worker
 * drains, and they are reset when it goes. */
static void stop_replacement_syns(struct cluster *c)
{
	int fds[64], i, k, n;

	for (i = 0; i < c->nlisteners; i++) {
		n = seccomp_reuseport_sockets(c->listeners[i], fds, 64);
		for (k = 0; k < n && k < 64; k++)
			if (syn_filter_attach(fds[k]) < 0)
				log_warn("%s: cannot stop new connections on a replacement's socket",
					 c->listeners[i]->name);
	}
}

void supervisor_stop(struct cluster *c, int sig)
{
	int i, fwd = sig == SIGTERM ? c->opt->stop_signal : sig;

	if (c->stopping) {
		if (!c->killed && (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)) {
			log_warnx("second stop signal: killing the workers now");
			kill_all(c);
		}
		return;
	}
	c->stopping = 1;
	/* an event for the JSON log (and -v): operators see the stop begin */
	log_event("stopping: %d worker%s on SIG%s, each drained then sent SIG%s",
		  c->nworkers, c->nworkers == 1 ? "" : "s", sigabbrev_np(sig), sigabbrev_np(fwd));
	lifecycle_stopping(c);
	listener_stop_syns(c);
	stop_replacement_syns(c);
	balancer_stop(c);
	loop_timer_cancel(c->loop, c->quiet_timer);
	c->quiet_timer = 0;
	for (i = 0; i < c->target; i++) {
		struct slot *s = &c->slots[i];
		slot_cancel_timers(s);
		slot_set(s, s->active || s->next || slots_leaving(s) ? SLOT_STOPPING : SLOT_EMPTY);
	}
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];

		if (w->state == W_STOPPING)
			worker_signal(w, fwd);
		else
			worker_retire(c, w, 0, fwd);
	}
}

/* An in-place upgrade (slots_state.c's restore): the slot's timers again
 * at their deadlines (loop ms; -1: none).  Which handler by the state, as
 * the code that armed it: BACKOFF's restart, else REPLACING's retry (each
 * does nothing in any other state, as when it fires late). */
void slot_rearm(struct slot *s, int64_t timer_due, int64_t ready_due)
{
	struct cluster *c = s->c;

	if (timer_due >= 0)
		s->timer = loop_timer_at(c->loop, timer_due, s->state == SLOT_BACKOFF ? restart_due
					 : retry_replacement, s);
	if (ready_due >= 0)
		s->ready_timer = loop_timer_at(c->loop, ready_due, ready_timeout, s);
}
