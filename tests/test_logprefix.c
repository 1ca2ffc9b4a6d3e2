/*
 * test_logprefix.c - with --log-prefix every line a worker writes, on
 * stdout or stderr, comes out whole and prefixed with "[slot pid] ": lines
 * of workers writing at the same time never mix, even when each line is
 * written in two pieces; a last line without a newline is still written,
 * prefixed and terminated; a line longer than the buffer is cut into
 * prefixed pieces.  Without --log-prefix the output passes through as is.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void cleanup(void);
TestSuite(logprefix, .fini = cleanup, .timeout = 60);

#define OUT_CAP (1 << 20)

static char out_path[64];       /* the test's stdout file, removed by cleanup() */

struct outfile {
	char path[64];
	char *text;             /* last read, NUL-terminated */
	size_t len;
	const char *needle;     /* for has_lines */
	int want;
};

static void out_init(struct outfile *o)
{
	int fd;

	snprintf(o->path, sizeof(o->path), "/tmp/cr-logprefix.XXXXXX");
	fd = mkstemp(o->path);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	close(fd);
	o->text = malloc(OUT_CAP);
	cr_assert(o->text);
	o->text[0] = '\0';
	o->len = 0;
	memcpy(out_path, o->path, sizeof(out_path));
}

static void cleanup(void)
{
	harness_cleanup();
	if (out_path[0])
		unlink(out_path);
	out_path[0] = '\0';
}

static void out_read(struct outfile *o)
{
	long n = read_file(o->path, o->text, OUT_CAP);

	cr_assert(n >= 0, "%s: %s", o->path, strerror(errno));
	o->len = (size_t)n;
}

static void out_done(struct outfile *o)
{
	free(o->text);
}

/* The output file holds `want` occurrences of `needle`. */
static int has_lines(void *arg)
{
	struct outfile *o = arg;

	out_read(o);
	return count_of(o->text, o->needle) >= o->want;
}

static int wait_output(struct outfile *o, const char *needle, int want, int timeout_ms)
{
	o->needle = needle;
	o->want = want;
	return wait_until(has_lines, o, timeout_ms);
}

/* CLUSTER_WORKER_ID the process was started with, or -1. */
/* The pid of each slot's worker (n slots). */
static void slot_pids(struct cr *cr, pid_t *by_slot, int n)
{
	pid_t now[16];
	int k = cr_children(cr, now, 16), i;

	cr_assert_eq(k, n, "%d workers, expected %d", k, n);
	for (i = 0; i < n; i++)
		by_slot[i] = 0;
	for (i = 0; i < k; i++) {
		int id = proc_worker_id(now[i]);
		cr_assert(id >= 0 && id < n, "pid %d has slot %d", (int)now[i], id);
		by_slot[id] = now[i];
	}
}

/* Every line of text starts with "[slot pid] " naming one of the workers
 * in by_slot (or, with allow_master, is one of cluster-run's own lines). */
static void assert_all_prefixed(const char *text, const pid_t *by_slot, int n, int allow_master)
{
	const char *line = text;

	while (*line) {
		const char *end = strchr(line, '\n');
		int slot, pid, used = 0;

		cr_assert(end, "unterminated last line: \"%s\"", line);
		if (allow_master && !strncmp(line, "cluster-run: ", 13)) {
			line = end + 1;
			continue;
		}
		cr_assert(sscanf(line, "[%d %d] %n", &slot, &pid, &used) == 2 && used > 0,
			  "line without the prefix: \"%.*s\"", (int)(end - line), line);
		cr_assert(slot >= 0 && slot < n && by_slot[slot] == pid,
			  "prefix names slot %d pid %d, not a worker: \"%.*s\"", slot, pid,
			  (int)(end - line), line);
		line = end + 1;
	}
}

/* Each worker says hello on stdout and on stderr, then becomes the server
 * (which prints "listening ADDR PORT" on stdout). */
Test(logprefix, lines_get_slot_and_pid)
{
	struct outfile o;
	struct cr *cr;
	char cmd[1024], want[128];
	pid_t by_slot[2];
	int port, i;

	out_init(&o);
	snprintf(cmd, sizeof(cmd), "echo hello from $CLUSTER_WORKER_ID; "
		 "echo complaint from $CLUSTER_WORKER_ID >&2; exec %s", helper("blocking_server"));
	cr = cr_start(o.path, "-n", "2", "--log-prefix", "--", "/bin/sh", "-c", cmd, NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);
	slot_pids(cr, by_slot, 2);
	cr_assert(wait_output(&o, "listening 127.0.0.1", 2, 5000), "stdout:\n%s", o.text);
	for (i = 0; i < 2; i++) {
		snprintf(want, sizeof(want), "[%d %d] hello from %d\n", i, (int)by_slot[i], i);
		cr_assert(strstr(o.text, want), "no \"%s\" in stdout:\n%s", want, o.text);
		snprintf(want, sizeof(want), "[%d %d] listening 127.0.0.1 %d\n", i,
			 (int)by_slot[i], port);
		cr_assert(strstr(o.text, want), "no \"%s\" in stdout:\n%s", want, o.text);
		snprintf(want, sizeof(want), "[%d %d] complaint from %d\n", i, (int)by_slot[i], i);
		cr_assert(cr_wait_line(cr, want, 3000), "no \"%s\" in stderr:\n%s", want, cr->log);
	}
	assert_all_prefixed(o.text, by_slot, 2, 0);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	out_done(&o);
}

/* Two workers each write 3000 lines as fast as they can, every line in two
 * write()s ("wS nI " then "endI\n").  In the output each line is exactly
 * one message of one worker: prefix, both halves, matching numbers, and
 * each worker's lines complete and in order. */
Test(logprefix, concurrent_lines_never_mix)
{
	enum { LINES = 3000 };
	struct outfile o;
	struct cr *cr;
	char cmd[1024];
	pid_t by_slot[2];
	int port, next[2] = { 0, 0 };
	const char *line;

	out_init(&o);
	snprintf(cmd, sizeof(cmd),
		 "i=0; while [ $i -lt %d ]; do printf 'w%%s n%%d ' \"$CLUSTER_WORKER_ID\" $i; "
		 "printf 'end%%d\\n' $i; i=$((i+1)); done; exec %s",
		 LINES, helper("blocking_server"));
	cr = cr_start(o.path, "-n", "2", "--log-prefix", "--", "/bin/sh", "-c", cmd, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert(port > 0, "%s", cr->log);
	slot_pids(cr, by_slot, 2);
	cr_assert(wait_output(&o, "listening 127.0.0.1", 2, 10000), "only %zu bytes", o.len);
	assert_all_prefixed(o.text, by_slot, 2, 0);
	for (line = o.text; *line; line = strchr(line, '\n') + 1) {
		int slot, pid, w, n, e, used = 0;

		if (sscanf(line, "[%d %d] w%d n%d end%d%n", &slot, &pid, &w, &n, &e, &used) != 5) {
			cr_assert(sscanf(line, "[%d %d] listening %*s %*d%n", &slot, &pid, &used) == 2
				  && used > 0 && line[used] == '\n',
				  "mixed or broken line: \"%.*s\"", (int)strcspn(line, "\n"), line);
			continue;
		}
		cr_assert_eq(line[used], '\n', "mixed line: \"%.*s\"", (int)strcspn(line, "\n"), line);
		cr_assert_eq(w, slot, "slot %d's line says w%d", slot, w);
		cr_assert_eq(n, e, "halves of two lines joined: \"%.*s\"",
			     (int)strcspn(line, "\n"), line);
		cr_assert_eq(n, next[slot], "slot %d: line %d where %d was due", slot, n, next[slot]);
		next[slot]++;
	}
	cr_assert_eq(next[0], LINES, "slot 0: %d lines", next[0]);
	cr_assert_eq(next[1], LINES, "slot 1: %d lines", next[1]);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	out_done(&o);
}

/* A last line without a newline from a worker that exits: written with
 * its prefix and a newline.  (It never listens, so with --max-restarts 1
 * cluster-run gives up after this one attempt.) */
Test(logprefix, partial_last_line_flushed_on_exit)
{
	struct outfile o;
	struct cr *cr;
	char want[128];
	const char *p;
	int st, pid;

	out_init(&o);
	cr = cr_start(o.path, "-n", "1", "--max-restarts", "1", "--log-prefix", "--",
		      "/bin/sh", "-c", "echo first; printf 'partial line without newline'; exit 1",
		      NULL);
	st = cr_wait_exit(cr, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "status 0x%x\n%s", st, cr->log);
	p = strstr(cr->log, "worker 0 (pid ");
	cr_assert(p, "%s", cr->log);
	pid = atoi(p + strlen("worker 0 (pid "));
	out_read(&o);
	snprintf(want, sizeof(want), "[0 %d] first\n[0 %d] partial line without newline\n",
		 pid, pid);
	cr_assert_str_eq(o.text, want, "stdout was:\n%s", o.text);
	out_done(&o);
}

/* The same on stderr from a worker stopped on request: its unfinished line
 * comes out, prefixed and terminated, before cluster-run exits. */
Test(logprefix, partial_line_flushed_at_stop)
{
	struct outfile o;
	struct cr *cr;
	char cmd[1024], want[128];
	pid_t by_slot[1];
	int port, st;

	out_init(&o);
	snprintf(cmd, sizeof(cmd), "printf 'unfinished on stderr' >&2; exec %s",
		 helper("blocking_server"));
	cr = cr_start(o.path, "-n", "1", "--log-prefix", "--", "/bin/sh", "-c", cmd, NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);
	slot_pids(cr, by_slot, 1);
	cr_assert(!strstr(cr->log, "unfinished on stderr"),
		  "an unfinished line was written before its end:\n%s", cr->log);
	st = cr_stop(cr, SIGTERM, 15000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", cr->log);
	snprintf(want, sizeof(want), "[0 %d] unfinished on stderr\n", (int)by_slot[0]);
	cr_assert(strstr(cr->log, want), "no \"%s\" in stderr:\n%s", want, cr->log);
	out_done(&o);
}

/* A 10000-byte line is longer than the line buffer: it comes out in
 * pieces, every piece prefixed, nothing lost. */
Test(logprefix, long_line_cut_into_prefixed_pieces)
{
	enum { LEN = 10000 };
	struct outfile o;
	struct cr *cr;
	char cmd[1024], prefix[64];
	pid_t by_slot[1];
	size_t plen, got = 0;
	const char *line;
	int port;

	out_init(&o);
	snprintf(cmd, sizeof(cmd), "head -c %d /dev/zero | tr '\\0' x; echo; echo after; exec %s",
		 LEN, helper("blocking_server"));
	cr = cr_start(o.path, "-n", "1", "--log-prefix", "--", "/bin/sh", "-c", cmd, NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);
	slot_pids(cr, by_slot, 1);
	cr_assert(wait_output(&o, "listening 127.0.0.1", 1, 5000), "stdout:\n%s", o.text);
	assert_all_prefixed(o.text, by_slot, 1, 0);
	plen = (size_t)snprintf(prefix, sizeof(prefix), "[0 %d] ", (int)by_slot[0]);
	for (line = o.text; *line; line = strchr(line, '\n') + 1) {
		size_t n = strcspn(line, "\n") - plen;
		if (line[plen] == 'x') {
			cr_assert_eq(strspn(line + plen, "x"), n, "a piece mixes x with other text");
			got += n;
		}
	}
	cr_assert_eq(got, (size_t)LEN, "%zu of %d bytes of the long line came out", got, LEN);
	cr_assert(strstr(o.text, "] after\n"), "%s", o.text);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	out_done(&o);
}

/* A restarted worker's lines carry its own, new pid. */
Test(logprefix, replacement_has_its_own_pid)
{
	struct outfile o;
	struct cr *cr;
	char buf[4096], want[128];
	pid_t first[1], second[1];
	int port;

	out_init(&o);
	cr = cr_start(o.path, "-n", "1", "--log-prefix", "--grace", "1", "--",
		      helper("blocking_server"), "--crash-after", "1", NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);
	slot_pids(cr, first, 1);
	cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0);
	cr_assert(wait_output(&o, "listening 127.0.0.1", 2, 5000), "stdout:\n%s", o.text);
	slot_pids(cr, second, 1);
	cr_assert_neq(first[0], second[0]);
	snprintf(want, sizeof(want), "[0 %d] listening 127.0.0.1 %d\n", (int)second[0], port);
	cr_assert(strstr(o.text, want), "no \"%s\" in:\n%s", want, o.text);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	out_done(&o);
}

/* Without --log-prefix the workers' output is passed through untouched. */
Test(logprefix, without_option_output_is_unprefixed)
{
	struct outfile o;
	struct cr *cr;
	char cmd[1024], want[64];
	int port;

	out_init(&o);
	snprintf(cmd, sizeof(cmd), "echo hello from $CLUSTER_WORKER_ID; "
		 "echo complaint from $CLUSTER_WORKER_ID >&2; exec %s", helper("blocking_server"));
	cr = cr_start(o.path, "-n", "2", "--", "/bin/sh", "-c", cmd, NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "%s", cr->log);
	cr_assert(wait_output(&o, "listening 127.0.0.1", 2, 5000), "stdout:\n%s", o.text);
	cr_assert(!strchr(o.text, '['), "a prefix without --log-prefix:\n%s", o.text);
	cr_assert(!strncmp(o.text, "hello from ", 11) || !strncmp(o.text, "listening ", 10),
		  "%s", o.text);
	cr_assert(strstr(o.text, "hello from 0\n") && strstr(o.text, "hello from 1\n"), "%s", o.text);
	snprintf(want, sizeof(want), "\nlistening 127.0.0.1 %d\n", port);
	cr_assert(strstr(o.text, want) || !strncmp(o.text, want + 1, strlen(want + 1)), "%s", o.text);
	cr_assert(cr_wait_line(cr, "complaint from 0\n", 3000), "%s", cr->log);
	cr_assert(cr_wait_line(cr, "complaint from 1\n", 3000), "%s", cr->log);
	cr_assert(!strstr(cr->log, "] complaint"), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	out_done(&o);
}
