/*
 * fake_cluster.h - a struct cluster for the unit suites, which run the
 * launcher's core in process (linked from its static library): options
 * as a command line gives them, a loop on a clock the test moves, and
 * no process ever started.
 *
 * Two kinds of workers:
 *   - spawned by the supervisor itself (slots.c, through worker_spawn):
 *     the spawn and kill seams (struct proc_ops, base/spawn.h) make up a
 *     pid and record signals; the test says when one listens or exits,
 *     as a worker's message and reaping would;
 *   - hand-made for the policies (fake_worker_add): READY, listening on
 *     every listener over a real but unused channel (a socketpair, so that
 *     the kernel's answer about its queue is real too).
 *
 * Not here: anything that talks to a real worker (the protocol, the
 * shim); the end-to-end suites do that.
 */
#ifndef TESTS_FAKE_CLUSTER_H
#define TESTS_FAKE_CLUSTER_H

#include "cluster.h"

#include <stdint.h>
#include <sys/types.h>

struct policy_ops;

/* words: options as on cluster-run's command line, NULL-terminated; the
 * PROGRAM ("true") is added.  The clock starts at FAKE_EPOCH_MS.  No
 * listener, no worker; slots are not started (slots_start). */
#define FAKE_EPOCH_MS 1000000
struct cluster *fake_cluster_new(const char *const *words);
void fake_cluster_free(struct cluster *c);

/* Time: move the clock by ms, then one turn of the loop (fake_turn). */
extern int64_t fake_now_ms;
void fake_advance(struct cluster *c, int64_t ms);
/* One turn: the timers due now, then the before-sleep pass as
 * supervisor.c runs it (workers heard listening, slots_step,
 * rollout_step). */
void fake_turn(struct cluster *c);

/* Processes.  fake_spawn_fails: the next spawns fail (ENOENT) while it is
 * set.  fake_spawns: how many were started.  fake_signalled(pid): the
 * signals sent to pid's process group, in order, 0-terminated (at most
 * 15 kept per pid). */
extern int fake_spawn_fails;
extern int fake_spawns;
const int *fake_signalled(pid_t pid);

/* A spawned worker says it listens on every listener (its shim's
 * MSG_LISTEN, heard in the next pass), or exits with a wait status (as
 * reaping finds it; w is freed). */
void fake_listens(struct cluster *c, struct worker *w);
void fake_exits(struct cluster *c, struct worker *w, int status);

/* The transitions the setters made, read back from their debug lines
 * (the fake cluster turns -v on and keeps stderr in a file, copied to
 * the real stderr when the cluster is freed if FAKE_CLUSTER_LOG is set
 * in the environment): the states slot `slot`, or
 * the worker with that pid, went through, as "active backoff starting",
 * or "" when it made none.  Sanitizer reports would go to that file too:
 * ASAN_OPTIONS=log_path=... keeps them apart. */
const char *fake_slot_path(int slot);
const char *fake_worker_path(pid_t pid);

/* A listener of the given policy and socket type, at the next id, bound
 * to nothing. */
struct listener *fake_listener_add(struct cluster *c, const struct policy_ops *ops,
				   int family, int type);
/* A hand-made worker for slot (its slot's active worker; slots up to it
 * counted in c->target), READY and listening on every listener added so
 * far.  Add listeners first. */
struct worker *fake_worker_add(struct cluster *c, int slot);

/* A cluster of words with a shared UDP listener, every slot's first worker
 * started and listening (the rollout suites' starting point). */
struct cluster *fake_cluster_listening(const char *const *words);

/* An upgrade's save and read back, in process: each saver in turn (a
 * NULL-terminated list, in upgrade.h's order) writes into one state,
 * which comes back as the new image reads it.  Asserts on the way. */
struct state_out;
struct state_in;
typedef int fake_state_saver(struct cluster *c, struct state_out *o);
struct state_in *fake_state_trip(struct cluster *c, fake_state_saver *const *savers);

#endif
