/*
 * test_bench_floor.c - cluster-floor does what run-policies counts on: it
 * announces one port= line per receiver, every connection-per-request
 * request of cluster-loadgen gets a good response from one of the
 * receivers (round-robin, so both serve), and it exits 0 on SIGTERM with
 * its receivers gone.  The same with event-driven receivers (--receivers
 * epoll) and with two acceptors on SO_REUSEPORT sockets (--acceptors 2),
 * whose second acceptor must be gone too.  No timing is asserted: the
 * floor is measured by run-policies, not tested for speed.
 *
 * Paths come from the environment (FLOOR, LOADGEN), set by meson.
 */
#include "test_support.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t floor_pid;
static int port;
static int receiver[2];

static void start_floor_with(const char *opt, const char *val)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	floor_pid = fork();
	cr_assert_geq(floor_pid, 0);
	if (floor_pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(getenv("FLOOR"), "cluster-floor", "--workers", "2", "--port", "0",
		      opt, val, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[256];
	for (int i = 0; i < 2; i++) {
		int id;
		cr_assert_not_null(fgets(line, sizeof(line), f), "no readiness line");
		cr_assert_eq(sscanf(line, "port=%d worker=%d pid=%d", &port, &id,
				    &receiver[i]), 3, "got: %s", line);
		cr_assert_eq(id, i);
	}
	fclose(f);
}

static void start_floor(void)
{
	start_floor_with(NULL, NULL);
}

static void start_floor_epoll(void)
{
	start_floor_with("--receivers", "epoll");
}

static void start_floor_acceptors(void)
{
	start_floor_with("--acceptors", "2");
}

/* Stops the floor and checks that it left nothing behind.  Called from
 * the test itself: Criterion does not fail a test for an assertion in a
 * suite's .fini. */
static void stop_floor(void)
{
	int status;
	kill(floor_pid, SIGTERM);
	cr_assert_eq(waitpid(floor_pid, &status, 0), floor_pid);
	floor_pid = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "floor status 0x%x", status);
	/* the floor waits for its receivers (and acceptors) before exiting */
	for (int i = 0; i < 2; i++)
		cr_assert(kill(receiver[i], 0) < 0, "receiver %d outlived the floor", i);
	/* and nothing listens on its port: an acceptor that outlived it
	 * would still hold a SO_REUSEPORT socket there */
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_lt(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
		     "port %d still accepts after the floor exited", port);
	cr_assert_eq(errno, ECONNREFUSED);
	close(fd);
}

/* After a failed test: the floor must not outlive it. */
static void kill_floor(void)
{
	kill_leftover(&floor_pid);
}

TestSuite(floor, .init = start_floor, .fini = kill_floor, .timeout = 30);
TestSuite(floor_epoll, .init = start_floor_epoll, .fini = kill_floor, .timeout = 30);
TestSuite(floor_acceptors, .init = start_floor_acceptors, .fini = kill_floor, .timeout = 30);

/* 300 connection-per-request requests, every one answered, both
 * receivers serving. */
static void check_connection_per_request(void)
{
	char report[8192];
	run_loadgen(port, "-n 300 -c 8 -C", report, sizeof(report));
	cr_assert_eq(value_of(report, "requests"), 300, "%s", report);
	cr_assert_eq(value_of(report, "errors"), 0, "%s", report);
	cr_assert_gt(value_of(report, "worker.0"), 0, "%s", report);
	cr_assert_gt(value_of(report, "worker.1"), 0, "%s", report);
	cr_assert_eq(value_of(report, "worker.0") + value_of(report, "worker.1"), 300);
}

Test(floor, connection_per_request)
{
	check_connection_per_request();
	stop_floor();
}

Test(floor_epoll, connection_per_request)
{
	check_connection_per_request();
	stop_floor();
}

Test(floor_acceptors, connection_per_request)
{
	check_connection_per_request();
	stop_floor();
}
