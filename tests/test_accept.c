/*
 * test_accept.c - accept and accept4 under both policies, as each kind of
 * server calls them: blocking, non-blocking with epoll/poll/select
 * readiness (SOCK_NONBLOCK and SOCK_CLOEXEC honoured), several threads on
 * one listener, fork()ed children on an inherited listener.  The peer
 * address a worker gets is the client's, exactly.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(accept, .fini = harness_cleanup, .timeout = 60);

/* One request on our own socket, so we know our address: the worker must
 * report it as the peer. */
static void request_checking_peer(int port, char *buf, size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	char want[64], got[64];
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	getsockname(fd, (struct sockaddr *)&me, &len);
	cr_assert(write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1);
	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	snprintf(want, sizeof(want), "127.0.0.1:%d", ntohs(me.sin_port));
	cr_assert(body_value(buf, "peer", got, sizeof(got)), "no peer in:\n%s", buf);
	cr_assert_str_eq(got, want);
}

/* Run server ARGS under policy; 3*workers requests, all answered with the
 * right peer; returns how many distinct values `key` took. */
static int serve(const char *policy, int workers, const char *key, const char *const *server)
{
	const char *argv[32] = { "-n", NULL, "-p", policy, "--" };
	char nbuf[8], buf[4096], val[64], seen[32][64];
	int n = 5, i, j, nseen = 0, port;
	struct cr *cr;

	snprintf(nbuf, sizeof(nbuf), "%d", workers);
	argv[1] = nbuf;
	while (*server)
		argv[n++] = *server++;
	argv[n] = NULL;
	cr = cr_startv(NULL, argv);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);
	/* enough requests that one thread or child serving them all would
	 * be a real imbalance, not luck */
	for (i = 0; i < (workers > 1 ? 3 * workers : 12); i++) {
		request_checking_peer(port, buf, sizeof(buf));
		if (!body_value(buf, key, val, sizeof(val)))
			cr_assert_fail("no %s in:\n%s", key, buf);
		for (j = 0; j < nseen && strcmp(seen[j], val); j++)
			;
		if (j == nseen && nseen < 32)
			strcpy(seen[nseen++], val);
		if (body_value(buf, "flags", val, sizeof(val)))
			cr_assert_str_eq(val, "ok", "accept4 flags not honoured:\n%s", buf);
	}
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	return nseen;
}

#define SERVER(...) ((const char *const[]){ __VA_ARGS__, NULL })

Test(accept, blocking_rr) { cr_assert_eq(serve("rr", 3, "worker", SERVER(helper("blocking_server"))), 3); }
Test(accept, blocking_shared) { cr_assert_geq(serve("shared", 3, "worker", SERVER(helper("blocking_server"))), 1); }

Test(accept, epoll_rr) { cr_assert_eq(serve("rr", 2, "worker", SERVER(helper("event_server"), "--mode", "epoll")), 2); }
Test(accept, poll_rr) { cr_assert_eq(serve("rr", 2, "worker", SERVER(helper("event_server"), "--mode", "poll")), 2); }
Test(accept, select_rr) { cr_assert_eq(serve("rr", 2, "worker", SERVER(helper("event_server"), "--mode", "select")), 2); }
Test(accept, epoll_shared) { cr_assert_geq(serve("shared", 2, "worker", SERVER(helper("event_server"), "--mode", "epoll")), 1); }
Test(accept, poll_shared) { cr_assert_geq(serve("shared", 2, "worker", SERVER(helper("event_server"), "--mode", "poll")), 1); }
Test(accept, select_shared) { cr_assert_geq(serve("shared", 2, "worker", SERVER(helper("event_server"), "--mode", "select")), 1); }

/* Four threads blocked in accept4 on one listener, each answer taking
 * 300 ms: four requests at once must be served by several threads at once.
 * (Sequential requests may all go to one thread: the one that just served
 * can take the next connection before a woken one runs, with or without
 * cluster-run.) */
static void threads_serve_concurrently(const char *policy)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "-p", policy, "--", helper("threaded_server"),
				 "--threads", "4", "--slow-ms", "300", NULL);
	int port = cr_ready_port(cr, 0, 10000), fds[4], i, n = 0;
	char seen[4][16], buf[4096], val[16];

	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < 4; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0);
		cr_assert(write(fds[i], "GET / HTTP/1.0\r\n\r\n", 18) == 18);
	}
	for (i = 0; i < 4; i++) {
		size_t len = 0;
		ssize_t r;
		int j;

		while (len < sizeof(buf) - 1 && (r = read(fds[i], buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)r;
		buf[len] = '\0';
		close(fds[i]);
		cr_assert(body_value(buf, "thread", val, sizeof(val)), "no answer %d:\n%s", i, buf);
		for (j = 0; j < n && strcmp(seen[j], val); j++)
			;
		if (j == n)
			strcpy(seen[n++], val);
	}
	cr_assert_geq(n, 2, "four slow requests were served by one thread under %s", policy);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(accept, threads_rr) { threads_serve_concurrently("rr"); }
Test(accept, threads_shared) { threads_serve_concurrently("shared"); }

/* A prefork server: the worker binds, its forked children accept. */
Test(accept, prefork_rr)
{
	cr_assert_geq(serve("rr", 2, "pid", SERVER(helper("prefork_server"), "--children", "2")), 2);
}

Test(accept, prefork_shared)
{
	cr_assert_geq(serve("shared", 2, "pid", SERVER(helper("prefork_server"), "--children", "2")), 1);
}

/* A non-blocking server under load: 40 concurrent clients, none lost. */
Test(accept, concurrent_clients_epoll_rr)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "--", helper("event_server"), "--mode", "epoll", NULL);
	int port = cr_ready_port(cr, 0, 10000);
	long ok, failed, per[16];
	struct load *l;

	cr_assert(port > 0);
	l = load_start(port, 8);
	while (load_ok_so_far(l) < 400)
		sleep_ms(10);
	load_stop(l, &ok, &failed, per);
	cr_assert_eq(failed, 0, "%ld of %ld requests failed", failed, ok + failed);
	cr_assert(per[0] > 0 && per[1] > 0, "worker 0: %ld, worker 1: %ld", per[0], per[1]);
}
