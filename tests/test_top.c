/*
 * test_top.c - cluster-ctl top against a running cluster-run: --once is
 * one plain frame with a row per worker (their pids, no escapes), --json
 * is one JSON document (read back by python3, another parser than ours)
 * with the workers and the computed rates, bad arguments and a pipe
 * without --once are refused with status 2, and the live view on a
 * pseudo-terminal takes its keys (+ scales up, q quits) and leaves the
 * terminal as it found it, on q and on SIGTERM.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

TestSuite(top, .fini = tmpdir_fini, .timeout = 60);

static int exit_code(const struct run *r)
{
	return r->status >= 0 && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* cluster-run -n N with its control socket at dir/c.sock, every worker
 * listening; their pids into w->slot_pid. */
static struct cr *start(const char *dir, const char *n, char *sock, struct cr_workers *w)
{
	struct cr *cr;

	snprintf(sock, 108, "%s/c.sock", dir);
	cr = cr_start(NULL, "-n", n, "--control", sock, "--min-uptime", "0", "--",
		      helper("blocking_server"), NULL);
	cr_assert(cr_ready_port(cr, 0, 10000) > 0, "%s", cr->log);
	w->cr = cr;
	w->want = atoi(n);
	cr_assert(wait_until(cr_have_workers, w, 5000), "%s", cr->log);
	return cr;
}

static void top(struct run *r, const char *sock, const char *a, const char *b, const char *c)
{
	const char *argv[] = { cluster_ctl_path(), "-s", sock, "top", a, b, c, NULL };

	run_capture(r, argv, 15000, NULL, NULL);
}

/* The frame's row for pid: a line "SLOT PID ..." with that pid. */
static const char *row_of(const char *frame, pid_t pid, int *slot)
{
	const char *p;

	for (p = frame; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		int s, q;

		if (sscanf(p, "%d %d", &s, &q) == 2 && q == pid) {
			*slot = s;
			return p;
		}
	}
	return NULL;
}

Test(top, once_has_a_row_per_worker)
{
	char dir[64], sock[108];
	struct cr_workers w = { 0 };
	struct cr *cr = start(tmpdir_new(dir, "top"), "4", sock, &w);
	struct run r;
	long got = 0, failed = 0;
	int i, slot, port = cr_port(cr, 0, 1000);
	struct load *l = load_start(port, 4);

	load_wait_more(l, 50, 10000);
	top(&r, sock, "--once", "--interval", "0.3");
	load_stop(l, &got, &failed, NULL);
	cr_assert_eq(exit_code(&r), 0, "%s", r.err);
	cr_assert(strstr(r.out, "SLOT PID"), "%s", r.out);
	cr_assert(strstr(r.out, "LISTENER"), "%s", r.out);
	cr_assert(!strchr(r.out, '\033'), "escapes in --once: %s", r.out);
	for (i = 0; i < 4; i++) {
		cr_assert(row_of(r.out, w.slot_pid[i], &slot), "no row for pid %d:\n%s",
			  (int)w.slot_pid[i], r.out);
		cr_assert_eq(slot, i, "%s", r.out);
	}
	cr_assert_eq(count_of(r.out, " ready "), 4, "%s", r.out);
	cr_assert_gt(got, 0);
}

/* A killed worker's replacement row says why the slot restarted. */
static int line_has(const char *line, const char *needle)
{
	const char *p = strstr(line, needle);

	return p && p < line + strcspn(line, "\n");
}

Test(top, once_shows_the_last_exit)
{
	char dir[64], sock[108];
	struct cr_workers w = { 0 };
	struct cr *cr = start(tmpdir_new(dir, "top"), "2", sock, &w);
	pid_t old[1];
	struct run r;
	const char *row;
	int slot;

	old[0] = w.slot_pid[1];
	kill(old[0], SIGKILL);
	w.old = old;
	w.nold = 1;
	cr_assert(wait_until(cr_have_workers, &w, 10000), "%s", cr->log);
	top(&r, sock, "--once", "--interval", "0");
	cr_assert_eq(exit_code(&r), 0, "%s", r.err);
	row = row_of(r.out, w.slot_pid[1], &slot);
	cr_assert(row && line_has(row, " signal 9"), "no 'signal 9' in slot 1's row:\n%s", r.out);
	row = row_of(r.out, w.slot_pid[0], &slot);
	cr_assert(row && !line_has(row, "signal") && !strncmp(row + strcspn(row, "\n") - 2, " -", 2),
		  "slot 0 never restarted:\n%s", r.out);
}

/* python3 reads the document (another parser than ours) and prints
 * "slot pid conns_per_s cpu_percent" per worker. */
static void read_json(const char *dir, const char *doc, struct run *py)
{
	static const char script[] =
		"import json, sys\n"
		"d = json.load(open(sys.argv[1]))\n"
		"rates = {w['pid']: w for w in d['top']['workers']}\n"
		"for w in d['workers']:\n"
		"    r = rates[w['pid']]\n"
		"    print(w['slot'], w['pid'], r['conns_per_s'], r['cpu_percent'], w['last_exit'])\n";
	char path[128];
	FILE *f;
	const char *argv[] = { "/usr/bin/env", "python3", "-c", script, path, NULL };

	snprintf(path, sizeof(path), "%s/top.json", dir);
	cr_assert((f = fopen(path, "w")));
	fputs(doc, f);
	fclose(f);
	run_capture(py, argv, 10000, NULL, NULL);
	cr_assert_eq(exit_code(py), 0, "%s\n%s", py->err, doc);
}

Test(top, json_has_the_workers_and_rates)
{
	char dir[64], sock[108];
	struct cr_workers w = { 0 };
	struct run r, py;
	int i;

	start(tmpdir_new(dir, "top"), "3", sock, &w);
	top(&r, sock, "--json", "--interval", "0.2");
	cr_assert_eq(exit_code(&r), 0, "%s", r.err);
	read_json(dir, r.out, &py);
	cr_assert_eq(count_of(py.out, "\n"), 3, "%s", py.out);
	for (i = 0; i < 3; i++) {
		char line[64];

		snprintf(line, sizeof(line), "%d %d ", i, (int)w.slot_pid[i]);
		cr_assert(strstr(py.out, line), "no %s in\n%s", line, py.out);
	}
	cr_assert(!strstr(py.out, "None 0") && !strstr(py.out, " None None"),
		  "rates missing with two samples:\n%s", py.out);
	/* one sample: no CPU % (it takes two); connections a second only
	 * where the master reports accepts_per_s (it does: a number, not
	 * None), and no last exit */
	top(&r, sock, "--json", "--interval", "0");
	cr_assert_eq(exit_code(&r), 0, "%s", r.err);
	read_json(dir, r.out, &py);
	cr_assert_eq(count_of(py.out, " None None\n"), 3, "%s", py.out);
	cr_assert_eq(count_of(py.out, "None None None"), 0, "%s", py.out);
}

Test(top, bad_arguments_and_pipes_are_refused)
{
	char dir[64], sock[108];
	struct cr_workers w = { 0 };
	struct run r;

	start(tmpdir_new(dir, "top"), "1", sock, &w);
	top(&r, sock, "--bogus", NULL, NULL);
	cr_assert_eq(exit_code(&r), 2, "%s", r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "%s", r.err);
	cr_assert(strstr(r.err, "--bogus"), "%s", r.err);
	top(&r, sock, "--interval", "-1", NULL);
	cr_assert_eq(exit_code(&r), 2, "%s", r.err);
	cr_assert(strstr(r.err, "--interval"), "%s", r.err);
	top(&r, sock, NULL, NULL, NULL);        /* stdout is a pipe here */
	cr_assert_eq(exit_code(&r), 2, "%s", r.err);
	cr_assert(strstr(r.err, "--once"), "%s", r.err);
	/* no master there: 1 */
	{
		const char *argv[] = { cluster_ctl_path(), "-s", "/nonexistent/c.sock", "top",
				       "--once", NULL };

		run_capture(&r, argv, 10000, NULL, NULL);
		cr_assert_eq(exit_code(&r), 1, "%s", r.err);
		cr_assert_eq(count_of(r.err, "\n"), 1, "%s", r.err);
	}
}

/* The live view on a pseudo-terminal. */
struct pty_top {
	int master;
	pid_t pid;
	char out[65536];
	size_t len;
};

static void pty_start(struct pty_top *t, const char *sock)
{
	const char *slave;
	int fd;

	t->len = 0;
	t->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert(t->master >= 0 && grantpt(t->master) == 0 && unlockpt(t->master) == 0);
	cr_assert((slave = ptsname(t->master)));
	t->pid = fork();
	cr_assert(t->pid >= 0);
	if (t->pid == 0) {
		struct winsize ws = { .ws_row = 40, .ws_col = 160 };

		setsid();
		if ((fd = open(slave, O_RDWR)) < 0)
			_exit(127);
		ioctl(fd, TIOCSCTTY, 0);
		ioctl(fd, TIOCSWINSZ, &ws);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(cluster_ctl_path(), cluster_ctl_path(), "-s", sock, "top", "--interval",
		      "0.2", (char *)NULL);
		_exit(127);
	}
}

/* Read the pty until needle has been seen `times` times in all. */
static int pty_wait(struct pty_top *t, const char *needle, int times, int timeout_ms)
{
	long end = now_ms() + timeout_ms;

	while (count_of(t->out, needle) < times) {
		struct pollfd p = { .fd = t->master, .events = POLLIN };
		ssize_t n;

		if (now_ms() >= end || poll(&p, 1, (int)(end - now_ms())) <= 0)
			return 0;
		n = read(t->master, t->out + t->len, sizeof(t->out) - 1 - t->len);
		if (n <= 0)
			return 0;
		t->len += (size_t)n;
		t->out[t->len] = '\0';
		if (t->len > sizeof(t->out) / 2) {      /* keep the tail */
			memmove(t->out, t->out + t->len - 1024, 1024);
			t->len = 1024;
			t->out[t->len] = '\0';
		}
	}
	return 1;
}

/* The terminal's modes once top is gone: canonical and echoing again
 * (the pty keeps them while its master end is open). */
static void assert_restored(struct pty_top *t)
{
	struct termios tio;
	int fd = open(ptsname(t->master), O_RDWR | O_NOCTTY);

	cr_assert(fd >= 0, "%s", strerror(errno));
	cr_assert_eq(tcgetattr(fd, &tio), 0);
	cr_assert((tio.c_lflag & ICANON) && (tio.c_lflag & ECHO), "raw mode left on");
	close(fd);
}

static int exit_status(pid_t pid, int timeout_ms)
{
	long end = now_ms() + timeout_ms;
	int st;

	while (now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

Test(top, keys_scale_and_quit_and_the_terminal_comes_back)
{
	char dir[64], sock[108], pid_s[16];
	struct cr_workers w = { 0 };
	struct cr *cr = start(tmpdir_new(dir, "top"), "2", sock, &w);
	struct pty_top t;
	int st;

	pty_start(&t, sock);
	snprintf(pid_s, sizeof(pid_s), " %d ", (int)w.slot_pid[1]);
	cr_assert(pty_wait(&t, pid_s, 1, 10000), "no row for pid %d:\n%s", (int)w.slot_pid[1],
		  t.out);
	cr_assert(strstr(t.out, "\033[?1049h"), "no alternate screen");
	cr_assert_eq(write(t.master, "+", 1), 1);
	cr_assert(pty_wait(&t, "scaling to 3 workers", 1, 10000), "%s", t.out);
	w.want = 3;
	cr_assert(wait_until(cr_have_workers, &w, 10000), "%s", cr->log);
	cr_assert(pty_wait(&t, "3/3 workers", 1, 10000), "%s", t.out);
	cr_assert_eq(write(t.master, "q", 1), 1);
	cr_assert(pty_wait(&t, "\033[?1049l", 1, 5000), "alternate screen not left");
	st = exit_status(t.pid, 5000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
	assert_restored(&t);
	close(t.master);
}

Test(top, sigterm_restores_the_terminal)
{
	char dir[64], sock[108], pid_s[16];
	struct cr_workers w = { 0 };
	struct pty_top t;
	int st;

	start(tmpdir_new(dir, "top"), "1", sock, &w);
	pty_start(&t, sock);
	snprintf(pid_s, sizeof(pid_s), " %d ", (int)w.slot_pid[0]);
	cr_assert(pty_wait(&t, pid_s, 1, 10000), "%s", t.out);
	kill(t.pid, SIGTERM);
	cr_assert(pty_wait(&t, "\033[?1049l", 1, 5000), "alternate screen not left");
	st = exit_status(t.pid, 5000);
	cr_assert(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %d", st);
	assert_restored(&t);
	close(t.master);
}
