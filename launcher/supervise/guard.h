/*
 * guard.h - the process that kills what is left of the cluster when the
 * master dies (see guard.c).
 */
#ifndef LAUNCHER_GUARD_H
#define LAUNCHER_GUARD_H

#include <sys/types.h>

struct cluster;

/* Put CLUSTER_RUN_MASTER in our environment and start the guard; call it
 * before any worker exists.  0, or -1 after saying why.  The guard is told
 * to go at exit (atexit). */
int guard_start(struct cluster *c);
/* A worker was spawned: its process group belongs to the cluster. */
void guard_watch(struct cluster *c, pid_t pgrp);
/* An in-place upgrade (surface/upgrade.h): the guard goes on, and so
 * must its pipe: closed by the exec, it would read EOF and kill every
 * worker.  Save keeps the write end (and what a new guard would need);
 * restore, in place of guard_start, watches it again and tells the
 * guard to go at exit, as guard_start does. */
struct state_out;
struct state_in;
int guard_save(struct cluster *c, struct state_out *o);
int guard_restore(struct cluster *c, const struct state_in *in);

#endif
