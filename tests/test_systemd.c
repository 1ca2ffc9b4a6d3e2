/*
 * test_systemd.c - cluster-run under a service manager.  The notify
 * protocol, read from a socket the test itself binds as $NOTIFY_SOCKET:
 * READY=1 only once every worker listens, RELOADING=1 (with
 * MONOTONIC_USEC) and READY=1 around a HUP, STOPPING=1 at TERM, STATUS=
 * lines, WATCHDOG=1 at half of WATCHDOG_USEC, an abstract '@' socket, and
 * workers that do not inherit the variables.  Upgrades in place: RELOADING=1
 * (MONOTONIC_USEC), the upgrade's STATUS= and READY=1 around each, one
 * MAINPID throughout, the watchdog going on in the new image; a refusal by
 * the probe sends no RELOADING=1 (but a bare READY=1: lifecycle.c), one
 * before the probe nothing, one after the exec ends with READY=1.  Socket activation: with
 * systemd-socket-activate under rr and reuseport (no SO_REUSEPORT on its
 * socket: shared, said so), a reuseport socket that has SO_REUSEPORT as
 * slot 0's, and a restart of cluster-run under one socket, the test
 * standing for systemd, with load running: nothing fails.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void cleanup(void);
TestSuite(systemd, .fini = cleanup, .timeout = 90);

static char notify_path[108];
static int notify_fd = -1;

static void cleanup(void)
{
	harness_cleanup();
	tmpdir_remove_all();
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
	if (notify_path[0])
		unlink(notify_path);
	notify_path[0] = '\0';
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("CLUSTER_RUN_TEST_ADOPT_FAIL");
}

/* The socket systemd would listen on; NOTIFY_SOCKET names it for the
 * cluster-run started next.  abstract: "@name" instead of a path. */
static void notify_listen(int abstract)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	socklen_t len;
	char name[108];

	snprintf(name, sizeof(name), "/tmp/cr-notify.%d.%ld", (int)getpid(), now_ms());
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(notify_fd >= 0);
	if (abstract) {
		un.sun_path[0] = '\0';
		memcpy(un.sun_path + 1, name + 1, strlen(name) - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
		name[0] = '@';
	} else {
		snprintf(notify_path, sizeof(notify_path), "%s", name);
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", name);
		len = sizeof(un);
	}
	cr_assert(bind(notify_fd, (struct sockaddr *)&un, len) == 0, "bind: %s", strerror(errno));
	setenv("NOTIFY_SOCKET", name, 1);
}

/* The next datagram, NUL-ended, within timeout_ms; 0 when none came. */
static int notify_next(char *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = { .fd = notify_fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	n = recv(notify_fd, buf, cap - 1, 0);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return 1;
}

/* Read datagrams until one contains want (the others go into seen, one a
 * line); 1 when found. */
static int notify_until(const char *want, char *seen, size_t cap, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	char msg[1024];

	seen[0] = '\0';
	while (now_ms() < deadline) {
		if (!notify_next(msg, sizeof(msg), (int)(deadline - now_ms())))
			continue;
		if (strlen(seen) + strlen(msg) + 2 < cap) {
			strcat(seen, msg);
			strcat(seen, "|");
		}
		if (strstr(msg, want))
			return 1;
	}
	return 0;
}

/* Whether a process's environment (as it is now) has NAME=. */
static int env_has(pid_t pid, const char *name)
{
	char buf[65536];

	return proc_env(pid, name, buf, sizeof(buf), NULL);
}

Test(systemd, notify_ready_reload_stop_in_order)
{
	char seen[4096];
	pid_t pids[8];
	struct cr *cr;
	int n, i;

	notify_listen(0);
	cr = cr_start(NULL, "-n", "3", "--control", "none", "--",
		      helper("blocking_server"), "--graceful", "--listen-delay-ms", "300", NULL);
	cr_assert(notify_until("READY=1", seen, sizeof(seen), 10000), "no READY=1: %s\n%s",
		  seen, cr->log);
	/* READY came after the last worker listened, not before */
	cr_wait_line(cr, "3 workers listening", 2000);
	cr_assert(strstr(cr->log, "3 workers listening"), "READY=1 before every worker listened\n%s",
		  cr->log);
	cr_assert(strstr(seen, "STATUS=3/3 workers ready"), "no STATUS line: %s", seen);
	cr_assert(strstr(seen, "MAINPID="), "%s", seen);
	n = cr_children(cr, pids, 8);
	cr_assert_eq(n, 3);
	for (i = 0; i < n; i++)
		cr_assert_eq(env_has(pids[i], "NOTIFY_SOCKET"), 0,
			     "worker %d inherited NOTIFY_SOCKET", (int)pids[i]);

	kill(cr->pid, SIGHUP);
	cr_assert(notify_until("RELOADING=1", seen, sizeof(seen), 5000), "%s", seen);
	cr_assert(strstr(seen, "MONOTONIC_USEC="), "RELOADING=1 without MONOTONIC_USEC: %s", seen);
	cr_assert(notify_until("READY=1", seen, sizeof(seen), 15000), "no READY=1 after HUP: %s",
		  seen);
	cr_wait_line(cr, "reload complete", 2000);
	cr_assert(strstr(cr->log, "reload complete"), "READY=1 before the reload completed\n%s",
		  cr->log);

	kill(cr->pid, SIGTERM);
	cr_assert(notify_until("STOPPING=1", seen, sizeof(seen), 5000), "%s", seen);
	cr_assert_eq(cr_wait_exit(cr, 15000), 0, "%s", cr->log);
}

Test(systemd, watchdog_and_abstract_socket)
{
	char seen[4096];
	struct cr *cr;
	long t0;
	int dogs = 0;

	notify_listen(1);
	setenv("WATCHDOG_USEC", "200000", 1);
	cr = cr_start(NULL, "-n", "1", "--control", "none", "--", helper("blocking_server"), NULL);
	cr_assert(notify_until("READY=1", seen, sizeof(seen), 10000), "%s\n%s", seen, cr->log);
	t0 = now_ms();
	while (dogs < 4 && now_ms() - t0 < 3000) {
		if (!notify_until("WATCHDOG=1", seen, sizeof(seen), 3000))
			break;
		dogs++;
	}
	/* four at 100 ms intervals: well within a second on a busy machine */
	cr_assert_eq(dogs, 4, "%d WATCHDOG=1 in %ld ms", dogs, now_ms() - t0);
	cr_assert_eq(cr_stop(cr, SIGTERM, 10000), 0, "%s", cr->log);
}

/* --- upgrading in place (README "Upgrading cluster-run in place") --- */

/* Every datagram already queued on the notify socket, one after the other
 * ('|' after each) into seen; how many.  Called once cluster-ctl answered
 * an upgrade: the master sends what the upgrade has to say before it
 * answers, so it is all queued by then. */
static int notify_drain(char *seen, size_t cap)
{
	char msg[1024];
	int n = 0;

	seen[0] = '\0';
	while (notify_next(msg, sizeof(msg), 0)) {
		n++;
		if (strlen(seen) + strlen(msg) + 2 < cap) {
			strcat(seen, msg);
			strcat(seen, "|");
		}
	}
	return n;
}

/* Every MAINPID= in seen names pid. */
static void mainpids_are(const char *seen, pid_t pid)
{
	const char *at;

	for (at = strstr(seen, "MAINPID="); at; at = strstr(at + 1, "MAINPID="))
		cr_assert_eq(atoi(at + 8), (int)pid, "a MAINPID other than %d: %s", (int)pid, seen);
}

struct upc {
	struct cr *cr;
	char dir[64];
	char sock[96];
};

/* cluster-run -n 2 with a control socket, under the fake NOTIFY_SOCKET;
 * its first READY=1 (the MAINPID checked) read. */
static void up_start(struct upc *u, char *seen, size_t cap)
{
	tmpdir_new(u->dir, "cr-sd-up");
	snprintf(u->sock, sizeof(u->sock), "%s/c.sock", u->dir);
	u->cr = cr_start(NULL, "-n", "2", "--control", u->sock, "--grace", "5", "--",
			 helper("event_server"), "--graceful", NULL);
	cr_assert(notify_until("READY=1", seen, cap, 15000), "no READY=1: %s\n%s", seen,
		  u->cr->log);
	cr_assert(strstr(seen, "MAINPID="), "%s", seen);
	mainpids_are(seen, u->cr->pid);
	cr_assert(cr_wait_line(u->cr, "2 workers listening", 5000), "%s", u->cr->log);
}

/* cluster-ctl -s SOCK upgrade [PATH]: its exit code (the answer in r). */
static int up_ctl(struct upc *u, struct run *r, const char *path)
{
	const char *argv[] = { cluster_ctl_path(), "-s", u->sock, "upgrade", path, NULL };

	run_capture(r, argv, 60000, NULL, NULL);
	if (r->status < 0 || !WIFEXITED(r->status))
		return -1;
	return WEXITSTATUS(r->status);
}

/* A good upgrade: cluster-ctl says so with the same pid; the datagrams it
 * caused are RELOADING=1 (with MONOTONIC_USEC) and the upgrade's STATUS=,
 * then READY=1, no READY=1 before the RELOADING=1, no other MAINPID.
 * after: what came after that READY=1 (in the same drain). */
static void up_good(struct upc *u, char *after, size_t cap)
{
	static char seen[16384];
	char pidword[32];
	const char *rel, *ready;
	struct run r;
	int rc;

	rc = up_ctl(u, &r, NULL);
	cr_assert_eq(rc, 0, "upgrade: exit %d: %s%s\n%s", rc, r.out, r.err, u->cr->log);
	cr_assert(!strncmp(r.out, "upgraded in place: ", 19), "%s", r.out);
	snprintf(pidword, sizeof(pidword), "(pid %d)", (int)u->cr->pid);
	cr_assert(strstr(r.out, pidword), "the master's pid changed: %s (started as %d)", r.out,
		  (int)u->cr->pid);
	cr_assert(pid_alive(u->cr->pid), "the master is gone\n%s", u->cr->log);
	cr_assert_eq(u->cr->status, -1, "cluster-run exited\n%s", u->cr->log);
	notify_drain(seen, sizeof(seen));
	rel = strstr(seen, "RELOADING=1");
	cr_assert(rel, "no RELOADING=1 for the upgrade: %s\n%s", seen, u->cr->log);
	/* RELOADING=1 and MONOTONIC_USEC= travel in one datagram */
	{
		const char *end = strchr(rel, '|');
		const char *mono = strstr(rel, "MONOTONIC_USEC=");
		cr_assert(mono && end && mono < end, "RELOADING=1 without MONOTONIC_USEC: %s",
			  seen);
		cr_assert_gt(atoll(mono + 15), 0, "%s", seen);
	}
	{
		char before[16384];
		snprintf(before, sizeof(before), "%.*s", (int)(rel - seen), seen);
		cr_assert(!strstr(before, "READY=1"), "READY=1 before the upgrade's RELOADING=1: %s",
			  seen);
	}
	ready = strstr(rel, "READY=1");
	cr_assert(ready, "no READY=1 after the upgrade's RELOADING=1: %s\n%s", seen, u->cr->log);
	cr_assert_eq(count_of(rel, "RELOADING=1"), 1, "%s", seen);
	{
		const char *st = strstr(rel, "STATUS=upgrading cluster-run in place");
		cr_assert(st && st < ready, "no upgrade STATUS= between RELOADING=1 and READY=1: %s",
			  seen);
	}
	mainpids_are(seen, u->cr->pid);
	snprintf(after, cap, "%s", strchr(ready, '|') ? strchr(ready, '|') + 1 : "");
}

Test(systemd, upgrade_reloading_then_ready_same_mainpid)
{
	char seen[8192], after[8192];
	struct upc u;
	struct run r;
	pid_t pids[8], again[8];
	int n, i;

	notify_listen(0);
	up_start(&u, seen, sizeof(seen));
	n = cr_children(u.cr, pids, 8);
	cr_assert_eq(n, 2, "%s", u.cr->log);
	up_good(&u, after, sizeof(after));
	cr_assert(cr_wait_line(u.cr, "upgraded in place", 5000), "%s", u.cr->log);
	cr_assert(!strstr(after, "RELOADING=1"), "%s", after);
	/* the workers were not touched */
	cr_assert_eq(cr_children(u.cr, again, 8), 2, "%s", u.cr->log);
	for (i = 0; i < n; i++)
		cr_assert(pid_in(again, 2, pids[i]), "worker %d is gone\n%s", (int)pids[i],
			  u.cr->log);
	/* a second one, through the new image: the same again */
	up_good(&u, after, sizeof(after));
	/* and the new image still reloads with the protocol */
	{
		const char *argv[] = { cluster_ctl_path(), "-s", u.sock, "reload", "--wait", NULL };
		run_capture(&r, argv, 60000, NULL, NULL);
		cr_assert(r.status >= 0 && WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
			  "reload: %s%s\n%s", r.out, r.err, u.cr->log);
	}
	/* (a reload answers its --wait client before its READY=1: wait) */
	cr_assert(notify_until("RELOADING=1", seen, sizeof(seen), 5000), "%s", seen);
	mainpids_are(seen, u.cr->pid);
	cr_assert(notify_until("READY=1", seen, sizeof(seen), 15000),
		  "no READY=1 after the reload that followed the upgrades: %s", seen);
	mainpids_are(seen, u.cr->pid);
	kill(u.cr->pid, SIGTERM);
	cr_assert(notify_until("STOPPING=1", seen, sizeof(seen), 5000), "%s", seen);
	cr_assert_eq(cr_wait_exit(u.cr, 15000), 0, "%s", u.cr->log);
}

/* WATCHDOG=1 every 100 ms (WATCHDOG_USEC 200 ms): they go on after an
 * upgrade, from the new image (counted after its READY=1). */
Test(systemd, upgrade_keeps_the_watchdog)
{
	char seen[8192], after[8192];
	struct upc u;
	long t0;
	int dogs, round;

	notify_listen(0);
	setenv("WATCHDOG_USEC", "200000", 1);
	up_start(&u, seen, sizeof(seen));
	for (round = 0; round < 2; round++) {
		up_good(&u, after, sizeof(after));
		/* the ones already queued after READY=1 count too */
		dogs = count_of(after, "WATCHDOG=1");
		t0 = now_ms();
		while (dogs < 6 && now_ms() - t0 < 5000) {
			if (!notify_until("WATCHDOG=1", seen, sizeof(seen), 5000))
				break;
			dogs++;
		}
		/* six at 100 ms intervals: well within 5 s on a busy machine */
		cr_assert_geq(dogs, 6, "upgrade %d: %d WATCHDOG=1 in %ld ms after it\n%s", round + 1,
			      dogs, now_ms() - t0, u.cr->log);
		mainpids_are(seen, u.cr->pid);
	}
	cr_assert_eq(cr_stop(u.cr, SIGTERM, 15000), 0, "%s", u.cr->log);
}

/* Refused upgrades.  To a script that exits 0: the probe refuses it
 * before anything is saved, and RELOADING=1 is only said past the probe:
 * so nothing at all is sent (no RELOADING=1, no upgrade STATUS=, no
 * READY=1 answering a RELOADING=1 never said).  To a file that is not
 * executable: refused before the probe, nothing sent either.  Then a good upgrade: its RELOADING=1 is
 * the first datagram that comes (nothing of the refusals came late). */
Test(systemd, upgrade_refused_by_the_probe)
{
	char seen[8192], after[8192], path[128];
	struct upc u;
	struct run r;
	FILE *f;
	int rc;

	notify_listen(0);
	up_start(&u, seen, sizeof(seen));
	snprintf(path, sizeof(path), "%s/cluster-run", u.dir);
	f = fopen(path, "w");
	cr_assert(f);
	fputs("#!/bin/sh\nexit 0\n", f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, 0755), 0);

	rc = up_ctl(&u, &r, path);
	cr_assert_eq(rc, 1, "exit %d: %s%s\n%s", rc, r.out, r.err, u.cr->log);
	cr_assert(strstr(r.err, "refused") && strstr(r.err, "is not a cluster-run"), "%s", r.err);
	notify_drain(seen, sizeof(seen));
	cr_log_info("after the probe's refusal: %s", seen);
	cr_assert(!strstr(seen, "RELOADING=1"), "RELOADING=1 for an upgrade the probe refused: %s",
		  seen);
	cr_assert(!strstr(seen, "upgrading cluster-run"), "%s", seen);
	cr_assert(!strstr(seen, "MAINPID="), "%s", seen);
	/* nothing said, so nothing to take back: no READY=1 either (the
	 * good upgrade below sees the first datagram after this one) */
	cr_assert_eq(count_of(seen, "READY=1"), 0, "a READY=1 without a RELOADING=1: %s", seen);
	cr_assert(pid_alive(u.cr->pid), "%s", u.cr->log);

	/* not executable: refused before the probe, nothing sent */
	cr_assert_eq(chmod(path, 0644), 0);
	rc = up_ctl(&u, &r, path);
	cr_assert_eq(rc, 1, "exit %d: %s%s\n%s", rc, r.out, r.err, u.cr->log);
	notify_drain(seen, sizeof(seen));
	cr_assert(!strstr(seen, "RELOADING=1") && !strstr(seen, "READY=1") &&
		  !strstr(seen, "MAINPID="), "a refusal before the probe sent: %s", seen);

	/* a good one now: the first thing after is its RELOADING=1 */
	up_good(&u, after, sizeof(after));
	cr_assert_eq(cr_stop(u.cr, SIGTERM, 15000), 0, "%s", u.cr->log);
}

/* Refused after the exec: the new image gives the state back
 * (CLUSTER_RUN_TEST_ADOPT_FAIL) and the old one takes it.  RELOADING=1
 * went out before the exec, so the failure ends with READY=1, from the
 * same pid; and the watchdog the old image saved goes on. */
Test(systemd, upgrade_given_back_ends_with_ready)
{
	char seen[8192], msg[1024];
	const char *rel;
	struct upc u;
	struct run r;
	long t0;
	int rc, dogs = 0;

	notify_listen(0);
	setenv("WATCHDOG_USEC", "200000", 1);
	cr_assert_eq(setenv("CLUSTER_RUN_TEST_ADOPT_FAIL", "1", 1), 0);
	up_start(&u, seen, sizeof(seen));
	unsetenv("CLUSTER_RUN_TEST_ADOPT_FAIL");
	rc = up_ctl(&u, &r, NULL);
	cr_assert_eq(rc, 1, "exit %d: %s%s\n%s", rc, r.out, r.err, u.cr->log);
	cr_assert(strstr(r.err, "upgrade failed"), "%s", r.err);
	notify_drain(seen, sizeof(seen));
	rel = strstr(seen, "RELOADING=1");
	cr_assert(rel, "no RELOADING=1: %s\n%s", seen, u.cr->log);
	cr_assert(strstr(rel, "MONOTONIC_USEC="), "%s", seen);
	cr_assert(strstr(rel, "READY=1"), "a failed upgrade after RELOADING=1 without READY=1: %s\n%s",
		  seen, u.cr->log);
	cr_assert_eq(count_of(seen, "RELOADING=1"), 1, "%s", seen);
	mainpids_are(seen, u.cr->pid);
	cr_assert(pid_alive(u.cr->pid), "%s", u.cr->log);
	t0 = now_ms();
	while (dogs < 6 && now_ms() - t0 < 5000 && notify_next(msg, sizeof(msg), 5000))
		dogs += strstr(msg, "WATCHDOG=1") != NULL;
	cr_assert_geq(dogs, 6, "%d WATCHDOG=1 in %ld ms after the failed upgrade", dogs,
		      now_ms() - t0);
	cr_assert_eq(cr_stop(u.cr, SIGTERM, 15000), 0, "%s", u.cr->log);
}

/* systemd-socket-activate listens first and execs cluster-run at the first
 * connection: that connection, queued before cluster-run existed, is
 * served; the master binds nothing itself; the workers do not see
 * LISTEN_*. */
static void activated(const char *policy, const char *expect_line)
{
	char listen_arg[64], port_s[16], buf[4096];
	/* systemd-socket-activate starts its program with a bare environment:
	 * pass the sanitizers' settings on (the ASan test setup needs them) */
	const char *before[] = { "systemd-socket-activate", "-l", listen_arg,
				 getenv("ASAN_OPTIONS") ? "-E" : NULL, "ASAN_OPTIONS",
				 "-E", "UBSAN_OPTIONS", NULL };
	int port = free_port(), i, seen = 0;
	pid_t pids[8];
	struct cr *cr;

	if (!have_program("systemd-socket-activate"))
		cr_skip_test("systemd-socket-activate is not installed (Debian: systemd)");
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", port);
	snprintf(port_s, sizeof(port_s), "%d", port);
	{
		const char *argv[] = { "-n", "2", "-p", policy, "--control", "none", "--",
				       helper("blocking_server"), "--port", port_s, NULL };
		cr = cr_start_under(before, NULL, argv);
	}
	cr_assert(cr_wait_line(cr, "Listening on", 5000), "%s", cr->log);
	/* the first request makes systemd-socket-activate exec cluster-run */
	cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 10000) > 0,
		  "the connection queued before cluster-run ran was lost: %s\n%s",
		  strerror(errno), cr->log);
	cr_assert(cr_wait_line(cr, "2 workers listening", 10000), "%s", cr->log);
	if (expect_line)
		cr_assert(strstr(cr->log, expect_line), "no '%s'\n%s", expect_line, cr->log);
	cr_assert(!strstr(cr->log, "unused"), "%s", cr->log);
	cr_assert_eq(cr_children(cr, pids, 8), 2);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(env_has(pids[i], "LISTEN_FDS"), 0, "%s", cr->log);
		cr_assert_eq(env_has(pids[i], "LISTEN_PID"), 0, "%s", cr->log);
	}
	for (i = 0; i < 40 && seen != 3; i++) {
		int slot;
		pid_t pid;
		if (request_worker(port, &slot, &pid, 5000) == 0 && slot >= 0 && slot < 2)
			seen |= 1 << slot;
	}
	if (!strcmp(policy, "rr"))
		cr_assert_eq(seen, 3, "not both workers served (rr)");
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
}

Test(systemd, socket_activate_rr) { activated("rr", "policy rr"); }
Test(systemd, socket_activate_reuseport_without_so_reuseport)
{
	activated("reuseport", "no SO_REUSEPORT");
}

/* The test is systemd: it binds and listens, passes the socket as fd 3
 * with LISTEN_PID/LISTEN_FDS (a shell sets them to its own pid and execs
 * cluster-run), and keeps its copy across restarts. */
static int listening_socket(int reuseport, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	cr_assert(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(listen(fd, 128) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static struct cr *start_activated(int fd, const char *policy, const char *port_s)
{
	static char script[256];
	const char *before[] = { "/bin/sh", "-c", script, "sh", NULL };
	const char *argv[] = { "-n", "2", "-p", policy, "--control", "none", "--grace", "10",
			       "--", helper("blocking_server"), "--graceful", "--port", port_s,
			       NULL };

	snprintf(script, sizeof(script),
		 "exec 3<&%d %d<&-; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web "
		 "exec \"$@\"", fd, fd);
	return cr_start_under(before, NULL, argv);
}

Test(systemd, reuseport_inherited_socket_is_slot_zero)
{
	int port, fd = listening_socket(1, &port), seen = 0, i;
	char port_s[16];
	struct cr *cr;

	snprintf(port_s, sizeof(port_s), "%d", port);
	cr = start_activated(fd, "reuseport", port_s);
	cr_assert(cr_wait_line(cr, "2 workers listening", 10000), "%s", cr->log);
	cr_assert(strstr(cr->log, "policy reuseport"), "%s", cr->log);
	for (i = 0; i < 200 && seen != 3; i++) {
		int slot;
		pid_t pid;
		if (request_worker(port, &slot, &pid, 5000) == 0 && slot >= 0 && slot < 2)
			seen |= 1 << slot;
	}
	cr_assert_eq(seen, 3, "the kernel did not spread over both slots' sockets\n%s", cr->log);
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
	close(fd);
}

/* systemctl restart under a socket unit: the old cluster-run stops, the
 * new one starts on the same socket; clients that connect meanwhile wait
 * in the socket's queue.  Under a bounded load nothing fails. */
static void restart_under_socket(const char *policy)
{
	int port, fd = listening_socket(0, &port), round;
	long ok, failed, per[16];
	char port_s[16];
	struct load *load;
	struct cr *cr;

	snprintf(port_s, sizeof(port_s), "%d", port);
	cr = start_activated(fd, policy, port_s);
	cr_assert(cr_wait_line(cr, "2 workers listening", 10000), "%s", cr->log);
	load = load_start(port, 4);
	for (round = 0; round < 2; round++) {
		long base = load_ok_so_far(load), deadline = now_ms() + 10000;

		while (load_ok_so_far(load) < base + 200 && now_ms() < deadline)
			sleep_ms(10);
		cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
		cr = start_activated(fd, policy, port_s);
		cr_assert(cr_wait_line(cr, "2 workers listening", 10000), "%s", cr->log);
	}
	{
		long base = load_ok_so_far(load), deadline = now_ms() + 10000;
		while (load_ok_so_far(load) < base + 200 && now_ms() < deadline)
			sleep_ms(10);
	}
	load_stop(load, &ok, &failed, per);
	cr_assert_eq(failed, 0, "%ld of %ld requests failed across 2 restarts (%s)", failed,
		     ok + failed, policy);
	cr_assert_gt(ok, 600);
	cr_log_info("%ld requests through 2 restarts of cluster-run (%s), %ld failed", ok, policy,
		    failed);
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
	close(fd);
}

/* shared: the workers accept from the socket itself, so what a stopping
 * cluster-run has not accepted stays in the socket's queue for the next.
 * rr: the stopping master stops accepting, and each worker finishes what
 * was already handed onto its channel before its stop signal (retire.c),
 * so nothing it took from the socket is lost either. */
Test(systemd, restart_under_socket_loses_nothing_shared) { restart_under_socket("shared"); }
Test(systemd, restart_under_socket_loses_nothing_rr) { restart_under_socket("rr"); }

/* A unix socket from systemd: the program unlinks its path before bind
 * (most do); the file must stay, the inherited socket serves, and it is
 * still there after cluster-run exits (it is systemd's, not ours). */
Test(systemd, inherited_unix_socket_survives_unlink_and_exit)
{
	static char script[256];
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	const char *before[] = { "/bin/sh", "-c", script, "sh", NULL };
	char path[108], buf[4096];
	struct stat st;
	struct cr *cr;
	int fd, cfd;

	snprintf(path, sizeof(path), "/tmp/cr-sd-unix.%d.sock", (int)getpid());
	unlink(path);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&un, sizeof(un)) == 0 &&
		  listen(fd, 64) == 0, "%s", strerror(errno));
	snprintf(script, sizeof(script),
		 "exec 3<&%d %d<&-; LISTEN_PID=$$ LISTEN_FDS=1 exec \"$@\"", fd, fd);
	{
		const char *argv[] = { "-n", "2", "--control", "none", "--", helper("unix_server"),
				       "--path", path, "--unlink", NULL };
		cr = cr_start_under(before, NULL, argv);
	}
	cr_assert(cr_wait_line(cr, "2 workers listening", 10000), "%s", cr->log);
	cr_assert(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "a worker's unlink removed "
		  "systemd's socket file\n%s", cr->log);
	cfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(connect(cfd, (struct sockaddr *)&un, sizeof(un)) == 0, "%s", strerror(errno));
	cr_assert(write(cfd, "GET / HTTP/1.0\r\n\r\n", 18) == 18);
	cr_assert(read(cfd, buf, sizeof(buf)) > 0, "no answer on the inherited unix socket");
	close(cfd);
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
	cr_assert(stat(path, &st) == 0 && S_ISSOCK(st.st_mode),
		  "cluster-run removed systemd's socket file at exit");
	close(fd);
	unlink(path);
}
