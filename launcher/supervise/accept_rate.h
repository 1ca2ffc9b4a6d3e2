/*
 * accept_rate.h - see accept_rate.c.
 */
#ifndef LAUNCHER_SUPERVISE_ACCEPT_RATE_H
#define LAUNCHER_SUPERVISE_ACCEPT_RATE_H

struct cluster;
struct worker;

/* accept_rate.c: one sample of every worker's accepts a second.
 * accept_rate_start: the first sample now, then one every second; 0, or
 * -1 (out of memory).  accept_rate: w's connections per second over the
 * last window_s seconds of samples (1 to ACCEPT_RATE_WINDOW_MAX; fewer
 * when w is younger), or -1 when the master cannot know them (a worker
 * that accepts itself without a board: seccomp). */
#define ACCEPT_RATE_WINDOW_MAX 10
int accept_rate_start(struct cluster *c);
void accept_rate_free(struct cluster *c);
double accept_rate(struct cluster *c, const struct worker *w, int window_s);

#endif
