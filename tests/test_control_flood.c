/*
 * test_control_flood.c - the control plane cannot starve the data plane.
 * cluster-run runs with 1024 fds (prlimit --nofile=1024, which it cannot
 * raise), --metrics and rr; 2000 idle clients connect to the metrics port
 * and stay; meanwhile every one of a few hundred requests to the server is
 * answered (within 2 s each), the master holds at most its two client caps
 * more fds than before, never logs an accept failure (EMFILE), a fresh
 * metrics request and cluster-ctl status are still answered, and after the
 * flood the master holds about as many fds as before it.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define IDLE_CLIENTS 2000
#define REQUESTS 300

TestSuite(control_flood, .fini = harness_cleanup, .timeout = 120);


/* The pid of the cluster-run under prlimit (prlimit execs it: same pid). */
static int ctl_status(pid_t master, char *out, size_t cap)
{
	char pidarg[16];
	int p[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	snprintf(pidarg, sizeof(pidarg), "%d", (int)master);
	cr_assert(pipe(p) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(cluster_ctl_path(), "cluster-ctl", "-p", pidarg, "status", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (len + 1 < cap && (n = read(p[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	cr_assert(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(control_flood, idle_metrics_clients)
{
	static int idle[IDLE_CLIENTS];
	struct rlimit rl = { 8192, 8192 };
	char metrics[32], buf[16384];
	int mport = free_port(), port, i, nidle = 0, ok = 0, asked = 0, fds_before, fds_after;
	int fds, fds_peak = 0;
	struct cr *cr;

	if (system("prlimit --version >/dev/null 2>&1") != 0)
		cr_skip_test("prlimit (util-linux) is not installed");
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		cr_skip_test("cannot raise this test's own fd limit to 8192");
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", mport);
	setenv("CLUSTER_RUN_WRAPPER", "prlimit --nofile=1024:1024", 1);
	cr = cr_start(NULL, "-n", "2", "-p", "rr", "--metrics", metrics, "--",
		      helper("event_server"), "--port", "0", NULL);
	unsetenv("CLUSTER_RUN_WRAPPER");
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "%s", cr->log);
	fds_before = proc_fds(cr->pid, 0, NULL);

	/* a request every 10 idle clients, while they pile up */
	for (i = 0; i < IDLE_CLIENTS; i++) {
		idle[i] = tcp_connect("127.0.0.1", mport, 200);
		nidle += idle[i] >= 0;
		if (i % (IDLE_CLIENTS / REQUESTS) == 0 && asked < REQUESTS) {
			asked++;
			ok += http_get("127.0.0.1", port, buf, sizeof(buf), 2000) > 0 &&
			      strstr(buf, "200 OK") != NULL;
		}
		if (i % 100 == 99 && (fds = proc_fds(cr->pid, 0, NULL)) > fds_peak)
			fds_peak = fds;
	}
	cr_log_info("%d idle metrics clients connected; the master held %d fds at most "
		    "(%d before)", nidle, fds_peak, fds_before);
	cr_assert_gt(nidle, IDLE_CLIENTS / 2, "only %d idle clients connected", nidle);
	cr_assert_eq(ok, asked, "%d of %d requests answered with %d idle metrics clients\n%s",
		     ok, asked, nidle, cr->log);
	cr_assert_leq(fds_peak, fds_before + 2 * 64 + 8,
		      "the master held %d fds (%d before the flood)", fds_peak, fds_before);
	cr_assert(!strstr(cr->log, "accept"), "the master failed to accept:\n%s", cr->log);
	cr_assert_gt(http_get("127.0.0.1", mport, buf, sizeof(buf), 10000), 0,
		     "metrics unanswered during the flood");
	cr_assert(strstr(buf, "cluster_run_workers"), "%s", buf);
	cr_assert_eq(ctl_status(cr->pid, buf, sizeof(buf)), 0, "cluster-ctl: %s", buf);
	fds_after = proc_fds(cr->pid, 0, NULL);
	cr_assert_leq(fds_after, fds_before + 2 * 64 + 8,
		      "the master holds %d fds (%d before the flood)", fds_after, fds_before);
	for (i = 0; i < IDLE_CLIENTS; i++)
		if (idle[i] >= 0)
			close(idle[i]);
	cr_assert_eq(cr_stop(cr, SIGTERM, 10000), 0, "%s", cr->log);
}
