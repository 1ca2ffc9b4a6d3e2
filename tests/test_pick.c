/*
 * test_pick.c - the channel policies' choices, in process, on hand-made
 * workers (tests/common/fake_cluster.h), driven as balancer.c's dispatch
 * drives them: ask pick() for a worker, and when a connection goes to it,
 * move the cursor, count it handed and call ops->handed.
 *
 *   sticky     one client address, one slot: IPv4, IPv6, IPv4-mapped IPv6
 *              as IPv4; the slot's new worker after a restart; another
 *              worker when the slot has none; waiting when it is full
 *   p2c        never the busier of any two: the busiest worker is never
 *              picked; only workers with room; ties at random, evenly
 *   jiq        an idle worker first, in rotation after the cursor; else
 *              plain rotation
 *   weights    rr and leastconn with --weights: exact proportions in
 *              every round of the weights' sum, idle and under load; a
 *              pick that was not used leaves the round as it was
 *
 * The end-to-end suites (test_sticky.c, test_p2c.c, test_jiq.c,
 * test_weights.c) check the same through real connections, within bands
 * a busy machine allows; here nothing is scheduled, so exact.
 */
#include "fake_cluster.h"
#include "cluster.h"
#include "policy/policy.h"
#include "policy/policy_steer.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

TestSuite(pick, .timeout = 30);

/* n hand-made workers, slots 0..n-1, on one TCP listener of ops. */
static struct cluster *workers(const struct policy_ops *ops, int n, const char *const *words)
{
	struct cluster *c = fake_cluster_new(words);
	int i;

	fake_listener_add(c, ops, AF_INET, SOCK_STREAM);
	for (i = 0; i < n; i++)
		fake_worker_add(c, i);
	return c;
}

static struct listener *l0(struct cluster *c)
{
	return c->listeners[0];
}

/* dispatch's side of a pick that got a connection (balancer.c). */
static void handed(struct cluster *c, struct worker *w, unsigned at)
{
	struct listener *l = l0(c);
	struct route *r = &w->routes[l->id];

	l->cursor = at;
	r->handed++;
	r->sent++;
	r->queued_hint++;
	if (l->ops->handed)
		l->ops->handed(c, l, w);
}

/* Pick for conn (may be NULL) and hand it over; the worker or NULL. */
static struct worker *give(struct cluster *c, const struct conn *conn)
{
	unsigned at = ~0u;
	struct worker *w = l0(c)->ops->pick(c, l0(c), conn, &at);

	if (!w)
		return NULL;
	cr_assert_lt(at, (unsigned)c->nworkers);
	cr_assert_eq(c->workers[at], w, "*at names the worker picked");
	handed(c, w, at);
	return w;
}

/* Worker w has `open` connections open (handed, none closed). */
static void set_open(struct worker *w, uint64_t open)
{
	w->routes[0].handed = open;
	w->routes[0].closed = 0;
}

static struct conn v4(const char *ip, int port)
{
	struct conn k = { .fd = -1, .peerlen = sizeof(struct sockaddr_in) };
	struct sockaddr_in *a = (struct sockaddr_in *)&k.peer;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	return k;
}

static struct conn v6(const char *ip, int port)
{
	struct conn k = { .fd = -1, .peerlen = sizeof(struct sockaddr_in6) };
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&k.peer;

	a->sin6_family = AF_INET6;
	a->sin6_port = htons((uint16_t)port);
	cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
	return k;
}

/* ---- sticky ---- */

/* 64 clients, each connecting 5 times from other ports, interleaved with
 * the others: every one of its connections goes to the same slot's
 * worker, and the 64 spread over all 4 slots. */
static void same_peer_same_worker(int family)
{
	struct cluster *c = workers(policy_by_name("sticky"), 4, (const char *[]){ "-n", "4", "-p",
									  "sticky", NULL });
	struct worker *first[64] = { 0 };
	int used[4] = { 0 }, round, i;

	for (round = 0; round < 5; round++)
		for (i = 0; i < 64; i++) {
			char ip[64];
			struct conn k;
			struct worker *w;

			if (family == AF_INET) {
				snprintf(ip, sizeof(ip), "10.%d.%d.%d", i, i * 7 % 256, 200 - i);
				k = v4(ip, 1024 + round * 64 + i);
			} else {
				snprintf(ip, sizeof(ip), "2001:db8:%x::%x:%x", i, i * 7, 200 - i);
				k = v6(ip, 1024 + round * 64 + i);
			}
			w = give(c, &k);
			cr_assert_not_null(w);
			if (!first[i])
				first[i] = w;
			cr_assert_eq(w, first[i], "%s went to worker %d, then to worker %d", ip,
				     first[i]->slot, w->slot);
			used[w->slot] = 1;
		}
	for (i = 0; i < 4; i++)
		cr_expect(used[i], "no client of 64 hashed to slot %d", i);
	fake_cluster_free(c);
}

Test(pick, sticky_same_peer_same_worker_ipv4) { same_peer_same_worker(AF_INET); }
Test(pick, sticky_same_peer_same_worker_ipv6) { same_peer_same_worker(AF_INET6); }

Test(pick, sticky_ipv4_mapped_is_ipv4)
{
	struct cluster *c = workers(policy_by_name("sticky"), 8, (const char *[]){ "-n", "8", "-p",
									  "sticky", NULL });
	int i;

	for (i = 0; i < 32; i++) {
		char ip4[32], ip6[48];
		struct conn a, b;

		snprintf(ip4, sizeof(ip4), "192.0.2.%d", i);
		snprintf(ip6, sizeof(ip6), "::ffff:192.0.2.%d", i);
		a = v4(ip4, 5000);
		b = v6(ip6, 6000);
		cr_assert_eq(give(c, &a), give(c, &b), "%s and %s", ip4, ip6);
	}
	fake_cluster_free(c);
}

/* The slot, not the worker: a restarted slot's new worker gets its
 * clients.  With no listening worker in the slot, another one serves
 * rather than the client waiting through the restart; with its worker
 * full, the client waits (NULL: the master stops accepting). */
Test(pick, sticky_follows_the_slot)
{
	struct cluster *c = workers(policy_by_name("sticky"), 4, (const char *[]){ "-n", "4", "-p",
									  "sticky", NULL });
	struct conn k = v4("198.51.100.7", 40000);
	struct worker *w = give(c, &k), *nw, *other;
	int slot = w->slot;

	nw = fake_worker_add(c, slot);          /* the slot's new worker */
	cr_assert_eq(give(c, &k), nw);
	nw->routes[0].listening = 0;            /* not listening yet */
	other = give(c, &k);
	cr_assert_not_null(other, "served elsewhere, not kept waiting");
	cr_assert_neq(other, nw);
	nw->routes[0].listening = 1;
	nw->routes[0].full = 1;
	cr_assert_null(give(c, &k), "its worker is full: wait for it");
	fake_cluster_free(c);
}

/* A unix socket's client has no address: plain rotation. */
Test(pick, sticky_without_an_address_rotates)
{
	struct cluster *c = workers(policy_by_name("sticky"), 3, (const char *[]){ "-n", "3", "-p",
									  "sticky", NULL });
	struct conn k = { .fd = -1, .peerlen = sizeof(sa_family_t) };
	int i;

	k.peer.ss_family = AF_UNIX;
	for (i = 0; i < 9; i++)
		cr_assert_eq(give(c, &k)->slot, (i + 1) % 3);
	fake_cluster_free(c);
}

/* ---- p2c ---- */

/* Whatever two it draws, the busier loses: the busiest of three is never
 * picked, and of two the less busy always is. */
Test(pick, p2c_never_the_busiest)
{
	struct cluster *c;
	int i;

	setenv("CLUSTER_RUN_SEED", "12345", 1);
	c = workers(policy_by_name("p2c"), 3, (const char *[]){ "-n", "3", "-p", "p2c", NULL });
	set_open(c->workers[0], 0);
	set_open(c->workers[1], 5);
	set_open(c->workers[2], 10);
	for (i = 0; i < 1000; i++) {
		unsigned at;
		struct worker *w = l0(c)->ops->pick(c, l0(c), NULL, &at);

		cr_assert_not_null(w);
		cr_assert_neq(w->slot, 2, "pick %d went to the busiest worker", i);
	}
	c->workers[0]->routes[0].full = 1;      /* two with room: the less busy */
	for (i = 0; i < 100; i++) {
		unsigned at;
		cr_assert_eq(l0(c)->ops->pick(c, l0(c), NULL, &at)->slot, 1);
	}
	fake_cluster_free(c);
}

Test(pick, p2c_only_workers_with_room)
{
	struct cluster *c;
	unsigned at;
	int i;

	setenv("CLUSTER_RUN_SEED", "7", 1);
	c = workers(policy_by_name("p2c"), 4, (const char *[]){ "-n", "4", "-p", "p2c", NULL });
	c->workers[0]->routes[0].full = 1;
	c->workers[1]->routes[0].draining = 1;
	c->workers[3]->routes[0].listening = 0;
	set_open(c->workers[0], 0);
	set_open(c->workers[2], 100);           /* the busiest, but the only one */
	for (i = 0; i < 100; i++)
		cr_assert_eq(give(c, NULL)->slot, 2);
	c->workers[2]->routes[0].full = 1;
	cr_assert_null(l0(c)->ops->pick(c, l0(c), NULL, &at), "nobody has room");
	fake_cluster_free(c);
}

/* Equal loads: the tie goes either way at random, so each of four gets
 * about a quarter (seeded: the same every run). */
Test(pick, p2c_ties_spread)
{
	struct cluster *c;
	long per[4] = { 0 };
	int i;

	setenv("CLUSTER_RUN_SEED", "99", 1);
	c = workers(policy_by_name("p2c"), 4, (const char *[]){ "-n", "4", "-p", "p2c", NULL });
	for (i = 0; i < 4000; i++) {
		unsigned at;
		struct worker *w = l0(c)->ops->pick(c, l0(c), NULL, &at);

		per[w->slot]++;
	}
	for (i = 0; i < 4; i++)
		cr_expect(per[i] > 800 && per[i] < 1200, "worker %d: %ld of 4000", i, per[i]);
	fake_cluster_free(c);
}

/* ---- jiq ---- */

Test(pick, jiq_idle_first_in_rotation)
{
	struct cluster *c = workers(policy_by_name("jiq"), 4, (const char *[]){ "-n", "4", "-p", "jiq",
								       NULL });
	unsigned at;

	set_open(c->workers[0], 3);
	set_open(c->workers[2], 2);             /* 1 and 3 are idle */
	l0(c)->cursor = 0;
	cr_assert_eq(l0(c)->ops->pick(c, l0(c), NULL, &at)->slot, 1);
	l0(c)->cursor = 1;
	cr_assert_eq(l0(c)->ops->pick(c, l0(c), NULL, &at)->slot, 3);
	l0(c)->cursor = 3;
	cr_assert_eq(l0(c)->ops->pick(c, l0(c), NULL, &at)->slot, 1, "wraps around");
	c->workers[1]->routes[0].full = 1;      /* idle but full: passed over */
	cr_assert_eq(l0(c)->ops->pick(c, l0(c), NULL, &at)->slot, 3);
	set_open(c->workers[3], 1);             /* nobody idle: rotation */
	l0(c)->cursor = 3;
	cr_assert_eq(l0(c)->ops->pick(c, l0(c), NULL, &at)->slot, 0);
	l0(c)->cursor = 0;
	cr_assert_eq(l0(c)->ops->pick(c, l0(c), NULL, &at)->slot, 2, "1 is full");
	fake_cluster_free(c);
}

/* Connections that stay open: each goes to an idle worker while there is
 * one, so the first four go to four different workers. */
Test(pick, jiq_fills_idle_workers_first)
{
	struct cluster *c = workers(policy_by_name("jiq"), 4, (const char *[]){ "-n", "4", "-p", "jiq",
								       NULL });
	int seen[4] = { 0 }, i;

	for (i = 0; i < 4; i++)
		seen[give(c, NULL)->slot]++;
	for (i = 0; i < 4; i++)
		cr_assert_eq(seen[i], 1, "worker %d got %d of the first 4", i, seen[i]);
	fake_cluster_free(c);
}

/* ---- weights ---- */

/* Connections per worker over `n` hand-overs, each closed before the
 * next when `close_each`, else kept open; every round of `sum` (the
 * weights' total) checked to give each worker exactly its weight. */
static void weighted_rounds(const struct policy_ops *ops, const char *policy, int close_each)
{
	static const int weight[3] = { 3, 2, 1 };
	struct cluster *c = workers(ops, 3, (const char *[]){ "-n", "3", "-p", policy,
							      "--weights", "3,2,1", NULL });
	int round, k, i;

	for (round = 0; round < 100; round++) {
		int per[3] = { 0 };

		for (k = 0; k < 6; k++) {
			struct worker *w = give(c, NULL);

			cr_assert_not_null(w);
			per[w->slot]++;
			if (close_each)
				w->routes[0].closed++;
		}
		for (i = 0; i < 3; i++)
			cr_assert_eq(per[i], weight[i], "%s%s, round %d: worker %d got %d of 6, "
				     "not %d", policy, close_each ? "" : " under load", round, i,
				     per[i], weight[i]);
	}
	fake_cluster_free(c);
}

Test(pick, weighted_rr_exact) { weighted_rounds(policy_by_name("rr"), "rr", 1); }
Test(pick, weighted_rr_exact_under_load) { weighted_rounds(policy_by_name("rr"), "rr", 0); }
Test(pick, weighted_leastconn_exact_idle) { weighted_rounds(policy_by_name("leastconn"), "leastconn", 1); }
Test(pick, weighted_leastconn_exact_under_load)
{
	weighted_rounds(policy_by_name("leastconn"), "leastconn", 0);
}

/* Smooth: 3,2,1 interleaves (never three of one in a row), and a pick
 * whose connection never came (dispatch asks before accept says EAGAIN)
 * leaves the round as it was. */
Test(pick, weighted_rr_smooth_and_unused_picks_do_not_count)
{
	struct cluster *a = workers(policy_by_name("rr"), 3, (const char *[]){ "-n", "3", "-p", "rr",
								      "--weights", "3,2,1", NULL });
	int plain[60], with_unused[60], i, run = 0;

	for (i = 0; i < 60; i++) {
		plain[i] = give(a, NULL)->slot;
		run = i && plain[i] == plain[i - 1] ? run + 1 : 1;
		cr_assert_lt(run, 3, "worker %d three times in a row at %d", plain[i], i);
	}
	fake_cluster_free(a);
	a = workers(policy_by_name("rr"), 3, (const char *[]){ "-n", "3", "-p", "rr", "--weights",
						     "3,2,1", NULL });
	for (i = 0; i < 60; i++) {
		unsigned at;

		cr_assert_not_null(l0(a)->ops->pick(a, l0(a), NULL, &at));     /* unused */
		with_unused[i] = give(a, NULL)->slot;
		cr_assert_eq(with_unused[i], plain[i], "connection %d: worker %d, not %d", i,
			     with_unused[i], plain[i]);
	}
	fake_cluster_free(a);
}

/* leastconn steered in the kernel: the shares the program draws by,
 * from loads in 1/STEER_LOAD_ONE of a connection (policy_leastconn_k.c). */
#define ONE STEER_LOAD_ONE
#define NL UINT64_MAX

static void backlog(const uint64_t *load, const uint32_t *weight, unsigned *shares, int n)
{
	uint32_t ones[8] = { 1, 1, 1, 1, 1, 1, 1, 1 };

	memset(shares, 0xff, (size_t)n * sizeof(*shares));
	steer_backlog_shares(load, weight ? weight : ones, shares, n);
}

Test(pick, backlog_even_when_alike)
{
	uint64_t idle[4] = { 0, 0, 0, 0 }, busy[4] = { 5 * ONE, 5 * ONE, 5 * ONE, 5 * ONE };
	unsigned s[4];
	int i;

	backlog(idle, NULL, s, 4);
	for (i = 0; i < 4; i++)
		cr_assert_eq(s[i], 65536u, "idle slot %d: %u", i, s[i]);
	backlog(busy, NULL, s, 4);
	for (i = 0; i < 4; i++)
		cr_assert_eq(s[i], 65536u, "busy slot %d: %u", i, s[i]);
}

/* One connection ahead of an idle slot: (1/2)^3; ten ahead (the
 * integration test's held worker): the floor, 1/1024 of the top. */
Test(pick, backlog_falls_with_the_queue)
{
	uint64_t one[2] = { 0, ONE }, two[2] = { 2 * ONE, 0 }, ten[4] = { 10 * ONE, 0, 0, 0 };
	unsigned s[4];

	backlog(one, NULL, s, 2);
	cr_assert_eq(s[0], 65536u);
	cr_assert_eq(s[1], 8192u);
	backlog(two, NULL, s, 2);
	cr_assert_eq(s[0], 2427u, "%u", s[0]);          /* 65536 / 27 */
	cr_assert_eq(s[1], 65536u);
	backlog(ten, NULL, s, 4);
	cr_assert_eq(s[0], 64u, "%u", s[0]);            /* 65536 / 1331 = 49: the floor */
	cr_assert(s[1] == 65536u && s[2] == 65536u && s[3] == 65536u);
}

/* A busy cluster stays near even: the ratio of loads counts, not their
 * difference (8 against 6 open: (6/8)^3). */
Test(pick, backlog_by_ratio_when_all_are_busy)
{
	uint64_t load[2] = { 6 * ONE, 8 * ONE }, half[2] = { ONE / 2, 0 };
	unsigned s[2];

	backlog(load, NULL, s, 2);
	cr_assert_eq(s[0], 65536u);
	cr_assert_eq(s[1], 27648u, "%u", s[1]);
	/* below one connection, b is one connection: half ahead, (2/3)^3 */
	backlog(half, NULL, s, 2);
	cr_assert_eq(s[0], 19418u, "%u", s[0]);
	cr_assert_eq(s[1], 65536u);
}

/* A slot nobody listens on gets nothing and counts for nothing; weights
 * scale the shares and the loads (load per weight is compared). */
Test(pick, backlog_not_listening_and_weights)
{
	uint64_t gone[3] = { NL, 3 * ONE, 3 * ONE }, none[2] = { NL, NL };
	uint64_t w_idle[2] = { 0, 0 }, w_busy[2] = { 4 * ONE, 2 * ONE };
	uint32_t w[2] = { 2, 1 };
	unsigned s[3];

	backlog(gone, NULL, s, 3);
	cr_assert_eq(s[0], 0u);
	cr_assert(s[1] == 65536u && s[2] == 65536u, "%u %u", s[1], s[2]);
	backlog(none, NULL, s, 2);
	cr_assert(s[0] == 0 && s[1] == 0, "none listens: all 0 (the caller's even spread)");
	backlog(w_idle, w, s, 2);
	cr_assert(s[0] == 65536u && s[1] == 32768u, "%u %u", s[0], s[1]);
	backlog(w_busy, w, s, 2);       /* 4 on weight 2 is 2 on weight 1: alike */
	cr_assert(s[0] == 65536u && s[1] == 32768u, "%u %u", s[0], s[1]);
}

/* No herding: whatever the loads, every listening slot keeps at least
 * 1/1024 of the largest share, the least loaded gets the largest, and a
 * more loaded slot never gets more than a less loaded one. */
Test(pick, backlog_never_all_to_one)
{
	uint64_t load[8];
	unsigned s[8], top;
	uint32_t x = 12345;
	int round, i, j;

	for (round = 0; round < 2000; round++) {
		for (i = 0; i < 8; i++) {
			x = x * 1103515245u + 12345u;
			load[i] = (x >> 8) % 7 == 0 ? NL : (uint64_t)((x >> 12) % (round % 50 + 1)) * ONE;
		}
		load[round % 8] = (uint64_t)(round % 3) * ONE;       /* one listens */
		backlog(load, NULL, s, 8);
		for (top = 0, i = 0; i < 8; i++)
			top = s[i] > top ? s[i] : top;
		cr_assert_eq(top, 65536u);
		for (i = 0; i < 8; i++) {
			if (load[i] == NL) {
				cr_assert_eq(s[i], 0u);
				continue;
			}
			cr_assert_geq(s[i], 64u, "round %d slot %d: %u", round, i, s[i]);
			for (j = 0; j < 8; j++)
				if (load[j] != NL && load[j] < load[i])
					cr_assert_leq(s[i], s[j]);
		}
	}
}

/* The average: dt/STEER_SMOOTH_MS of the way each refresh, and the load
 * the policy sees unless a queue beyond two connections appears; back to
 * 0 once idle, and reset where nobody listens. */
Test(pick, smooth_remembers_a_busy_slot)
{
	uint64_t avg[2] = { 0, 0 }, load[2];
	int i;

	load[0] = 4 * ONE;
	load[1] = 0;
	steer_smooth(avg, load, 2, STEER_SMOOTH_MS);    /* all the way */
	cr_assert(avg[0] == 4 * ONE && load[0] == 4 * ONE);
	load[0] = 0;
	steer_smooth(avg, load, 2, STEER_SMOOTH_MS / 4);
	cr_assert_eq(avg[0], 3 * ONE, "%llu", (unsigned long long)avg[0]);
	cr_assert_eq(load[0], 3 * ONE, "idle now, busy lately: the average");
	cr_assert_eq(load[1], 0u);
	for (i = 0; i < 200 && avg[0]; i++) {
		load[0] = 0;
		steer_smooth(avg, load, 2, 5);
	}
	cr_assert_eq(avg[0], 0u, "an idle slot's average reaches 0");
	load[0] = 2 * ONE;
	steer_smooth(avg, load, 2, 5);
	cr_assert_eq(avg[0], 2 * ONE * 5 / STEER_SMOOTH_MS);
	cr_assert_eq(load[0], avg[0], "busy since one refresh: a little");
	load[0] = 12 * ONE;
	steer_smooth(avg, load, 2, 5);
	cr_assert_eq(load[0], 10 * ONE, "a sudden queue: at once, less two connections");
	load[0] = NL;
	steer_smooth(avg, load, 2, 5);
	cr_assert(avg[0] == 0 && load[0] == NL, "not listening: no average");
}

/* A new program only when the shares moved: by more than a quarter of a
 * slot's share of the total, or a slot got some or lost all. */
Test(pick, shares_moved_only_past_a_quarter)
{
	unsigned was[3] = { 100, 100, 100 }, same[3] = { 200, 200, 200 };
	unsigned small[3] = { 110, 95, 95 }, big[3] = { 100, 100, 60 };
	unsigned gone[3] = { 100, 100, 0 }, none[3] = { 0, 0, 0 };
	unsigned floor_was[3] = { 65536, 65536, 64 }, floor_up[3] = { 65536, 65536, 128 };

	cr_assert_not(steer_shares_moved(was, was, 3));
	cr_assert_not(steer_shares_moved(was, same, 3), "scaled alike: the same draw");
	cr_assert_not(steer_shares_moved(was, small, 3));
	cr_assert(steer_shares_moved(was, big, 3));
	cr_assert(steer_shares_moved(was, gone, 3));
	cr_assert(steer_shares_moved(gone, was, 3));
	cr_assert(steer_shares_moved(was, none, 3));
	cr_assert(steer_shares_moved(floor_was, floor_up, 3), "a small share counts relative to itself");
}

/* A slot measured slower than 3x the fastest gets its share scaled down
 * by the ratio (to no less than 1/1024 of the largest, plus 1); within 3x,
 * or of unknown pace (0), a slot keeps its share. */
Test(pick, slow_slot_share_scaled_by_its_pace)
{
	double pace[4] = { 0.0002, 0.002, 0.0005, 0 };
	double gone[4] = { 0.0002, 0.5, 0, 0 };
	double none[2] = { 0, 0 };
	unsigned s[4] = { 65536, 65536, 65536, 65536 };
	unsigned g[4] = { 65536, 65536, 65536, 0 };
	unsigned u[2] = { 100, 7 };

	steer_slow_shares(pace, s, 4);
	cr_assert_eq(s[0], 65536u);
	cr_assert_eq(s[1], 6553u, "10x slower: a tenth: %u", s[1]);
	cr_assert_eq(s[2], 65536u, "2.5x: within the ratio");
	cr_assert_eq(s[3], 65536u, "unknown: kept");
	steer_slow_shares(gone, g, 4);
	cr_assert_eq(g[1], 65536u / 1024 + 1, "2500x slower: the floor, %u", g[1]);
	cr_assert_eq(g[3], 0u, "no share stays none");
	steer_slow_shares(none, u, 2);
	cr_assert(u[0] == 100 && u[1] == 7);
}
