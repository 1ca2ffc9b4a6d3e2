/*
 * worker.h - one worker's process and its place in the master's table
 * (worker.c).
 */
#ifndef LAUNCHER_SUPERVISE_WORKER_H
#define LAUNCHER_SUPERVISE_WORKER_H

#include "cluster.h"

#include <stdint.h>
#include <sys/types.h>

struct cluster;
struct worker;

/* Start a worker in slot: its process, doorbell, board and output.  NULL
 * with errno when it could not be started. */
/* Start a worker for slot running rel (held by the worker; NULL: the
 * command line cluster-run was started with). */
struct release;
struct worker *worker_spawn(struct cluster *c, int slot, struct release *rel);
const char *worker_state_name(enum worker_state st);
/* Is from -> to an edge of a worker's life (worker_edges in worker.c)?
 * Setting the state it already has always is. */
int worker_transition_allowed(enum worker_state from, enum worker_state to);
/* Every change of w->state after its birth goes through here. */
void worker_set_state(struct worker *w, enum worker_state to);
/* sig to w's process group (a followed daemon's: the one it is in now). */
void worker_signal(struct worker *w, int sig);
/* follow.c: w's process exited and left pid, which is w's process from
 * now on (its group too, and the guard is told). */
void worker_follow(struct worker *w, pid_t pid);
void worker_free(struct cluster *c, struct worker *w);
struct worker *worker_by_pid(struct cluster *c, pid_t pid);
/* The live worker with that serial (w->serial), or NULL (0: none). */
struct worker *worker_by_serial(struct cluster *c, uint64_t serial);
/* An in-place upgrade (surface/upgrade.h): every worker, in c->workers'
 * order, one "worker" record each with its routes ("route") and peers
 * ("peer") as records of their own, named by the worker's serial.
 * Restore runs after release_restore and listener_restore: it rebuilds
 * each struct worker, its board from the memfd, its doorbell, peers,
 * seccomp notify fd and output pipes back in the loop.  Its timers are
 * others': drain and kill (retire.c's) slots_restore re-arms, follow
 * follow_restore.  Routes come back as values
 * (their channel fds included): policy_state_restore puts the channels in
 * the loop, and re-arms fds_short_timer from the record's key
 * fds_short_due (loop ms, -1: none). */
struct state_out;
struct state_in;
int worker_save(struct cluster *c, struct state_out *o);
int worker_restore(struct cluster *c, const struct state_in *in);
/* w listens on everything old listened on (and on something at all). */
int worker_listens_like(const struct worker *w, const struct worker *old);
/* The environment a worker of slot gets (doorbell -1: through seccomp),
 * as worker_spawn builds it; NULL when out of memory.  For limits.c. */
char **worker_env(struct cluster *c, int slot, int doorbell);
void worker_env_free(char **env);

#endif
