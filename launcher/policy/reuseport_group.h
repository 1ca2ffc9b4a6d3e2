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
/* Steer slots 0..n-1 to their sockets; -1 when in slot order (the
 * caller's simple program does it). */
int reuseport_group_steer(struct listener *l, int n);

#endif
