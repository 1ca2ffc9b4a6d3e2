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
 *               below 0 (leastconn, p2c and jiq compare these)
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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

TestSuite(board, .timeout = 30);

#define CHAN 0          /* listener ids: rr, a channel policy */
#define SOCK 1          /* shared: the worker accepts, the board counts */

static struct cluster *c;
static struct worker *w;

static void setup(void)
{
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
	w->board->l[CHAN].closed = 11;
	cr_assert_eq(route_open_conns(w, l), 0, "more closed than handed: none, not 2^64-1");
}

/* Under shared the board's accepted count is all there is: a worker can
 * claim any number for itself, but never a negative one. */
Test(board, socket_open_counts_never_wrap, .init = setup, .fini = teardown)
{
	struct listener *l = c->listeners[SOCK];
	size_t i, k;

	for (i = 0; i < NNASTY; i++)
		for (k = 0; k < NNASTY; k++) {
			uint64_t want = nasty[i] > nasty[k] ? nasty[i] - nasty[k] : 0;

			w->board->l[SOCK].accepted = nasty[i];
			w->board->l[SOCK].closed = nasty[k];
			cr_assert_eq(route_open_conns(w, l), want, "accepted %llu closed %llu",
				     (unsigned long long)nasty[i], (unsigned long long)nasty[k]);
		}
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
 * it closed more than it got reads as idle, not as the busiest by 2^64. */
Test(board, policies_see_bounded_counts, .init = setup, .fini = teardown)
{
	struct listener *l = c->listeners[CHAN];
	struct worker *idle = fake_worker_add(c, 1);
	unsigned at;

	w->routes[CHAN].handed = 5;
	w->board->l[CHAN].closed = UINT64_MAX;
	idle->routes[CHAN].handed = 1;          /* one open, no board: honest */
	l->ops = policy_by_name("jiq");
	cr_assert_eq(l->ops->pick(c, l, NULL, &at), w, "jiq: claims to be idle, and is taken so");
	l->ops = policy_by_name("leastconn");
	l->cursor = 1;
	cr_assert_eq(l->ops->pick(c, l, NULL, &at), w, "leastconn: 0 open, not 2^64 - 4");
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
