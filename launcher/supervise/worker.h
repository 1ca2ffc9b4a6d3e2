/*
 * worker.h - one worker's process and its place in the master's table
 * (worker.c).
 */
#ifndef LAUNCHER_SUPERVISE_WORKER_H
#define LAUNCHER_SUPERVISE_WORKER_H

#include <sys/types.h>

struct cluster;
struct worker;

/* Start a worker in slot: its process, doorbell, board and output.  NULL
 * with errno when it could not be started. */
struct worker *worker_spawn(struct cluster *c, int slot);
void worker_signal(struct worker *w, int sig);
void worker_free(struct cluster *c, struct worker *w);
struct worker *worker_by_pid(struct cluster *c, pid_t pid);
/* w listens on everything old listened on (and on something at all). */
int worker_listens_like(const struct worker *w, const struct worker *old);

#endif
