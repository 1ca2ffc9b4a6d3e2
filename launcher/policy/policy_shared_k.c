/*
 * policy_shared_k.c - `-p shared` through seccomp, served as reuseport:
 * a socket per slot, an even spread steered in the kernel.
 *
 * Why not one shared socket.  Through seccomp the master never sees
 * accept, so nothing can keep one worker from accepting on a socket every
 * worker holds: a retiring worker (reload, scale-down, stop) takes
 * connections until the moment it dies, and a program that dies on
 * SIGTERM (Go) or kills its per-connection children with it (busybox
 * httpd) resets the ones it had just taken.  The master cannot take the
 * socket away either: it is the same open file in every worker, and
 * closing the master's copy closes nothing; the queue belongs to all.
 * Measured on main (b0a7db6), 2 HUPs + TTIN + TTOU under load, 5 trials:
 * Go lost 0 0 1 1 2 requests, static busybox httpd 4 3 6 8 4.
 *
 * With a socket per slot a retiring worker's socket is taken out of
 * steering and its worker empties its own queue before the stop signal
 * (mechanism/seccomp_reuseport.c, supervise/retire.c): the same path
 * reuseport takes, which lost nothing in the same trials.  What users see
 * of shared stays: any worker may serve any client, the spread is even;
 * what differs is that a connection waits in its slot's queue rather than
 * in one queue all workers take from (as under reuseport), and the
 * start-up line says so.
 *
 * Datagram sockets stay one shared socket (policy_for_bind): nothing is
 * accepted from them, so there is nothing to drain, and a per-slot UDP
 * socket would drop what waits in it when closed.
 */
#include "cluster.h"
#include "policy/policy.h"
#include "policy/policy_steer.h"

const struct policy_ops policy_shared_k = {
	.name = "shared",
	.help = "through seccomp: a socket per slot, an even spread, as reuseport",
	.served_as = "served as reuseport (a socket per worker, steered in the kernel): "
		     "one socket shared through seccomp cannot be drained",
	STEER_OPS,
	.slots_changed = steer_slots_changed_shares,
};
