/*
 * policy_steer.c - the machinery of the channel policies' kernel variants
 * (--steer kernel, and every channel policy through seccomp): a
 * SO_REUSEPORT socket per slot, made and kept exactly as under reuseport
 * (attach, drain and pending are reuseport's), and a classic BPF program
 * on the group that picks the slot for each new connection, so the master
 * never touches a connection.  What the program computes is the group's
 * steering mode (reuseport_group.c): fixed shares (rr, random), a hash of
 * the client's address (sticky), or shares the master recomputes from the
 * slots' loads (leastconn, p2c, jiq: the policy's reweigh).
 *
 * Load refresh.  One timer per cluster reads every load-aware listener's
 * loads: a slot's load is what its workers hold open (the board's
 * accepted minus closed, shim workers) plus what waits in its socket's
 * accept queue (TCP_INFO, one getsockopt a slot); seccomp workers have no
 * board, so their open count comes from the census (census.c), at most
 * once a second since one costs milliseconds of the master's CPU.  The
 * policy turns loads into shares, and the program is re-attached only
 * when the shares changed.  Every REFRESH_BUSY_MS while connections
 * arrive, every REFRESH_IDLE_MS otherwise; seccomp workers have no board
 * to show arrivals, so with them always REFRESH_BUSY_MS (a refresh costs
 * a getsockopt a slot, and ~5 us of the master's CPU at 4 slots).  And at
 * once when a worker starts listening: a slot that TTIN added, or a
 * restarted worker, would otherwise get nothing until the next refresh
 * (up to 100 ms when idle: under seccomp, before, the new slot of a
 * lifecycle test sometimes got 0 of 300 requests).
 *
 * Stale loads herd when everything goes to "the least loaded" until the
 * next refresh (Mitzenmacher, "How useful is old information?", 2000):
 * so no reweigh here ever gives everything to one slot unless it is the
 * only one listening (policy_leastconn_k.c).
 *
 * Not here: the group's order and the programs (reuseport_group.c); the
 * sockets (policy_reuseport.c).
 */
#include "policy/policy_steer.h"
#include "cluster.h"
#include "base/loop.h"
#include "net/board.h"
#include "net/census.h"
#include "net/sockets.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "policy/reuseport_group.h"
#include "policy/weights.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define REFRESH_BUSY_MS 10
#define REFRESH_IDLE_MS 100
#define CENSUS_EVERY_MS 1000

extern const struct policy_ops policy_reuseport;

static struct {
	struct cluster *c;      /* the cluster the timer runs for */
	uint64_t timer;
	uint64_t arrived;       /* accepted + queued at the last refresh */
	int64_t census_at;
	long held[MAX_WORKERS]; /* by slot, from the last census (seccomp) */
	struct steer_stats stats;
} refresh;

const struct steer_stats *steer_stats(void)
{
	return &refresh.stats;
}

/* The master's CPU time, to charge each refresh with its cost. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int steer_attach(struct cluster *c, struct worker *w, struct listener *l)
{
	return policy_reuseport.attach(c, w, l);
}

void steer_drain(struct cluster *c, struct worker *w, struct listener *l, int give_back)
{
	policy_reuseport.drain(c, w, l, give_back);
}

unsigned steer_pending(struct cluster *c, struct worker *w, struct listener *l)
{
	return policy_reuseport.pending(c, w, l);
}

void steer_slots_changed_shares(struct cluster *c, struct listener *l)
{
	unsigned shares[MAX_WORKERS];
	int i;

	policy_reuseport.slots_changed(c, l);   /* sockets up to the target */
	for (i = 0; i < c->target; i++)
		shares[i] = weight_of_slot(c, i);
	reuseport_group_shares(l, c->target, shares);
}

/* The census's open counts by slot, for seccomp workers (no board). */
static void read_census(struct cluster *c)
{
	struct census *cs;
	uint64_t t0 = cpu_ns();
	int i;

	memset(refresh.held, 0, sizeof(refresh.held));
	refresh.census_at = loop_now_ms();
	if (!(cs = census_fresh(c)))
		return;
	refresh.stats.censuses++;
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		long h = census_held(cs, w);

		if (w->slot >= 0 && w->slot < MAX_WORKERS && h > 0)
			refresh.held[w->slot] += h;
	}
	refresh.stats.cpu_ns += cpu_ns() - t0;
}

/* Each slot's load on l (open + queued), UINT64_MAX where no worker
 * listens; the connections that arrived (accepted + queued) go to
 * *arrived. */
static void loads(struct cluster *c, struct listener *l, uint64_t *load, int n,
		  uint64_t *arrived)
{
	int i, seccomp = c->prog && c->prog->via == VIA_SECCOMP;

	for (i = 0; i < n; i++)
		load[i] = UINT64_MAX;
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		const struct route *r = &w->routes[l->id];

		if (w->slot < 0 || w->slot >= n || !r->bound)
			continue;
		if (load[w->slot] == UINT64_MAX && r->listening && !r->draining)
			load[w->slot] = 0;
		if (load[w->slot] != UINT64_MAX)
			load[w->slot] += route_open_conns(w, l);
		*arrived += board_accepted(w, l->id);
	}
	for (i = 0; i < n; i++) {
		unsigned q = i < l->nslot_fds && l->slot_fds[i] >= 0 ?
			     socket_accept_queue(l->slot_fds[i]) : 0;

		*arrived += q;
		if (load[i] == UINT64_MAX)
			continue;
		load[i] += q;
		if (seccomp && refresh.held[i] > 0)
			load[i] += (uint64_t)refresh.held[i];
	}
}

static void refresh_listener(struct cluster *c, struct listener *l, uint64_t *arrived)
{
	uint64_t load[MAX_WORKERS], t0;
	unsigned shares[MAX_WORKERS];
	int n = c->target, i;

	if (n < 1 || n > MAX_WORKERS || l->type != SOCK_STREAM)
		return;
	t0 = cpu_ns();
	loads(c, l, load, n, arrived);
	memset(shares, 0, (size_t)n * sizeof(*shares));
	l->ops->reweigh(c, l, load, shares, n);
	for (i = 0; i < n && !shares[i]; i++)
		;
	if (i == n)             /* nobody listens yet: an even spread */
		for (i = 0; i < n; i++)
			shares[i] = 1;
	refresh.stats.refreshes++;
	if (reuseport_group_shares(l, n, shares) > 0)
		refresh.stats.programs++;
	refresh.stats.cpu_ns += cpu_ns() - t0;
}

static void tick(struct loop *loop, void *data);

static void arm(struct cluster *c, int64_t ms)
{
	refresh.c = c;
	refresh.timer = loop_timer(c->loop, ms, tick, c);
}

static void tick(struct loop *loop, void *data)
{
	struct cluster *c = data;
	uint64_t arrived = 0;
	int i, any = 0, seccomp = c->prog && c->prog->via == VIA_SECCOMP;

	(void)loop;
	refresh.timer = 0;
	if (c->stopping)
		return;
	if (seccomp && loop_now_ms() - refresh.census_at >= CENSUS_EVERY_MS)
		read_census(c);
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];

		if (l->ops->reweigh) {
			refresh_listener(c, l, &arrived);
			any = 1;
		}
	}
	if (!any)
		return;
	arm(c, seccomp || arrived != refresh.arrived ? REFRESH_BUSY_MS : REFRESH_IDLE_MS);
	refresh.arrived = arrived;
}

void steer_slots_changed_load(struct cluster *c, struct listener *l)
{
	uint64_t arrived = 0;

	policy_reuseport.slots_changed(c, l);
	refresh_listener(c, l, &arrived);
	if (refresh.c != c || !refresh.timer)
		arm(c, REFRESH_BUSY_MS);
}

void steer_worker_listening(struct cluster *c, struct listener *l)
{
	uint64_t arrived = 0;

	if (l->ops->reweigh && !c->stopping)
		refresh_listener(c, l, &arrived);
}
