/*
 * supervisor.h - start and finish supervision: signals, reaping, the
 * loop's before-sleep pass (supervisor.c).
 */
#ifndef LAUNCHER_SUPERVISE_SUPERVISOR_H
#define LAUNCHER_SUPERVISE_SUPERVISOR_H

#include <stdint.h>
#include <sys/types.h>

struct cluster;
struct worker;

/* supervisor.c */
int supervisor_start(struct cluster *c);
/* An in-place upgrade (surface/upgrade.h), the last of the supervise
 * layer's restores: supervisor_start without starting any worker (the
 * slots and workers were restored): signals (blocked ones stay blocked
 * and pending across the exec), subreaper, the before-sleep pass, the
 * hooks, the quiet timer at its deadline, health and accept rates. */
struct state_out;
struct state_in;
int supervisor_save(struct cluster *c, struct state_out *o);
int supervisor_restore(struct cluster *c, const struct state_in *in);
void supervisor_finish(struct cluster *c);

#endif
