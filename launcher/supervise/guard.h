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

#endif
