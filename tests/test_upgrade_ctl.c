/*
 * test_upgrade_ctl.c - the control socket's part of an in-place upgrade,
 * in process: control_save, then what the exec does (the memory gone, the
 * sockets kept: control_forget, a fresh loop), then control_restore, and
 * the clients carry on as if nothing happened:
 *   - a client that had sent half its command sends the rest and is
 *     answered;
 *   - a reload --wait client is answered when the reload finishes after;
 *   - a logs -f follower gets the lines of the new image, and logs shows
 *     the old image's lines before the new one's (logring_save/restore).
 *
 * Each loop runs once (loop_stop is for good), and a client is accepted
 * in one turn and read in the next, so the clients are set up across a
 * first upgrade and the test is the second: every phase has its loop.
 *
 * Not here: the whole upgrade, exec and all (the end-to-end suite).
 */
#include "fake_cluster.h"
#include "tmpdir.h"
#include "base/logring.h"
#include "base/loop.h"
#include "base/state.h"
#include "policy/policy.h"
#include "supervise/slots.h"
#include "surface/control.h"
#include "surface/logs.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

TestSuite(upgrade_ctl, .fini = tmpdir_fini, .timeout = 30);

static char sock_path[108];

static struct cluster *start(void)
{
	static char dir[64];
	struct cluster *c;

	tmpdir_new(dir, "upgrade-ctl");
	snprintf(sock_path, sizeof(sock_path), "%s/ctl.sock", dir);
	c = fake_cluster_new((const char *[]){ "-n", "1", "--control", sock_path, NULL });
	fake_listener_add(c, policy_by_name("shared"), AF_INET, SOCK_DGRAM);
	slots_start(c);
	fake_turn(c);
	fake_listens(c, c->slots[0].active);
	cr_assert_eq(control_open(c), 0);
	return c;
}

static int client(const char *send_first)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", sock_path);
	cr_assert_eq(connect(fd, (struct sockaddr *)&un, sizeof(un)), 0, "connect: %s",
		     strerror(errno));
	if (send_first)
		cr_assert_eq(send(fd, send_first, strlen(send_first), 0), (ssize_t)strlen(send_first));
	return fd;
}

static void stop(struct loop *loop, void *data)
{
	(void)data;
	loop_stop(loop);
}

/* One turn of c's loop: what is readable now is handled, then it stops
 * (for good: the next turn needs another loop). */
static void one_turn(struct cluster *c)
{
	loop_timer(c->loop, 0, stop, NULL);
	loop_run(c->loop);
}

/* Everything fd has to say within ms, or until it closes. */
static const char *read_some(int fd, int ms, int until_close)
{
	static char buf[16384];
	size_t len = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (len < sizeof(buf) - 1 && poll(&p, 1, ms) > 0) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		if (!until_close)
			ms = 50;        /* the rest of a burst */
	}
	buf[len] = '\0';
	return buf;
}

/* What the exec does to the control, and the new image's restore: a new
 * loop (the old one kept for finish to free), the memory of the clients
 * gone, their sockets kept. */
static struct loop *old_loops[256];
static int nold;

static void upgrade(struct cluster *c)
{
	static fake_state_saver *const savers[] = { control_save, logring_save, NULL };
	struct loop *old = c->loop;
	struct state_in *in;

	in = fake_state_trip(c, savers);
	control_forget(c);
	c->loop = loop_new();
	cr_assert_not_null(c->loop);
	/* the new image's own line, logged while it adopts; then the
	 * restores in upgrade.h's order: the rings before the control */
	logring_clear();
	logring_add(LOGRING_MASTER, 0, 0, "adopting", 8);
	cr_assert_eq(logring_restore(c, in), 0);
	cr_assert_eq(control_restore(c, in), 0);
	state_in_free(in);
	cr_assert_lt(nold, 256);
	old_loops[nold++] = old;
}

/* The clients connected so far accepted, then their requests read (a turn
 * each, across an upgrade). */
static void settle(struct cluster *c)
{
	one_turn(c);
	upgrade(c);
	one_turn(c);
}

static void finish(struct cluster *c)
{
	control_close(c);
	while (nold)
		loop_free(old_loops[--nold]);
	fake_cluster_free(c);
	logring_clear();
}

Test(upgrade_ctl, half_a_command_and_a_reload_waiter)
{
	struct cluster *c = start();
	const char *got;
	int half, waiter;

	half = client("sig");
	waiter = client("reload --wait\n");
	settle(c);
	cr_assert_str_empty(read_some(waiter, 50, 0), "the reload was answered at once");
	upgrade(c);

	cr_assert_eq(send(half, "nal USR1\n", 9, 0), 9);
	one_turn(c);
	got = read_some(half, 2000, 1);
	cr_assert(strstr(got, "ok\nsent ") && strstr(got, "to 1 worker"),
		  "the half-sent command: '%s'", got);

	/* lifecycle.c's word that the reload is done, in the new image */
	c->hooks.reload_finished(c, 1, "reload complete");
	got = read_some(waiter, 2000, 1);
	cr_assert(!strncmp(got, "ok\nreload complete in ", 22), "the waiter: '%s'", got);
	close(half);
	close(waiter);
	finish(c);
}

/* A client that never sends keeps its deadline across the exec: it is
 * closed when it comes, not CLIENT_TIMEOUT_MS after the restore. */
Test(upgrade_ctl, an_idle_client_keeps_its_deadline)
{
	struct cluster *c = start();
	int idle;

	idle = client(NULL);
	settle(c);
	fake_now_ms += 3000;
	upgrade(c);
	fake_now_ms += 2000;    /* CLIENT_TIMEOUT_MS after its accept */
	one_turn(c);
	cr_assert_str_empty(read_some(idle, 1000, 1));
	cr_assert_eq(recv(idle, (char[1]){ 0 }, 1, MSG_DONTWAIT), 0, "not closed");
	close(idle);
	finish(c);
}

Test(upgrade_ctl, logs_follower_and_the_rings)
{
	struct cluster *c = start();
	const char *got;
	int follower, reader;

	logring_configure(100);
	logring_add(0, 4242, 1, "before the upgrade", 18);
	follower = client("logs -f\n");
	reader = client(NULL);  /* its request comes after */
	settle(c);
	got = read_some(follower, 2000, 0);
	cr_assert(strstr(got, "[0 4242 stdout] before the upgrade\n"), "'%s'", got);
	upgrade(c);

	logring_add(0, 4242, 1, "after the upgrade", 17);
	got = read_some(follower, 2000, 0);
	cr_assert(strstr(got, "[0 4242 stdout] after the upgrade\n"), "the follower: '%s'", got);
	cr_assert_null(strstr(got, "before"), "sent twice: '%s'", got);
	/* the new image's line from before it restored the follower */
	cr_assert(strstr(got, "[master] adopting\n") &&
		  strstr(got, "adopting") < strstr(got, "after the upgrade"),
		  "the follower missed the adoption's line, or out of order: '%s'", got);
	cr_assert_eq(count_of(got, "adopting"), 1, "this upgrade's line once: '%s'", got);

	cr_assert_eq(send(reader, "logs -n 10\n", 11, 0), 11);
	one_turn(c);
	got = read_some(reader, 2000, 1);
	cr_assert(strstr(got, "before the upgrade"), "'%s'", got);
	cr_assert(strstr(got, "before the upgrade") < strstr(got, "adopting") &&
		  strstr(got, "adopting") < strstr(got, "after the upgrade"),
		  "not in order: '%s'", got);
	close(reader);
	close(follower);
	finish(c);
	logring_configure(0);
}

/* An answer bigger than the socket takes at once (2 MB of logs) goes on
 * being written from where it stopped, across as many upgrades as it
 * takes the client to read it: every line once, in order. */
#define LINES (LOGS_MAX_N - 10)
Test(upgrade_ctl, an_answer_half_written)
{
	struct cluster *c = start();
	char line[200], *all = malloc(4 << 20);
	size_t len = 0;
	int reader, i, closed = 0, upgrades = 0;

	cr_assert_not_null(all);
	logring_configure(LOGS_MAX_N);
	/* room in -n 10000 for the "adopting" lines of the upgrades */
	for (i = 0; i < LINES; i++) {
		snprintf(line, sizeof(line), "line %05d %0180d", i, 0);
		logring_add(i % 10, 100 + i % 10, 1, line, strlen(line));
	}
	reader = client("logs -n 10000\n");
	settle(c);
	while (!closed && upgrades < 200) {
		ssize_t n;

		while ((n = recv(reader, all + len, (4 << 20) - 1 - len, MSG_DONTWAIT)) > 0)
			len += (size_t)n;
		closed = n == 0;
		if (!closed) {
			upgrade(c);
			upgrades++;
			one_turn(c);
		}
	}
	all[len] = '\0';
	cr_assert(closed, "not all sent after %d upgrades (%zu bytes)", upgrades, len);
	cr_assert_gt(upgrades, 1, "the answer fit at once: nothing to carry");
	cr_assert(!strncmp(all, "ok\n", 3), "%.100s", all);
	{
		const char *p = all + 3;

		for (i = 0; i < LINES; i++) {
			char want[16];

			snprintf(want, sizeof(want), "line %05d ", i);
			p = strstr(p, want);
			cr_assert_not_null(p, "line %d missing or out of order", i);
		}
	}
	close(reader);
	free(all);
	finish(c);
	logring_configure(0);
}
