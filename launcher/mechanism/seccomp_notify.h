/*
 * seccomp_notify.h - the master's half of seccomp clustering: one notify fd
 * per worker in the loop, each trapped bind/listen answered there
 * (seccomp_notify.c).
 */
#ifndef LAUNCHER_MECHANISM_SECCOMP_NOTIFY_H
#define LAUNCHER_MECHANISM_SECCOMP_NOTIFY_H

struct cluster;
struct worker;
struct spawn_args;

/* seccomp_notify.c */
/* Before spawning a worker: a socketpair for its notify fd; *sock is the
 * master's end.  0, or -1 (logged). */
int seccomp_spawn_prepare(struct cluster *c, struct spawn_args *a, int *sock);
/* After: take the notify fd from sock (closed) and watch it. */
int seccomp_spawn_done(struct cluster *c, struct worker *w, int sock);
/* An in-place upgrade (surface/upgrade.h): w's notify fd, carried
 * across the exec, watched again.  0, or -1 (logged; fd left
 * open, for the old image should the upgrade fall back). */
int seccomp_worker_adopt(struct cluster *c, struct worker *w, int fd);
/* The worker is gone: stop watching its notify fd. */
void seccomp_worker_free(struct cluster *c, struct worker *w);

#endif
