/*
 * test_sticky.c - the sticky policy (issue 8): every connection from one
 * client address (the IP, not the port) goes to the same slot while the
 * slot count is unchanged, and keeps going to that slot when its worker is
 * replaced: after kill -9 and the restart in the same slot, the client
 * reaches the slot's new worker (same CLUSTER_WORKER_ID, new pid).
 * Different client addresses are spread over the workers, and unix socket
 * clients, which have no address, fall back to rotation.
 *
 * Client addresses: the whole of 127.0.0.0/8 is local on Linux, so a client
 * socket bound to 127.0.0.2:0 before connect() reaches a server on
 * 127.0.0.1 with source address 127.0.0.2.  IPv6 has one loopback address,
 * ::1, tested when the machine has it.  The helper servers name their slot
 * (X-Worker) and pid in every answer.
 *
 * Each test gives cluster-run its own --control socket in a fresh directory
 * (cluster-ctl status says when the restarted worker is ready).
 */
#include "harness.h"
#include "tmpdir.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(sticky, .fini = tmpdir_fini, .timeout = 120);

#define ROUNDS 300
#define MAX_CLIENTS 4

struct cluster {
	struct cr *cr;
	int port;
	char dir[64];
	char sock[96];
};

/* n workers of blocking_server on addr under sticky. */
static void start_sticky(struct cluster *c, const char *workers, const char *addr)
{
	tmpdir_new(c->dir, "cr-sticky");
	snprintf(c->sock, sizeof(c->sock), "%s/c.sock", c->dir);
	c->cr = cr_start(NULL, "-n", workers, "-p", "sticky", "--control", c->sock, "--",
			 helper("blocking_server"), "--addr", addr, NULL);
	c->port = cr_ready_port(c->cr, 0, 10000);
	cr_assert(c->port > 0, "cluster-run did not start:\n%s", c->cr->log);
}

/* One GET from a socket bound to src:0, to dst:port; the slot (X-Worker)
 * and pid= of the answer.  0, or -1 with errno. */
static int request_from(const char *src, const char *dst, int port, int *slot, pid_t *pid)
{
	static const char req[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
	struct sockaddr_storage from, to;
	socklen_t flen = sockaddr_of(src, 0, &from), tlen = sockaddr_of(dst, port, &to);
	char buf[4096], val[32];
	long deadline = now_ms() + 5000;
	int fd = socket(to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&from, flen) < 0 ||
	    connect(fd, (struct sockaddr *)&to, tlen) < 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
		goto fail;
	if (recv_answer(fd, buf, sizeof(buf), NULL, deadline) < 0)
		goto fail;
	close(fd);
	if (!strstr(buf, " 200 ") || !body_value(buf, "pid", val, sizeof(val))) {
		errno = EPROTO;
		return -1;
	}
	*slot = response_worker(buf);
	*pid = (pid_t)atol(val);
	return 0;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* Whether addr can be bound here (::1 on a machine without IPv6 cannot). */
static int have_address(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(addr, 0, &ss);
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
	close(fd);
	return ok;
}

/* The pid cluster-ctl status --json shows as ready in slot, other than
 * not_pid; 0 when there is none yet. */
static pid_t ready_in_slot(struct cluster *c, int slot, pid_t not_pid)
{
	const char *argv[] = { cluster_ctl_path(), "-s", c->sock, "status", "--json", NULL };
	char want[32];
	struct run r;
	const char *p;

	run_capture(&r, argv, 10000, NULL, NULL);
	snprintf(want, sizeof(want), "{\"slot\":%d,\"pid\":", slot);
	for (p = r.out; (p = strstr(p, want)); p++) {
		pid_t pid = (pid_t)atol(p + strlen(want));
		const char *state = strstr(p, "\"state\":\"");

		if (pid != not_pid && state && !strncmp(state + 9, "ready\"", 6))
			return pid;
	}
	return 0;
}

struct client {
	const char *addr;
	int slot;
	pid_t pid;
};

/* ROUNDS rounds, one request from each client per round: every answer to
 * a client from the slot and pid of its first answer. */
static void each_keeps_its_worker(struct cluster *c, const char *dst, struct client *cl,
				  int n, int rounds)
{
	int i, k, slot;
	pid_t pid;

	for (k = 0; k < n; k++)
		cl[k].slot = -1;
	for (i = 0; i < rounds; i++)
		for (k = 0; k < n; k++) {
			cr_assert_eq(request_from(cl[k].addr, dst, c->port, &slot, &pid), 0,
				     "request %d from %s: %s\n%s", i, cl[k].addr,
				     strerror(errno), c->cr->log);
			if (cl[k].slot < 0) {
				cl[k].slot = slot;
				cl[k].pid = pid;
			}
			cr_assert(slot == cl[k].slot && pid == cl[k].pid,
				  "client %s: connection %d went to slot %d (pid %d), the "
				  "first went to slot %d (pid %d)", cl[k].addr, i + 1, slot,
				  (int)pid, cl[k].slot, (int)cl[k].pid);
		}
	for (k = 0; k < n; k++)
		cr_log_info("client %s: %d connections, all to slot %d (pid %d)", cl[k].addr,
			    rounds, cl[k].slot, (int)cl[k].pid);
}

/* kill -9 the worker of cl[0]; once the slot's new worker is ready, cl[0]
 * reaches it (and only it), and every other client keeps its slot. */
static void follows_the_slot(struct cluster *c, const char *dst, struct client *cl, int n)
{
	int victim_slot = cl[0].slot, i, k, slot;
	pid_t victim = cl[0].pid, fresh = 0, pid;
	long deadline = now_ms() + 10000;

	cr_assert_eq(kill(victim, SIGKILL), 0);
	while (!(fresh = ready_in_slot(c, victim_slot, victim)) && now_ms() < deadline)
		sleep_ms(50);
	cr_assert(fresh > 0, "slot %d has no new ready worker 10 s after kill -9 of pid "
		  "%d\n%s", victim_slot, (int)victim, c->cr->log);
	cr_assert_eq(proc_worker_id(fresh), victim_slot);
	for (k = 0; k < n; k++)
		if (cl[k].slot == victim_slot)
			cl[k].pid = fresh;
	for (i = 0; i < 100; i++)
		for (k = 0; k < n; k++) {
			cr_assert_eq(request_from(cl[k].addr, dst, c->port, &slot, &pid), 0,
				     "request %d from %s after the restart: %s\n%s", i,
				     cl[k].addr, strerror(errno), c->cr->log);
			cr_assert(slot == cl[k].slot && pid == cl[k].pid,
				  "client %s: after slot %d's worker was restarted (pid %d -> "
				  "%d), connection %d went to slot %d (pid %d), not slot %d "
				  "(pid %d)", cl[k].addr, victim_slot, (int)victim, (int)fresh,
				  i + 1, slot, (int)pid, cl[k].slot, (int)cl[k].pid);
		}
}

Test(sticky, one_worker_per_client_ipv4)
{
	struct client cl[] = { { .addr = "127.0.0.2" }, { .addr = "127.0.0.3" },
			       { .addr = "127.0.0.4" } };
	struct cluster c;

	start_sticky(&c, "4", "127.0.0.1");
	each_keeps_its_worker(&c, "127.0.0.1", cl, 3, ROUNDS);
	follows_the_slot(&c, "127.0.0.1", cl, 3);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0, "%s", c.cr->log);
}

Test(sticky, one_worker_per_client_ipv6)
{
	struct client cl[] = { { .addr = "::1" } };
	struct cluster c;

	if (!have_address("::1"))
		cr_skip_test("this machine has no ::1");
	start_sticky(&c, "4", "::1");
	each_keeps_its_worker(&c, "::1", cl, 1, ROUNDS);
	follows_the_slot(&c, "::1", cl, 1);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0, "%s", c.cr->log);
}

/* Affinity is not "everything to one worker": 16 client addresses over 4
 * workers use more than one slot (if the slot were chosen at random per
 * address, all 16 on one slot would happen once in 4^15), and each address
 * still keeps its own. */
Test(sticky, clients_are_spread)
{
	struct client cl[16];
	char addrs[16][16];
	struct cluster c;
	int k, used = 0, seen = 0;

	for (k = 0; k < 16; k++) {
		snprintf(addrs[k], sizeof(addrs[k]), "127.0.0.%d", 10 + k);
		cl[k].addr = addrs[k];
	}
	start_sticky(&c, "4", "127.0.0.1");
	each_keeps_its_worker(&c, "127.0.0.1", cl, 16, 5);
	for (k = 0; k < 16; k++)
		if (!(seen & (1 << cl[k].slot))) {
			seen |= 1 << cl[k].slot;
			used++;
		}
	cr_assert_geq(used, 2, "16 client addresses all went to slot %d", cl[0].slot);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0, "%s", c.cr->log);
}

/* One GET over a unix socket; the slot that answered, or -1. */
static int unix_request_worker(const char *path)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	return response_worker(buf);
}

/* A unix socket client has no address to stick to: its connections are
 * rotated over the workers as under rr, every worker taking its share. */
Test(sticky, unix_clients_rotate)
{
	char dir[64], path[128];
	int per[3] = { 0 }, i, w;
	struct cr *cr;

	tmpdir_new(dir, "cr-sticky");
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	cr = cr_start(NULL, "-n", "3", "-p", "sticky", "--", helper("unix_server"),
		      "--path", path, NULL);
	cr_assert(cr_wait_line(cr, "(unix) shared by", 10000), "%s", cr->log);
	cr_assert(cr_wait_line(cr, " listening\n", 10000), "%s", cr->log);
	for (i = 0; i < 30; i++) {
		w = unix_request_worker(path);
		cr_assert(w >= 0 && w < 3, "request %d: answered by %d\n%s", i, w, cr->log);
		per[w]++;
	}
	cr_log_info("unix: per worker %d %d %d", per[0], per[1], per[2]);
	for (i = 0; i < 3; i++)
		cr_assert_geq(per[i], 5, "worker %d answered %d of 30 unix connections: no "
			      "rotation (%d %d %d)", i, per[i], per[0], per[1], per[2]);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}
