/*
 * rollout.c - a reload as a rollout: every slot gets a worker of the new
 * release, in batches, without ever fewer listening workers than slots.
 *
 * A batch of B slots (--reload-batch N|P%, or `cluster-ctl reload --batch`;
 * percentages of the slots round up, at least 1) starts B replacements at
 * once (slots.c, slot_replace); each old worker serves until its own
 * replacement listens, then leaves (drain, stop).  The batch is finished
 * when no slot of it is still being replaced: its progress line is logged
 * ("reload: 4/16 replaced, 4 draining (oldest 0.1 s)") and streamed to the
 * clients of `reload --wait` (c->hooks.reload_progress).  The next batch
 * starts while the last one's old workers drain, as long as fewer than B
 * of them are still there: so at most 2B-1 workers more than slots run at
 * once, and with B = 1 each old worker has gone before the next slot is
 * replaced, as reloads always did.  The rollout is complete when every
 * slot's worker runs the new release and no old worker is left.
 *
 * A canary (`reload --canary`) pauses after its first batch and waits for
 * `cluster-ctl rollout continue` (the rest, in batches) or `rollout abort`:
 * the cluster kept the release every slot ran before (c->previous), and
 * the abort is a rollout back to it (the canary's workers leave, workers of
 * the previous release take their slots).  While a canary is paused a new
 * reload is refused, by cluster-ctl and by SIGHUP alike (one line in the
 * log): the operator decides first; a scale-up gives new slots the
 * previous release, recycling goes on.
 *
 * A replacement that keeps failing (--max-restarts before it listens)
 * aborts the reload as it always did: slots.c says so and keeps the old
 * workers; here the rollout ends, and the cluster's release goes back to
 * the previous one (slots already replaced keep theirs until the next
 * reload).
 *
 * Not here: how one slot is replaced (slots.c), what a release is
 * (release.c), who hears of the reload (lifecycle.c, control_wait.c).
 */
#include "supervise/rollout.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/program.h"
#include "base/state.h"
#include "supervise/lifecycle.h"
#include "supervise/release.h"
#include "supervise/slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rollout {
	int batch, batch_pct;   /* as asked for this rollout (0, 0: options) */
	int canary;             /* pause after the first batch */
	int back;               /* going back to the previous release (abort) */
	int batch_open;         /* a batch was started and is not finished */
	int batches;            /* batches finished */
};

static struct rollout *ro(struct cluster *c)
{
	if (!c->rollout)
		c->rollout = calloc(1, sizeof(*c->rollout));
	return c->rollout;
}

static int running(const struct cluster *c)
{
	return c->rolled < c->generation;
}

static int batch_size(const struct cluster *c)
{
	const struct rollout *r = c->rollout;
	int n = r && (r->batch || r->batch_pct) ? r->batch : c->opt->reload_batch;
	int pct = r && (r->batch || r->batch_pct) ? r->batch_pct : c->opt->reload_batch_pct;

	if (pct)
		n = (c->target * pct + 99) / 100;
	if (n > c->target)
		n = c->target;
	return n < 1 ? 1 : n;
}

/* Slot s still has to be replaced: its worker runs another release. */
static int stale(const struct cluster *c, const struct slot *s)
{
	return s->active && (s->state == SLOT_ACTIVE || s->state == SLOT_STARTING ||
			     s->state == SLOT_REPLACING) && s->active->rel != c->release;
}

void rollout_view(const struct cluster *c, struct rollout_view *v)
{
	int64_t now = loop_now_ms(), oldest = -1;
	int i;

	memset(v, 0, sizeof(*v));
	if (!running(c) || c->stopping)
		return;
	v->active = 1;
	v->generation = c->generation;
	v->total = c->target;
	for (i = 0; i < c->target; i++) {
		const struct slot *s = &c->slots[i];
		v->replaced += s->active && s->active->state == W_READY &&
			       s->active->rel == c->release;
	}
	for (i = 0; i < c->nworkers; i++) {
		const struct worker *w = c->workers[i];
		if (w->state == W_DRAINING || w->state == W_STOPPING) {
			v->draining++;
			if (oldest < 0 || w->drain_started < oldest)
				oldest = w->drain_started;
		}
	}
	v->oldest_drain_s = oldest < 0 ? 0.0 : (double)(now - oldest) / 1000.0;
	v->batch = batch_size(c);
	v->paused = c->roll_paused;
	v->canary = c->rollout && c->rollout->canary;
	v->back = c->rollout && c->rollout->back;
}

void rollout_progress(const struct cluster *c, char *buf, size_t len)
{
	struct rollout_view v;

	rollout_view(c, &v);
	if (v.draining)
		snprintf(buf, len, "%d/%d replaced, %d draining (oldest %.1f s)", v.replaced,
			 v.total, v.draining, v.oldest_drain_s);
	else
		snprintf(buf, len, "%d/%d replaced, 0 draining", v.replaced, v.total);
}

/* One progress line: the log, and the clients waiting for the reload. */
static void progress(struct cluster *c, const char *what)
{
	char line[160], text[200];

	rollout_progress(c, line, sizeof(line));
	snprintf(text, sizeof(text), "%s: %s", what, line);
	log_warnx("%s", text);
	if (c->hooks.reload_progress)
		c->hooks.reload_progress(c, text);
}

static void finish(struct cluster *c)
{
	struct rollout *r = ro(c);

	c->rolled = c->generation;
	c->roll_paused = 0;
	release_set(&c->previous, NULL);
	if (r && r->back)
		log_warnx("rollback complete: %d worker%s of the previous release listening",
			  c->target, c->target == 1 ? "" : "s");
	else
		log_warnx("reload complete: %d worker%s of the new generation listening",
			  c->target, c->target == 1 ? "" : "s");
	lifecycle_reload_complete(c);
}

/* slots.c said the reload is aborted (a replacement kept failing, or
 * could not be started) and kept the old workers. */
static void failed(struct cluster *c)
{
	c->roll_failed = 0;
	c->rolled = c->generation;
	c->roll_paused = 0;
	slots_stop_replacing(c);
	if (c->previous) {
		release_set(&c->release, c->previous);
		release_set(&c->previous, NULL);
	}
}

/* A slot whose worker waits for its restart runs the new release then:
 * nothing to replace there. */
static void retarget_idle(struct cluster *c)
{
	int i;

	for (i = 0; i < c->target; i++)
		if (c->slots[i].state == SLOT_BACKOFF && c->slots[i].rel != c->release)
			release_set(&c->slots[i].rel, c->release);
}

static void start_batch(struct cluster *c, int b)
{
	int i, started = 0;

	for (i = 0; i < c->target && started < b && !c->roll_failed; i++) {
		struct slot *s = &c->slots[i];
		if (s->state == SLOT_ACTIVE && stale(c, s)) {
			slot_replace(s, c->release);
			started++;
		}
	}
	if (started)
		ro(c)->batch_open = 1;
}

void rollout_step(struct cluster *c)
{
	struct rollout *r = ro(c);
	int i, leaving = 0, pending = 0, b;

	if (!running(c) || c->stopping || !r)
		return;
	if (c->roll_failed) {
		failed(c);
		return;
	}
	if (c->roll_paused)
		return;
	for (i = 0; i < c->target; i++) {
		if (c->slots[i].state == SLOT_REPLACING)
			return;                 /* the batch is not finished */
		leaving += slots_leaving(&c->slots[i]);
		pending += stale(c, &c->slots[i]);
	}
	retarget_idle(c);
	if (r->batch_open) {
		r->batch_open = 0;
		r->batches++;
		progress(c, r->back ? "rollback" : "reload");
		if (r->canary && r->batches == 1 && pending) {
			c->roll_paused = 1;
			log_warnx("reload: canary paused after its first batch "
				  "(cluster-ctl rollout continue | rollout abort)");
			lifecycle_reload_paused(c);
			if (c->hooks.reload_paused)
				c->hooks.reload_paused(c);
			return;
		}
	}
	if (!pending) {
		if (!leaving)
			finish(c);
		return;
	}
	b = batch_size(c);
	if (leaving >= b)
		return;                         /* bounds the workers at once */
	start_batch(c, b);
}

/* Start a rollout of rel: the cluster's new release. */
static void start(struct cluster *c, struct release *rel, int canary, int back)
{
	struct rollout *r = ro(c);
	int b;

	/* what an abort goes back to: the release of the last rollout that
	 * ended (a reload during another keeps it; during a way back, the
	 * release being gone back to) */
	if (!back && !c->previous)
		release_set(&c->previous, c->release);
	release_set(&c->release, rel);
	c->generation++;
	c->roll_paused = 0;
	c->roll_failed = 0;
	r->canary = canary;
	r->back = back;
	r->batch_open = 0;
	r->batches = 0;
	c->slots_dirty = 1;
	lifecycle_reload_started(c);
	b = batch_size(c);
	if (back)
		log_warnx("rollout aborted: returning %d worker%s to the previous release, "
			  "%d at a time", c->target, c->target == 1 ? "" : "s", b);
	else if (b == 1 && !canary)
		log_warnx("reloading: replacing %d worker%s one at a time", c->target,
			  c->target == 1 ? "" : "s");
	else
		log_warnx("reloading: replacing %d worker%s, %d at a time%s", c->target,
			  c->target == 1 ? "" : "s", b,
			  canary ? ", pausing after the first batch (canary)" : "");
}

static int refuse_paused(struct cluster *c, char *why, size_t len)
{
	char line[160];

	rollout_progress(c, line, sizeof(line));
	snprintf(why, len, "a canary is paused (generation %u, %s): cluster-ctl rollout "
		 "continue or rollout abort first", c->generation, line);
	return -1;
}

int rollout_reload(struct cluster *c, const struct reload_request *rq, char *why, size_t len)
{
	struct release *rel, *base;
	struct rollout *r;
	int files;

	if (c->stopping) {
		snprintf(why, len, "stopping");
		return -1;
	}
	/* a reload that finished in this turn of the loop says so first (a
	 * HUP read with the SIGCHLD of its last old worker) */
	slots_step(c);
	rollout_step(c);
	if (c->roll_paused)
		return refuse_paused(c, why, len);
	/* the files first (--config, --env-file: surface/reread.c); a broken
	 * one refuses the reload and the workers keep what they run.  When
	 * they changed the command or the environment, the new release
	 * starts from them; else from the running release.  The request's
	 * own command and variables go over either. */
	files = c->hooks.reread ? c->hooks.reread(c, why, len) : 0;
	if (files < 0)
		return -1;
	base = files > 0 ? release_hold(release_initial(c)) : NULL;
	r = ro(c);
	rel = release_derive(base ? base : c->release, c->generation + 1, rq ? rq->path : NULL,
			     rq ? rq->argv : NULL, rq ? &rq->env : NULL);
	release_drop(base);
	if (!r || !rel) {
		snprintf(why, len, "out of memory");
		release_drop(release_hold(rel));
		return -1;
	}
	r->batch = rq ? rq->batch : 0;
	r->batch_pct = rq ? rq->batch_pct : 0;
	start(c, rel, rq && rq->canary, 0);
	return 0;
}

void supervisor_reload(struct cluster *c)
{
	char why[256];

	if (rollout_reload(c, NULL, why, sizeof(why)) < 0 && !c->stopping)
		log_warnx("reload (HUP) refused: %s", why);
}

int rollout_continue(struct cluster *c, char *why, size_t len)
{
	if (!c->roll_paused) {
		snprintf(why, len, "no paused rollout to continue (a canary pauses: "
			 "cluster-ctl reload --canary)");
		return -1;
	}
	c->roll_paused = 0;
	c->rollout->canary = 0;
	c->slots_dirty = 1;
	lifecycle_reload_started(c);   /* RELOADING=1 again; the same record */
	log_warnx("rollout: continuing generation %u, %d at a time", c->generation,
		  batch_size(c));
	return 0;
}

int rollout_abort(struct cluster *c, char *why, size_t len)
{
	struct release *back;

	if (c->stopping) {
		snprintf(why, len, "stopping");
		return -1;
	}
	if (!running(c) || !c->previous) {
		snprintf(why, len, "no rollout to abort");
		return -1;
	}
	back = release_hold(c->previous);
	release_set(&c->previous, NULL);
	lifecycle_reload_abandoned(c, "rollout aborted (cluster-ctl rollout abort): "
				      "going back to the previous release");
	c->rolled = c->generation;      /* that reload is over; the way back begins */
	start(c, back, 0, 1);
	release_drop(back);
	return 0;
}

int rollout_check_program(struct cluster *c, struct reload_request *rq, char *why, size_t len)
{
	struct program p;
	int st;

	memset(&p, 0, sizeof(p));
	st = program_check(&p, rq->argv[0], c->opt->force);
	if (st >= 0) {
		snprintf(why, len, "%s: %s (cluster-run's log says more)", rq->argv[0],
			 st == EXIT_NOT_FOUND ? "not found" : "cannot be run");
		return -1;
	}
	if (c->prog->via == VIA_SHIM && p.shim_blind) {
		snprintf(why, len, "%s %s: the workers run through the shim (start cluster-run "
			 "with --via seccomp to roll such a program out)", p.path, p.shim_blind);
		return -1;
	}
	snprintf(rq->path, sizeof(rq->path), "%s", p.path);
	return 0;
}

void reload_request_free(struct reload_request *rq)
{
	size_t i;

	for (i = 0; rq->argv && rq->argv[i]; i++)
		free(rq->argv[i]);
	free(rq->argv);
	for (i = 0; i < rq->env.n; i++)
		free(rq->env.vars[i]);
	free(rq->env.vars);
	memset(rq, 0, sizeof(*rq));
}

void rollout_free(struct cluster *c)
{
	int i;

	for (i = 0; i < MAX_WORKERS; i++) {
		release_set(&c->slots[i].rel, NULL);
		release_set(&c->slots[i].next_rel, NULL);
	}
	release_set(&c->release, NULL);
	release_set(&c->previous, NULL);
	free(c->rollout);
	c->rollout = NULL;
}

/* --- an in-place upgrade (rollout.h) --- */

int rollout_save(struct cluster *c, struct state_out *o)
{
	const struct rollout *r = c->rollout;

	state_rec(o, "rollout");
	state_u64(o, "generation", c->generation);
	state_u64(o, "rolled", c->rolled);
	state_i64(o, "roll_failed", c->roll_failed);
	state_i64(o, "roll_paused", c->roll_paused);
	if (!r)
		return 0;
	state_i64(o, "batch", r->batch);
	state_i64(o, "batch_pct", r->batch_pct);
	state_i64(o, "canary", r->canary);
	state_i64(o, "back", r->back);
	state_i64(o, "batch_open", r->batch_open);
	state_i64(o, "batches", r->batches);
	return 0;
}

int rollout_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *rec = state_first(in, "rollout");
	struct rollout *r;

	if (!rec)
		return 0;
	c->generation = (unsigned)rec_u64(rec, "generation", c->generation);
	c->rolled = (unsigned)rec_u64(rec, "rolled", c->rolled);
	c->roll_failed = (int)rec_i64(rec, "roll_failed", 0);
	c->roll_paused = (int)rec_i64(rec, "roll_paused", 0);
	if (!rec_has(rec, "batch_open"))
		return 0;               /* no reload ever: made on the first */
	if (!(r = ro(c))) {
		log_warnx("upgrade: rollout: out of memory");
		return -1;
	}
	r->batch = (int)rec_i64(rec, "batch", 0);
	r->batch_pct = (int)rec_i64(rec, "batch_pct", 0);
	r->canary = (int)rec_i64(rec, "canary", 0);
	r->back = (int)rec_i64(rec, "back", 0);
	r->batch_open = (int)rec_i64(rec, "batch_open", 0);
	r->batches = (int)rec_i64(rec, "batches", 0);
	return 0;
}
