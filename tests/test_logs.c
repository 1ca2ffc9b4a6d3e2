/*
 * test_logs.c - cluster-ctl logs: the master keeps each slot's recent
 * output (stdout and stderr) in a bounded ring, per slot, across worker
 * restarts; -n N the last N lines; no SLOT: every slot and the master's
 * own lines, interleaved; -f streams new lines until the cluster stops.
 */
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(logs, .fini = tmpdir_fini, .timeout = 120);

struct cluster {
	struct cr *cr;
	char dir[64];
	char sock[96];
	char out[128];          /* where logs_of() puts cluster-ctl's stdout */
};

/* cluster-run -n WORKERS --control SOCK [EXTRA] -- /bin/sh -c SCRIPT */
static void start(struct cluster *c, const char *workers, const char *extra,
		  const char *extra_value, const char *script)
{
	const char *argv[16];
	int n = 0;

	tmpdir_new(c->dir, "cr-logs");
	snprintf(c->sock, sizeof(c->sock), "%s/c.sock", c->dir);
	snprintf(c->out, sizeof(c->out), "%s/ctl.out", c->dir);
	argv[n++] = "-n";
	argv[n++] = workers;
	argv[n++] = "--control";
	argv[n++] = c->sock;
	if (extra)
		argv[n++] = extra;
	if (extra_value)
		argv[n++] = extra_value;
	argv[n++] = "--";
	argv[n++] = "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n] = NULL;
	c->cr = cr_startv(NULL, argv);
	cr_assert(cr_wait_line(c->cr, "control socket", 10000), "%s", c->cr->log);
}

static int exit_code(const struct run *r)
{
	return r->status >= 0 && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* cluster-ctl -s SOCK logs ARGS... with its stdout in buf (any size:
 * through a file, run_capture keeps 16 KiB); its exit status. */
static int logs_of(struct cluster *c, char *buf, size_t cap, struct run *r, const char *a1,
		   const char *a2, const char *a3, const char *a4)
{
	const char *argv[] = { "/bin/sh", "-c", "out=$1; shift; exec \"$@\" >\"$out\"", "sh",
			       c->out, cluster_ctl_path(), "-s", c->sock, "logs",
			       a1, a2, a3, a4, NULL };

	run_capture(r, argv, 10000, NULL, NULL);
	cr_assert(read_file(c->out, buf, cap) >= 0);
	return exit_code(r);
}

static int lines_in(const char *s)
{
	return count_of(s, "\n");
}

struct seen {
	struct cluster *c;
	const char *slot;
	const char *needle;
	char *buf;
	size_t cap;
};

static int logs_have(void *arg)
{
	struct seen *s = arg;
	struct run r;

	return logs_of(s->c, s->buf, s->cap, &r, s->slot, "-n", "10000", NULL) == 0 &&
	       strstr(s->buf, s->needle);
}

/* A worker killed and restarted: its slot's lines from before are still
 * there, each with the pid that wrote it, followed by the new worker's. */
Test(logs, lines_survive_a_restart)
{
	static char buf[1 << 20];
	struct cluster c;
	struct run r;
	char first[64], second[64], tag[160];
	pid_t pids[4];
	const char *p1, *p2;

	start(&c, "1", NULL, NULL, "echo \"hello-$$\"; echo \"oops-$$\" >&2; exec sleep 1000");
	struct seen s = { &c, "0", "oops-", buf, sizeof(buf) };
	cr_assert(wait_until(logs_have, &s, 10000), "%s", buf);
	cr_assert_eq(cr_children(c.cr, pids, 4), 1);
	snprintf(first, sizeof(first), "hello-%d", (int)pids[0]);
	kill(pids[0], SIGKILL);
	struct cr_workers w = { .cr = c.cr, .want = 1, .old = pids, .nold = 1 };
	cr_assert(wait_until(cr_have_workers, &w, 10000), "no new worker:\n%s", c.cr->log);
	snprintf(second, sizeof(second), "hello-%d", (int)w.slot_pid[0]);
	s.needle = second;
	cr_assert(wait_until(logs_have, &s, 10000), "%s", buf);

	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "0", NULL, NULL, NULL), 0, "%s", r.err);
	snprintf(tag, sizeof(tag), "[0 %d stdout] %s\n", (int)pids[0], first);
	cr_assert(p1 = strstr(buf, tag), "the old worker's line is gone:\n%s", buf);
	snprintf(tag, sizeof(tag), "[0 %d stderr] oops-%d\n", (int)pids[0], (int)pids[0]);
	cr_assert(strstr(buf, tag), "its stderr line is gone:\n%s", buf);
	snprintf(tag, sizeof(tag), "[0 %d stdout] %s\n", (int)w.slot_pid[0], second);
	cr_assert(p2 = strstr(buf, tag), "no line of the new worker:\n%s", buf);
	cr_assert(p1 < p2, "out of order:\n%s", buf);
	cr_assert_eq(lines_in(buf), 4, "%s", buf);
	/* -n 1: the newest only */
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "0", "-n", "1", NULL), 0);
	cr_assert_eq(lines_in(buf), 1, "%s", buf);
	cr_assert(strstr(buf, "oops-") && strstr(buf, "stderr"), "%s", buf);
	/* no SLOT: the master's lines too, its report of the kill among them */
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, NULL, NULL, NULL, NULL), 0);
	cr_assert(strstr(buf, "[master] control socket"), "%s", buf);
	cr_assert(strstr(buf, first) && strstr(buf, second), "%s", buf);
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "master", NULL, NULL, NULL), 0);
	cr_assert(!strstr(buf, first) && strstr(buf, "[master]"), "%s", buf);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}

/* Two slots, no SLOT: each line says its slot, in order of arrival. */
Test(logs, all_slots_interleaved)
{
	static char buf[1 << 16];
	struct cluster c;
	struct run r;

	start(&c, "2", NULL, NULL, "echo \"slot-$CLUSTER_WORKER_ID\"; exec sleep 1000");
	struct seen s = { &c, NULL, "slot-1", buf, sizeof(buf) };
	cr_assert(wait_until(logs_have, &s, 10000), "%s", buf);
	s.needle = "slot-0";
	cr_assert(wait_until(logs_have, &s, 10000), "%s", buf);
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, NULL, NULL, NULL, NULL), 0);
	cr_assert(strstr(buf, "[0 ") && strstr(buf, "] slot-0\n"), "%s", buf);
	cr_assert(strstr(buf, "[1 ") && strstr(buf, "] slot-1\n"), "%s", buf);
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "1", NULL, NULL, NULL), 0);
	cr_assert(!strstr(buf, "slot-0") && strstr(buf, "slot-1"), "%s", buf);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}

/* cluster-ctl logs -f in the background: its pid, its stdout's read end. */
static pid_t follow(struct cluster *c, const char *slot, int *out)
{
	int p[2];
	pid_t pid;

	cr_assert(pipe(p) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(cluster_ctl_path(), "cluster-ctl", "-s", c->sock, "logs", slot, "-n", "0",
		      "-f", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	*out = p[0];
	return pid;
}

/* Read fd into buf until needle is there; whether it came in time. */
static int read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle,
		      int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;

	while (!strstr(buf, needle) && now_ms() < deadline) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pf, 1, 100) <= 0)
			continue;
		n = read(fd, buf + *len, cap - 1 - *len);
		if (n <= 0)
			break;
		*len += (size_t)n;
		buf[*len] = '\0';
	}
	return strstr(buf, needle) != NULL;
}

/* -f shows a line written after it started, and ends (status 0) when the
 * cluster stops. */
Test(logs, follow_sees_new_lines)
{
	static char buf[1 << 16];
	struct cluster c;
	size_t len = 0;
	int fd, st;
	pid_t f;
	struct run r;

	start(&c, "1", NULL, NULL,
	      "trap 'echo \"poked-$$\"' USR2; echo ready; while :; do sleep 0.05; done");
	struct seen s = { &c, "0", "ready", buf, sizeof(buf) };
	cr_assert(wait_until(logs_have, &s, 10000), "%s", buf);
	buf[0] = '\0';
	f = follow(&c, "0", &fd);
	/* the follower is in once the master counts it: poke until a line
	 * comes (one poke may land before it subscribed) */
	for (int i = 0; i < 50 && !strstr(buf, "poked-"); i++) {
		const char *sig[] = { cluster_ctl_path(), "-s", c.sock, "signal", "USR2", NULL };

		run_capture(&r, sig, 10000, NULL, NULL);
		cr_assert_eq(exit_code(&r), 0, "%s", r.err);
		read_until(fd, buf, sizeof(buf), &len, "poked-", 300);
	}
	cr_assert(strstr(buf, "[0 ") && strstr(buf, " stdout] poked-"), "follower got:\n%s", buf);
	cr_assert(!strstr(buf, "ready"), "-n 0 showed old lines:\n%s", buf);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
	for (int i = 0; i < 250 && waitpid(f, &st, WNOHANG) == 0; i++)
		sleep_ms(20);
	cr_assert(!pid_alive(f) || waitpid(f, &st, WNOHANG) == f, "the follower outlived the cluster");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "follower status 0x%x", st);
	close(fd);
}

/* 3000 lines: the ring keeps the last 1000 (the default --log-lines). */
Test(logs, ring_keeps_the_last_lines)
{
	static char buf[1 << 20];
	struct cluster c;
	struct run r;

	start(&c, "1", NULL, NULL,
	      "i=0; while [ $i -lt 3000 ]; do echo \"line-$i.\"; i=$((i+1)); done; "
	      "echo done-printing; exec sleep 1000");
	struct seen s = { &c, "0", "done-printing", buf, sizeof(buf) };
	cr_assert(wait_until(logs_have, &s, 30000), "%.2000s", buf);
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "0", "-n", "10000", NULL), 0);
	cr_assert_eq(lines_in(buf), 1000, "%d lines", lines_in(buf));
	cr_assert(strstr(buf, "line-2999.") && strstr(buf, "line-2001."), "%.500s", buf);
	cr_assert(!strstr(buf, "line-2000.") && !strstr(buf, "line-0."), "%.500s", buf);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}

/* The master's VmRSS in KiB, or -1. */
static long rss_kib(pid_t pid)
{
	char path[64], text[4096];
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_file(path, text, sizeof(text)) < 0 || !(p = strstr(text, "VmRSS:")))
		return -1;
	return strtol(p + 6, NULL, 10);
}

/* 20 MB of long lines with room for 100000 of them: the bytes bound
 * (256 KiB a slot) holds, and the master's memory stays small. */
Test(logs, ring_bounded_in_bytes)
{
	static char buf[1 << 20];
	struct cluster c;
	struct run r;
	long rss;
	int n;

	if (!have_program("awk"))
		cr_skip_test("no awk");
	start(&c, "1", "--log-lines", "100000",
	      "awk 'BEGIN { s = sprintf(\"%1000s\", \"\"); gsub(/ /, \"x\", s); "
	      "for (i = 0; i < 20000; i++) print \"long-\" i \"-\" s; print \"done-printing\" }'; "
	      "exec sleep 1000");
	struct seen s = { &c, "0", "done-printing", buf, sizeof(buf) };
	cr_assert(wait_until(logs_have, &s, 60000), "%.300s", buf);
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "0", "-n", "10000", NULL), 0);
	n = lines_in(buf);
	/* 256 KiB of text: 255 lines of 1006 bytes and the last one */
	cr_assert(n >= 200 && n <= 262, "%d lines kept", n);
	cr_assert(strstr(buf, "long-19999-"), "the newest is missing");
	rss = rss_kib(c.cr->pid);
	/* under AddressSanitizer the master's shadow memory and quarantine
	 * alone pass 32 MiB: the bound is for a plain build (the line count
	 * above holds in both) */
	if (!getenv("ASAN_OPTIONS"))
		cr_assert(rss > 0 && rss < 32 * 1024, "the master's RSS is %ld KiB", rss);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}

/* Bad usage is status 2 before asking; --log-lines 0 keeps nothing, and
 * logs says so (status 1). */
Test(logs, bad_usage_and_no_ring)
{
	static char buf[1 << 12];
	struct cluster c;
	struct run r;

	start(&c, "1", "--log-lines", "0", "echo quiet; exec sleep 1000");
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "-n", "x", NULL, NULL), 2, "%s", r.err);
	cr_assert(strstr(r.err, "-n takes a line count"), "%s", r.err);
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "0", "1", NULL, NULL), 2, "%s", r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "%s", r.err);
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "0", NULL, NULL, NULL), 1, "%s", r.err);
	cr_assert(strstr(r.err, "--log-lines 0"), "%s", r.err);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}

/* --log-dir's files are written as before; the ring has the lines too. */
Test(logs, log_dir_files_stay)
{
	static char buf[1 << 16];
	struct cluster c;
	struct run r;
	char logdir[64], file[128];

	tmpdir_new(logdir, "cr-logs-dir");
	start(&c, "1", "--log-dir", logdir, "echo to-the-file; exec sleep 1000");
	struct seen s = { &c, "0", "to-the-file", buf, sizeof(buf) };
	cr_assert(wait_until(logs_have, &s, 10000), "%s", buf);
	cr_assert_eq(logs_of(&c, buf, sizeof(buf), &r, "0", NULL, NULL, NULL), 0);
	cr_assert_eq(lines_in(buf), 1, "%s", buf);
	snprintf(file, sizeof(file), "%s/worker-0.log", logdir);
	cr_assert(read_file(file, buf, sizeof(buf)) > 0);
	cr_assert_str_eq(buf, "to-the-file\n");
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}

/* A follower that does not read: the master does not wait for it nor
 * keep more than a bound for it; once it reads, a line says how many it
 * missed, and new lines come again. */
Test(logs, slow_follower_loses_lines_not_the_cluster)
{
	static char buf[1 << 22];
	struct cluster c;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	const char *req = "logs 0 -n 0 -f\n";
	size_t len = 0;
	int fd, rcv = 4096;
	struct run r;
	const char *sig[] = { cluster_ctl_path(), "-s", NULL, "signal", "USR2", NULL };

	if (!have_program("awk"))
		cr_skip_test("no awk");
	start(&c, "1", NULL, NULL,
	      "trap 'awk \"BEGIN { for (i = 0; i < 40000; i++) print \\\"flood-\\\" i \\\"-"
	      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\\" }\"' USR2; "
	      "echo ready; while :; do sleep 0.05; done");
	sig[2] = c.sock;
	struct seen s = { &c, "0", "ready", buf, sizeof(buf) };
	cr_assert(wait_until(logs_have, &s, 10000), "%s", buf);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", c.sock);
	cr_assert(connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0);
	cr_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	buf[0] = '\0';
	cr_assert(read_until(fd, buf, sizeof(buf), &len, "ok\n", 5000), "%s", buf);
	/* 40000 lines of ~100 bytes, 4 MB, while it does not read */
	run_capture(&r, sig, 10000, NULL, NULL);
	cr_assert_eq(exit_code(&r), 0, "%s", r.err);
	s.needle = "flood-39999-";
	cr_assert(wait_until(logs_have, &s, 30000), "the cluster waited for the follower");
	fcntl(fd, F_SETFL, O_NONBLOCK);
	cr_assert(read_until(fd, buf, sizeof(buf), &len, "lines skipped (read too slowly)", 10000),
		  "%zu bytes, no notice", len);
	cr_assert(len < (3u << 20), "%zu bytes came: more than the bound", len);
	/* and it follows on */
	for (int i = 0; i < 50 && !strstr(strstr(buf, "skipped"), "flood-"); i++) {
		run_capture(&r, sig, 10000, NULL, NULL);
		read_until(fd, buf, sizeof(buf), &len, "NOTHING", 300);
	}
	cr_assert(strstr(strstr(buf, "skipped"), "flood-"), "nothing after the notice");
	close(fd);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}
