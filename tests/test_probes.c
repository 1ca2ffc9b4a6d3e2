/*
 * test_probes.c - /ready and /live on the --metrics address, as a
 * Kubernetes probe or a load balancer's health check sees them: /ready is
 * 503 until every worker of the first generation listens, 200 then, 503
 * while a slot is empty (a killed worker whose replacement is not
 * listening yet) and from the stop signal on, while the workers finish;
 * /live is 200 throughout; HEAD gets the headers; other paths are still
 * the metrics.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

TestSuite(probes, .fini = harness_cleanup, .timeout = 60);

/* "GET path" (or HEAD) on the metrics port: the status code, or -1. */
static int probe(int port, const char *method, const char *path, char *buf, size_t cap)
{
	char req[128];
	int code;

	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 method, path);
	if (tcp_request("127.0.0.1", port, req, buf, cap, NULL, 5000) <= 0)
		return -1;
	if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
		return -1;
	return code;
}

struct want {
	int port;
	const char *path;
	int code;
};

static int probe_is(void *arg)
{
	struct want *w = arg;
	char buf[4096];

	return probe(w->port, "GET", w->path, buf, sizeof(buf)) == w->code;
}

static struct cr *start(int mport, const char *workers, const char *delay, const char *extra)
{
	char where[32];

	snprintf(where, sizeof(where), "127.0.0.1:%d", mport);
	return cr_start(NULL, "-n", workers, "--control", "none", "--metrics", where,
			"--grace", "4", "--min-uptime", "0", "--",
			helper("blocking_server"), "--listen-delay-ms", delay, extra, NULL);
}

Test(probes, ready_only_when_every_worker_listens)
{
	int mport = free_port();
	struct want ready = { mport, "/ready", 200 };
	struct cr *cr = start(mport, "2", "800", NULL);
	char buf[4096];
	int code;

	cr_assert(cr_wait_line(cr, "metrics on", 5000), "%s", cr->log);
	code = probe(mport, "GET", "/ready", buf, sizeof(buf));
	cr_assert_eq(code, 503, "before the workers listen: %d\n%s", code, buf);
	cr_assert(strstr(buf, "not ready: 0/2"), "%s", buf);
	cr_assert_eq(probe(mport, "GET", "/live", buf, sizeof(buf)), 200, "%s", buf);
	cr_assert(wait_until(probe_is, &ready, 10000), "/ready never 200\n%s", cr->log);
	cr_assert(cr_wait_line(cr, "2 workers listening", 2000), "200 before every worker listened\n%s",
		  cr->log);
	cr_assert_eq(probe(mport, "HEAD", "/ready", buf, sizeof(buf)), 200);
	cr_assert(!strstr(buf, "ready: "), "HEAD had a body: %s", buf);
	cr_assert_eq(probe(mport, "GET", "/metrics", buf, sizeof(buf)), 200);
	cr_assert(strstr(buf, "\ncluster_run_ready 1\n"), "%s", buf);
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
}

/* A worker killed outright: its slot has no listening worker until the
 * replacement (800 ms to listen) does; /ready says so meanwhile. */
Test(probes, not_ready_while_a_slot_is_empty)
{
	int mport = free_port();
	struct want ready = { mport, "/ready", 200 }, unready = { mport, "/ready", 503 };
	struct cr *cr = start(mport, "2", "800", NULL);
	pid_t pids[4];

	cr_assert(wait_until(probe_is, &ready, 10000), "/ready never 200\n%s", cr->log);
	cr_assert_eq(cr_children(cr, pids, 4), 2);
	kill(pids[0], SIGKILL);
	cr_assert(wait_until(probe_is, &unready, 5000), "/ready stayed 200 with a slot empty\n%s",
		  cr->log);
	cr_assert(wait_until(probe_is, &ready, 10000), "/ready not back to 200\n%s", cr->log);
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
}

/* From the stop signal on, /ready is 503 while the workers are still
 * there (they ignore TERM here, so the master waits --grace), and /live
 * is still 200: a balancer drains, a liveness probe does not kill. */
Test(probes, not_ready_during_stop)
{
	int mport = free_port();
	struct want ready = { mport, "/ready", 200 };
	struct cr *cr = start(mport, "2", "0", "--ignore-term");
	char buf[4096];

	cr_assert(wait_until(probe_is, &ready, 10000), "/ready never 200\n%s", cr->log);
	kill(cr->pid, SIGTERM);
	cr_assert_eq(probe(mport, "GET", "/ready", buf, sizeof(buf)), 503, "%s", buf);
	cr_assert(strstr(buf, "stopping"), "%s", buf);
	cr_assert_eq(probe(mport, "GET", "/live", buf, sizeof(buf)), 200, "%s", buf);
	cr_assert(cr_wait_exit(cr, 15000) >= 0, "%s", cr->log);
}
