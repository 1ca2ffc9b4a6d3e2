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
void supervisor_scale(struct cluster *c, int delta);
int supervisor_scale_to(struct cluster *c, int n);
void supervisor_stop(struct cluster *c, int sig);
/* Replace w (health.c's reasons: memory, requests, hang): see slots.c. */
int supervisor_replace(struct cluster *c, struct worker *w, const char *reason,
		       const char *detail, int now);
/* An in-place upgrade (surface/upgrade.h): every slot in use, one "slot"
 * record each (workers by serial, releases by serial), and the target.
 * Restore runs after worker_restore: the slots' timers (restart,
 * retried replacement, --ready-timeout) again at their deadlines, and
 * each worker's drain check and kill timer (retire.c's, "retire"
 * records). */
struct state_out;
struct state_in;
int slots_save(struct cluster *c, struct state_out *o);
int slots_restore(struct cluster *c, const struct state_in *in);

#endif
