/*
 * follow.h - workers that daemonize, and what workers leave behind
 * (follow.c).  supervisor.c's reaping calls these, in this order, for
 * each batch of waitpid():
 *
 *   follow_reaped   for each reaped pid
 *   follow_scan     once: note the processes adopted since the last batch
 *   follow_exit     for each worker whose process exited: 1 when a daemon
 *                   it left is its process now (the exit is not the
 *                   worker's), else 0: hand the exit to slots.c
 */
#ifndef LAUNCHER_SUPERVISE_FOLLOW_H
#define LAUNCHER_SUPERVISE_FOLLOW_H

#include <sys/types.h>

struct cluster;
struct worker;

void follow_reaped(struct cluster *c, pid_t pid);
void follow_scan(struct cluster *c);
int follow_exit(struct cluster *c, struct worker *w, int status);
/* At the end: SIGKILL every child left (adopted or not) and reap it,
 * until none is left; then forget what was adopted. */
void follow_kill_all(struct cluster *c);
/* An in-place upgrade (surface/upgrade.h): the processes adopted (they
 * stay our children: the pid is the same), by whose serial, the
 * doorbells of workers gone, and each followed daemon's deadline to
 * listen.  Restore runs after worker_restore. */
struct state_out;
struct state_in;
int follow_save(struct cluster *c, struct state_out *o);
int follow_restore(struct cluster *c, const struct state_in *in);

#endif
