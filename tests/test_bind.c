/*
 * test_bind.c - bind() under cluster-run behaves as bind() alone would:
 * exact address matching, port 0 shared by every worker, several listeners
 * in one program, EACCES reaching the program itself, and EADDRINUSE where
 * it would happen without cluster-run.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(bind, .fini = harness_cleanup, .timeout = 60);

/* Ask `count` times; every answer must name the announced port. */
static int distinct_workers(const char *host, int port, int count, const char *listener)
{
	char buf[4096], val[64];
	int seen[64] = { 0 }, i, n = 0;

	for (i = 0; i < count; i++) {
		int w;
		cr_assert(http_get(host, port, buf, sizeof(buf), 5000) > 0,
			  "request %d to %s:%d failed", i, host, port);
		cr_assert(body_value(buf, "port", val, sizeof(val)));
		cr_assert_eq(atoi(val), port, "getsockname in the worker says %s, announced %d", val, port);
		if (listener) {
			cr_assert(body_value(buf, "listener", val, sizeof(val)));
			cr_assert_str_eq(val, listener);
		}
		w = response_worker(buf);
		cr_assert(w >= 0 && w < 64);
		n += !seen[w];
		seen[w] = 1;
	}
	return n;
}

static void port0_all_workers_one_port(const char *policy)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", policy, "--",
				 helper("blocking_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000);

	cr_assert(port > 0, "no address announced:\n%s", cr->log);
	cr_assert(strstr(cr->log, "shared by 3 workers, policy"), "%s", cr->log);
	/* rr must spread 9 sequential requests over all three */
	if (!strcmp(policy, "rr"))
		cr_assert_eq(distinct_workers("127.0.0.1", port, 9, NULL), 3);
	else
		cr_assert_geq(distinct_workers("127.0.0.1", port, 9, NULL), 1);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0);
}

Test(bind, port0_rr) { port0_all_workers_one_port("rr"); }
Test(bind, port0_shared) { port0_all_workers_one_port("shared"); }

Test(bind, ipv6_loopback)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "--", helper("blocking_server"),
				 "--addr", "::1", NULL);
	int port = cr_ready_port(cr, 0, 10000);
	char buf[4096], peer[80];

	cr_assert(port > 0, "%s", cr->log);
	cr_assert(strstr(cr->log, "[::1]:"), "%s", cr->log);
	cr_assert_eq(distinct_workers("::1", port, 4, NULL), 2);
	cr_assert(http_get("::1", port, buf, sizeof(buf), 5000) > 0);
	cr_assert(body_value(buf, "peer", peer, sizeof(peer)));
	cr_assert(!strncmp(peer, "[::1]:", 6), "peer %s", peer);
}

static void start_on(const char *addr, int port, const char *v6only, struct cr **out)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", port);
	/* --reuseaddr: the TIME_WAIT connections of earlier requests must
	 * not count, only the listeners */
	*out = cr_start(NULL, "-n", "2", "--max-restarts", "1", "--",
			helper("blocking_server"), "--addr", addr, "--port", p,
			"--v6only", v6only, "--reuseaddr", NULL);
}

/* 127.0.0.1:P, [::1]:P and [::]:P with IPV6_V6ONLY are separate listeners
 * (and each cluster-run binds only its own), as they are to the kernel. */
Test(bind, exact_address_matching)
{
	struct cr *a = cr_start(NULL, "-n", "2", "--", helper("blocking_server"),
				"--reuseaddr", NULL);
	int port = cr_ready_port(a, 0, 10000), i;
	struct cr *b, *c;
	char buf[4096];

	cr_assert(port > 0);
	start_on("::1", port, "1", &b);
	cr_assert_eq(cr_ready_port(b, 0, 10000), port, "%s", b->log);
	cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0);
	cr_assert(http_get("::1", port, buf, sizeof(buf), 5000) > 0);
	cr_assert_eq(WEXITSTATUS(cr_stop(b, SIGTERM, 15000)), 0);
	/* [::]:P with V6ONLY coexists with 127.0.0.1:P */
	start_on("::", port, "1", &c);
	cr_assert_eq(cr_ready_port(c, 0, 10000), port, "%s", c->log);
	for (i = 0; i < 4; i++)
		cr_assert(http_get("::1", port, buf, sizeof(buf), 5000) > 0);
	cr_assert_eq(WEXITSTATUS(cr_stop(c, SIGTERM, 15000)), 0);
}

/* Without V6ONLY, [::]:P also covers IPv4 and collides with 127.0.0.1:P,
 * as it would for the program alone: the start-up stops there, saying
 * which address and who holds it (test_port_in_use.c has the rest). */
Test(bind, dual_stack_conflict_stops_the_start)
{
	struct cr *a = cr_start(NULL, "-n", "1", "--", helper("blocking_server"), NULL);
	int port = cr_ready_port(a, 0, 10000), st;
	struct cr *b;
	char needle[128];

	cr_assert(port > 0);
	start_on("::", port, "0", &b);
	st = cr_wait_exit(b, 10000);
	snprintf(needle, sizeof(needle), "cannot bind [::]:%d: Address already in use, held by "
		 "cluster-run (pid %d", port, (int)a->pid);
	cr_assert(strstr(b->log, needle), "want '%s' in:\n%s", needle, b->log);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status 0x%x\n%s", st, b->log);
}

Test(bind, privileged_port_gives_eacces)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
	int start = 1024, st;
	struct cr *cr;

	if (f) {
		if (fscanf(f, "%d", &start) != 1)
			start = 1024;
		fclose(f);
	}
	if (start <= 80)
		cr_skip_test("ip_unprivileged_port_start is %d: port 80 is not privileged here", start);
	if (geteuid() == 0)
		harness_run_as_uid = 65534;     /* nobody: root may bind anything */
	cr = cr_start(NULL, "-n", "1", "--max-restarts", "1", "--",
		      helper("blocking_server"), "--port", "80", NULL);
	harness_run_as_uid = -1;
	st = cr_wait_exit(cr, 20000);
	cr_assert(strstr(cr->log, "bind 127.0.0.1:80: Permission denied"), "%s", cr->log);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status 0x%x\n%s", st, cr->log);
}

Test(bind, two_listeners_each_clustered)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "--", helper("two_listeners"), NULL);
	int main_port = cr_ready_port(cr, 0, 10000), admin_port = cr_ready_port(cr, 1, 10000);

	cr_assert(main_port > 0 && admin_port > 0 && main_port != admin_port, "%s", cr->log);
	cr_assert_eq(distinct_workers("127.0.0.1", main_port, 4, "main"), 2);
	cr_assert_eq(distinct_workers("127.0.0.1", admin_port, 4, "admin"), 2);
}
