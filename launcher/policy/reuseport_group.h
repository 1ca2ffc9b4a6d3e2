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

#endif
