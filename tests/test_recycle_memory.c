/*
 * test_recycle_memory.c - --max-memory: a server that leaks on every
 * request is replaced, slot by slot, once its RSS stays above the limit,
 * by a rolling replacement (the new worker listens before the old one
 * drains), so a load running all along sees no failed request; status
 * and metrics give "memory" as the reason.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(recycle_memory, .fini = harness_cleanup, .timeout = 90);

static int ctl_json(struct cr *cr, char *out, size_t cap)
{
	char pid[16];
	const char *argv[] = { cluster_ctl_path(), "-p", pid, "status", "--json", NULL };
	static struct run r;

	snprintf(pid, sizeof(pid), "%d", (int)cr->pid);
	run_capture(&r, argv, 10000, NULL, NULL);
	snprintf(out, cap, "%s", r.out);
	return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
}

Test(recycle_memory, leaking_server_replaced_without_failures)
{
	long ok, failed, per[16];
	char json[16384];
	struct load *l;
	struct cr *cr;
	int port;

	cr = cr_start(NULL, "-n", "2", "--max-memory", "24M", "--", helper("health_server"),
		      "--port", "0", "--grow-kb", "1024", NULL);
	port = cr_ready_port(cr, 0, 15000);
	cr_assert(port > 0, "%s", cr->log);
	l = load_start(port, 4);
	/* both slots leak past 24 MiB within ~25 requests each */
	cr_assert(cr_wait_line(cr, "(memory: RSS ", 30000), "%s", cr->log);
	while (count_of(cr->log, "(memory: RSS ") < 3 && cr_wait_exit(cr, 0) < 0)
		cr_wait_line(cr, "\001never\001", 100);
	load_stop(l, &ok, &failed, per);
	cr_assert_geq(count_of(cr->log, "(memory: RSS "), 3, "%s", cr->log);
	cr_assert_eq(failed, 0, "%ld of %ld requests failed:\n%s", failed, ok + failed, cr->log);
	cr_assert(!strstr(cr->log, "exited with"), "a worker was killed, not replaced:\n%s", cr->log);
	cr_assert_eq(ctl_json(cr, json, sizeof(json)), 0, "%s", json);
	cr_assert(strstr(json, "\"reason\":\"memory\""), "%s", json);
	cr_assert(!strstr(json, "\"memory\":0,"), "%s", json);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}
