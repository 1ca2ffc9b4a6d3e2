/*
 * slots_scale.h - see slots_scale.c.
 */
#ifndef LAUNCHER_SUPERVISE_SLOTS_SCALE_H
#define LAUNCHER_SUPERVISE_SLOTS_SCALE_H

struct cluster;

/* One slot more (delta > 0) or one fewer (TTIN, TTOU); nothing while
 * stopping. */
void supervisor_scale(struct cluster *c, int delta);
/* cluster-ctl scale N: -1 when N is not a number of workers or while
 * stopping. */
int supervisor_scale_to(struct cluster *c, int n);

#endif
