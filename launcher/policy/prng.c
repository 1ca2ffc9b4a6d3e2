/*
 * prng.c - see prng.h.  splitmix64 (Steele, Lea, Flood 2014): one add and
 * a few multiplies per draw, passes BigCrush, 64 bits of state.  The state
 * is the master's only global of its kind: the master has one thread, and
 * the policies that draw share one stream.
 */
#include "policy/prng.h"
#include "cluster.h"
#include "policy/policy.h"

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t state;
static int seeded;

static void seed(void)
{
	const char *env = getenv("CLUSTER_RUN_SEED");
	struct timespec ts;

	seeded = 1;
	if (env && *env) {
		state = strtoull(env, NULL, 0);
		return;
	}
	if (getrandom(&state, sizeof(state), GRND_NONBLOCK) == (ssize_t)sizeof(state))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);     /* no entropy yet: good enough */
	state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
}

uint64_t prng_next(void)
{
	uint64_t z;

	if (!seeded)
		seed();
	z = (state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

uint32_t prng_below(uint32_t n)
{
	return (uint32_t)(((prng_next() >> 32) * (uint64_t)n) >> 32);
}

/* Uniform: the first draw picks j with probability 1/n; it misses (no room,
 * or `not`) with probability (n-k)/n, and the pass then picks j with 1/k,
 * k being the eligible count: 1/n + (n-k)/(n k) = 1/k. */
struct worker *prng_worker_with_room(struct cluster *c, struct listener *l,
				     const struct worker *not, unsigned *at)
{
	unsigned i, n = (unsigned)c->nworkers;
	uint32_t k = 0;
	struct worker *w, *best = NULL;

	if (n == 0)
		return NULL;
	i = prng_below(n);
	w = c->workers[i];
	if (w != not && channel_has_room(c, w, l)) {
		*at = i;
		return w;
	}
	for (i = 0; i < n; i++) {
		w = c->workers[i];
		if (w == not || !channel_has_room(c, w, l))
			continue;
		if (prng_below(++k) == 0) {
			best = w;
			*at = i;
		}
	}
	return best;
}
