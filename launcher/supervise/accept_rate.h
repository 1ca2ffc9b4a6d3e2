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
/* An in-place upgrade (surface/upgrade.h): each worker's samples (by
 * serial) and the next sample's deadline.  Restore builds c->rates;
 * accept_rate_start (supervisor_restore) then keeps them.  The counts
 * sampled are the workers' own totals (boards, routes), carried by
 * worker.c, so the rates go on without a gap. */
struct state_out;
struct state_in;
int accept_rate_save(struct cluster *c, struct state_out *o);
int accept_rate_restore(struct cluster *c, const struct state_in *in);
void accept_rate_free(struct cluster *c);
double accept_rate(struct cluster *c, const struct worker *w, int window_s);

#endif
