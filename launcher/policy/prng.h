/*
 * prng.h - the randomised policies' dice (random, p2c): a small fast PRNG
 * seeded once from the kernel, and a uniform draw among the workers that
 * have room.  Not for anything secret.
 */
#ifndef LAUNCHER_PRNG_H
#define LAUNCHER_PRNG_H

#include <stdint.h>

struct cluster;
struct listener;
struct worker;

/* The next 64 random bits (splitmix64).  Seeded from getrandom() on first
 * use, or from CLUSTER_RUN_SEED when set (reproducible runs). */
uint64_t prng_next(void);
/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias for n far
 * below 2^32 is negligible here). */
uint32_t prng_below(uint32_t n);

/* A worker drawn uniformly among those with room on l, other than `not`
 * (may be NULL); *at is its index in c->workers.  NULL when there is none.
 * One draw when the drawn worker has room (the common case), else one
 * pass over the workers (reservoir sampling): uniform either way. */
struct worker *prng_worker_with_room(struct cluster *c, struct listener *l,
				     const struct worker *not, unsigned *at);

#endif
