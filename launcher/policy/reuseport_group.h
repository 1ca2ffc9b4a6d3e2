/*
 * reuseport_group.h - the kernel's order of a reuseport group, and
 * steering by slot whatever that order (reuseport_group.c).
 */
#ifndef LAUNCHER_POLICY_REUSEPORT_GROUP_H
#define LAUNCHER_POLICY_REUSEPORT_GROUP_H

struct listener;

/* reuseport_group.c: the kernel's order of a reuseport group */
void reuseport_group_join(const struct listener *l, int fd);
void reuseport_group_leave(const struct listener *l, int fd);
/* Steer new connections at random among the sockets serving slots
 * 0..n-1 of l (TCP; nothing for UDP). */
void reuseport_group_steer(struct listener *l, int n);
/* fd serves slot of l from now on instead of the slot's own socket (-1:
 * the slot's own again).  Steering follows at the next steer.  0, or -1
 * when out of memory. */
int reuseport_group_serve(const struct listener *l, int slot, int fd);

/* Steer by shares: slot i of 0..n-1 gets shares[i] parts of the new
 * connections (0: none; all 0: an even spread), from now on and at every
 * later steer.  1 when the program changed, 0 when it was already that,
 * -1 when out of memory. */
int reuseport_group_shares(struct listener *l, int n, const unsigned *shares);
/* Steer by a hash of the client's address (sticky), from the next steer
 * on. */
void reuseport_group_hash(struct listener *l);
/* The slot that address a (family 4: 4 bytes, 6: 16) gets under
 * reuseport_group_hash with n slots. */
int reuseport_hash_slot(int family, const void *a, int n);

#endif
