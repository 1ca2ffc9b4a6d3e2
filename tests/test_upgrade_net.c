/*
 * test_upgrade_net.c - the listeners and the balancer across an in-place
 * upgrade, in process: save into a state (base/state.h), "exec" (the old
 * cluster freed without closing the fds it named, as execve keeps them),
 * restore into a fresh cluster and check.
 *
 *   listener    every field, its socket still accepting, and a
 *               connection the master accepted and had not handed yet:
 *               still in the pending ring, same fd, same peer, and the
 *               client's bytes read from it
 *   policies    the saved name finds the table, the kernel variant too
 *               (it has the hop's name)
 *   handed      after policy_state_restore, the first turn hands the pending
 *               connection to a worker over its channel (the zero-loss
 *               crux), the channels being the ones worker.c carried
 *   weights     a weighted round's current weights cross
 *
 * The end to end upgrade (cluster-ctl upgrade under load) is not here:
 * it needs every module's save/restore.
 */
#include "fake_cluster.h"
#include "cluster.h"
#include "base/loop.h"
#include "base/state.h"
#include "net/listener.h"
#include "policy/balancer.h"
#include "policy/policy_state.h"
#include "policy/policy.h"
#include "policy/weights.h"
#include "wire/protocol.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(upgrade_net, .timeout = 30);

extern const struct policy_ops policy_rr, policy_leastconn, policy_shared, policy_reuseport;

/* A TCP listener on 127.0.0.1, port 0, as a worker's bind makes it. */
static struct listener *tcp_listener(struct cluster *c, const struct policy_ops *ops)
{
	struct sockaddr_in *a;
	struct msg_bind req;
	struct listener *l;
	int plain = 0, err = 0;

	memset(&req, 0, sizeof(req));
	req.family = AF_INET;
	req.type = SOCK_STREAM;
	req.protocol = IPPROTO_TCP;
	req.addrlen = sizeof(*a);
	a = (struct sockaddr_in *)&req.addr;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = listener_create(c, &req, 0, NULL, &plain, &err);
	cr_assert_not_null(l, "listener_create: %s", strerror(err));
	l->ops = ops;
	cr_assert_eq(listen(l->fd, 16), 0);
	return l;
}

static int connect_to(const struct listener *l)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (const struct sockaddr *)&l->addr, l->addrlen), 0);
	return fd;
}

/* Accept one connection of l into its pending ring, at a head that is not
 * 0: the ring is saved head first, whatever its rotation. */
static struct conn pend_one(struct listener *l)
{
	struct conn conn;

	memset(&conn, 0, sizeof(conn));
	conn.peerlen = sizeof(conn.peer);
	conn.fd = accept4(l->fd, (struct sockaddr *)&conn.peer, &conn.peerlen, SOCK_CLOEXEC);
	cr_assert_geq(conn.fd, 0);
	l->cappending = 4;
	l->pending = calloc(l->cappending, sizeof(*l->pending));
	cr_assert_not_null(l->pending);
	l->headpending = 3;
	l->pending[3] = conn;
	l->npending = 1;
	return conn;
}

/* The state of c as the upgrade saves this layer: listeners, then (the
 * workers being worker.c's) the balancer. */
static struct state_in *save(struct cluster *c)
{
	static fake_state_saver *const savers[] = { listener_save, policy_state_save, NULL };

	return fake_state_trip(c, savers);
}

/* The exec: the old cluster's memory goes, its fds stay.  fake_cluster_free
 * closes no listener's fd; hand-made workers' channels are kept by taking
 * the workers out first (worker.c would carry them). */
static struct worker **exec_away(struct cluster *c, int *nworkers)
{
	struct worker **ws = c->workers;

	*nworkers = c->nworkers;
	c->workers = NULL;
	c->nworkers = 0;
	fake_cluster_free(c);
	return ws;
}

/* worker_restore's part, by hand: the same structs, in the new cluster,
 * as worker.c gives them back (plain values and fds, nothing in the
 * loop). */
static void adopt_workers(struct cluster *c, struct worker **ws, int n)
{
	int i;

	c->workers = ws;
	c->nworkers = n;
	for (i = 0; i < n; i++) {
		ws[i]->c = c;
		c->slots[ws[i]->slot].c = c;
		c->slots[ws[i]->slot].index = ws[i]->slot;
		c->slots[ws[i]->slot].active = ws[i];
		c->slots[ws[i]->slot].state = SLOT_ACTIVE;
		if (ws[i]->slot >= c->target)
			c->target = ws[i]->slot + 1;
	}
}

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

Test(upgrade_net, listener_round_trip)
{
	const char *const words[] = { "-n", "2", NULL };
	struct cluster *c = fake_cluster_new(words), *c2;
	struct listener *l, *l2;
	struct sockaddr_storage addr;
	struct state_in *in;
	struct conn conn;
	char name[128], buf[8];
	int client, fd, client2, ws_n, got;
	struct worker **ws;

	l = tcp_listener(c, &policy_leastconn);
	client = connect_to(l);
	conn = pend_one(l);
	l->announced = 1;
	l->cursor = 5;
	l->accepted = 7;
	l->kick = 1;
	l->emfile_logged = 1234;
	fd = l->fd;
	addr = l->addr;
	snprintf(name, sizeof(name), "%s", l->name);

	in = save(c);
	ws = exec_away(c, &ws_n);
	cr_assert(fd_open(fd) && fd_open(conn.fd), "the exec keeps what the state names");

	c2 = fake_cluster_new(words);
	cr_assert_eq(listener_restore(c2, in), 0);
	cr_assert_eq(c2->nlisteners, 1);
	l2 = c2->listeners[0];
	cr_assert_eq(l2->c, c2);
	cr_assert_eq(l2->id, 0);
	cr_assert_eq(l2->fd, fd);
	cr_assert_eq(l2->family, AF_INET);
	cr_assert_eq(l2->type, SOCK_STREAM);
	cr_assert_eq(l2->protocol, IPPROTO_TCP);
	cr_assert_eq(l2->addrlen, sizeof(struct sockaddr_in));
	cr_assert_eq(memcmp(&l2->addr, &addr, l2->addrlen), 0);
	cr_assert_eq(l2->reqlen, sizeof(struct sockaddr_in));
	cr_assert_str_eq(l2->name, name);
	cr_assert_eq(l2->ops, &policy_leastconn);
	cr_assert_eq(l2->announced, 1);
	cr_assert_eq(l2->cursor, 5);
	cr_assert_eq(l2->accepted, 7);
	cr_assert_eq(l2->kick, 1);
	cr_assert_eq(l2->emfile_logged, 1234);
	cr_assert_eq(l2->inherited, 0);
	cr_assert_eq(l2->registered, 0, "not in the loop before policy_state_restore");
	cr_assert_null(l2->policy_data, "leastconn's heap is rebuilt");

	/* the connection accepted and not handed: same fd, same peer */
	cr_assert_eq(l2->npending, 1);
	cr_assert_eq(l2->pending[l2->headpending].fd, conn.fd);
	cr_assert_eq(l2->pending[l2->headpending].peerlen, conn.peerlen);
	cr_assert_eq(memcmp(&l2->pending[l2->headpending].peer, &conn.peer, conn.peerlen), 0);
	cr_assert(fcntl(conn.fd, F_GETFD) & FD_CLOEXEC, "taken back close-on-exec");
	cr_assert_eq(write(client, "hi", 2), 2);
	got = (int)read(conn.fd, buf, sizeof(buf));
	cr_assert_eq(got, 2);
	cr_assert_eq(memcmp(buf, "hi", 2), 0);

	/* the listening socket still takes connections */
	client2 = connect_to(l2);
	fd = accept4(l2->fd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(fd, 0, "accept on the restored listener: %s", strerror(errno));

	close(fd);
	close(client2);
	close(client);
	close(conn.fd);
	l2->npending = 0;
	close(l2->fd);
	state_in_free(in);
	free(ws);
	fake_cluster_free(c2);
}

Test(upgrade_net, policies_by_saved_name)
{
	const struct policy_ops *k;

	cr_assert_eq(policy_by_saved_name("rr", 0), &policy_rr);
	cr_assert_eq(policy_by_saved_name("reuseport", 0), &policy_reuseport);
	k = policy_by_saved_name("leastconn", 1);
	cr_assert(k && k->in_kernel && k->reweigh && !strcmp(k->name, "leastconn"));
	k = policy_by_saved_name("shared", 1);
	cr_assert(k && k->in_kernel && k->served_as, "shared's stand-in through seccomp");
	cr_assert_eq(policy_by_saved_name("shared", 0), &policy_shared);
	cr_assert_null(policy_by_saved_name("no-such-policy", 0));
	cr_assert_null(policy_by_saved_name("reuseport", 1), "reuseport has no variant");
}

/* A connection taken back (or accepted and not yet handed) when the
 * upgrade began reaches a worker on the new image's first turn. */
Test(upgrade_net, pending_connection_handed_after_restore)
{
	const char *const words[] = { "-n", "2", NULL };
	struct cluster *c = fake_cluster_new(words), *c2;
	struct listener *l, *l2;
	struct state_in *in;
	struct msg_conn m;
	struct conn conn;
	struct worker **ws;
	int client, ws_n, i, got = -1, fd = -1, chan, peer;
	ssize_t n;

	l = tcp_listener(c, &policy_rr);
	fake_worker_add(c, 0);
	fake_worker_add(c, 1);
	l->registered = 1;      /* as channel_attach left it */
	l->watching = 0;        /* every worker was full, say */
	client = connect_to(l);
	conn = pend_one(l);
	in = save(c);
	ws = exec_away(c, &ws_n);
	chan = ws[0]->routes[0].chan;

	c2 = fake_cluster_new(words);
	cr_assert_eq(listener_restore(c2, in), 0);
	adopt_workers(c2, ws, ws_n);
	cr_assert_eq(policy_state_restore(c2, in), 0);
	l2 = c2->listeners[0];
	cr_assert_eq(l2->registered, 1);
	cr_assert_eq(ws[0]->routes[0].w, ws[0]);
	cr_assert_eq(ws[0]->routes[0].chan, chan);
	/* the channel is in the new loop: a second add says it is */
	cr_assert_lt(loop_add_fd(c2->loop, chan, 0, NULL, NULL), 0);
	cr_assert_eq(errno, EEXIST);
	cr_assert_neq(l2->again_timer, 0, "a dispatch on the first turn");

	fake_turn(c2);
	cr_assert_eq(l2->npending, 0, "the pending connection was handed");
	for (i = 0; i < ws_n && got < 0; i++) {
		peer = ws[i]->routes[0].chan_peer;
		n = msg_recv(peer, &m, sizeof(m), &fd, MSG_DONTWAIT);
		if (n > 0)
			got = i;
	}
	cr_assert_geq(got, 0, "a worker's channel has it");
	cr_assert_eq(m.hdr.type, MSG_CONN);
	cr_assert_eq(m.addrlen, conn.peerlen);
	cr_assert_eq(ws[got]->routes[0].handed, 1);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(client, "x", 1), 1);
	{
		char b;
		cr_assert_eq(read(fd, &b, 1), 1, "the handed fd is the client's connection");
	}
	close(fd);
	close(client);
	close(l2->fd);
	state_in_free(in);
	fake_cluster_free(c2);
}

Test(upgrade_net, weights_round_crosses)
{
	const char *const words[] = { "-n", "3", "--weights", "3,1,1", NULL };
	struct cluster *c = fake_cluster_new(words), *c2;
	struct listener *l;
	struct state_in *in;
	struct worker **ws, *w;
	unsigned at = 0;
	int ws_n, i, order[5], order2[5];

	l = tcp_listener(c, &policy_rr);
	for (i = 0; i < 3; i++)
		fake_worker_add(c, i);
	/* two picks into a round of five: a a b a c (smooth WRR) */
	for (i = 0; i < 2; i++) {
		w = weights_rr_pick(c, l, &at);
		cr_assert_not_null(w);
		l->cursor = at;
		weights_handed(c, l, w);
		order[i] = w->slot;
	}
	in = save(c);
	ws = exec_away(c, &ws_n);
	c2 = fake_cluster_new(words);
	cr_assert_eq(listener_restore(c2, in), 0);
	adopt_workers(c2, ws, ws_n);
	cr_assert_eq(policy_state_restore(c2, in), 0);
	l = c2->listeners[0];
	for (i = 2; i < 5; i++) {
		w = weights_rr_pick(c2, l, &at);
		cr_assert_not_null(w);
		l->cursor = at;
		weights_handed(c2, l, w);
		order[i] = w->slot;
	}
	/* the same five picks without an upgrade */
	{
		int n0 = 0, n1 = 0, n2 = 0;

		for (i = 0; i < 5; i++) {
			n0 += order[i] == 0;
			n1 += order[i] == 1;
			n2 += order[i] == 2;
			order2[i] = order[i];
		}
		cr_assert(n0 == 3 && n1 == 1 && n2 == 1,
			  "one round of 3,1,1 across the upgrade: %d %d %d %d %d",
			  order2[0], order2[1], order2[2], order2[3], order2[4]);
	}
	close(l->fd);
	state_in_free(in);
	fake_cluster_free(c2);
}
