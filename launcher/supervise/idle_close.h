/*
 * idle_close.h - see idle_close.c.
 */
#ifndef LAUNCHER_SUPERVISE_IDLE_CLOSE_H
#define LAUNCHER_SUPERVISE_IDLE_CLOSE_H

struct census;
struct cluster;
struct worker;

/* idle_close.c: shut the read side of every idle TCP connection of cs
 * that w's processes hold, so that the app closes it.  How many it shut
 * (also added to c->idle_closed). */
int idle_close_sweep(struct cluster *c, struct worker *w, struct census *cs);

#endif
