/*
 * test_restart_reasons.c - cluster-ctl status (text and --json) and the
 * metrics give the reasons for the last restarts: here a crash (the
 * signal that killed the worker) and a --max-requests replacement, each
 * named with its slot and pid, and a count for each reason.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(restart_reasons, .fini = harness_cleanup, .timeout = 60);

struct status {
	struct cr *cr;
	const char *json;       /* "--json" or NULL */
	const char *needle;
	struct run r;
};

static int status_has(void *arg)
{
	struct status *s = arg;
	char pid[16];
	const char *argv[] = { cluster_ctl_path(), "-p", pid, "status", s->json, NULL };

	snprintf(pid, sizeof(pid), "%d", (int)s->cr->pid);
	run_capture(&s->r, argv, 10000, NULL, NULL);
	return strstr(s->r.out, s->needle) != NULL;
}

Test(restart_reasons, crash_and_requests_in_status_and_metrics)
{
	static struct status s;
	char where[32], buf[16384], want[160];
	int mport = free_port(), port, slot, i;
	pid_t first = 0, second = 0;

	snprintf(where, sizeof(where), "127.0.0.1:%d", mport);
	s.cr = cr_start(NULL, "-n", "1", "--metrics", where, "--max-requests", "4", "--",
			helper("blocking_server"), "--port", "0", NULL);
	port = cr_ready_port(s.cr, 0, 15000);
	cr_assert(port > 0, "%s", s.cr->log);

	/* a crash: the worker killed from outside */
	cr_assert_eq(request_worker(port, &slot, &first, 5000), 0);
	kill(first, SIGKILL);
	s.needle = "crash: killed by signal 9";
	cr_assert(wait_until(status_has, &s, 10000), "%s\n%s", s.r.out, s.cr->log);
	snprintf(want, sizeof(want), "worker 0 (pid %d): crash: killed by signal 9", (int)first);
	cr_assert(strstr(s.r.out, want), "want '%s' in:\n%s", want, s.r.out);

	/* a replacement: its 4th connection */
	cr_assert_eq(request_worker(port, &slot, &second, 5000), 0);
	for (i = 0; i < 3; i++)
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0);
	s.needle = "requests: 4 connections handed, limit 4";
	cr_assert(wait_until(status_has, &s, 10000), "%s\n%s", s.r.out, s.cr->log);
	snprintf(want, sizeof(want), "worker 0 (pid %d): requests: 4", (int)second);
	cr_assert(strstr(s.r.out, want), "want '%s' in:\n%s", want, s.r.out);
	cr_assert(strstr(s.r.out, "last restarts (crash 1, memory 0, requests 1, hang 0):"),
		  "%s", s.r.out);

	s.json = "--json";
	s.needle = "\"restart_reasons\":{\"crash\":1,\"memory\":0,\"requests\":1,\"hang\":0}";
	cr_assert(status_has(&s), "%s", s.r.out);
	snprintf(want, sizeof(want), "\"slot\":0,\"pid\":%d,\"reason\":\"crash\",\"detail\":"
		 "\"killed by signal 9", (int)first);
	cr_assert(strstr(s.r.out, want), "want '%s' in:\n%s", want, s.r.out);
	snprintf(want, sizeof(want), "\"slot\":0,\"pid\":%d,\"reason\":\"requests\"", (int)second);
	cr_assert(strstr(s.r.out, want), "want '%s' in:\n%s", want, s.r.out);

	cr_assert(http_get("127.0.0.1", mport, buf, sizeof(buf), 5000) > 0);
	cr_assert(strstr(buf, "\ncluster_run_worker_replacements_total{reason=\"crash\"} 1\n"),
		  "%s", buf);
	cr_assert(strstr(buf, "\ncluster_run_worker_replacements_total{reason=\"requests\"} 1\n"),
		  "%s", buf);
	cr_assert_eq(WEXITSTATUS(cr_stop(s.cr, SIGTERM, 15000)), 0, "%s", s.cr->log);
}
