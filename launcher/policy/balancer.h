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

#endif
