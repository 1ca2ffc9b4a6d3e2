/*
 * lifecycle.c - the cluster's life as others see it, in one place: systemd
 * (READY=1 once every worker of the first generation listens, RELOADING=1
 * and READY=1 around a rolling restart, STOPPING=1, a STATUS= line, the
 * watchdog), cluster-ctl clients waiting for a reload (control_wait.c),
 * the record of the last reload for status and metrics, and the answers
 * to "is every slot served?" (/ready) and "has scaling settled?".
 *
 * The supervisor calls one function at each point (lifecycle_ready,
 * lifecycle_reload_started, lifecycle_reload_done, lifecycle_stopping) and
 * knows nothing of who listens.  The state hangs off struct cluster as
 * c->life.
 *
 * Not here: the wire formats (sd_notify.c, control.c), the sockets systemd
 * hands over (sd_listen.c, kept here only because they are taken at start
 * with the other variables).
 */
#include "supervise/lifecycle.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/options.h"
#include "base/sd_notify.h"
#include "base/state.h"
#include "net/sd_listen.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATUS_PERIOD_MS 1000

struct lifecycle {
	struct sd_notify notify;
	struct sd_listen sockets;
	struct reload_record reload;
	uint64_t status_timer;
	char status[256];               /* the last STATUS= sent */
};

static struct lifecycle *life(const struct cluster *c)
{
	return c->life;
}

const char *reload_outcome_name(enum reload_outcome o)
{
	switch (o) {
	case RELOAD_NONE:     return "none";
	case RELOAD_RUNNING:  return "running";
	case RELOAD_COMPLETE: return "complete";
	case RELOAD_ABORTED:  return "aborted";
	case RELOAD_STOPPED:  return "stopped";
	}
	return "?";
}

unsigned lifecycle_restarts(const struct cluster *c)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < c->target; i++)
		n += c->slots[i].restarts;
	return n;
}

static int ready_count(const struct cluster *c)
{
	int i, n = 0;

	for (i = 0; i < c->target; i++)
		n += c->slots[i].active && c->slots[i].active->state == W_READY;
	return n;
}

int lifecycle_all_ready(const struct cluster *c)
{
	return !c->stopping && c->target > 0 && ready_count(c) == c->target;
}

/* Every slot served by a listening worker, and none left over from a
 * scale-down still running. */
int lifecycle_settled(const struct cluster *c)
{
	return lifecycle_all_ready(c) && c->nworkers == c->target;
}

const struct reload_record *lifecycle_last_reload(const struct cluster *c)
{
	return &life(c)->reload;
}


/* STATUS= for `systemctl status`: sent when it changes. */
static void send_status(struct cluster *c)
{
	struct lifecycle *lc = life(c);
	const struct reload_record *r = &lc->reload;
	char now[sizeof(lc->status)];

	if (!sd_notify_enabled(&lc->notify))
		return;
	snprintf(now, sizeof(now), "%d/%d workers ready, policy %s, %u restart%s%s%s%s",
		 ready_count(c), c->target, c->opt->policy->name, lifecycle_restarts(c),
		 lifecycle_restarts(c) == 1 ? "" : "s",
		 c->stopping ? ", stopping" : r->outcome == RELOAD_RUNNING ? ", reloading" : "",
		 r->outcome == RELOAD_COMPLETE || r->outcome == RELOAD_ABORTED ? ", last reload " : "",
		 r->outcome == RELOAD_COMPLETE || r->outcome == RELOAD_ABORTED ?
		 reload_outcome_name(r->outcome) : "");
	if (!strcmp(now, lc->status))
		return;
	memcpy(lc->status, now, sizeof(now));
	sd_notify_send(&lc->notify, "STATUS=%s", now);
}

static void status_tick(struct loop *loop, void *data)
{
	struct cluster *c = data;

	send_status(c);
	life(c)->status_timer = loop_timer(loop, STATUS_PERIOD_MS, status_tick, c);
}

int lifecycle_open(struct cluster *c)
{
	struct lifecycle *lc = calloc(1, sizeof(*lc));

	if (!lc) {
		log_warn("lifecycle");
		return -1;
	}
	c->life = lc;
	c->inherited = &lc->sockets;
	if (sd_notify_open(&lc->notify) < 0 || sd_listen_collect(&lc->sockets) < 0)
		return -1;
	return 0;
}

void lifecycle_close(struct cluster *c)
{
	struct lifecycle *lc = life(c);

	if (!lc)
		return;
	loop_timer_cancel(c->loop, lc->status_timer);
	sd_notify_close(&lc->notify, c->loop);
	c->inherited = NULL;
	sd_listen_close(&lc->sockets);
	free(lc);
	c->life = NULL;
}

void lifecycle_ready(struct cluster *c)
{
	struct lifecycle *lc = life(c);

	sd_listen_report_unused(&lc->sockets);
	if (!sd_notify_enabled(&lc->notify))
		return;
	send_status(c);
	sd_notify_send(&lc->notify, "READY=1\nMAINPID=%d", (int)getpid());
	sd_notify_watchdog_start(&lc->notify, c->loop);
	if (!lc->status_timer)
		lc->status_timer = loop_timer(c->loop, STATUS_PERIOD_MS, status_tick, c);
}

void lifecycle_reload_started(struct cluster *c)
{
	struct lifecycle *lc = life(c);
	struct timespec ts;

	if (lc->reload.outcome != RELOAD_RUNNING) {
		lc->reload.outcome = RELOAD_RUNNING;
		lc->reload.started = time(NULL);
		lc->reload.started_ms = loop_now_ms();
		lc->reload.why[0] = '\0';
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notify_send(&lc->notify, "RELOADING=1\nMONOTONIC_USEC=%llu",
		       (unsigned long long)ts.tv_sec * 1000000ULL +
		       (unsigned long long)ts.tv_nsec / 1000ULL);
	send_status(c);
}

static void reload_finished(struct cluster *c, enum reload_outcome o, const char *why)
{
	struct reload_record *r = &life(c)->reload;

	if (r->outcome != RELOAD_RUNNING)
		return;
	r->outcome = o;
	r->finished = time(NULL);
	r->seconds = (double)(loop_now_ms() - r->started_ms) / 1000.0;
	snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
	if (o == RELOAD_COMPLETE)
		r->complete++;
	else if (o == RELOAD_ABORTED)
		r->aborted++;
	if (c->hooks.reload_finished)
		c->hooks.reload_finished(c, o == RELOAD_COMPLETE,
					 o == RELOAD_COMPLETE ? "reload complete" : r->why);
}

void lifecycle_reload_complete(struct cluster *c)
{
	struct lifecycle *lc = life(c);

	reload_finished(c, RELOAD_COMPLETE, NULL);
	sd_notify_send(&lc->notify, "READY=1");
	send_status(c);
}

void lifecycle_reload_aborted(struct cluster *c, int slot, const char *how)
{
	struct lifecycle *lc = life(c);
	char why[160];

	snprintf(why, sizeof(why), "reload aborted: the new worker %d keeps exiting before "
		 "it listens (last: %s); the old workers stay", slot, how);
	reload_finished(c, RELOAD_ABORTED, why);
	sd_notify_send(&lc->notify, "READY=1");
	send_status(c);
}

void lifecycle_reload_paused(struct cluster *c)
{
	struct lifecycle *lc = life(c);

	sd_notify_send(&lc->notify, "READY=1");
	send_status(c);
}

void lifecycle_reload_abandoned(struct cluster *c, const char *why)
{
	reload_finished(c, RELOAD_ABORTED, why);
	send_status(c);
}

void lifecycle_stopping(struct cluster *c)
{
	struct lifecycle *lc = life(c);

	reload_finished(c, RELOAD_STOPPED, "cluster-run is stopping");
	sd_notify_send(&lc->notify, "STOPPING=1");
	send_status(c);
}

static void monotonic_reloading(struct lifecycle *lc)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notify_send(&lc->notify, "RELOADING=1\nMONOTONIC_USEC=%llu",
		       (unsigned long long)ts.tv_sec * 1000000ULL +
		       (unsigned long long)ts.tv_nsec / 1000ULL);
}

void lifecycle_upgrade_started(struct cluster *c)
{
	struct lifecycle *lc = life(c);

	if (!lc || !sd_notify_enabled(&lc->notify))
		return;
	monotonic_reloading(lc);
	/* kept as the last STATUS= sent: the next send_status, in either
	 * image, differs and goes out */
	snprintf(lc->status, sizeof(lc->status), "upgrading cluster-run in place");
	sd_notify_send(&lc->notify, "STATUS=%s", lc->status);
}

void lifecycle_upgrade_done(struct cluster *c, int ok)
{
	struct lifecycle *lc = life(c);

	if (!lc || !sd_notify_enabled(&lc->notify))
		return;
	/* READY=1 only when systemd would have it without the upgrade: not
	 * before the first generation listens (lifecycle_ready says it
	 * then), not during a reload (its end says it), not when stopping.
	 * ok or not, a cluster runs: the old image on after a failed one. */
	(void)ok;
	if (c->started_up && !c->stopping &&
	    (lc->reload.outcome != RELOAD_RUNNING || c->roll_paused))
		sd_notify_send(&lc->notify, "READY=1");
	send_status(c);
}

/* --- an in-place upgrade: the state (lifecycle.h) --- */

int lifecycle_save(struct cluster *c, struct state_out *o)
{
	struct lifecycle *lc = life(c);
	const struct reload_record *r;
	int i;

	if (!lc)
		return 0;
	r = &lc->reload;
	state_rec(o, "lifecycle");
	sd_notify_save(&lc->notify, c->loop, o);
	state_i64(o, "status_due", loop_timer_due(c->loop, lc->status_timer));
	state_str(o, "status", lc->status);
	state_str(o, "reload_outcome", reload_outcome_name(r->outcome));
	state_i64(o, "reload_started", (int64_t)r->started);
	state_i64(o, "reload_finished", (int64_t)r->finished);
	state_i64(o, "reload_started_ms", r->started_ms);
	state_i64(o, "reload_us", (int64_t)(r->seconds * 1e6));
	state_str(o, "reload_why", r->why);
	state_u64(o, "reload_complete", r->complete);
	state_u64(o, "reload_aborted", r->aborted);
	for (i = 0; i < lc->sockets.n; i++) {
		const struct inherited_socket *s = &lc->sockets.socks[i];

		state_rec(o, "inherited");
		state_fd(o, "fd", s->fd);
		state_i64(o, "used", s->used);
		state_i64(o, "family", s->family);
		state_i64(o, "type", s->type);
		state_i64(o, "reuseport", s->reuseport);
		state_bytes(o, "addr", &s->addr, s->addrlen);
		state_str(o, "name", s->name);
	}
	return 0;
}

static int outcome_by_name(const char *name)
{
	int o;

	for (o = RELOAD_NONE; o <= RELOAD_STOPPED; o++)
		if (!strcmp(name, reload_outcome_name((enum reload_outcome)o)))
			return o;
	return RELOAD_NONE;
}

static int restore_inherited(struct lifecycle *lc, const struct state_in *in)
{
	const struct state_rec *r;
	int n = 0;

	for (r = state_first(in, "inherited"); r; r = state_next(r))
		n++;
	if (!n)
		return 0;
	sd_listen_close(&lc->sockets);
	lc->sockets.socks = calloc((size_t)n, sizeof(*lc->sockets.socks));
	if (!lc->sockets.socks)
		return -1;
	for (r = state_first(in, "inherited"); r; r = state_next(r)) {
		struct inherited_socket *s = &lc->sockets.socks[lc->sockets.n];
		long len;

		s->fd = rec_fd(r, "fd");
		if (s->fd < 0)
			continue;
		s->used = (int)rec_i64(r, "used", 0);
		s->family = (int)rec_i64(r, "family", 0);
		s->type = (int)rec_i64(r, "type", 0);
		s->reuseport = (int)rec_i64(r, "reuseport", 0);
		len = rec_bytes(r, "addr", &s->addr, sizeof(s->addr));
		s->addrlen = len > 0 ? (socklen_t)len : 0;
		snprintf(s->name, sizeof(s->name), "%s", rec_str(r, "name", ""));
		lc->sockets.n++;
	}
	return 0;
}

int lifecycle_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "lifecycle");
	struct lifecycle *lc = life(c);
	struct reload_record *rr;
	int64_t due;

	if (!lc) {
		log_warnx("upgrade: lifecycle: not open");
		return -1;
	}
	if (restore_inherited(lc, in) < 0) {
		log_warnx("upgrade: systemd's sockets: out of memory");
		return -1;
	}
	if (!r)
		return 0;
	sd_notify_restore(&lc->notify, c->loop, r);
	snprintf(lc->status, sizeof(lc->status), "%s", rec_str(r, "status", ""));
	if ((due = rec_i64(r, "status_due", -1)) >= 0)
		lc->status_timer = loop_timer_at(c->loop, due, status_tick, c);
	rr = &lc->reload;
	rr->outcome = (enum reload_outcome)outcome_by_name(rec_str(r, "reload_outcome", ""));
	rr->started = (time_t)rec_i64(r, "reload_started", 0);
	rr->finished = (time_t)rec_i64(r, "reload_finished", 0);
	rr->started_ms = rec_i64(r, "reload_started_ms", 0);
	rr->seconds = (double)rec_i64(r, "reload_us", 0) / 1e6;
	snprintf(rr->why, sizeof(rr->why), "%s", rec_str(r, "reload_why", ""));
	rr->complete = rec_u64(r, "reload_complete", 0);
	rr->aborted = rec_u64(r, "reload_aborted", 0);
	return 0;
}
