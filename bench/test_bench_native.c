/*
 * test_bench_native.c - the benchmark's own binaries against each other,
 * natively (no cluster-run): hello_server --procs 2 --reuseport announces
 * itself, cluster-loadgen gets every response in each mode and counts the
 * workers, and the server stops cleanly on SIGTERM.
 *
 * Paths come from the environment (HELLO_SERVER, LOADGEN), set by meson.
 */
#include "test_support.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t server;
static int port;

/* Starts hello_server and reads its two readiness lines. */
static void start_server(void)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	server = fork();
	cr_assert_geq(server, 0);
	if (server == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(getenv("HELLO_SERVER"), "hello_server", "--procs", "2",
		      "--reuseport", "--port", "0", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[256];
	for (int i = 0; i < 2; i++) {
		cr_assert_not_null(fgets(line, sizeof(line), f), "no readiness line");
		cr_assert_eq(sscanf(line, "port=%d", &port), 1, "got: %s", line);
	}
	fclose(f);
}

/* Called from each test: Criterion does not fail a test for an assertion
 * in a suite's .fini. */
static void stop_server(void)
{
	int status;
	kill(server, SIGTERM);
	cr_assert_eq(waitpid(server, &status, 0), server);
	server = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "server status 0x%x", status);
}

/* After a failed test: the server must not outlive it. */
static void kill_server(void)
{
	kill_leftover(&server);
}

TestSuite(native, .init = start_server, .fini = kill_server, .timeout = 30);

static void check(const char *args)
{
	char report[8192];
	run_loadgen(port, args, report, sizeof(report));
	cr_assert_eq(value_of(report, "requests"), 300, "%s", report);
	cr_assert_eq(value_of(report, "errors"), 0, "%s", report);
	cr_assert_eq(value_of(report, "worker.0") + value_of(report, "worker.1"), 300);
	cr_assert_eq(value_of(report, "worker_none"), 0);
	cr_assert_eq(value_of(report, "workers"), 2);
	stop_server();
}

/*
 * Keep-alive modes use 32 connections, not 8: the kernel hashes each
 * connection to one of the two reuseport listeners, and with 8 all of
 * them land on one worker once in 128 runs (workers=1, a false failure
 * seen in CI); with 32, once in 2^31.
 */
Test(native, keep_alive)
{
	check("-n 300 -c 32");
}

Test(native, connection_per_request)
{
	check("-n 300 -c 8 -C");
}

Test(native, open_loop_two_threads)
{
	check("-n 300 -c 32 -t 2 -R 3000");
}

Test(native, open_loop_poisson)
{
	check("-n 300 -c 8 -C -R 3000 -P");
}
