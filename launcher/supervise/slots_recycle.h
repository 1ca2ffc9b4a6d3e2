/*
 * slots_recycle.h - see slots_recycle.c.
 */
#ifndef LAUNCHER_SUPERVISE_SLOTS_RECYCLE_H
#define LAUNCHER_SUPERVISE_SLOTS_RECYCLE_H

struct cluster;
struct worker;

/* Replace w (health.c's reasons: memory, requests, hang): see
 * slots_recycle.c. */
int supervisor_replace(struct cluster *c, struct worker *w, const char *reason,
		       const char *detail, int now);

#endif
