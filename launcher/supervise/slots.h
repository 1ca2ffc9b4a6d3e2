/*
 * slots.h - see slots.c.
 */
#ifndef LAUNCHER_SUPERVISE_SLOTS_H
#define LAUNCHER_SUPERVISE_SLOTS_H

#include <stdint.h>
#include "cluster.h"

#include <sys/types.h>

struct cluster;
struct worker;

/* slots.c: the slot state machine */
void slots_start(struct cluster *c);
void slots_worker_listening(struct cluster *c, struct worker *w);
/* Act on every worker marked heard_listen (the before-sleep pass). */
void slots_heard_listens(struct cluster *c);
void slots_worker_exited(struct cluster *c, struct worker *w, int status);
void slots_step(struct cluster *c);
int slots_reloading(const struct cluster *c);
const char *slot_state_name(enum slot_state st);
/* Is from -> to an edge of the slot lifecycle (slot_edges in slots.c)?
 * Setting the state a slot already has always is. */
int slot_transition_allowed(enum slot_state from, enum slot_state to);
/* Start slot s's replacement running rel (rollout.c, recycling). */
struct release;
void slot_replace(struct slot *s, struct release *rel);
/* Workers of slot s leaving: neither its active one nor its replacement. */
int slots_leaving(const struct slot *s);
/* A reload aborted: slots waiting to retry a replacement keep their
 * workers, and every slot's failures are forgotten. */
void slots_stop_replacing(struct cluster *c);
void supervisor_stop(struct cluster *c, int sig);

/* For slots_scale.c, slots_recycle.c and slots_state.c, which change
 * slots as this file does.  The one way a slot changes state (checked
 * against slot_edges; see slots.c). */
void slot_set(struct slot *s, enum slot_state to);
/* Cancel s's restart or retry timer and its --ready-timeout, and forget
 * the release a replacement would have run. */
void slot_cancel_timers(struct slot *s);
/* Start s's worker, unless stopping, s is beyond the target or has one;
 * a failed fork/exec restarts it later as after a crash. */
void slot_fill(struct slot *s);
/* An in-place upgrade: s's timers again at their deadlines (loop ms; -1:
 * none), each with the handler its state armed it with. */
void slot_rearm(struct slot *s, int64_t timer_due, int64_t ready_due);

#endif
