/*
 * listener.h - see listener.c.
 */
#ifndef LAUNCHER_NET_LISTENER_H
#define LAUNCHER_NET_LISTENER_H

#include <sys/types.h>

struct cluster;
struct worker;
struct listener;
struct msg_bind;

/* listener.c */
struct listener *listener_for(struct cluster *c, struct worker *w,
			      const struct msg_bind *req, int *err);
void listener_announce(struct cluster *c, struct listener *l);
void listener_close_all(struct cluster *c);
void listener_set_backlog(struct cluster *c, struct listener *l, int backlog);
int listener_serves_path(struct cluster *c, const struct msg_bind *req);
void listeners_slots_changed(struct cluster *c);

#endif
