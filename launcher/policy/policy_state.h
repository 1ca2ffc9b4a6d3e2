/*
 * policy_state.h - the policy layer's part of an in-place upgrade
 * (surface/upgrade.h): policy_state.c gathers each policy module's own
 * and the balancer's (balancer_adopt).  One header for them all, declared
 * apart from their modules' own headers: weights.c and fd_short.c use
 * balancer.c, so balancer.c calling theirs would make a cycle.
 *
 * What each policy carries:
 *   rr, jiq, sticky   nothing of their own: the rotation cursor is the
 *                     listener's (listener_save);
 *   leastconn         its heap (policy_data) names workers by pointer: not
 *                     carried, rebuilt on the next pick, as after any
 *                     workers/8 picks;
 *   random, p2c       the dice (prng.c) are seeded again in the new image:
 *                     a stream of draws has nothing to continue;
 *   --weights         the smooth round's current weights (weights.c);
 *   kernel variants   the reuseport groups' models (reuseport_group.c; the
 *                     programs stay attached to the sockets) and the load
 *                     refresh's timer, averages and counters (policy_steer.c);
 *   fd_short          each short worker's recheck, at the deadline worker.c
 *                     saved in the worker's record (fds_short_due).
 * Restores return 0, or -1 (logged).
 */
#ifndef LAUNCHER_POLICY_POLICY_STATE_H
#define LAUNCHER_POLICY_POLICY_STATE_H

struct cluster;
struct state_out;
struct state_in;

/* policy_state.c: after worker_restore.  restore puts every route's
 * channel and every watched listener back in the loop, re-arms the
 * balancer's timers and the policies' own.  0, or -1 (logged). */
int policy_state_save(struct cluster *c, struct state_out *o);
int policy_state_restore(struct cluster *c, const struct state_in *in);

/* weights.c: each listener's round (the slots' current weights; a planned
 * pick is never pending between two turns). */
void weights_save(struct cluster *c, struct state_out *o);
int weights_restore(struct cluster *c, const struct state_in *in);

/* reuseport_group.c: each group's model (the kernel's order, the serving
 * table, the steering mode and shares).  The program attached to the
 * group stays on the socket across the exec; only the model of it must
 * be rebuilt, for the next re-steer.  The fds it names are the
 * listeners' and seccomp_reuseport.c's, carried by them. */
void reuseport_group_save(struct cluster *c, struct state_out *o);
int reuseport_group_restore(struct cluster *c, const struct state_in *in);

/* policy_steer.c: the refresh timer's deadline, its counters (metrics
 * continue) and each load-aware listener's averages, attached shares and
 * paces, so the first refresh after the exec neither forgets a slow slot
 * nor re-attaches a program that did not change. */
void steer_save(struct cluster *c, struct state_out *o);
int steer_restore(struct cluster *c, const struct state_in *in);

/* fd_short.c: the recheck of every worker the new image has with
 * fds_short set. */
int fd_short_restore(struct cluster *c, const struct state_in *in);

#endif
