/*
 * test_hardening.c - the master against a worker that breaks the wire
 * contract, and against running out of file descriptors.
 *
 * A worker is untrusted input (shim/wire/protocol.h): one that sends garbage,
 * a truncated message, a wrong length, an fd where none belongs or names a
 * listener it was never given is killed and replaced (and replaced again,
 * with backoff, when the replacement does the same), while the other
 * workers keep serving.  One that merely closes its doorbell is left alone.
 * One that scribbles on its board is not believed: the others keep their
 * share under leastconn, p2c and jiq.
 * The misbehaving worker is tests/helpers/rogue_worker, run in slot 0
 * through an `sh -c` wrapper; slot 1 runs blocking_server.
 *
 * Out of fds: the master's limit is lowered with prlimit(2) once it runs
 * (the same state as starting it under a low hard limit, which it cannot
 * raise), then its table is filled with idle control connections.  Accept
 * must back off instead of spinning, and the clients waiting in the
 * kernel backlog are served once fds are free again.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(hardening, .fini = tmpdir_fini, .timeout = 60);

static void need_no_wrapper(void);

/* Slot 0 runs "rogue_worker MODE" (after GO_FILE exists, when given);
 * slot 1 runs blocking_server on a random port. */
static struct cr *rogue_cluster(const char *mode, const char *max_restarts,
				const char *backoff, const char *go_file)
{
	char script[1024], wait_go[256] = "";

	if (go_file)
		snprintf(wait_go, sizeof(wait_go),
			 "while [ ! -e %s ]; do sleep 0.02; done; ", go_file);
	snprintf(script, sizeof(script),
		 "if [ \"$CLUSTER_WORKER_ID\" = 0 ]; then %sexec %s %s; "
		 "else exec %s --port 0; fi",
		 wait_go, helper("rogue_worker"), mode, helper("blocking_server"));
	return cr_start(NULL, "-n", "2", "--control", "none", "--grace", "5",
			"--max-restarts", max_restarts, "--backoff", backoff,
			"--", "sh", "-c", script, NULL);
}

struct probe {
	int port;
};

static int serves(void *arg)
{
	struct probe *p = arg;
	char buf[4096];

	return http_get("127.0.0.1", p->port, buf, sizeof(buf), 1000) > 0 && strstr(buf, " 200 ");
}

/* Wait until worker 1 answers; then 50 requests, all answered by it. */
static void worker1_serves_50(struct cr *cr, int port)
{
	struct probe p = { port };
	char buf[4096];
	int i;

	cr_assert(wait_until(serves, &p, 10000), "worker 1 never answered on %d:\n%s", port,
		  cr->log);
	for (i = 0; i < 50; i++) {
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0,
			  "request %d: %s\n%s", i, strerror(errno), cr->log);
		cr_assert(strstr(buf, " 200 "), "request %d: %s", i, buf);
		cr_assert_eq(response_worker(buf), 1, "request %d answered by worker %d", i,
			     response_worker(buf));
	}
}

/* The rogue is replaced, twice at least (its replacement does it again),
 * and the cluster goes on serving and stops cleanly. */
static void replaced(const char *mode, const char *why)
{
	struct cr *cr = rogue_cluster(mode, "0", "0.05:0.5", NULL);
	int port = cr_port(cr, 0, 10000), st;
	long deadline;

	cr_assert(port > 0, "worker 1 did not bind:\n%s", cr->log);
	cr_assert(cr_wait_line(cr, "replacing it", 10000), "%s: the rogue was not replaced:\n%s",
		  mode, cr->log);
	cr_assert(strstr(cr->log, why), "%s: want '%s' in:\n%s", mode, why, cr->log);
	deadline = now_ms() + 10000;
	while (count_of(cr->log, "replacing it") < 2 && now_ms() < deadline)
		cr_wait_line(cr, "no such line", 50);
	cr_assert_geq(count_of(cr->log, "replacing it"), 2,
		      "%s: the replacement was not replaced in turn:\n%s", mode, cr->log);
	worker1_serves_50(cr, port);
	cr_assert(cr_wait_exit(cr, 0) < 0, "cluster-run ended:\n%s", cr->log);
	st = cr_stop(cr, SIGTERM, 15000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: wait status 0x%x\n%s", mode, st,
		  cr->log);
}

#define DOORBELL_GARBAGE "sent garbage on its doorbell"
#define MALFORMED "sent a malformed message"

Test(hardening, doorbell_garbage) { replaced("garbage", DOORBELL_GARBAGE); }
Test(hardening, doorbell_truncated) { replaced("truncated", DOORBELL_GARBAGE); }
Test(hardening, doorbell_wrong_length) { replaced("wronglen", DOORBELL_GARBAGE); }
Test(hardening, doorbell_attach_without_fd) { replaced("nofd", DOORBELL_GARBAGE); }
/* Larger than any message: the master must not mistake it for a hang-up
 * (its doorbell would go deaf and the rogue would stay). */
Test(hardening, doorbell_oversized) { replaced("oversized", "; replacing it"); }
Test(hardening, private_garbage) { replaced("private-garbage", MALFORMED); }
Test(hardening, private_truncated) { replaced("private-truncated", MALFORMED); }
Test(hardening, private_fd_where_none_belongs) { replaced("private-fd", MALFORMED); }
Test(hardening, private_unknown_listener) { replaced("private-listener", MALFORMED); }

/* Closing the doorbell is not misbehaving: the process just never talks. */
static void left_alone(const char *mode)
{
	struct cr *cr = rogue_cluster(mode, "0", "0.05:0.5", NULL);
	int port = cr_port(cr, 0, 10000), st;
	pid_t kids[4];

	cr_assert(port > 0, "worker 1 did not bind:\n%s", cr->log);
	cr_assert(cr_wait_line(cr, "rogue: ", 5000), "%s", cr->log);
	worker1_serves_50(cr, port);
	cr_wait_line(cr, "replacing it", 300);
	cr_assert(!strstr(cr->log, "replacing it"), "%s: replaced for nothing:\n%s", mode,
		  cr->log);
	cr_assert(!strstr(cr->log, "exited") && !strstr(cr->log, "killed"), "%s", cr->log);
	cr_assert_eq(cr_children(cr, kids, 4), 2, "%s", cr->log);
	st = cr_stop(cr, SIGTERM, 15000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x\n%s", st, cr->log);
}

Test(hardening, closed_doorbell_is_left_alone) { left_alone("close-doorbell"); }
Test(hardening, closed_channel_is_left_alone) { left_alone("private-close"); }

/* A board is the worker's word (launcher/policy/balancer.c, "The counting
 * functions"): one that says its worker closed 2^64-1 connections is not
 * believed, so that worker is not forever idle to a load-aware policy.
 * Slot 0 is rogue_worker scribble-board, which takes connections and
 * answers none; slots 1 and 2 are blocking_server.  Of 30 requests one
 * after another, the rogue may get one (all are idle at first); the two
 * honest workers share the rest.  Believed, the rogue tied with them at
 * 0 open every time and got a third (10 of 30 hung, on 2852c25). */
static void scribbled_board(const char *policy)
{
	char script[1024], buf[4096];
	long per[3] = { 0 }, failed = 0;
	struct cr *cr;
	int port, i, st;

	snprintf(script, sizeof(script),
		 "if [ \"$CLUSTER_WORKER_ID\" = 0 ]; then exec %s scribble-board; "
		 "else exec %s --port 0; fi",
		 helper("rogue_worker"), helper("blocking_server"));
	cr = cr_start(NULL, "-n", "3", "-p", policy, "--control", "none", "--grace", "1",
		      "--", "sh", "-c", script, NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s: not listening:\n%s", policy, cr->log);
	cr_assert(cr_wait_line(cr, "rogue: scribble-board done", 5000), "%s", cr->log);
	for (i = 0; i < 30; i++) {
		int who;

		if (http_get("127.0.0.1", port, buf, sizeof(buf), 1000) <= 0 ||
		    (who = response_worker(buf)) < 1 || who > 2) {
			failed++;
			continue;
		}
		per[who]++;
	}
	cr_assert_leq(failed, 1, "%s: %ld of 30 requests went to the rogue (unanswered); "
		      "workers 1 and 2 answered %ld and %ld\n%s", policy, failed, per[1], per[2],
		      cr->log);
	/* about 15 each; p2c draws at random: fewer than 5 of 29 is 1 in 30000 */
	cr_assert(per[1] >= 5 && per[2] >= 5, "%s: workers 1 and 2 answered %ld and %ld",
		  policy, per[1], per[2]);
	st = cr_stop(cr, SIGTERM, 15000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: wait status 0x%x\n%s", policy,
		  st, cr->log);
}

Test(hardening, scribbled_board_leastconn) { scribbled_board("leastconn"); }
Test(hardening, scribbled_board_p2c) { scribbled_board("p2c"); }
Test(hardening, scribbled_board_jiq) { scribbled_board("jiq"); }

/* Under shared the master hands nothing: a worker's accepts are its
 * board's count, believed only up to what the kernel saw established since
 * it started.  Slot 0 is rogue_worker scribble-accepts (2^64-1 accepted);
 * with --max-requests 1000000 it would be replaced at the first health
 * check (every 100 ms) if believed, as it was on 2852c25.  Ten checks'
 * time without it, while worker 1 serves. */
Test(hardening, scribbled_accepts_do_not_recycle)
{
	char script[1024];
	struct cr *cr;
	int port, st;

	snprintf(script, sizeof(script),
		 "if [ \"$CLUSTER_WORKER_ID\" = 0 ]; then exec %s scribble-accepts; "
		 "else exec %s --port 0; fi",
		 helper("rogue_worker"), helper("blocking_server"));
	cr = cr_start(NULL, "-n", "2", "-p", "shared", "--max-requests", "1000000",
		      "--control", "none", "--grace", "1", "--", "sh", "-c", script, NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "not listening:\n%s", cr->log);
	cr_assert(cr_wait_line(cr, "rogue: scribble-accepts done", 5000), "%s", cr->log);
	cr_wait_line(cr, "limit 1000000", 1000);
	cr_assert(!strstr(cr->log, "limit 1000000"), "recycled on the board's word:\n%s",
		  cr->log);
	st = cr_stop(cr, SIGTERM, 15000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x\n%s", st, cr->log);
}

Test(hardening, replacements_back_off)
{
	struct cr *cr = rogue_cluster("garbage", "0", "0.2:5", NULL);
	int n;

	cr_assert(cr_wait_line(cr, "replacing it", 10000), "%s", cr->log);
	cr_wait_line(cr, "no such line", 2000);
	n = count_of(cr->log, "replacing it");
	/* restarts after 0, 0.2, 0.4, 0.8 s...: at most 5 in 2 s */
	cr_assert(n >= 2 && n <= 6, "%d replacements in 2 s with --backoff 0.2:5:\n%s", n,
		  cr->log);
	cr_stop(cr, SIGTERM, 15000);
}

/* A worker that misbehaves every time is a crash loop like any other:
 * cluster-run gives up with 128+9 (it killed the worker). */
Test(hardening, misbehaving_every_time_is_a_crash_loop)
{
	struct cr *cr = rogue_cluster("private-garbage", "3", "0.05:0.1", NULL);
	int st = cr_wait_exit(cr, 20000);

	cr_assert(st >= 0, "still running:\n%s", cr->log);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL, "wait status 0x%x\n%s", st,
		  cr->log);
	cr_assert(strstr(cr->log, "giving up"), "%s", cr->log);
}

/* A worker that attaches private channels without end costs the master an
 * fd each.  It must not be able to starve the master of fds and so take
 * the service down for the other workers. */
Test(hardening, attach_flood_does_not_starve_the_master)
{
	char go[96], dir[64];
	struct rlimit low = { 1024, 1024 };
	struct cr *cr;
	int port, fd;

	need_no_wrapper();
	tmpdir_new(dir, "cr-hard");
	snprintf(go, sizeof(go), "%s/go", dir);
	cr = rogue_cluster("attach-flood", "0", "0.05:0.5", go);
	port = cr_port(cr, 0, 10000);
	cr_assert(port > 0, "worker 1 did not bind:\n%s", cr->log);
	/* bounded: 1024 fds, whatever this machine's hard limit is */
	cr_assert(prlimit(cr->pid, RLIMIT_NOFILE, &low, NULL) == 0, "prlimit: %s",
		  strerror(errno));
	fd = open(go, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	cr_assert(fd >= 0);
	close(fd);
	/* the master caps the processes one worker may attach and replaces
	 * a worker that goes over it */
	cr_assert(cr_wait_line(cr, "attached too many processes; replacing it", 10000),
		  "%s", cr->log);
	worker1_serves_50(cr, port);
	cr_stop(cr, SIGTERM, 15000);
}

/* --- out of fds ------------------------------------------------------ */

/* Under CLUSTER_RUN_WRAPPER (valgrind) the fd table and the CPU time are
 * the wrapper's as much as cluster-run's. */
static void need_no_wrapper(void)
{
	const char *w = getenv("CLUSTER_RUN_WRAPPER");

	if (w && *w)
		cr_skip_test("fd limits and CPU use mean nothing under CLUSTER_RUN_WRAPPER");
}

#define LOW_NOFILE 64

/* How long pid was runnable (running or waiting for a CPU), in ms, from
 * /proc/PID/schedstat.  A busy loop is runnable all the time however
 * loaded the machine is; a process that sleeps is not: unlike CPU ticks,
 * this does not shrink when other processes take the CPUs. */
static long runnable_ms(pid_t pid)
{
	unsigned long long run, wait;
	char path[64];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fscanf(f, "%llu %llu", &run, &wait);
	fclose(f);
	return n == 2 ? (long)((run + wait) / 1000000ULL) : -1;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int tcp_send_request(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0,
		  "connect: %s", strerror(errno));
	cr_assert(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1);
	return fd;
}

/* Read within timeout_ms; the byte count, 0 at EOF, -1 when nothing came. */
static int read_within(int fd, char *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	n = read(fd, buf, cap - 1);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

struct starved {
	struct cr *cr;
	int port;
	char dir[64];
	char sock[96];
	int fill[LOW_NOFILE];
	int nfill;
};

/* The master's highest open fd, or -1. */

/* A running cluster whose master has every fd below its limit in use.
 * The limit is set just above what it holds, and the few free numbers
 * below it are filled with idle control connections (the master keeps
 * each for a few seconds waiting for its command line; it takes only a
 * few of them at once, min(64, limit/8) but at least 4: the control plane
 * cannot starve it by itself, issue 11). */
static void starve(struct starved *s)
{
	struct rlimit low;
	long deadline;
	int have, limit;

	need_no_wrapper();
	tmpdir_new(s->dir, "cr-hard");
	snprintf(s->sock, sizeof(s->sock), "%s/c.sock", s->dir);
	s->cr = cr_start(NULL, "-n", "2", "--control", s->sock, "--", helper("blocking_server"),
			 "--port", "0", NULL);
	s->port = cr_ready_port(s->cr, 0, 10000);
	cr_assert(s->port > 0, "%s", s->cr->log);
	cr_assert_geq(proc_fds(s->cr->pid, 0, &limit), 0);
	limit += 1 + 2;
	cr_assert(limit > 2 && limit <= LOW_NOFILE, "the master's highest fd is %d", limit - 3);
	have = proc_fds(s->cr->pid, limit, NULL);
	cr_assert(limit - have <= 4, "%d free fd numbers below %d: too many holes to fill",
		  limit - have, limit);
	low = (struct rlimit){ (rlim_t)limit, (rlim_t)limit };
	cr_assert(prlimit(s->cr->pid, RLIMIT_NOFILE, &low, NULL) == 0, "prlimit: %s",
		  strerror(errno));
	s->nfill = 0;
	while (have < limit) {
		cr_assert_lt(s->nfill, LOW_NOFILE);
		s->fill[s->nfill] = unix_connect(s->sock);
		cr_assert(s->fill[s->nfill] >= 0, "control connect: %s", strerror(errno));
		s->nfill++;
		/* one at a time: none may stay pending in the backlog */
		deadline = now_ms() + 5000;
		while (proc_fds(s->cr->pid, limit, NULL) == have && now_ms() < deadline)
			sleep_ms(2);
		cr_assert_gt(proc_fds(s->cr->pid, limit, NULL), have,
			     "the master did not take control connection %d", s->nfill);
		have = proc_fds(s->cr->pid, limit, NULL);
	}
}

static void unstarve(struct starved *s)
{
	while (s->nfill > 0)
		close(s->fill[--s->nfill]);
}

static void finish(struct starved *s)
{
	unstarve(s);
	cr_stop(s->cr, SIGTERM, 15000);
}

Test(hardening, out_of_fds_accept_backs_off_and_recovers)
{
	struct starved s;
	char buf[4096];
	long t0, w0, ran, wall;
	int fd, i;

	starve(&s);
	fd = tcp_send_request(s.port);          /* queued in the kernel backlog */
	t0 = runnable_ms(s.cr->pid);
	cr_assert_geq(t0, 0, "/proc/PID/schedstat: %s", strerror(errno));
	w0 = now_ms();
	cr_assert(read_within(fd, buf, sizeof(buf), 1000) < 0,
		  "answered although the master has no fd to accept with");
	ran = runnable_ms(s.cr->pid) - t0;
	wall = now_ms() - w0;
	cr_assert(cr_wait_line(s.cr, "accept (pausing", 5000), "no EMFILE warning:\n%s",
		  s.cr->log);
	cr_assert_lt(ran, wall / 4, "the master was runnable %ld of %ld ms: spinning?",
		     ran, wall);
	cr_assert_lt(count_of(s.cr->log, "accept (pausing"), 30,
		     "the EMFILE warning floods the log:\n%s", s.cr->log);
	unstarve(&s);
	cr_assert(read_within(fd, buf, sizeof(buf), 3000) > 0 && strstr(buf, " 200 "),
		  "the waiting client was not served once fds were free:\n%s", s.cr->log);
	close(fd);
	for (i = 0; i < 20; i++)
		cr_assert(http_get("127.0.0.1", s.port, buf, sizeof(buf), 5000) > 0,
			  "request %d after recovery: %s", i, strerror(errno));
	cr_assert(cr_wait_exit(s.cr, 0) < 0);
	finish(&s);
}

Test(hardening, out_of_fds_control_socket_does_not_spin)
{
	struct starved s;
	char buf[4096];
	long t0, w0, ran, wall;
	int fd;

	starve(&s);
	fd = unix_connect(s.sock);              /* waits in the control backlog */
	cr_assert(fd >= 0, "control connect: %s", strerror(errno));
	t0 = runnable_ms(s.cr->pid);
	cr_assert_geq(t0, 0, "/proc/PID/schedstat: %s", strerror(errno));
	w0 = now_ms();
	sleep_ms(1000);                         /* measuring, not synchronising */
	ran = runnable_ms(s.cr->pid) - t0;
	wall = now_ms() - w0;
	cr_assert_lt(ran, wall / 4, "with a control connection it cannot accept, the master "
		     "was runnable %ld of %ld ms (busy loop)", ran, wall);
	close(s.fill[--s.nfill]);               /* one fd free: now it can */
	cr_assert(write(fd, "status\n", 7) == 7);
	cr_assert(read_within(fd, buf, sizeof(buf), 3000) > 0 && !strncmp(buf, "ok\n", 3),
		  "the waiting control client got no answer");
	close(fd);
	finish(&s);
}
