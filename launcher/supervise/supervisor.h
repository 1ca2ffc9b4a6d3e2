/*
 * supervisor.h - start and finish supervision: signals, reaping, the
 * loop's before-sleep pass (supervisor.c).
 */
#ifndef LAUNCHER_SUPERVISE_SUPERVISOR_H
#define LAUNCHER_SUPERVISE_SUPERVISOR_H

#include <stdint.h>
#include <sys/types.h>

struct cluster;
struct worker;

/* supervisor.c */
int supervisor_start(struct cluster *c);
void supervisor_finish(struct cluster *c);

#endif
