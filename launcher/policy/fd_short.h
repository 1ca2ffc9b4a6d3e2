/*
 * fd_short.h - a worker whose fd table is full gets no connections until
 * it has free fds again (fd_short.c).
 */
#ifndef LAUNCHER_POLICY_FD_SHORT_H
#define LAUNCHER_POLICY_FD_SHORT_H

#include <sys/types.h>

struct cluster;
struct worker;

/* A process of w (pid, its own word) could not take a connection: its fd
 * table is full (MSG_FDS_SHORT). */
void fd_short_report(struct cluster *c, struct worker *w, pid_t pid);

#endif
