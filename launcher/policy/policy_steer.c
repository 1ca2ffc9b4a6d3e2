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
 * policy sees each slot's average over the last STEER_SMOOTH_MS or so
 * (steer_smooth), not the load now, unless the load now is more than
 * two connections above it: a slow slot is idle now and then between two
 * requests, and a refresh that caught it so gave it a full share until
 * the next (issue 21's slow-worker p99, 5x hop leastconn's); and fast
 * slots' loads change many times between two refreshes, so the load now
 * is noise that a steep share turns into imbalance (modelled: p99 1.35 ms
 * against 0.78, 4 even workers at 50%).  A sudden queue (a worker
 * stalled, connections held) still counts at the next refresh.
 * The policy turns loads into shares; then a slot measured more than
 * STEER_SLOW_RATIO times slower per connection than the fastest (pace(),
 * shim workers only) has its share cut by the ratio: in the kernel a
 * connection waits on its slot from the moment it arrives, and only a
 * small share keeps a slow slot's queue short between refreshes.  The
 * program is re-attached only when a share moved by more than a quarter
 * (steer_shares_moved).  Every REFRESH_BUSY_MS while connections
 * arrive, every REFRESH_IDLE_MS otherwise; seccomp workers have no board
 * to show arrivals, so with them always REFRESH_BUSY_MS.  And at once
 * when a worker starts listening: a slot that TTIN added, or a restarted
 * worker, would otherwise get nothing until the next refresh (up to 100
 * ms when idle: under seccomp, before, the new slot of a lifecycle test
 * sometimes got 0 of 300 requests).
 *
 * What a refresh costs.  The open counts are the board's, read here
 * without the kernel's ceiling on accepts (board_accept_ceiling, a read
 * of /proc/net/snmp: ~50 us of the ~60 a refresh cost with 2-4 slots).
 * The ceiling keeps a worker from claiming accepts it never made; here
 * such a claim only makes its own slot read busier, and a worker can read
 * idle anyway by claiming as many closes (balancer.c says the same), so
 * steering needs no ceiling.  Counts are bounded, so that a scribbled
 * board cannot wrap a sum to "idle".
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
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"
#include "policy/policy_state.h"
#include "net/board.h"
#include "net/census.h"
#include "net/sockets.h"
#include "policy/policy.h"
#include "policy/reuseport_group.h"
#include "policy/weights.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define REFRESH_BUSY_MS 5
#define REFRESH_IDLE_MS 100
#define CENSUS_EVERY_MS 1000

extern const struct policy_ops policy_reuseport;

static struct {
	struct cluster *c;      /* the cluster the timer runs for */
	uint64_t timer;
	uint64_t arrived;       /* accepted + queued at the last refresh */
	int64_t arrived_at;     /* loop_now_ms() when that last grew */
	int64_t census_at;
	long held[MAX_WORKERS]; /* by slot, from the last census (seccomp) */
	struct steer_stats stats;
} refresh;

/* Each load-aware listener's average load by slot (steer_smooth), made on
 * its first refresh; owner tells a listener of an earlier cluster (the
 * fuzz target) from this one. */
static struct smoothed {
	const struct listener *owner;
	int64_t at;             /* loop_now_ms() of the last refresh */
	uint64_t *avg;          /* MAX_WORKERS */
	unsigned *attached;     /* MAX_WORKERS: the shares of the program attached */
	struct pace {           /* MAX_WORKERS: how fast a slot serves (steer_slow_shares) */
		uint64_t closed;        /* the boards' closes at the last refresh */
		double busy;            /* average of min(open now, 1) */
		double rate;            /* average closes a second */
		double service;         /* busy / rate, or the last one fading */
	} *pace;
	int nattached;          /* 0: none attached here yet */
} smooth[CLUSTER_MAX_LISTENERS];

/* A count read from a board, bounded: a scribbled one reads busy, and a
 * sum of MAX_WORKERS of them cannot wrap. */
#define OPEN_MAX ((uint64_t)1 << 32)

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

void steer_smooth(uint64_t *avg, uint64_t *load, int n, int64_t dt_ms)
{
	int i;

	if (dt_ms < 0)
		dt_ms = 0;
	if (dt_ms > STEER_SMOOTH_MS)
		dt_ms = STEER_SMOOTH_MS;
	for (i = 0; i < n; i++) {
		int64_t d, step;

		if (load[i] == UINT64_MAX) {
			avg[i] = 0;
			continue;
		}
		d = (int64_t)load[i] - (int64_t)avg[i];
		step = d * dt_ms / STEER_SMOOTH_MS;
		if (step == 0 && d != 0 && dt_ms > 0)
			step = d > 0 ? 1 : -1;
		avg[i] = (uint64_t)((int64_t)avg[i] + step);
		/* a queue beyond STEER_QUEUE_NOW shows at once */
		load[i] = load[i] > avg[i] + STEER_QUEUE_NOW ? load[i] - STEER_QUEUE_NOW : avg[i];
	}
}

void steer_slow_shares(const double *service, unsigned *shares, int n)
{
	double fastest = 0;
	unsigned top = 0;
	int i;

	for (i = 0; i < n; i++)
		if (service[i] > 0 && shares[i] && (fastest == 0 || service[i] < fastest))
			fastest = service[i];
	if (fastest == 0)
		return;
	for (i = 0; i < n; i++) {
		if (service[i] > STEER_SLOW_RATIO * fastest && shares[i]) {
			unsigned v = (unsigned)((double)shares[i] * fastest / service[i]);

			shares[i] = v ? v : 1;
		}
		top = shares[i] > top ? shares[i] : top;
	}
	for (i = 0; i < n; i++)
		if (service[i] > STEER_SLOW_RATIO * fastest && shares[i] && shares[i] < top / 1024 + 1)
			shares[i] = top / 1024 + 1;
}

/* Connections w holds open on l as its board says: accepted less closed
 * (none closed when it claims more closes than accepts), bounded. */
static uint64_t board_open(const struct worker *w, const struct listener *l)
{
	uint64_t got = board_accepted(w, l->id), closed = board_closed(w, l->id);
	uint64_t open = closed > got ? got : got - closed;

	return open > OPEN_MAX ? OPEN_MAX : open;
}

/* Each slot's load on l (open + queued, in STEER_LOAD_ONE), UINT64_MAX
 * where no worker listens; the connections that arrived (accepted +
 * queued) go to *arrived; what the slot's boards say is open and was ever
 * closed to open and closed. */
static void loads(struct cluster *c, struct listener *l, uint64_t *load, int n,
		  uint64_t *arrived, uint64_t *open, uint64_t *closed)
{
	int i, seccomp = c->prog && c->prog->via == VIA_SECCOMP;

	for (i = 0; i < n; i++) {
		load[i] = UINT64_MAX;
		open[i] = closed[i] = 0;
	}
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		const struct route *r = &w->routes[l->id];

		if (w->slot < 0 || w->slot >= n || !r->bound)
			continue;
		if (load[w->slot] == UINT64_MAX && r->listening && !r->draining)
			load[w->slot] = 0;
		if (load[w->slot] != UINT64_MAX) {
			load[w->slot] += board_open(w, l);
			open[w->slot] += board_open(w, l);
		}
		closed[w->slot] += board_closed(w, l->id) > OPEN_MAX ? OPEN_MAX :
				   board_closed(w, l->id);
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
			load[i] += (uint64_t)refresh.held[i] > OPEN_MAX ? OPEN_MAX :
				   (uint64_t)refresh.held[i];
		load[i] *= STEER_LOAD_ONE;
	}
}

int steer_shares_moved(const unsigned *was, const unsigned *now, int n)
{
	double a = 0, b = 0;
	int i;

	for (i = 0; i < n; i++) {
		a += was[i];
		b += now[i];
	}
	if (a == 0 || b == 0)
		return a != b;
	for (i = 0; i < n; i++) {
		double x = was[i] / a, y = now[i] / b;

		if (!was[i] != !now[i] || (x > y ? x - y : y - x) * 4 > (x > y ? x : y))
			return 1;
	}
	return 0;
}

/* l's averages and attached shares, zeroed when l is new here; NULL when
 * out of memory (the loads then go unsmoothed, every change attached). */
static struct smoothed *smoothed(const struct listener *l)
{
	struct smoothed *s;

	if (l->id >= CLUSTER_MAX_LISTENERS)
		return NULL;
	s = &smooth[l->id];
	if (!s->avg && !(s->avg = calloc(MAX_WORKERS, sizeof(*s->avg))))
		return NULL;
	if (!s->attached && !(s->attached = calloc(MAX_WORKERS, sizeof(*s->attached))))
		return NULL;
	if (!s->pace && !(s->pace = calloc(MAX_WORKERS, sizeof(*s->pace))))
		return NULL;
	if (s->owner != l) {
		memset(s->avg, 0, MAX_WORKERS * sizeof(*s->avg));
		memset(s->pace, 0, MAX_WORKERS * sizeof(*s->pace));
		s->owner = l;
		s->at = loop_now_ms();
		s->nattached = 0;
	}
	return s;
}

/* Each slot's time per connection, by Little's law: how busy it was on
 * average (min(open, 1), so a slot with a queue counts as busy, not more)
 * over how many it closed a second.  Without closes enough to tell (a
 * slot whose share was cut gets few), the last estimate fades over
 * STEER_SMOOTH_MS or so: the slot's share comes back, and if it is still
 * slow the next estimate says so again.  0 (unknown) where nobody
 * listens, and for seccomp workers (no board). */
static void pace(struct smoothed *s, const uint64_t *load, const uint64_t *open,
		 const uint64_t *closed, int n, int64_t dt_ms, double *service)
{
	double a = dt_ms >= STEER_SMOOTH_MS ? 1 : dt_ms <= 0 ? 0 : (double)dt_ms / STEER_SMOOTH_MS;
	int i;

	for (i = 0; i < n; i++) {
		struct pace *p = &s->pace[i];
		uint64_t done = closed[i] >= p->closed ? closed[i] - p->closed : 0;

		service[i] = 0;
		p->closed = closed[i];          /* a new worker counts from 0 */
		if (load[i] == UINT64_MAX) {
			p->busy = p->rate = p->service = 0;
			continue;
		}
		if (dt_ms > 0) {
			p->busy += a * ((open[i] ? 1.0 : 0.0) - p->busy);
			p->rate += a * ((double)done * 1000 / (double)dt_ms - p->rate);
			/* a close in the window at least, and busy now and then */
			if (p->rate * STEER_SMOOTH_MS / 1000 >= 1 && p->busy >= 0.02)
				p->service = p->busy / p->rate;
			else
				p->service *= 1 - a;
		}
		service[i] = p->service;
	}
}

static void refresh_listener(struct cluster *c, struct listener *l, uint64_t *arrived)
{
	uint64_t load[MAX_WORKERS], open[MAX_WORKERS], closed[MAX_WORKERS], t0;
	unsigned shares[MAX_WORKERS];
	double service[MAX_WORKERS];
	int n = c->target, i, timed = 0;
	struct smoothed *s;

	if (n < 1 || n > MAX_WORKERS || l->type != SOCK_STREAM)
		return;
	t0 = cpu_ns();
	loads(c, l, load, n, arrived, open, closed);
	if ((s = smoothed(l))) {
		pace(s, load, open, closed, n, loop_now_ms() - s->at, service);
		timed = 1;
		steer_smooth(s->avg, load, n, loop_now_ms() - s->at);
		s->at = loop_now_ms();
	}
	memset(shares, 0, (size_t)n * sizeof(*shares));
	l->ops->reweigh(c, l, load, shares, n);
	if (timed)
		steer_slow_shares(service, shares, n);
	for (i = 0; i < n && !shares[i]; i++)
		;
	if (i == n)             /* nobody listens yet: an even spread */
		for (i = 0; i < n; i++)
			shares[i] = 1;
	refresh.stats.refreshes++;
	/* A program costs ~25 us to attach (the kernel converts and JITs
	 * it), most of a refresh: not for a small move of the shares. */
	if (s && s->nattached == n && !steer_shares_moved(s->attached, shares, n)) {
		refresh.stats.cpu_ns += cpu_ns() - t0;
		return;
	}
	if (reuseport_group_shares(l, n, shares) > 0)
		refresh.stats.programs++;
	if (s) {
		memcpy(s->attached, shares, (size_t)n * sizeof(*shares));
		s->nattached = n;
	}
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
	/* idle only after REFRESH_IDLE_MS without an arrival: at 5 ms a
	 * refresh often sees none between two at a few hundred a second */
	if (arrived != refresh.arrived)
		refresh.arrived_at = loop_now_ms();
	arm(c, seccomp || loop_now_ms() - refresh.arrived_at < REFRESH_IDLE_MS ?
	       REFRESH_BUSY_MS : REFRESH_IDLE_MS);
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

/* Arrays as raw bytes, up to the last slot with something in it: the same
 * machine writes and reads them.  held[] is not carried: the census is
 * read again within CENSUS_EVERY_MS (census_at is carried). */
void steer_save(struct cluster *c, struct state_out *o)
{
	int i, n;

	state_rec(o, "steer");
	state_i64(o, "due", refresh.c == c ? loop_timer_due(c->loop, refresh.timer) : -1);
	state_u64(o, "arrived", refresh.arrived);
	state_i64(o, "arrived_at", refresh.arrived_at);
	state_i64(o, "census_at", refresh.census_at);
	state_u64(o, "refreshes", refresh.stats.refreshes);
	state_u64(o, "programs", refresh.stats.programs);
	state_u64(o, "censuses", refresh.stats.censuses);
	state_u64(o, "cpu_ns", refresh.stats.cpu_ns);
	for (i = 0; i < c->nlisteners && i < CLUSTER_MAX_LISTENERS; i++) {
		const struct smoothed *s = &smooth[i];

		if (s->owner != c->listeners[i] || !s->avg || !s->attached || !s->pace)
			continue;
		for (n = MAX_WORKERS; n > 0 && !s->avg[n - 1] && !s->pace[n - 1].closed &&
		     !s->pace[n - 1].service && !s->pace[n - 1].rate; n--)
			;
		n = n > s->nattached ? n : s->nattached;
		state_rec(o, "steer_smooth");
		state_i64(o, "lid", i);
		state_i64(o, "at", s->at);
		state_i64(o, "nattached", s->nattached);
		state_bytes(o, "avg", s->avg, (size_t)n * sizeof(*s->avg));
		state_bytes(o, "attached", s->attached, (size_t)n * sizeof(*s->attached));
		state_bytes(o, "pace", s->pace, (size_t)n * sizeof(*s->pace));
	}
}

int steer_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "steer");
	int64_t due;

	if (r) {
		refresh.arrived = rec_u64(r, "arrived", 0);
		refresh.arrived_at = rec_i64(r, "arrived_at", 0);
		refresh.census_at = rec_i64(r, "census_at", 0);
		refresh.stats.refreshes = rec_u64(r, "refreshes", 0);
		refresh.stats.programs = rec_u64(r, "programs", 0);
		refresh.stats.censuses = rec_u64(r, "censuses", 0);
		refresh.stats.cpu_ns = rec_u64(r, "cpu_ns", 0);
		if ((due = rec_i64(r, "due", -1)) >= 0) {
			refresh.c = c;
			if (!(refresh.timer = loop_timer_at(c->loop, due, tick, c)))
				return -1;
		}
	}
	for (r = state_first(in, "steer_smooth"); r; r = state_next(r)) {
		int64_t lid = rec_i64(r, "lid", -1);
		struct smoothed *s;

		if (lid < 0 || lid >= c->nlisteners || !(s = smoothed(c->listeners[lid]))) {
			if (lid >= 0 && lid < c->nlisteners)
				log_warnx("upgrade: steering of %s starts afresh: out of memory",
					  c->listeners[lid]->name);
			continue;
		}
		rec_bytes(r, "avg", s->avg, MAX_WORKERS * sizeof(*s->avg));
		rec_bytes(r, "attached", s->attached, MAX_WORKERS * sizeof(*s->attached));
		rec_bytes(r, "pace", s->pace, MAX_WORKERS * sizeof(*s->pace));
		s->at = rec_i64(r, "at", loop_now_ms());
		s->nattached = (int)rec_i64(r, "nattached", 0);
	}
	return 0;
}
