/*
 * test_seccomp.c - programs LD_PRELOAD cannot reach, clustered through
 * seccomp user notification: a Go net/http server (built from golang-go by
 * the build, skipped when go is absent) and static C servers (gcc -static).
 * cluster-run picks seccomp by itself and says so; requests reach every
 * worker; two HUPs and a scale up and down under load fail no request,
 * even though the Go server dies at once on SIGTERM; a stop leaves nothing;
 * kill -9 of the master leaves no process and no listener; the policies
 * that cannot work are refused in one line, and shared is served as
 * reuseport for TCP (one socket for UDP); IPv6, port 0, UDP and a taken
 * port (the start-up stops, in one line) work as under the shim.
 * (Five trials of the lifecycle under shared and reuseport, with a static
 * busybox httpd too: test_seccomp_lossless.c.)
 */
#include "harness.h"
#include "lifecycle.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(seccomp, .fini = harness_cleanup, .timeout = 90);

/* The Go server's path, or skip: the build makes it only when go is there. */
static const char *go_server(void)
{
	const char *p = helper("go_server");

	if (access(p, X_OK) != 0)
		cr_skip_test("go is not installed (golang-go): the Go server was not built");
	return p;
}

/* cluster-run refused seccomp ("... which this kernel lacks": an old
 * kernel, or valgrind, which does not know the seccomp system call):
 * skip, saying so.  Else wait for every worker to listen; the port. */
static int ready_or_skip(struct cr *cr, int timeout_ms)
{
	const char *lacks;
	int port = cr_ready_port(cr, 0, timeout_ms);

	if (port < 0 && (lacks = strstr(cr->log, "which this kernel lacks")))
		cr_skip_test("seccomp is not available here: %s", cr->log);
	return port;
}

static char addr_buf[64];

static const char *addr_arg(const char *host, int port)
{
	snprintf(addr_buf, sizeof(addr_buf), "%s:%d", host, port);
	return addr_buf;
}

/* cluster-run -n N [-p policy] PROGRAM on a free port; ready. */
static struct cr *start(const char *prog, int n, const char *policy, int *port)
{
	char nbuf[8];
	struct cr *cr;

	*port = free_port();
	snprintf(nbuf, sizeof(nbuf), "%d", n);
	if (!strcmp(prog, "go"))
		cr = cr_start(NULL, "-n", nbuf, "-p", policy, "--grace", "5", "--",
			      go_server(), addr_arg("127.0.0.1", *port), NULL);
	else {
		char pbuf[16];
		snprintf(pbuf, sizeof(pbuf), "%d", *port);
		cr = cr_start(NULL, "-n", nbuf, "-p", policy, "--grace", "5", "--",
			      helper(prog), "--port", pbuf, NULL);
	}
	cr_assert_eq(ready_or_skip(cr, 10000), *port, "%s", cr->log);
	return cr;
}

static void spread_over_all(const char *prog, const char *policy)
{
	int port, i, slot, per[16] = { 0 };
	struct cr *cr = start(prog, 3, policy, &port);
	pid_t pid;

	cr_assert(strstr(cr->log, "via seccomp"), "%s", cr->log);
	cr_assert(strstr(cr->log, "shared by 3 workers, policy "), "%s", cr->log);
	cr_assert(strstr(cr->log, policy), "%s", cr->log);
	for (i = 0; i < 90; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "request %d\n%s", i, cr->log);
		cr_assert(slot >= 0 && slot < 3, "slot %d", slot);
		per[slot]++;
	}
	cr_log_info("%s %s: %d %d %d", prog, policy, per[0], per[1], per[2]);
	/* shared too: through seccomp it is served as reuseport */
	cr_assert(strcmp(policy, "shared") || strstr(cr->log, "served as reuseport"), "%s",
		  cr->log);
	for (i = 0; i < 3; i++)
		cr_assert_gt(per[i], 0, "worker %d got nothing: %d %d %d", i,
			     per[0], per[1], per[2]);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 10000)), 0, "%s", cr->log);
}

Test(seccomp, go_spread_reuseport) { spread_over_all("go", "reuseport"); }
Test(seccomp, go_shared) { spread_over_all("go", "shared"); }
Test(seccomp, static_blocking_spread) { spread_over_all("static_blocking_server", "reuseport"); }
Test(seccomp, static_event_spread) { spread_over_all("static_event_server", "reuseport"); }

/* Under 4 clients: HUP, HUP (each replacing every worker), TTIN, TTOU;
 * not one request fails, and no worker had to be killed. */
static void reload_and_scale_under_load(const char *prog)
{
	int port, h;
	struct cr *cr = start(prog, 3, "reuseport", &port);
	struct lifecycle r;

	cr_lifecycle_under_load(cr, port, 3, 4, &r);
	cr_log_info("%s: ok %ld failed %ld, per slot %ld %ld %ld %ld", prog, r.ok, r.failed,
		    r.per[0], r.per[1], r.per[2], r.per[3]);
	cr_assert_eq(r.failed, 0, "%ld of %ld requests failed\n%s", r.failed, r.ok + r.failed,
		     cr->log);
	cr_assert_gt(r.added_got, 0, "the added worker took no connection");
	cr_assert(!strstr(cr->log, "killing it"), "%s", cr->log);
	cr_assert_eq(count_of(cr->log, "reload complete"), 2, "%s", cr->log);
	h = cr_stop(cr, SIGTERM, 15000);
	cr_assert(WIFEXITED(h) && WEXITSTATUS(h) == 0, "status 0x%x\n%s", h, cr->log);
}

Test(seccomp, go_reload_and_scale_under_load) { reload_and_scale_under_load("go"); }
Test(seccomp, static_reload_and_scale_under_load)
{
	reload_and_scale_under_load("static_blocking_server");
}

static int all_dead(void *arg)
{
	const pid_t *pids = arg;
	int i;

	for (i = 0; pids[i]; i++)
		if (pid_alive(pids[i]) && proc_state(pids[i]) != 'Z')
			return 0;
	return 1;
}

/* A killed Go process's leader thread is a zombie ('Z') while its other
 * threads are still on their way out, holding the fd table, sockets and
 * all: the port comes free a moment after all_dead. */
static int port_comes_free(void *arg)
{
	return port_free(*(int *)arg, 0);
}

Test(seccomp, go_stop_leaves_nothing)
{
	int port;
	struct cr *cr = start("go", 3, "reuseport", &port);
	pid_t pids[8] = { 0 };

	cr_assert_eq(cr_children(cr, pids, 7), 3);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 10000)), 0, "%s", cr->log);
	cr_assert(wait_until(all_dead, pids, 5000), "a worker outlived cluster-run");
	cr_assert(wait_until(port_comes_free, &port, 5000), "the port is still held after the stop");
}

Test(seccomp, go_master_kill9_leaves_nothing)
{
	int port;
	struct cr *cr = start("go", 3, "reuseport", &port);
	pid_t pids[8] = { 0 };

	cr_assert_eq(cr_children(cr, pids, 7), 3);
	kill(cr->pid, SIGKILL);
	cr_wait_exit(cr, 5000);
	cr_assert(wait_until(all_dead, pids, 5000), "workers outlived a killed master");
	cr_assert(wait_until(port_comes_free, &port, 5000), "the port is still held after kill -9");
}

Test(seccomp, go_ipv6)
{
	int port = free_port(), slot;
	struct cr *cr = cr_start(NULL, "-n", "2", "--", go_server(),
				 addr_arg("[::1]", port), NULL);
	char buf[4096];
	pid_t pid;

	(void)slot;
	(void)pid;
	cr_assert(ready_or_skip(cr, 10000) == port, "%s", cr->log);
	cr_assert(strstr(cr->log, "[::1]:"), "%s", cr->log);
	cr_assert_geq(http_get("::1", port, buf, sizeof(buf), 5000), 0, "%s", cr->log);
	cr_assert(strstr(buf, " 200 "), "%s", buf);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 10000)), 0, "%s", cr->log);
}

/* A taken port stops the start-up (test_port_in_use.c): cluster-run says
 * which address and who holds it, in one line, before the Go program
 * could print its own error. */
Test(seccomp, go_addr_in_use_stops_the_start)
{
	int port = free_port();
	struct cr *holder = start("static_blocking_server", 1, "shared", &port);
	struct run r;
	char pbuf[64], want[128];
	const char *argv[] = { cluster_run_path(), "-n", "1", "--control", "none",
			       "--", go_server(), pbuf, NULL };

	snprintf(pbuf, sizeof(pbuf), "127.0.0.1:%d", port);
	run_capture(&r, argv, 20000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1, "status %d\n%s%s",
		  r.status, r.out, r.err);
	snprintf(want, sizeof(want), "cannot bind %s: Address already in use, held by "
		 "cluster-run (pid %d", pbuf, (int)holder->pid);
	cr_assert(strstr(r.err, want), "want '%s' in:\n%s", want, r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "%s", r.err);
	cr_stop(holder, SIGTERM, 10000);
}

Test(seccomp, refusals_in_one_line)
{
	struct run r;
	const char *rr[] = { cluster_run_path(), "-p", "rr", "--steer", "hop", "--", go_server(),
			     ":1", NULL };
	const char *shim[] = { cluster_run_path(), "--via", "shim", "--",
			       helper("static_blocking_server"), NULL };
	const char *bad[] = { cluster_run_path(), "--via", "ptrace", "--", "true", NULL };

	run_capture(&r, rr, 10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2, "%s", r.err);
	cr_assert(strstr(r.err, "policy rr needs the shim") && strstr(r.err, "reuseport") &&
		  count_of(r.err, "\n") == 1, "%s", r.err);
	run_capture(&r, shim, 10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 126, "%s", r.err);
	cr_assert(strstr(r.err, "statically linked") && count_of(r.err, "\n") == 1, "%s", r.err);
	run_capture(&r, bad, 10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2, "%s", r.err);
}

/* A dynamic program can be clustered through seccomp too (--via seccomp). */
Test(seccomp, dynamic_program_via_seccomp)
{
	int port = free_port(), slot;
	char pbuf[16];
	struct cr *cr;
	pid_t pid;

	snprintf(pbuf, sizeof(pbuf), "%d", port);
	cr = cr_start(NULL, "-n", "2", "--via", "seccomp", "--", helper("event_server"),
		      "--port", pbuf, NULL);
	cr_assert_eq(ready_or_skip(cr, 10000), port, "%s", cr->log);
	cr_assert(strstr(cr->log, "policy reuseport, via seccomp"), "%s", cr->log);
	cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 10000)), 0, "%s", cr->log);
}

/* Port 0: random the first time, the same for every worker.  The bind is
 * let through (it may be a client's or a probe's); the listen() makes it a
 * server, and the master's socket replaces it then. */
static void port_zero(const char *prog)
{
	struct cr *cr;
	int port, i, slot, per[3] = { 0 };
	pid_t pid;

	if (!strcmp(prog, "go"))
		cr = cr_start(NULL, "-n", "3", "--", go_server(), "127.0.0.1:0", NULL);
	else
		cr = cr_start(NULL, "-n", "3", "--", helper(prog), "--port", "0", NULL);
	port = ready_or_skip(cr, 10000);
	cr_assert(port > 0, "%s", cr->log);
	cr_assert_eq(count_of(cr->log, " (tcp) shared by "), 1, "%s", cr->log);
	for (i = 0; i < 60; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s", cr->log);
		cr_assert(slot >= 0 && slot < 3);
		per[slot]++;
	}
	for (i = 0; i < 3; i++)
		cr_assert_gt(per[i], 0, "worker %d got nothing on port 0's listener", i);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 10000)), 0, "%s", cr->log);
}

Test(seccomp, go_port_zero) { port_zero("go"); }
Test(seccomp, static_port_zero) { port_zero("static_event_server"); }

/* A bind and a listen trapped from a thread that is not the main one
 * (its id is not the pid: the master maps it to its process, pins that
 * with a pidfd, then checks the notification is still the call it
 * trapped before taking the socket, seccomp_notify.c), on a port given
 * and on port 0 (clustered at listen): every worker gets its socket. */
static void thread_binds(const char *port_arg)
{
	struct cr *cr;
	int port, i, slot, per[3] = { 0 };
	pid_t pid;

	cr = cr_start(NULL, "-n", "3", "--via", "seccomp", "--", helper("threaded_server"),
		      "--listen-in-thread", "--threads", "2", "--port", port_arg, NULL);
	port = ready_or_skip(cr, 10000);
	cr_assert(port > 0, "%s", cr->log);
	if (strcmp(port_arg, "0"))
		cr_assert_eq(port, atoi(port_arg), "%s", cr->log);
	cr_assert_eq(count_of(cr->log, " (tcp) shared by 3 workers"), 1, "%s", cr->log);
	for (i = 0; i < 60; i++) {
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s", cr->log);
		cr_assert(slot >= 0 && slot < 3);
		per[slot]++;
	}
	for (i = 0; i < 3; i++)
		cr_assert_gt(per[i], 0, "worker %d got nothing", i);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 10000)), 0, "%s", cr->log);
}

Test(seccomp, thread_binds_a_port)
{
	char pbuf[16];

	snprintf(pbuf, sizeof(pbuf), "%d", free_port());
	thread_binds(pbuf);
}

Test(seccomp, thread_listens_on_port_zero) { thread_binds("0"); }

/* UDP through seccomp: a socket per slot under reuseport; every worker
 * answers from the port it was asked on (its getsockname agrees). */
Test(seccomp, udp_per_slot)
{
	int port = free_port(), i, seen = 0;
	char pbuf[16], needle[32];
	struct cr *cr;

	snprintf(pbuf, sizeof(pbuf), "%d", port);
	cr = cr_start(NULL, "-n", "2", "--via", "seccomp", "--", helper("udp_server"),
		      "--port", pbuf, NULL);
	if (!cr_wait_line(cr, " listening\n", 10000) && strstr(cr->log, "which this kernel lacks"))
		cr_skip_test("seccomp is not available here: %s", cr->log);
	cr_assert(strstr(cr->log, "(udp) shared by 2 workers, policy reuseport, via seccomp"),
		  "%s", cr->log);
	snprintf(needle, sizeof(needle), "port=%d", port);
	for (i = 0; i < 40 && seen != 3; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sockaddr_of("127.0.0.1", port, &ss);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[256];
		ssize_t n;

		cr_assert(sendto(fd, "ping", 4, 0, (struct sockaddr *)&ss, len) == 4);
		cr_assert(poll(&p, 1, 3000) == 1, "no answer\n%s", cr->log);
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		close(fd);
		cr_assert(n > 0);
		buf[n] = '\0';
		cr_assert(strstr(buf, needle), "%s", buf);
		if (!strncmp(buf, "worker=0", 8))
			seen |= 1;
		else if (!strncmp(buf, "worker=1", 8))
			seen |= 2;
	}
	cr_assert_eq(seen, 3, "not every worker answered");
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 10000)), 0, "%s", cr->log);
}

/* UDP under shared through seccomp stays one socket every worker reads
 * (nothing is accepted from it, so nothing needs draining, and a per-slot
 * socket would drop its queue when closed): not "served as reuseport",
 * and it answers. */
Test(seccomp, udp_shared_stays_one_socket)
{
	int port = free_port();
	char pbuf[16], want[96], buf[256];
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of("127.0.0.1", port, &ss);
	struct pollfd p;
	struct cr *cr;
	ssize_t n;
	int fd;

	snprintf(pbuf, sizeof(pbuf), "%d", port);
	cr = cr_start(NULL, "-n", "2", "-p", "shared", "--via", "seccomp", "--",
		      helper("udp_server"), "--port", pbuf, NULL);
	if (!cr_wait_line(cr, " listening\n", 10000) && strstr(cr->log, "which this kernel lacks"))
		cr_skip_test("seccomp is not available here: %s", cr->log);
	snprintf(want, sizeof(want), ":%d (udp) shared by 2 workers, policy shared, via seccomp\n",
		 port);
	cr_assert(strstr(cr->log, want), "want '%s' in:\n%s", want, cr->log);
	cr_assert(!strstr(cr->log, "served as"), "%s", cr->log);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	cr_assert(sendto(fd, "ping", 4, 0, (struct sockaddr *)&ss, len) == 4);
	cr_assert(poll(&p, 1, 3000) == 1, "no answer\n%s", cr->log);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	cr_assert(n > 0);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 10000)), 0, "%s", cr->log);
}

static uid_t uid_of_proc(pid_t pid)
{
	char path[64], line[128];
	unsigned uid = (unsigned)-1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return (uid_t)-1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %u", &uid) == 1)
			break;
	fclose(f);
	return (uid_t)uid;
}

/* --user: the Go workers run as nobody; the master, root, still reads
 * their sockets (pidfd_getfd) and binds for them. */
Test(seccomp, go_as_another_user)
{
	const char *go = go_server();
	struct passwd *pw = getpwnam("nobody");
	int port = free_port(), i, slot;
	pid_t pids[4], pid;
	struct cr *cr;

	if (geteuid() != 0 || !pw)
		cr_skip_test("needs root and a user 'nobody'");
	cr = cr_start(NULL, "--user", "nobody", "-n", "2", "--", go,
		      addr_arg("127.0.0.1", port), NULL);
	cr_assert_eq(ready_or_skip(cr, 10000), port, "%s", cr->log);
	cr_assert_eq(cr_children(cr, pids, 4), 2);
	for (i = 0; i < 2; i++)
		cr_assert_eq(uid_of_proc(pids[i]), pw->pw_uid, "worker %d is not nobody's", i);
	cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 10000)), 0, "%s", cr->log);
}
