/*
 * test_bind_lock.c - --user: when a worker's bind of a new address is made
 * with the master's rights (a port below 1024 works) and when with the
 * workers' user's (it fails with EACCES, as it would without cluster-run),
 * on a fake cluster whose clock the test moves (mechanism/attach.c,
 * bind_creds).  Each slot's start-up is its own: it ends a moment after
 * the slot first listens (SLOT_BINDS_SETTLE_MS), or when it takes a
 * connection, and never comes back for the slot's later workers; until
 * its slot ever listens, a worker has --ready-timeout from its own start.
 * Whether another slot listens or not changes nothing.
 *
 * The binds are real (the master's side runs in this process): root is
 * needed, and a user 'nobody'; the test skips without them.
 */
#include "fake_cluster.h"
#include "cluster.h"
#include "mechanism/attach.h"
#include "policy/policy.h"
#include "supervise/slots.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(bind_lock, .timeout = 30);

/* A port below 1024 that nothing holds on 127.0.0.1 now, above `after`. */
static int free_low_port(int after)
{
	int port;

	for (port = after + 1; port < 1024; port++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return port;
	}
	cr_skip_test("no free port below 1024 on 127.0.0.1");
	return -1;
}

static struct cluster *start(const char *ready_timeout)
{
	const char *words[] = { "-n", "2", "--ready-timeout", ready_timeout, NULL };
	struct passwd *pw = getpwnam("nobody");
	struct cluster *c;

	if (geteuid() != 0 || !pw)
		cr_skip_test("needs root and a user 'nobody'");
	c = fake_cluster_new(words);
	c->creds = (struct creds){ .drop = 1, .uid = pw->pw_uid, .gid = pw->pw_gid };
	/* something for a worker to listen on, so that its slot can listen */
	fake_listener_add(c, policy_by_name("shared"), AF_INET, SOCK_DGRAM);
	slots_start(c);
	fake_turn(c);
	return c;
}

/* w binds 127.0.0.1:port (TCP) for the first time in the cluster: its
 * errno, 0 when it was bound. */
static int bind_new(struct worker *w, int port)
{
	struct msg_bind m;
	struct sockaddr_in *sa = (struct sockaddr_in *)&m.addr;
	int fd, err = 0;

	memset(&m, 0, sizeof(m));
	m.family = AF_INET;
	m.type = SOCK_STREAM;
	m.protocol = IPPROTO_TCP;
	m.opts = BIND_OPT_REUSEADDR;
	m.addrlen = sizeof(*sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!worker_bind(w, &m, &fd, &err))
		return err;
	if (fd >= 0)
		close(fd);
	return 0;
}

/* Slot 0 listens, slot 1 never does. */
Test(bind_lock, per_slot)
{
	struct cluster *c = start("30");
	struct worker *w0 = c->slots[0].active, *w1 = c->slots[1].active;
	int p1 = free_low_port(511), p2 = free_low_port(p1), p3 = free_low_port(p2);

	fake_listens(c, w0);
	cr_assert_eq(c->slots[0].state, SLOT_ACTIVE);
	cr_assert_eq(bind_new(w0, p1), 0, "right after it listens: the next address");
	fake_advance(c, SLOT_BINDS_SETTLE_MS);
	cr_assert_eq(bind_new(w0, p2), EACCES, "slot 0 listened a while ago");
	cr_assert_eq(bind_new(w1, p2), 0, "slot 1 never listened: still starting");
	fake_advance(c, 30 * 1000 - SLOT_BINDS_SETTLE_MS);
	cr_assert_eq(bind_new(w1, p3), EACCES, "--ready-timeout after its start");
	fake_cluster_free(c);
}

/* A restarted worker of a slot that listened gets no new window; one of a
 * slot that never listened gets --ready-timeout from its own start. */
Test(bind_lock, restarts)
{
	struct cluster *c = start("5");
	struct worker *w0 = c->slots[0].active, *w1 = c->slots[1].active;
	int p1 = free_low_port(511);

	fake_listens(c, w0);
	fake_advance(c, 6000);
	fake_exits(c, w0, 0);
	fake_exits(c, w1, 0);
	fake_advance(c, 1);             /* past the backoff (0 after 6 s up) */
	w0 = c->slots[0].active;
	w1 = c->slots[1].active;
	cr_assert(w0 && w1 && c->slots[0].state == SLOT_STARTING &&
		  c->slots[1].state == SLOT_STARTING);
	cr_assert_eq(bind_new(w0, p1), EACCES, "slot 0 listened before its restart");
	cr_assert_eq(bind_new(w1, p1), 0, "slot 1's new worker is starting");
	fake_cluster_free(c);
}
