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

/* Questions. */
int lifecycle_all_ready(const struct cluster *c);       /* /ready */
int lifecycle_settled(const struct cluster *c);         /* scale --wait */
const struct reload_record *lifecycle_last_reload(const struct cluster *c);
const char *reload_outcome_name(enum reload_outcome o);
unsigned lifecycle_restarts(const struct cluster *c);

#endif
