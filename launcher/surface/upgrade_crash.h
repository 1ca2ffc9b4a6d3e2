/*
 * upgrade_crash.h - the way back for a new image that crashes while it
 * takes the state (see upgrade_crash.c).
 */
#ifndef CLUSTER_RUN_UPGRADE_CRASH_H
#define CLUSTER_RUN_UPGRADE_CRASH_H

#include <stddef.h>

/* From now until upgrade_crash_disarm, a fatal signal (SEGV, BUS, ILL,
 * FPE, ABRT) executes the old binary (fallback_fd) with argv and the
 * state (state_fd, and the fds it names: fds[0..nfds)), as
 * upgrade_give_back does, with the signal as the reason.  Everything the
 * handler needs is built here: it calls nothing but system calls. */
void upgrade_crash_arm(int state_fd, int fallback_fd, char *const *argv, const int *fds,
		       size_t nfds);
/* The state is taken: a crash from here on is a crash (the default
 * actions again). */
void upgrade_crash_disarm(void);

#endif
