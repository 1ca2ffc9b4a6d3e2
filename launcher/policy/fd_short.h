/*
 * fd_short.h - a worker whose fd table is full gets no connections until
 * it has free fds again (fd_short.c).
 */
#ifndef LAUNCHER_POLICY_FD_SHORT_H
#define LAUNCHER_POLICY_FD_SHORT_H

#include <sys/types.h>

struct cluster;
struct worker;
struct state_out;
struct state_in;

/* A process of w (pid, its own word) could not take a connection: its fd
 * table is full (MSG_FDS_SHORT). */
void fd_short_report(struct cluster *c, struct worker *w, pid_t pid);
/* An in-place upgrade: each short worker's recheck, as a deadline
 * (w->fds_short itself is worker.c's to carry).  restore re-arms it for
 * every worker the new image has with fds_short set. */
void fd_short_save(struct cluster *c, struct state_out *o);
int fd_short_restore(struct cluster *c, const struct state_in *in);

#endif
