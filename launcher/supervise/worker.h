/*
 * worker.h - see worker.c.
 */
#ifndef LAUNCHER_SUPERVISE_WORKER_H
#define LAUNCHER_SUPERVISE_WORKER_H

#include <sys/types.h>

struct cluster;
struct peer;
struct worker;
struct listener;
struct msg_bind;

/* worker.c */
int worker_handle_message(struct peer *p, void *buf, ssize_t n, int fd);
struct worker *worker_spawn(struct cluster *c, int slot);
void worker_signal(struct worker *w, int sig);
void worker_misbehaved(struct worker *w, const char *why);
void worker_free(struct cluster *c, struct worker *w);
struct worker *worker_by_pid(struct cluster *c, pid_t pid);
int worker_listens_like(const struct worker *w, const struct worker *old);
struct listener *worker_bind(struct worker *w, const struct msg_bind *m, int *fd, int *err);
void worker_listening(struct worker *w, struct listener *l);

#endif
