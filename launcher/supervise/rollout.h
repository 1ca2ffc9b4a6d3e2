/*
 * rollout.h - reloads as rollouts: batches, a canary's pause, going back
 * to the previous release, progress (see rollout.c).
 */
#ifndef LAUNCHER_SUPERVISE_ROLLOUT_H
#define LAUNCHER_SUPERVISE_ROLLOUT_H

#include "base/envfile.h"

#include <limits.h>
#include <stddef.h>

struct cluster;

/* What `cluster-ctl reload` asks for beyond a plain reload (SIGHUP). */
struct reload_request {
	int batch;              /* slots per batch; 0: see batch_pct */
	int batch_pct;          /* percent of the slots; 0 with batch 0:
				 * --reload-batch */
	int canary;             /* pause after the first batch */
	char **argv;            /* a new command line, or NULL: the same */
	char path[PATH_MAX];    /* ... argv[0] resolved (rollout_check_program) */
	struct env_list env;    /* variables over the current release's */
};

/* A rollout's state, for status (report.c) and the progress lines. */
struct rollout_view {
	int active;             /* 0: no rollout under way (the rest is 0) */
	unsigned generation;
	int replaced, total;    /* slots on the target release, listening */
	int draining;           /* workers retired, not yet gone */
	double oldest_drain_s;
	int batch;              /* slots per batch, now */
	int paused;             /* a canary waits for continue or abort */
	int canary;
	int back;               /* an abort going back to the previous release */
};

/* The before-sleep pass, after slots_step and only when it had work (a
 * slot changed: c->slots_dirty was set): ends a rollout whose replacement
 * failed, closes a finished batch (its progress line, a canary's pause),
 * starts the next one, says when it is complete.  O(slots x workers). */
void rollout_step(struct cluster *c);

/* SIGHUP and `cluster-ctl reload`: start a rollout of a new release (the
 * same command unless rq brings another).  0 when under way; -1 with one
 * line in why when refused (stopping, a canary paused). */
void supervisor_reload(struct cluster *c);
int rollout_reload(struct cluster *c, const struct reload_request *rq, char *why, size_t len);
/* cluster-ctl rollout continue | abort: 0, or -1 with why. */
int rollout_continue(struct cluster *c, char *why, size_t len);
int rollout_abort(struct cluster *c, char *why, size_t len);

/* Whether rq's PROGRAM can run as the workers run it now: 0, or -1 with
 * why (resolved into rq->path). */
int rollout_check_program(struct cluster *c, struct reload_request *rq, char *why, size_t len);
void reload_request_free(struct reload_request *rq);

void rollout_view(const struct cluster *c, struct rollout_view *v);
/* "12/64 replaced, 3 draining (oldest 4.2 s)" */
void rollout_progress(const struct cluster *c, char *buf, size_t len);

/* An in-place upgrade (surface/upgrade.h): the rollout under way (its
 * batch as asked, canary, way back, the batch open and how many
 * finished) and the cluster's rollout fields (generation, rolled,
 * roll_failed, roll_paused), one "rollout" record.  No timer: a rollout
 * moves in the before-sleep pass. */
struct state_out;
struct state_in;
int rollout_save(struct cluster *c, struct state_out *o);
int rollout_restore(struct cluster *c, const struct state_in *in);

/* At exit: the releases the cluster and its slots still hold. */
void rollout_free(struct cluster *c);

#endif
