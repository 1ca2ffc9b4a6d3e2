/*
 * test_bench_careful.c - cluster-loadgen's keep-alive accounting against a
 * server that ends every connection right behind its answer, without
 * saying so (no Connection: close), as a retiring worker's shim does: its
 * FIN leaves in the answer's own segment (TCP_CORK, then shutdown), so it
 * is there as soon as the answer is.  Every such close is a reconnect,
 * never a lost request, in -k and -K alike; and a server that resets a
 * connection after reading a request and before answering loses exactly
 * that request.
 *
 * The server is a thread of this test, one connection at a time: the load
 * generator runs with one connection.
 */
#include "test_support.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ANSWER "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Worker: 0\r\n\r\nok\n"

static int lfd = -1;
static pthread_t thread;
static atomic_int stop;
static int reset_every;         /* reset (no answer) every Nth request; 0: never */

/* Reads one request (up to its blank line); 0 at EOF or error. */
static int read_request(int fd)
{
	char buf[2048];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return 1;
	}
	return 0;
}

static void *serve(void *arg)
{
	int one = 1, served = 0;

	(void)arg;
	while (!atomic_load(&stop)) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			break;
		if (read_request(fd)) {
			if (reset_every && ++served % reset_every == 0) {
				struct linger lg = { 1, 0 };     /* close sends RST */
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			} else {
				setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
				(void)!write(fd, ANSWER, strlen(ANSWER));
				shutdown(fd, SHUT_WR);  /* the FIN rides with the answer */
				read_request(fd);       /* until the client closes */
			}
		}
		close(fd);
	}
	return NULL;
}

static int start_server(int every)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	reset_every = every;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 16), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	cr_assert_eq(pthread_create(&thread, NULL, serve, NULL), 0);
	return ntohs(a.sin_port);
}

static void stop_server(void)
{
	if (lfd < 0)
		return;
	atomic_store(&stop, 1);
	shutdown(lfd, SHUT_RDWR);       /* wakes the accept */
	pthread_join(thread, NULL);
	close(lfd);
	lfd = -1;
}

TestSuite(bench_careful, .fini = stop_server, .timeout = 30);

static void closes_are_reconnects(const char *mode)
{
	char report[8192], args[64];
	int port = start_server(0);

	snprintf(args, sizeof(args), "%s -c 1 -n 200", mode);
	run_loadgen(port, args, report, sizeof(report));
	cr_assert_eq(value_of(report, "requests"), 200, "%s", report);
	cr_assert_eq(value_of(report, "lost"), 0, "%s", report);
	cr_assert_eq(value_of(report, "errors"), 0, "%s", report);
	/* every answer but the last ended its connection */
	cr_assert_geq(value_of(report, "reconnects"), 199, "%s", report);
}

Test(bench_careful, careful_closes_are_reconnects) { closes_are_reconnects("-K"); }
Test(bench_careful, keepalive_closes_are_reconnects) { closes_are_reconnects("-k"); }

Test(bench_careful, reset_before_answer_is_lost)
{
	char report[8192];
	int port = start_server(10);

	run_loadgen(port, "-K -c 1 -n 100", report, sizeof(report));
	/* -n counts requests sent: the server reset its 10th, 20th, ... */
	cr_assert_eq(value_of(report, "requests"), 90, "%s", report);
	cr_assert_eq(value_of(report, "lost"), 10, "%s", report);
	cr_assert_eq(value_of(report, "errors_reset"), 10, "%s", report);
	/* each on a new connection: not what a browser would retry */
	cr_assert_eq(value_of(report, "lost_unanswered"), 0, "%s", report);
}
