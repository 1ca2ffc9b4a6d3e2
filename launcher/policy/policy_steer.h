/*
 * policy_steer.h - what the kernel variants of the channel policies share
 * (policy_steer.c): a socket per slot as under reuseport, and the refresh
 * of the load-aware ones' program.
 */
#ifndef LAUNCHER_POLICY_POLICY_STEER_H
#define LAUNCHER_POLICY_POLICY_STEER_H

#include <stdint.h>

struct cluster;
struct worker;
struct listener;

int steer_attach(struct cluster *c, struct worker *w, struct listener *l);
void steer_drain(struct cluster *c, struct worker *w, struct listener *l, int give_back);
unsigned steer_pending(struct cluster *c, struct worker *w, struct listener *l);
/* The fixed-share variants (rr, random): weights or an even spread. */
void steer_slots_changed_shares(struct cluster *c, struct listener *l);
/* The load-aware variants (leastconn, p2c, jiq): reweigh now and keep
 * reweighing on a timer. */
void steer_slots_changed_load(struct cluster *c, struct listener *l);
/* w has just started listening on l (attach.c): a load-aware variant
 * reweighs now, so a slot added by TTIN or a restarted worker gets its
 * share at once rather than at the next refresh. */
void steer_worker_listening(struct cluster *c, struct listener *l);

/* A kernel variant's table: per-slot sockets, reuseport's attach, drain
 * and pending, and in_kernel for the start-up line. */
#define STEER_OPS .in_kernel = 1, .per_slot_sockets = 1, .attach = steer_attach, \
	.drain = steer_drain, .pending = steer_pending

/* The load-aware variants' loads: what a slot holds open plus what waits
 * in its accept queue, in 1/STEER_LOAD_ONE of a connection; UINT64_MAX
 * where no worker listens. */
#define STEER_LOAD_ONE 16
/* How long a slot's average load remembers (policy_steer.c). */
#define STEER_SMOOTH_MS 64

/* Each listening slot's running average avg moves dt_ms/STEER_SMOOTH_MS
 * of the way to its load now (all the way at dt_ms >= STEER_SMOOTH_MS,
 * and at least 1 when it differs, so that it reaches 0), and becomes its
 * load, unless the load now is more than STEER_QUEUE_NOW above: then the
 * load now less that.  A slot where nobody listens has no average: 0.
 * Pure: tests call it. */
#define STEER_QUEUE_NOW (2 * STEER_LOAD_ONE)
void steer_smooth(uint64_t *avg, uint64_t *load, int n, int64_t dt_ms);
/* leastconn's shares from loads (policy_leastconn_k.c): slot i gets
 * weight[i] * (b / (b + load[i]/weight[i] - least))^3 of 65536, least the
 * least load per weight, b that but at least STEER_LOAD_ONE; never less
 * than 1/1024 of the largest weight's top share; 0 where load is
 * UINT64_MAX (all 0 when nobody listens).  Pure: tests call it. */
void steer_backlog_shares(const uint64_t *load, const uint32_t *weight, unsigned *shares,
			  int n);

/* A slot that takes more than STEER_SLOW_RATIO times the fastest slot's
 * time per connection (service[i], seconds; 0: not known) has its share
 * scaled down by the ratio, to no less than 1/1024 of the largest share
 * plus 1; a slot within the ratio, or of unknown pace, keeps its share.
 * After the policy's reweigh, for all three load-aware policies.  Pure:
 * tests call it. */
#define STEER_SLOW_RATIO 3
void steer_slow_shares(const double *service, unsigned *shares, int n);

/* Whether shares moved enough from was to now to attach a new program: a
 * slot's share of the total moved by more than a quarter of the larger of
 * the two, or a slot got some or lost all.  Pure: tests call it. */
int steer_shares_moved(const unsigned *was, const unsigned *now, int n);

/* What the refreshes cost and did, since start (status, metrics, bench). */
struct steer_stats {
	uint64_t refreshes;     /* loads read */
	uint64_t programs;      /* ... that changed the program (re-attached) */
	uint64_t censuses;      /* seccomp workers' loads read from the census */
	uint64_t cpu_ns;        /* the master's CPU in all of these */
};
const struct steer_stats *steer_stats(void);

#endif
