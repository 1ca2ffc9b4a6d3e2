/*
 * weights.h - --weights for rr and leastconn: slot i weighs opt->weights[i]
 * (slots beyond the list weigh 1).  The weighted choices live here so that
 * policy_rr.c and policy_leastconn.c only ask "weighted?" and delegate.
 */
#ifndef LAUNCHER_WEIGHTS_H
#define LAUNCHER_WEIGHTS_H

#include <stdint.h>

struct cluster;
struct listener;
struct worker;

/* Were weights given?  Without them rr and leastconn run unweighted. */
int weights_on(const struct cluster *c);
/* The weight of a slot, >= 1. */
uint32_t weight_of_slot(const struct cluster *c, int slot);

/* Smooth weighted round robin (nginx's): among workers with room, each
 * gains its weight, the highest goes and loses the round's total.  Over
 * any window the shares follow the weights, interleaved (2,1,1 gives
 * a b a c, not a a b c).  O(workers) per connection. */
struct worker *weights_rr_pick(struct cluster *c, struct listener *l, unsigned *at);
/* Weighted least connections: the lowest open/weight, compared as
 * open_a * weight_b < open_b * weight_a (no division, exact); ties go by
 * smooth weighted round robin among the tied workers, so idle workers get
 * shares in the ratio of their weights (nginx's least_conn does the
 * same). */
struct worker *weights_leastconn_pick(struct cluster *c, struct listener *l, unsigned *at);
/* policy_ops.handed for both: the last pick was used, so commit its round
 * (a pick whose connection never came must not move the weights, as the
 * rotation cursor must not move: balancer.c). */
void weights_handed(struct cluster *c, struct listener *l, struct worker *w);

#endif
