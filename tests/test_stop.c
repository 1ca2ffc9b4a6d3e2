/*
 * test_stop.c - TERM and INT stop everything: the stop signal reaches
 * every worker, SIGKILL follows after --grace, a second signal kills at
 * once, the exit status is 0, no worker is left running and the port is
 * free afterwards.  A master killed outright takes its workers with it.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

TestSuite(stop, .fini = harness_cleanup, .timeout = 60);

static struct cr *running(int *port, pid_t *pids, int *npids, const char *grace,
			  const char *extra)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "--grace", grace, "--",
				 helper("blocking_server"), "--reuseaddr", extra, NULL);
	char buf[4096];

	*port = cr_ready_port(cr, 0, 10000);
	cr_assert(*port > 0, "%s", cr->log);
	cr_assert(http_get("127.0.0.1", *port, buf, sizeof(buf), 5000) > 0);
	*npids = cr_children(cr, pids, 8);
	cr_assert_eq(*npids, 3, "expected 3 workers, found %d", *npids);
	return cr;
}

static void assert_all_gone(pid_t *pids, int n, int port)
{
	int i;

	for (i = 0; i < n; i++)
		cr_assert(!pid_alive(pids[i]), "worker pid %d still running", (int)pids[i]);
	cr_assert(port_free(port, 0), "port %d still bound", port);
}

static void stops_cleanly(int sig)
{
	pid_t pids[8];
	int port, n, st;
	struct cr *cr = running(&port, pids, &n, "10", NULL);

	st = cr_stop(cr, sig, 15000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x\n%s", st, cr->log);
	assert_all_gone(pids, n, port);
}

Test(stop, term) { stops_cleanly(SIGTERM); }
Test(stop, int_) { stops_cleanly(SIGINT); }

Test(stop, kill_after_grace)
{
	pid_t pids[8];
	int port, n, st;
	struct cr *cr = running(&port, pids, &n, "1", "--ignore-term");
	long t0 = now_ms();

	st = cr_stop(cr, SIGTERM, 15000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x\n%s", st, cr->log);
	cr_assert_geq(now_ms() - t0, 900, "SIGKILL came before the grace period");
	cr_assert(strstr(cr->log, "killing it"), "%s", cr->log);
	assert_all_gone(pids, n, port);
}

Test(stop, second_signal_kills_at_once)
{
	pid_t pids[8];
	int port, n, st;
	struct cr *cr = running(&port, pids, &n, "60", "--ignore-term");

	kill(cr->pid, SIGTERM);
	cr_assert(cr_wait_exit(cr, 300) < 0, "exited although workers ignore TERM");
	st = cr_stop(cr, SIGTERM, 10000);
	cr_assert(st >= 0, "the second TERM did not stop it");
	cr_assert(strstr(cr->log, "second stop signal"), "%s", cr->log);
	assert_all_gone(pids, n, port);
}

static int all_dead(void *arg)
{
	pid_t *pids = arg;
	int i;

	for (i = 0; i < 3; i++)
		if (pid_alive(pids[i]))
			return 0;
	return 1;
}

Test(stop, workers_die_with_the_master)
{
	pid_t pids[8];
	int port, n;
	struct cr *cr = running(&port, pids, &n, "10", NULL);

	kill(cr->pid, SIGKILL);
	cr_wait_exit(cr, 5000);
	cr_assert(wait_until(all_dead, pids, 5000), "workers outlived a killed master");
	cr_assert(port_free(port, 0));
}
