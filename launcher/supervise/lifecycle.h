/*
 * lifecycle.h - what the outside world is told about the cluster as a
 * whole: ready, reloading, reload outcome, stopping (see lifecycle.c).
 * The supervisor calls these at those points; everything else asks.
 */
#ifndef LAUNCHER_LIFECYCLE_H
#define LAUNCHER_LIFECYCLE_H

#include <stdint.h>
#include <time.h>

struct buf;
struct cluster;
struct sd_listen;

enum reload_outcome {
	RELOAD_NONE,            /* no reload yet */
	RELOAD_RUNNING,
	RELOAD_COMPLETE,
	RELOAD_ABORTED,
	RELOAD_STOPPED,         /* cluster-run stopped before it finished */
};

struct reload_record {
	enum reload_outcome outcome;
	time_t started, finished;       /* wall clock, for people */
	int64_t started_ms;             /* loop clock */
	double seconds;
	char why[160];                  /* what aborted it */
	uint64_t complete, aborted;     /* counters since start */
};

/* Before anything else: systemd's variables out of the environment. */
int lifecycle_open(struct cluster *c);
void lifecycle_close(struct cluster *c);

/* The supervisor's points. */
void lifecycle_ready(struct cluster *c);
void lifecycle_reload_started(struct cluster *c);
void lifecycle_reload_complete(struct cluster *c);
/* The new worker of slot kept exiting before it listened (last: how). */
void lifecycle_reload_aborted(struct cluster *c, int slot, const char *how);
/* A canary paused after its first batch: every slot is served, so
 * systemd hears READY=1 (rollout continue calls lifecycle_reload_started
 * again: RELOADING=1, the same record). */
void lifecycle_reload_paused(struct cluster *c);
/* The operator gave the reload up (a canary's abort): why. */
void lifecycle_reload_abandoned(struct cluster *c, const char *why);
void lifecycle_stopping(struct cluster *c);
/* An in-place upgrade (surface/upgrade.c) begins: systemd hears
 * RELOADING=1 (with MONOTONIC_USEC, as Type=notify-reload wants) and a
 * STATUS= line; and ends, in whichever image runs then: READY=1 (the
 * pid is the same: no MAINPID=). */
void lifecycle_upgrade_started(struct cluster *c);
void lifecycle_upgrade_done(struct cluster *c, int ok);
/* The upgrade's state (surface/upgrade.h): systemd's notify socket and
 * watchdog, the sockets it handed over (LISTEN_FDS: both were taken out
 * of the environment at the first start, so the new image cannot find
 * them there), the reload record and the STATUS= timer.  Restore runs
 * after lifecycle_open, which found nothing of systemd's then. */
struct state_out;
struct state_in;
int lifecycle_save(struct cluster *c, struct state_out *o);
int lifecycle_restore(struct cluster *c, const struct state_in *in);

/* Questions. */
int lifecycle_all_ready(const struct cluster *c);       /* /ready */
int lifecycle_settled(const struct cluster *c);         /* scale --wait */
const struct reload_record *lifecycle_last_reload(const struct cluster *c);
const char *reload_outcome_name(enum reload_outcome o);
unsigned lifecycle_restarts(const struct cluster *c);

#endif
