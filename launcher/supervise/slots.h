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
/* 0, or -1 when the reread of the files refused it (hooks.reread). */
int supervisor_reload(struct cluster *c);
void supervisor_scale(struct cluster *c, int delta);
int supervisor_scale_to(struct cluster *c, int n);
void supervisor_stop(struct cluster *c, int sig);
/* Replace w (health.c's reasons: memory, requests, hang): see slots.c. */
int supervisor_replace(struct cluster *c, struct worker *w, const char *reason,
		       const char *detail, int now);

#endif
