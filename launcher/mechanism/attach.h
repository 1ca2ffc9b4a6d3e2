/*
 * attach.h - a worker's bind() and listen(), whichever mechanism carried
 * them (attach.c).
 */
#ifndef LAUNCHER_MECHANISM_ATTACH_H
#define LAUNCHER_MECHANISM_ATTACH_H

struct worker;
struct listener;
struct msg_bind;

/* w binds what m asks for: the listener, and in *fd what the worker must
 * hold, or NULL with *err the errno its bind() fails with. */
struct listener *worker_bind(struct worker *w, const struct msg_bind *m, int *fd, int *err);
/* w listens on l: it may get connections (marks for the before-sleep pass). */
void worker_listening(struct worker *w, struct listener *l);

#endif
