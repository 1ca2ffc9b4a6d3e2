/*
 * worker.h - see worker.c.
 */
#ifndef LAUNCHER_SUPERVISE_WORKER_H
#define LAUNCHER_SUPERVISE_WORKER_H

#include "cluster.h"

#include <sys/types.h>

struct cluster;
struct peer;
struct worker;
struct listener;
struct msg_bind;

/* worker.c */
int worker_handle_message(struct peer *p, void *buf, ssize_t n, int fd);
struct worker *worker_spawn(struct cluster *c, int slot);
const char *worker_state_name(enum worker_state st);
/* Is from -> to an edge of a worker's life (worker_edges in worker.c)?
 * Setting the state it already has always is. */
int worker_transition_allowed(enum worker_state from, enum worker_state to);
/* Every change of w->state after its birth goes through here. */
void worker_set_state(struct worker *w, enum worker_state to);
void worker_signal(struct worker *w, int sig);
void worker_misbehaved(struct worker *w, const char *why);
void worker_free(struct cluster *c, struct worker *w);
struct worker *worker_by_pid(struct cluster *c, pid_t pid);
int worker_listens_like(const struct worker *w, const struct worker *old);
struct listener *worker_bind(struct worker *w, const struct msg_bind *m, int *fd, int *err);
void worker_listening(struct worker *w, struct listener *l);

#endif
