/*
 * test_shim_accept_threads.c - 64 threads of one worker blocked in accept
 * on one clustered listener at once (threaded_server --threads 64, two
 * workers), with 256 connections arriving together from 32 client
 * threads: every connection is answered, and accepted exactly once (each
 * client's port appears on exactly one "accepted" line of the workers'
 * stdout), under every policy.  Under the channel policies every accept
 * is a receive from one channel (one message, one thread); under shared
 * and reuseport the emulated blocking accept polls a non-blocking socket
 * that all 64 wake on.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

TestSuite(shim_accept_threads, .fini = tmpdir_fini, .timeout = 180);

#define CLIENTS 32
#define EACH 8

struct client {
	pthread_t t;
	int port;
	int local[EACH];        /* each connection's local port, 0: failed */
	char why[128];
};

static atomic_int go;

static void *client_run(void *arg)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct client *c = arg;
	char buf[4096];
	int i;

	while (!atomic_load(&go))
		sched_yield();
	for (i = 0; i < EACH; i++) {
		struct sockaddr_in me;
		socklen_t len = sizeof(me);
		int fd = tcp_connect("127.0.0.1", c->port, 10000);

		if (fd < 0 || getsockname(fd, (struct sockaddr *)&me, &len) < 0 ||
		    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1 ||
		    recv_answer(fd, buf, sizeof(buf), NULL, now_ms() + 20000) < 0 ||
		    strncmp(buf, "HTTP/1.0 200 OK", 15)) {
			snprintf(c->why, sizeof(c->why), "connection %d: %s", i, strerror(errno));
			if (fd >= 0)
				close(fd);
			continue;
		}
		c->local[i] = ntohs(me.sin_port);
		close(fd);
	}
	return NULL;
}

static void accept_at_once(const char *policy)
{
	static struct client clients[CLIENTS];
	char dir[64], out[128], needle[64];
	static char text[1 << 20];
	struct cr *cr;
	int port, i, k, served = 0;

	snprintf(out, sizeof(out), "%s/stdout", tmpdir_new(dir, "shim-accept-threads"));
	cr = cr_start(out, "-n", "2", "-p", policy, "--", helper("threaded_server"),
		      "--threads", "64", "--print-accepted", NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "%s", cr->log);
	atomic_store(&go, 0);
	for (i = 0; i < CLIENTS; i++) {
		memset(&clients[i], 0, sizeof(clients[i]));
		clients[i].port = port;
		cr_assert_eq(pthread_create(&clients[i].t, NULL, client_run, &clients[i]), 0);
	}
	atomic_store(&go, 1);
	for (i = 0; i < CLIENTS; i++)
		pthread_join(clients[i].t, NULL);
	/* every answer came after its accept line was printed, but the line
	 * reaches the file through the master (the log ring is on by
	 * default): wait for the lines, then count them */
	for (long end = now_ms() + 15000; now_ms() < end; sleep_ms(20))
		if (read_file(out, text, sizeof(text)) >= 0 &&
		    count_of(text, "accepted ") >= CLIENTS * EACH)
			break;
	read_file(out, text, sizeof(text));
	for (i = 0; i < CLIENTS; i++)
		for (k = 0; k < EACH; k++) {
			cr_assert_gt(clients[i].local[k], 0, "%s: client %d: %s\n%s", policy, i,
				     clients[i].why, cr->log);
			snprintf(needle, sizeof(needle), "accepted 127.0.0.1:%d\n",
				 clients[i].local[k]);
			cr_assert_eq(count_of(text, needle), 1, "%s: port %d accepted %d times",
				     policy, clients[i].local[k], count_of(text, needle));
			served++;
		}
	cr_assert_eq(count_of(text, "accepted "), CLIENTS * EACH, "%s: %d accepted lines for "
		     "%d connections", policy, count_of(text, "accepted "), served);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(shim_accept_threads, rr) { accept_at_once("rr"); }
Test(shim_accept_threads, shared) { accept_at_once("shared"); }
Test(shim_accept_threads, reuseport) { accept_at_once("reuseport"); }
Test(shim_accept_threads, leastconn) { accept_at_once("leastconn"); }
Test(shim_accept_threads, sticky) { accept_at_once("sticky"); }
Test(shim_accept_threads, random) { accept_at_once("random"); }
Test(shim_accept_threads, p2c) { accept_at_once("p2c"); }
Test(shim_accept_threads, jiq) { accept_at_once("jiq"); }
