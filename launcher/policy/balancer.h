/*
 * balancer.h - see balancer.c.
 */
#ifndef LAUNCHER_POLICY_BALANCER_H
#define LAUNCHER_POLICY_BALANCER_H

#include <stdint.h>
#include <sys/types.h>

struct cluster;
struct worker;
struct listener;

/* balancer.c */
void balancer_kick(struct cluster *c, struct listener *l);
void balancer_take_back(struct cluster *c, struct worker *w, struct listener *l);
void balancer_release(struct cluster *c, struct worker *w);
void balancer_drop_route(struct cluster *c, struct worker *w, struct listener *l);
void balancer_conn_closed(struct cluster *c, struct worker *w, uint32_t lid);
void balancer_stop(struct cluster *c);
uint64_t route_open_conns(const struct worker *w, const struct listener *l);
uint64_t worker_open_conns(const struct worker *w);
uint64_t worker_taken(const struct worker *w);

/* An in-place upgrade (policy_state.c, after worker_restore): every
 * route's channel and every watched listener back in the loop with the
 * balancer's handlers, the balancer's timers re-armed.  0, or -1
 * (logged). */
struct state_in;
int balancer_adopt(struct cluster *c, const struct state_in *in);

#endif
