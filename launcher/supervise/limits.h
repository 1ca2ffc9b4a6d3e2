/*
 * limits.h - what the kernel's limits allow, checked once at start
 * (limits.c): the fds the master needs for N workers, and the size of a
 * worker's arguments and environment for exec().
 */
#ifndef LAUNCHER_SUPERVISE_LIMITS_H
#define LAUNCHER_SUPERVISE_LIMITS_H

struct cluster;

/* The master's open files for c->opt->workers workers (README, "Limits"). */
long limits_fds_needed(const struct cluster *c);
/* After the fd limit was raised: 0, or -1 after one line saying how many
 * fds are needed and what the limit is. */
int limits_check_fds(const struct cluster *c);
/* A worker's exec() would take its arguments and environment: 0, or -1
 * after one line naming what is too long. */
int limits_check_exec(struct cluster *c);

#endif
