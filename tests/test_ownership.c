/*
 * test_ownership.c - cluster-run owns only its own ports: a worker's bind
 * fails with EADDRINUSE exactly when the program's bind would without
 * cluster-run, and cluster-run joins no SO_REUSEPORT group it did not
 * create.
 *
 * What "natively" gives is checked first with the same helper server,
 * unclustered: started twice on one port, the second fails with
 * EADDRINUSE; with SO_REUSEPORT set by the program, the second shares the
 * port (cluster-run refuses that too: see README "Common mistakes").
 * Then, under every policy in the launcher's table (the suite links it)
 * and through seccomp: a second cluster-run on the first one's port stops
 * at once with status 1, and every request still reaches the first one's
 * workers; a native server with SO_REUSEPORT on the port, of the master's
 * uid or of another, keeps all of its traffic and the start fails.
 */
#include "harness.h"
#include "cluster.h"
#include "policy/policy.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Native servers this test started: killed even when an assertion ends
 * the test early (harness_cleanup knows only cluster-runs). */
static pid_t natives[4];

static void cleanup(void)
{
	size_t i;

	for (i = 0; i < sizeof(natives) / sizeof(natives[0]); i++)
		if (natives[i] > 0) {
			kill(natives[i], SIGKILL);
			waitpid(natives[i], NULL, 0);
			natives[i] = 0;
		}
	harness_cleanup();
}

static void stop_native(pid_t pid)
{
	size_t i;

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	for (i = 0; i < sizeof(natives) / sizeof(natives[0]); i++)
		if (natives[i] == pid)
			natives[i] = 0;
}

TestSuite(ownership, .fini = cleanup, .timeout = 180);

#define REQUESTS 20

static const char *port_arg(int port)
{
	static char buf[4][16];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%d", port);
	return buf[k];
}

/* The helper run natively on port (a second one, with its options):
 * whether its bind failed with EADDRINUSE, as an exit 1 saying so. */
static int native_second_fails(int port, int reuseport)
{
	struct run r;
	const char *argv[] = { helper("blocking_server"), "--reuseaddr", "--port", port_arg(port),
			       reuseport ? "--reuseport" : NULL, NULL };

	run_capture(&r, argv, 1500, NULL, NULL);
	return WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1 &&
	       strstr(r.err, "Address already in use");
}

static int listening(void *arg)
{
	return !port_free(*(int *)arg, 0);
}

/* A native helper listening on port; its pid.  pw: run as that user (a
 * build directory it cannot read skips the test). */
static pid_t start_native(int port, int reuseport, const struct passwd *pw)
{
	pid_t pid = fork();
	size_t i;
	int st;

	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		if (pw && (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
			   setuid(pw->pw_uid) < 0))
			_exit(2);
		execl(helper("blocking_server"), "blocking_server", "--reuseaddr", "--port",
		      port_arg(port), reuseport ? "--reuseport" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < sizeof(natives) / sizeof(natives[0]) && natives[i] > 0; i++)
		;
	if (i < sizeof(natives) / sizeof(natives[0]))
		natives[i] = pid;
	if (!wait_until(listening, &port, 5000)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		if (pw)
			cr_skip_test("%s cannot run the helpers in %s (a build directory other "
				     "users cannot read?)", pw->pw_name, getenv("HELPERS_DIR"));
		cr_assert_fail("the native server does not listen (wait status 0x%x)", st);
	}
	return pid;
}

/* Every one of REQUESTS requests is answered by a process in pids. */
static void all_answered_by(int port, const pid_t *pids, int n, const char *who)
{
	int i;

	for (i = 0; i < REQUESTS; i++) {
		int slot;
		pid_t pid;

		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "request %d failed", i);
		cr_assert(pid_in(pids, n, pid), "request %d was answered by pid %d, not by %s", i,
			  (int)pid, who);
	}
}

/* The second start: status 1, at once (no restart, no program error),
 * one line naming the address and what holds it. */
static void assert_refused(const struct run *r, int port, const char *holder)
{
	char want[96];

	snprintf(want, sizeof(want), "cluster-run: cannot bind 127.0.0.1:%d: Address already in use, "
		 "held by %s", port, holder);
	cr_assert(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 1,
		  "status 0x%x after %ld ms:\n%s", r->status, r->ms, r->err);
	cr_assert(strstr(r->err, want), "want '%s' in:\n%s", want, r->err);
	cr_assert_eq(count_of(r->err, "\n"), 1, "want one line:\n%s", r->err);
	cr_assert_lt(r->ms, 2000, "took %ld ms", r->ms);
}

/* cluster-run --control none -n 2 -p policy [--via seccomp] -- PROG... */
static void run_second(struct run *r, const char *policy, const char *prog, int port,
		       int reuseport)
{
	const char *argv[] = { cluster_run_path(), "--control", "none", "-n", "2", "-p", policy,
			       "--", helper(prog), "--reuseaddr", "--port", port_arg(port),
			       reuseport ? "--reuseport" : NULL, NULL };

	run_capture(r, argv, 10000, NULL, NULL);
}

static void started_twice(const char *policy, const char *prog, int reuseport)
{
	int port = free_port();
	struct cr *first = cr_start(NULL, "--control", "none", "-n", "2", "-p", policy, "--",
				    helper(prog), "--reuseaddr", "--port", port_arg(port),
				    reuseport ? "--reuseport" : NULL, NULL);
	pid_t kids[8];
	struct run r;
	char holder[64];
	int n;

	cr_assert_eq(cr_ready_port(first, 0, 10000), port, "%s", first->log);
	run_second(&r, policy, prog, port, reuseport);
	snprintf(holder, sizeof(holder), "cluster-run (pid %d", (int)first->pid);
	assert_refused(&r, port, holder);
	n = cr_children(first, kids, 8);
	cr_assert_eq(n, 2, "%s", first->log);
	all_answered_by(port, kids, n, "the first instance's workers");
	cr_assert_eq(cr_stop(first, SIGTERM, 15000), 0, "%s", first->log);
}

Test(ownership, natively_the_second_fails_and_with_reuseport_shares)
{
	int port = free_port();
	pid_t pid = start_native(port, 0, NULL);

	cr_assert(native_second_fails(port, 0), "natively, a second bind should fail");
	stop_native(pid);
	pid = start_native(port, 1, NULL);
	cr_assert(!native_second_fails(port, 1), "natively, SO_REUSEPORT twice shares");
	stop_native(pid);
}

Test(ownership, started_twice_under_every_policy)
{
	int i;

	for (i = 0; policy_table[i]; i++)
		started_twice(policy_table[i]->name, "blocking_server", 0);
}

/* The program asks for SO_REUSEPORT: natively it would share; cluster-run
 * does not join what it did not create, under either kind of policy. */
Test(ownership, started_twice_with_the_programs_reuseport)
{
	started_twice("reuseport", "blocking_server", 1);
	started_twice("rr", "blocking_server", 1);
	started_twice("shared", "blocking_server", 1);
}

Test(ownership, started_twice_through_seccomp)
{
	started_twice("reuseport", "static_blocking_server", 0);
	started_twice("shared", "static_blocking_server", 0);
}

/* A Go binary that natively fails with "address already in use" when
 * started twice: under cluster-run, the second start fails too. */
Test(ownership, go_started_twice)
{
	const char *go = helper("go_server");
	char addr[64];
	int port = free_port();
	struct cr *first;
	struct run r;
	pid_t kids[4];

	if (access(go, X_OK) != 0)
		cr_skip_test("go is not installed (golang-go): the Go server was not built");
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	first = cr_start(NULL, "--control", "none", "-n", "2", "--", go, addr, NULL);
	cr_assert_eq(cr_ready_port(first, 0, 10000), port, "%s", first->log);
	{
		const char *argv[] = { cluster_run_path(), "--control", "none", "-n", "2", "--",
				       go, addr, NULL };
		char holder[64];

		run_capture(&r, argv, 10000, NULL, NULL);
		snprintf(holder, sizeof(holder), "cluster-run (pid %d", (int)first->pid);
		assert_refused(&r, port, holder);
	}
	cr_assert_eq(cr_children(first, kids, 4), 2);
	all_answered_by(port, kids, 2, "the first instance's workers");
	cr_assert_eq(WEXITSTATUS(cr_stop(first, SIGTERM, 15000)), 0, "%s", first->log);
}

static void native_server_keeps_its_port(const struct passwd *pw, const char *policy,
					 const char *prog, int reuseport)
{
	int port = free_port();
	pid_t native = start_native(port, 1, pw);
	struct run r;
	char holder[64];

	run_second(&r, policy, prog, port, reuseport);
	snprintf(holder, sizeof(holder), "blocking_server (pid %d", (int)native);
	assert_refused(&r, port, holder);
	all_answered_by(port, &native, 1, "the native server");
	stop_native(native);
}

/* A native server with SO_REUSEPORT of the master's uid: the program,
 * which does not set it, fails natively; with it, it would share. */
Test(ownership, native_reuseport_server_same_uid)
{
	int i;

	for (i = 0; policy_table[i]; i++)
		native_server_keeps_its_port(NULL, policy_table[i]->name, "blocking_server", 0);
	native_server_keeps_its_port(NULL, "reuseport", "blocking_server", 1);
	native_server_keeps_its_port(NULL, "rr", "blocking_server", 1);
	native_server_keeps_its_port(NULL, "reuseport", "static_blocking_server", 0);
	native_server_keeps_its_port(NULL, "shared", "static_blocking_server", 1);
}

/* ... of another uid (nobody, while cluster-run is root): the kernel
 * would not let the two share even with SO_REUSEPORT on both. */
Test(ownership, native_reuseport_server_other_uid)
{
	struct passwd *pw = getpwnam("nobody");

	if (geteuid() != 0 || !pw)
		cr_skip_test("needs root and a user 'nobody'");
	native_server_keeps_its_port(pw, "reuseport", "blocking_server", 1);
	native_server_keeps_its_port(pw, "rr", "blocking_server", 1);
	native_server_keeps_its_port(pw, "reuseport", "static_blocking_server", 0);
}
