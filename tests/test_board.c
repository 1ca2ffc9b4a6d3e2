/*
 * test_board.c - a worker's board is the worker's word: what the master
 * reads from it must be bounded before use, whatever the worker wrote
 * there (board.c, and its readers in balancer.c).  In process: a real
 * board (a memfd, as board_create makes it) on a hand-made worker
 * (tests/common/fake_cluster.h), scribbled over, then read the way the
 * master reads it:
 *
 *   in_accept   capped, so a drain waits at most until --grace, not on a
 *               number no thread count reaches
 *   drain bits  a listener id out of range writes nothing
 *   open conns  channel policies: never more than the master handed, never
 *               below 0; a board claiming more closes than that is not
 *               believed, so its worker reads busy, not idle (leastconn,
 *               p2c and jiq compare these: a liar among honest workers
 *               gets no more than its share under each)
 *   accepts     shared and reuseport: no more than the kernel's count of
 *               TCP connections established since the worker started
 *               (a fake /proc/net/snmp here), summed without wrapping
 *               (--max-requests, the drain's fallback)
 *   queued      the board's "received" beyond what the master sent is
 *               not believed: the kernel's count (FIONREAD) is used
 *   no board    (none asked for, or freed) reads as zeros
 */
#include "fake_cluster.h"
#include "cluster.h"
#include "net/board.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "wire/protocol.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(board, .timeout = 30);

#define CHAN 0          /* listener ids: rr, a channel policy */
#define SOCK 1          /* shared: the worker accepts, the board counts */

static struct cluster *c;
static struct worker *w;

/* The kernel's TCP counters, as board.c reads them: a memfd in place of
 * /proc/net/snmp, rewritten by set_passive_opens. */
static int snmp_fd = -1;
static char snmp_path[64];

static void set_passive_opens(uint64_t n)
{
	char text[256];
	int len;

	if (snmp_fd < 0) {
		snmp_fd = memfd_create("snmp", MFD_CLOEXEC);
		cr_assert_geq(snmp_fd, 0);
		snprintf(snmp_path, sizeof(snmp_path), "/proc/self/fd/%d", snmp_fd);
		board_snmp_path = snmp_path;
	}
	len = snprintf(text, sizeof(text),
		       "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
		       "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens "
		       "AttemptFails\nTcp: 1 200 120000 -1 77 %llu 3\n"
		       "Udp: InDatagrams\nUdp: 5\n", (unsigned long long)n);
	cr_assert_eq(ftruncate(snmp_fd, 0), 0);
	cr_assert_eq(pwrite(snmp_fd, text, (size_t)len, 0), len);
	fake_now_ms++;          /* board.c reads it once per millisecond */
}

static void setup(void)
{
	set_passive_opens(1000);
	c = fake_cluster_new((const char *[]){ "-n", "1", NULL });
	fake_listener_add(c, policy_by_name("rr"), AF_INET, SOCK_STREAM);
	fake_listener_add(c, policy_by_name("shared"), AF_INET, SOCK_STREAM);
	w = fake_worker_add(c, 0);
	cr_assert_eq(board_create(w), 0);
}

static void teardown(void)
{
	board_free(w);
	fake_cluster_free(c);
}

/* Every byte of the board from a fixed stream: the same garbage every run. */
static void scribble(unsigned seed)
{
	unsigned char *p = (unsigned char *)w->board;
	size_t i;

	for (i = 0; i < sizeof(*w->board); i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

static const uint64_t nasty[] = { 0, 1, 9, 10, 11, 1000, UINT64_MAX / 2, UINT64_MAX / 2 + 1,
				  UINT64_MAX - 1, UINT64_MAX };
#define NNASTY (sizeof(nasty) / sizeof(nasty[0]))

Test(board, in_accept_is_capped, .init = setup, .fini = teardown)
{
	unsigned seed;
	uint32_t lid;

	memset(w->board, 0xff, sizeof(*w->board));
	cr_assert_eq(board_in_accept(w, CHAN), 1u << 20);
	for (seed = 1; seed < 200; seed++) {
		scribble(seed);
		for (lid = 0; lid < CLUSTER_MAX_LISTENERS; lid++)
			cr_assert_leq(board_in_accept(w, lid), 1u << 20, "seed %u, listener %u",
				      seed, lid);
	}
	cr_assert_eq(board_in_accept(w, CLUSTER_MAX_LISTENERS), 0, "no such listener");
	cr_assert_eq(board_in_accept(w, UINT32_MAX), 0);
	cr_assert_eq(socket_pending(c, w, c->listeners[SOCK]), 0, "not draining: nothing pending");
	w->routes[SOCK].draining = 1;
	cr_assert_leq(socket_pending(c, w, c->listeners[SOCK]), 1u << 20);
}

Test(board, drain_bits_stay_in_range, .init = setup, .fini = teardown)
{
	struct worker_board before;

	scribble(42);
	w->board->drain = 0;
	memcpy(&before, w->board, sizeof(before));
	board_set_drain(w, CLUSTER_MAX_LISTENERS);
	board_set_drain(w, UINT32_MAX);
	cr_assert_eq(memcmp(&before, w->board, sizeof(before)), 0, "wrote out of range");
	board_set_drain(w, SOCK);
	cr_assert_eq(w->board->drain, 1ull << SOCK);
	before.drain = 1ull << SOCK;
	cr_assert_eq(memcmp(&before, w->board, sizeof(before)), 0, "wrote beyond the bit");
}

/* Under a channel policy the master counts what it handed; the board only
 * says how many were closed.  Whatever it says, 0 <= open <= handed. */
Test(board, channel_open_counts_within_handed, .init = setup, .fini = teardown)
{
	struct route *r = &w->routes[CHAN];
	struct listener *l = c->listeners[CHAN];
	size_t i, k;

	r->handed = 10;
	for (i = 0; i < NNASTY; i++)
		for (k = 0; k < 3; k++) {
			r->closed = k * 4;                      /* reported by message */
			w->board->l[CHAN].closed = nasty[i];
			w->board->l[CHAN].accepted = nasty[NNASTY - 1 - i];
			cr_assert_leq(route_open_conns(w, l), r->handed,
				      "closed %llu + %llu gave %llu open of 10",
				      (unsigned long long)r->closed, (unsigned long long)nasty[i],
				      (unsigned long long)route_open_conns(w, l));
		}
	r->closed = 0;
	w->board->l[CHAN].closed = 3;
	cr_assert_eq(route_open_conns(w, l), 7, "an honest board is believed");
	w->board->l[CHAN].closed = 10;
	cr_assert_eq(route_open_conns(w, l), 0, "all closed: idle");
	w->board->l[CHAN].closed = 11;
	cr_assert_eq(route_open_conns(w, l), 10, "more closed than handed: not believed, so "
		     "all 10 open, not none (idle) and not 2^64-1");
	r->closed = 4;
	w->board->l[CHAN].closed = 7;
	cr_assert_eq(route_open_conns(w, l), 6, "4 closes reported by message, 7 on a board "
		     "(11 of 10): the board is not believed");
	w->board->l[CHAN].closed = 6;
	cr_assert_eq(route_open_conns(w, l), 0);
}

/* Under shared the master hands nothing: the board's accepted count is
 * bounded by the kernel's count of connections established since the
 * worker started (1000 then, in setup); closes beyond the accepts are not
 * believed.  Never a negative count, never one that wrapped. */
Test(board, socket_open_counts_within_the_kernels_count, .init = setup, .fini = teardown)
{
	struct listener *l = c->listeners[SOCK];
	size_t i, k;

	set_passive_opens(1000 + 50);
	cr_assert_eq(board_accept_ceiling(w), 50);
	for (i = 0; i < NNASTY; i++)
		for (k = 0; k < NNASTY; k++) {
			uint64_t got = nasty[i] < 50 ? nasty[i] : 50;
			uint64_t want = nasty[k] > got ? got : got - nasty[k];

			w->board->l[SOCK].accepted = nasty[i];
			w->board->l[SOCK].closed = nasty[k];
			cr_assert_eq(route_open_conns(w, l), want, "accepted %llu closed %llu",
				     (unsigned long long)nasty[i], (unsigned long long)nasty[k]);
			cr_assert_eq(worker_open_conns(w), want, "accepted %llu closed %llu",
				     (unsigned long long)nasty[i], (unsigned long long)nasty[k]);
			cr_assert_eq(worker_taken(w), got, "accepted %llu",
				     (unsigned long long)nasty[i]);
		}
	w->board->l[SOCK].accepted = 9;
	w->board->l[SOCK].closed = 9;
	cr_assert_eq(worker_open_conns(w), 0, "an honest idle worker is idle");
	w->board->l[SOCK].closed = 10;
	cr_assert_eq(worker_open_conns(w), 9, "closed more than it accepted: busy, not idle "
		     "(a drain without a census waits for --grace instead of cutting)");
}

/* --max-requests under shared: a board that says 2^64-1 accepts does not
 * recycle a worker the kernel saw take a handful; several listeners'
 * counts do not add up past the one count of the kernel, nor wrap. */
Test(board, worker_taken_within_the_kernels_count, .init = setup, .fini = teardown)
{
	struct cluster *cc = fake_cluster_new((const char *[]){ "-n", "1", "-p", "shared", NULL });
	struct worker *ww;
	uint32_t lid;

	for (lid = 0; lid < 4; lid++)
		fake_listener_add(cc, policy_by_name("shared"), AF_INET, SOCK_STREAM);
	fake_listener_add(cc, policy_by_name("shared"), AF_UNIX, SOCK_STREAM);
	ww = fake_worker_add(cc, 0);
	set_passive_opens(5000);
	cr_assert_eq(board_create(ww), 0);
	set_passive_opens(5000 + 7);
	for (lid = 0; lid < 4; lid++)
		ww->board->l[lid].accepted = UINT64_MAX / 2 + 1;     /* 4 of these wrap to 0 */
	cr_assert_eq(worker_taken(ww), 7, "the kernel saw 7 established");
	cr_assert_eq(worker_open_conns(ww), 7);
	for (lid = 0; lid < 4; lid++)
		ww->board->l[lid].accepted = 2;
	cr_assert_eq(worker_taken(ww), 7, "4 listeners, 2 each: 8, but the kernel saw 7");
	ww->board->l[0].accepted = 0;
	cr_assert_eq(worker_taken(ww), 6, "an honest board is believed");

	/* a unix listener has no count of the kernel's: the board's word,
	 * but one that saturates, never wraps, and stays positive in a long */
	ww->board->l[4].accepted = UINT64_MAX;
	ww->board->l[4].closed = 0;
	cr_assert_eq(worker_taken(ww), (uint64_t)INT64_MAX);
	cr_assert_eq(worker_open_conns(ww), (uint64_t)INT64_MAX);
	cr_assert_gt((long)worker_open_conns(ww), 0);

	/* no kernel count (an unreadable /proc/net/snmp): saturating too */
	ww->board->l[4].accepted = 0;
	board_snmp_path = "/nonexistent";
	fake_now_ms++;
	for (lid = 0; lid < 4; lid++)
		ww->board->l[lid].accepted = UINT64_MAX / 2 + 1;
	cr_assert_eq(worker_taken(ww), (uint64_t)INT64_MAX, "wrapped or capped wrongly: %llu",
		     (unsigned long long)worker_taken(ww));
	board_free(ww);
	fake_cluster_free(cc);
}

/* k MSG_CONN-sized messages really queued on w's channel. */
static void queue_messages(int k)
{
	struct msg_conn m;
	int i;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < k; i++)
		cr_assert_eq(send(w->routes[CHAN].chan, &m, sizeof(m), 0), (ssize_t)sizeof(m));
}

/* The master's own count says the channel may be full (queued_hint at the
 * window); the board says how many the worker took.  A board that claims
 * more taken than were ever sent is ignored for the kernel's count; an
 * honest one spares the ioctl. */
Test(board, queued_estimate_falls_back_to_the_kernel, .init = setup, .fini = teardown)
{
	struct route *r = &w->routes[CHAN];
	struct listener *l = c->listeners[CHAN];
	size_t i;

	queue_messages(2);
	r->sent = 10;
	for (i = 0; i < NNASTY; i++) {
		if (nasty[i] <= r->sent)
			continue;
		r->queued_hint = 4;
		w->board->l[CHAN].received = nasty[i];
		cr_assert(channel_has_room(c, w, l));
		cr_assert_eq(r->queued_hint, 2, "received %llu of 10 sent: %u queued, not the "
			     "kernel's 2", (unsigned long long)nasty[i], r->queued_hint);
	}
	r->queued_hint = 4;
	w->board->l[CHAN].received = 9;
	cr_assert(channel_has_room(c, w, l));
	cr_assert_eq(r->queued_hint, 1, "an honest board: 10 sent, 9 taken, 1 queued");

	queue_messages(2);                      /* 4 really queued: full */
	r->queued_hint = 4;
	w->board->l[CHAN].received = UINT64_MAX;
	cr_assert(!channel_has_room(c, w, l), "the kernel says full, whatever the board says");
	cr_assert(r->full);
}

/* p2c, jiq and leastconn compare open counts: a worker whose board claims
 * it closed more than it got reads as holding all it got (5), neither
 * idle (0, the bug: it then got every connection) nor 2^64 - 4. */
Test(board, policies_see_bounded_counts, .init = setup, .fini = teardown)
{
	struct listener *l = c->listeners[CHAN];
	struct worker *other = fake_worker_add(c, 1);
	unsigned at;

	w->routes[CHAN].handed = 5;
	w->board->l[CHAN].closed = UINT64_MAX;
	other->routes[CHAN].handed = 1;         /* one open, no board: honest */
	cr_assert_eq(route_open_conns(w, l), 5);
	l->ops = policy_by_name("leastconn");
	l->cursor = 1;
	cr_assert_eq(l->ops->pick(c, l, NULL, &at), other, "leastconn: 1 open beats 5");
	l->ops = policy_by_name("p2c");
	cr_assert_eq(l->ops->pick(c, l, NULL, &at), other, "p2c: 1 open beats 5");
	l->ops = policy_by_name("jiq");
	l->cursor = 1;
	other->routes[CHAN].handed = 0;
	cr_assert_eq(l->ops->pick(c, l, NULL, &at), other, "jiq: the idle one, not the liar");
}

Test(board, no_board_reads_zero, .init = setup, .fini = teardown)
{
	uint32_t lid;

	memset(w->board, 0xff, sizeof(*w->board));
	board_free(w);
	cr_assert_null(w->board);
	cr_assert_eq(w->board_fd, -1);
	for (lid = 0; lid < 3; lid++) {
		cr_assert_eq(board_in_accept(w, lid), 0);
		cr_assert_eq(board_accepted(w, lid), 0);
		cr_assert_eq(board_closed(w, lid), 0);
		cr_assert_eq(board_received(w, lid), 0);
	}
	board_set_drain(w, 0);                  /* nothing to write: no crash */
}

/*
 * A liar among honest workers, under each load-aware policy.  Four
 * workers share a channel listener; the master hands one connection per
 * round to whoever the policy picks, as dispatch() does (handed, sent,
 * the policy's handed()).  The honest ones close each connection HOLD
 * rounds after they got it, on their boards, as the shim counts; worker
 * 0 rewrites its board before every pick with what lie() says.  A board
 * the master cannot believe must not make its worker the least loaded:
 * over ROUNDS the liar gets no more than its fair share (its weight's
 * part of the total), where before it got nearly every connection.
 */
#define NW 4
#define HOLD 8
#define ROUNDS 400

typedef void lie_fn(struct worker *liar, unsigned round);

static void lie_max(struct worker *liar, unsigned round)
{
	(void)round;
	liar->board->l[CHAN].closed = UINT64_MAX;
}

/* Just beyond what it was handed: the smallest lie the master can see. */
static void lie_one_more(struct worker *liar, unsigned round)
{
	(void)round;
	liar->board->l[CHAN].closed = liar->routes[CHAN].handed + 1;
}

static void lie_half(struct worker *liar, unsigned round)
{
	liar->board->l[CHAN].closed = round % 2 ? UINT64_MAX / 2 + 1 : UINT64_MAX / 2;
}

/* Every byte of the board, from a stream that differs each round. */
static void lie_garbage(struct worker *liar, unsigned round)
{
	unsigned char *p = (unsigned char *)liar->board;
	unsigned seed = round * 2654435761u + 7;
	size_t i;

	for (i = 0; i < sizeof(*liar->board); i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
	/* a random 64-bit count is beyond any real one but 2^-40 of the
	 * time; these rounds are fixed, so it is checked once: */
	cr_assert_gt(liar->board->l[CHAN].closed, liar->routes[CHAN].handed);
}

/* The liar's picks over ROUNDS under policy (weights: "--weights" list,
 * or NULL). */
static unsigned liar_picks(const char *policy, const char *weights, lie_fn *lie)
{
	const char *words[] = { "-n", "4", "-p", policy, weights ? "--weights" : NULL, weights,
				NULL };
	struct cluster *cc = fake_cluster_new(words);
	struct listener *l;
	struct worker *ws[NW];
	unsigned due[NW][ROUNDS] = { { 0 } }, ndue[NW] = { 0 }, first[NW] = { 0 };
	unsigned round, picks = 0, k, i;

	l = fake_listener_add(cc, policy_by_name(policy), AF_INET, SOCK_STREAM);
	for (i = 0; i < NW; i++) {
		ws[i] = fake_worker_add(cc, (int)i);
		cr_assert_eq(board_create(ws[i]), 0);
	}
	for (round = 0; round < ROUNDS; round++) {
		struct worker *got;
		unsigned at = 0;

		for (i = 1; i < NW; i++)        /* the honest close what is due */
			while (first[i] < ndue[i] && due[i][first[i]] <= round) {
				ws[i]->board->l[CHAN].closed++;
				first[i]++;
			}
		lie(ws[0], round);
		got = l->ops->pick(cc, l, NULL, &at);
		cr_assert_not_null(got, "%s: round %u: nobody", policy, round);
		cr_assert_eq(cc->workers[at], got);
		l->cursor = at;
		got->routes[CHAN].handed++;
		got->routes[CHAN].sent++;
		if (l->ops->handed)
			l->ops->handed(cc, l, got);
		for (k = 0; k < NW && ws[k] != got; k++)
			;
		if (k == 0)
			picks++;
		else
			due[k][ndue[k]++] = round + HOLD;
	}
	for (i = 0; i < NW; i++)
		board_free(ws[i]);
	fake_cluster_free(cc);
	return picks;
}

static void liar_gets_no_more_than_its_share(const char *policy, const char *weights,
					     unsigned share_of_8)
{
	static struct { const char *name; lie_fn *fn; } lies[] = {
		{ "2^64-1", lie_max }, { "handed+1", lie_one_more },
		{ "2^63", lie_half }, { "garbage", lie_garbage },
	};
	size_t i;

	for (i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		unsigned picks = liar_picks(policy, weights, lies[i].fn);

		cr_log_info("%s%s%s: closed = %s: %u of %u", policy, weights ? " --weights " : "",
			    weights ? weights : "", lies[i].name, picks, ROUNDS);

		cr_expect_leq(picks, ROUNDS * share_of_8 / 8,
			      "%s%s%s: a board saying closed = %s got %u of %u connections "
			      "(its share: %u)", policy, weights ? " --weights " : "",
			      weights ? weights : "", lies[i].name, picks, ROUNDS,
			      ROUNDS * share_of_8 / 8);
	}
}

Test(board, leastconn_liar_gets_its_share_at_most) { liar_gets_no_more_than_its_share("leastconn", NULL, 2); }
Test(board, p2c_liar_gets_its_share_at_most) { liar_gets_no_more_than_its_share("p2c", NULL, 2); }
Test(board, jiq_liar_gets_its_share_at_most) { liar_gets_no_more_than_its_share("jiq", NULL, 2); }
/* Weight 2 of 5 for the liar: at most 2/5 (3.2 of 8: 3 of 8 asked). */
Test(board, weighted_leastconn_liar_gets_its_share_at_most)
{
	liar_gets_no_more_than_its_share("leastconn", "2,1,1,1", 3);
}

/* The retiring flag (issue 20): set alone, nothing else on the board
 * touched; without a board, nothing to write. */
Test(board, retiring_flag_alone, .init = setup, .fini = teardown)
{
	struct worker_board before;

	scribble(7);
	w->board->retiring = 0;
	memcpy(&before, w->board, sizeof(before));
	board_set_retiring(w);
	cr_assert_eq(w->board->retiring, 1);
	before.retiring = 1;
	cr_assert_eq(memcmp(&before, w->board, sizeof(before)), 0, "wrote beyond the flag");
	board_free(w);
	board_set_retiring(w);                  /* no board: no crash */
}
