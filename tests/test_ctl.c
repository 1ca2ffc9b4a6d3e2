/*
 * test_ctl.c - cluster-ctl against a running cluster-run: status (text and
 * JSON), connection counts, reload, scale, stop, bad commands, finding the
 * master by pid in the default runtime directory, refusing other users
 * (SO_PEERCRED, not only the socket's mode), and the --metrics endpoint.
 *
 * Every test but the default-path one gives cluster-run its own --control
 * socket in a fresh directory: suites run in parallel.
 */
#include "harness.h"
#include "tmpdir.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(ctl, .fini = tmpdir_fini, .timeout = 60);

/* When >= 0, ctl_as runs cluster-ctl on this CPU only, at the lowest
 * priority: the master (pinned there too) then answers before the client
 * gets to write, which is what happens on a busy machine. */
static int pin_cpu = -1;

/* cluster-ctl ARGS..., as uid when uid >= 0; at most 10 s. */
/* In the child: the pinning of other_users_are_refused, then the uid. */
static int become(void *arg)
{
	int uid = *(int *)arg;

	if (pin_cpu >= 0) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(pin_cpu, &one);
		sched_setaffinity(0, sizeof(one), &one);
		if (nice(19) < 0)
			return -1;
	}
	if (uid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 ||
			 setuid((uid_t)uid) < 0))
		return -1;
	return 0;
}

static void ctl_as(struct run *r, int uid, const char *const *argv)
{
	const char *args[16];
	int n = 0;

	args[n++] = cluster_ctl_path();
	while (*argv && n < 15)
		args[n++] = *argv++;
	args[n] = NULL;
	run_capture(r, args, 10000, become, &uid);
}

static void ctl(struct run *r, const char *const *argv)
{
	ctl_as(r, -1, argv);
}

static int exit_code(const struct run *r)
{
	return r->status >= 0 && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* A cluster with its own control socket in a fresh directory. */
struct cluster {
	struct cr *cr;
	int port;
	char dir[64];
	char sock[96];
};

/* extra: up to two more options (NULL when none). */
static void start_cluster(struct cluster *c, const char *workers, const char *extra,
			  const char *extra_value)
{
	const char *argv[16];
	int n = 0;

	tmpdir_new(c->dir, "cr-ctl");
	snprintf(c->sock, sizeof(c->sock), "%s/c.sock", c->dir);
	argv[n++] = "-n";
	argv[n++] = workers;
	argv[n++] = "--control";
	argv[n++] = c->sock;
	if (extra)
		argv[n++] = extra;
	if (extra && extra_value)
		argv[n++] = extra_value;
	argv[n++] = "--";
	argv[n++] = helper("blocking_server");
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n] = NULL;
	c->cr = cr_startv(NULL, argv);
	c->port = cr_ready_port(c->cr, 0, 10000);
	cr_assert(c->port > 0, "%s", c->cr->log);
}

static void stop_cluster(struct cluster *c)
{
	cr_stop(c->cr, SIGTERM, 15000);
}

static void status_of(struct cluster *c, struct run *r, int json)
{
	const char *text[] = { "-s", c->sock, "status", NULL };
	const char *js[] = { "-s", c->sock, "status", "--json", NULL };

	ctl(r, json ? js : text);
	cr_assert_eq(exit_code(r), 0, "status 0x%x\nstdout: %s\nstderr: %s", r->status,
		     r->out, r->err);
}

/* The "SLOT PID STATE ..." rows of a text status. */
static int worker_rows(const char *out, int *slots, pid_t *pids, char states[][16], int max)
{
	const char *line = strstr(out, "\nSLOT");
	int n = 0;

	cr_assert(line, "no worker table:\n%s", out);
	for (line = strchr(line + 1, '\n'); line && line[1] && n < max; line = strchr(line + 1, '\n')) {
		int slot, pid;

		if (sscanf(line + 1, "%d %d %15s", &slot, &pid, states[n]) != 3)
			continue;
		slots[n] = slot;
		pids[n] = (pid_t)pid;
		n++;
	}
	return n;
}

Test(ctl, status_text)
{
	struct cluster c;
	struct run r;
	pid_t kids[8], pids[8];
	int slots[8], n, nkids, i;
	char states[8][16], want[64];

	start_cluster(&c, "2", NULL, NULL);
	status_of(&c, &r, 0);
	cr_assert(strstr(r.out, "policy rr"), "%s", r.out);
	snprintf(want, sizeof(want), "listener 127.0.0.1:%d (tcp)", c.port);
	cr_assert(strstr(r.out, want), "no '%s' in:\n%s", want, r.out);
	n = worker_rows(r.out, slots, pids, states, 8);
	nkids = cr_children(c.cr, kids, 8);
	cr_assert_eq(n, 2, "want 2 worker rows:\n%s", r.out);
	cr_assert_eq(nkids, 2);
	for (i = 0; i < n; i++) {
		cr_assert_eq(slots[i], i, "%s", r.out);
		cr_assert(pid_in(kids, nkids, pids[i]), "pid %d is not a worker:\n%s",
			  (int)pids[i], r.out);
		cr_assert_str_eq(states[i], "ready", "%s", r.out);
	}
	stop_cluster(&c);
}

Test(ctl, status_json)
{
	struct cluster c;
	struct run r;
	pid_t kids[8];
	int nkids, i, depth = 0;
	size_t len;
	char want[64];
	const char *p;

	start_cluster(&c, "2", NULL, NULL);
	status_of(&c, &r, 1);
	len = strlen(r.out);
	cr_assert(len > 2 && r.out[0] == '{' && !strcmp(r.out + len - 2, "}\n"), "%s", r.out);
	for (p = r.out; *p; p++) {     /* balanced, outside strings (no '"' escapes here) */
		if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			cr_assert_geq(--depth, 0, "%s", r.out);
	}
	cr_assert_eq(depth, 0, "unbalanced JSON:\n%s", r.out);
	snprintf(want, sizeof(want), "{\"pid\":%d,", (int)c.cr->pid);
	cr_assert(strstr(r.out, want), "no %s in %s", want, r.out);
	cr_assert(strstr(r.out, "\"policy\":\"rr\""), "%s", r.out);
	cr_assert(strstr(r.out, "\"listeners\":[{\"address\":"), "%s", r.out);
	snprintf(want, sizeof(want), "\"address\":\"127.0.0.1:%d\"", c.port);
	cr_assert(strstr(r.out, want), "no %s in %s", want, r.out);
	cr_assert(strstr(r.out, "\"workers\":[{\"slot\":0,"), "%s", r.out);
	nkids = cr_children(c.cr, kids, 8);
	cr_assert_eq(nkids, 2);
	for (i = 0; i < nkids; i++) {
		snprintf(want, sizeof(want), "\"pid\":%d,\"state\":\"ready\"", (int)kids[i]);
		cr_assert(strstr(r.out, want), "no %s in %s", want, r.out);
	}
	stop_cluster(&c);
}

/* Sum of "handed":N over the workers, and how many have N > 0. */
static long handed(const char *json, int *nonzero)
{
	const char *p = json;
	long sum = 0;

	*nonzero = 0;
	while ((p = strstr(p, "\"handed\":"))) {
		long v = strtol(p + 9, NULL, 10);
		sum += v;
		*nonzero += v > 0;
		p += 9;
	}
	return sum;
}

Test(ctl, handed_counts_grow_under_rr)
{
	struct cluster c;
	struct run r;
	char buf[4096];
	long before, after;
	int i, nz;

	start_cluster(&c, "2", NULL, NULL);
	status_of(&c, &r, 1);
	before = handed(r.out, &nz);
	for (i = 0; i < 10; i++)
		cr_assert(http_get("127.0.0.1", c.port, buf, sizeof(buf), 5000) > 0,
			  "request %d: %s", i, strerror(errno));
	status_of(&c, &r, 1);
	after = handed(r.out, &nz);
	cr_assert_eq(after - before, 10, "handed grew by %ld after 10 requests:\n%s",
		     after - before, r.out);
	cr_assert_eq(nz, 2, "rr should have used both workers:\n%s", r.out);
	cr_assert(strstr(r.out, "\"accepted\":10"), "%s", r.out);
	stop_cluster(&c);
}

struct pidset {
	struct cr *cr;
	pid_t old[8];
	int nold;
	int want;
};

/* want live workers, none of them from the old set. */
static int all_replaced(void *arg)
{
	struct pidset *s = arg;
	pid_t now[16];
	int n = cr_children(s->cr, now, 16), i;

	if (n != s->want)
		return 0;
	for (i = 0; i < n; i++)
		if (pid_in(s->old, s->nold, now[i]))
			return 0;
	return 1;
}

static int count_is(void *arg)
{
	struct pidset *s = arg;
	pid_t now[16];

	return cr_children(s->cr, now, 16) == s->want;
}

Test(ctl, reload_replaces_every_worker)
{
	struct cluster c;
	struct run r;
	struct pidset s;
	char buf[4096];
	const char *argv[4];

	start_cluster(&c, "2", NULL, NULL);
	s.cr = c.cr;
	s.nold = cr_children(c.cr, s.old, 8);
	s.want = 2;
	cr_assert_eq(s.nold, 2);
	argv[0] = "-s";
	argv[1] = c.sock;
	argv[2] = "reload";
	argv[3] = NULL;
	ctl(&r, argv);
	cr_assert_eq(exit_code(&r), 0, "status 0x%x: %s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "reloading"), "%s", r.out);
	cr_assert(cr_wait_line(c.cr, "reload complete", 20000), "%s", c.cr->log);
	cr_assert(wait_until(all_replaced, &s, 10000), "old workers still there:\n%s", c.cr->log);
	cr_assert(http_get("127.0.0.1", c.port, buf, sizeof(buf), 5000) > 0);
	stop_cluster(&c);
}

Test(ctl, scale_up_and_down)
{
	struct cluster c;
	struct run r;
	struct pidset s = { 0 };
	pid_t pids[8];
	int slots[8];
	char states[8][16], buf[4096];
	const char *up[] = { "-s", NULL, "scale", "3", NULL };
	const char *down[] = { "-s", NULL, "scale", "1", NULL };

	start_cluster(&c, "2", NULL, NULL);
	up[1] = down[1] = c.sock;
	s.cr = c.cr;
	ctl(&r, up);
	cr_assert_eq(exit_code(&r), 0, "status 0x%x: %s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "scaling to 3"), "%s", r.out);
	s.want = 3;
	cr_assert(wait_until(count_is, &s, 10000), "not 3 workers:\n%s", c.cr->log);
	status_of(&c, &r, 0);
	cr_assert_eq(worker_rows(r.out, slots, pids, states, 8), 3, "%s", r.out);
	cr_assert(strstr(r.out, "(target 3)"), "%s", r.out);

	ctl(&r, down);
	cr_assert_eq(exit_code(&r), 0, "status 0x%x: %s%s", r.status, r.out, r.err);
	s.want = 1;
	cr_assert(wait_until(count_is, &s, 15000), "not 1 worker:\n%s", c.cr->log);
	status_of(&c, &r, 0);
	cr_assert_eq(worker_rows(r.out, slots, pids, states, 8), 1, "%s", r.out);
	cr_assert_eq(slots[0], 0, "%s", r.out);
	cr_assert(http_get("127.0.0.1", c.port, buf, sizeof(buf), 5000) > 0);
	stop_cluster(&c);
}

Test(ctl, stop_ends_with_status_0)
{
	struct cluster c;
	struct run r;
	pid_t kids[8];
	int n, i, st;
	const char *argv[] = { "-s", NULL, "stop", NULL };

	start_cluster(&c, "2", NULL, NULL);
	argv[1] = c.sock;
	n = cr_children(c.cr, kids, 8);
	ctl(&r, argv);
	cr_assert_eq(exit_code(&r), 0, "status 0x%x: %s%s", r.status, r.out, r.err);
	st = cr_wait_exit(c.cr, 15000);
	cr_assert(st >= 0, "still running after stop:\n%s", c.cr->log);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x\n%s", st, c.cr->log);
	for (i = 0; i < n; i++)
		cr_assert(!pid_alive(kids[i]), "worker %d still running", (int)kids[i]);
	cr_assert(access(c.sock, F_OK) < 0, "the control socket file was left behind");
}

Test(ctl, bad_commands)
{
	struct cluster c;
	struct run r;
	const char *unknown[] = { "-s", NULL, "frobnicate", NULL };
	const char *scale0[] = { "-s", NULL, "scale", "0", NULL };
	const char *scalex[] = { "-s", NULL, "scale", "many", NULL };
	const char *bogus[] = { "-s", NULL, "status", "--bogus", NULL };
	const char *help[] = { "--help", NULL };
	const char *version[] = { "--version", NULL };
	const char *none[] = { "-s", NULL, NULL };
	const char *badpid[] = { "-p", "notapid", "status", NULL };
	const char *nowhere[] = { "-s", "/nonexistent/c.sock", "status", NULL };
	char buf[4096];

	start_cluster(&c, "1", NULL, NULL);
	unknown[1] = scale0[1] = scalex[1] = none[1] = bogus[1] = c.sock;
	/* usage errors are found by cluster-ctl itself: status 2 (README) */
	ctl(&r, unknown);
	cr_assert_eq(exit_code(&r), 2, "status 0x%x: %s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.err, "unknown command") && strstr(r.err, "frobnicate"), "%s", r.err);
	cr_assert(!strncmp(r.err, "cluster-ctl: ", 13), "%s", r.err);
	ctl(&r, scale0);
	cr_assert_eq(exit_code(&r), 2, "status 0x%x: %s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.err, "scale"), "%s", r.err);
	ctl(&r, scalex);
	cr_assert_eq(exit_code(&r), 2, "status 0x%x: %s%s", r.status, r.out, r.err);
	ctl(&r, bogus);
	cr_assert_eq(exit_code(&r), 2, "status 0x%x: %s%s", r.status, r.out, r.err);
	cr_assert(!strstr(r.err, "unknown command"), "status --bogus: %s", r.err);
	ctl(&r, help);
	cr_assert_eq(exit_code(&r), 0, "--help: status 0x%x: %s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "usage"), "%s", r.out);
	ctl(&r, version);
	cr_assert_eq(exit_code(&r), 0, "--version: status 0x%x: %s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "cluster-ctl "), "%s", r.out);
	ctl(&r, none);
	cr_assert_eq(exit_code(&r), 2, "no command: status 0x%x: %s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.err, "usage"), "%s", r.err);
	ctl(&r, badpid);
	cr_assert_eq(exit_code(&r), 2, "-p notapid: status 0x%x: %s%s", r.status, r.out, r.err);
	ctl(&r, nowhere);
	cr_assert_eq(exit_code(&r), 1, "no master: status 0x%x: %s%s", r.status, r.out, r.err);
	cr_assert(strstr(r.err, "cannot reach"), "%s", r.err);
	/* the cluster did not mind */
	cr_assert(http_get("127.0.0.1", c.port, buf, sizeof(buf), 5000) > 0);
	cr_assert(cr_wait_exit(c.cr, 0) < 0);
	stop_cluster(&c);
}

Test(ctl, by_pid_in_the_default_runtime_directory)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "--", helper("blocking_server"), "--port", "0",
				 NULL);
	struct run r;
	char pid[16], want[64];
	const char *argv[] = { "-p", pid, "status", NULL };
	const char *line;

	cr_assert(cr_ready_port(cr, 0, 10000) > 0, "%s", cr->log);
	line = cr_wait_line(cr, "control socket ", 1000);
	cr_assert(line, "no control socket announced:\n%s", cr->log);
	snprintf(want, sizeof(want), "/%d.sock\n", (int)cr->pid);
	cr_assert(strstr(line, want), "the default socket is not named after the pid:\n%s",
		  cr->log);
	snprintf(pid, sizeof(pid), "%d", (int)cr->pid);
	ctl(&r, argv);
	cr_assert_eq(exit_code(&r), 0, "status 0x%x: %s%s", r.status, r.out, r.err);
	snprintf(want, sizeof(want), "cluster-run pid %d,", (int)cr->pid);
	cr_assert(strstr(r.out, want), "%s", r.out);
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
}

Test(ctl, other_users_are_refused)
{
	struct cluster c;
	struct run r;
	const char *argv[] = { "-s", NULL, "status", NULL };
	const char *stop[] = { "-s", NULL, "stop", NULL };
	int i;

	if (geteuid() != 0)
		cr_skip_test("needs root to run cluster-ctl as another user");
	start_cluster(&c, "1", NULL, NULL);
	argv[1] = stop[1] = c.sock;
	/* Open the file system's door wide: only SO_PEERCRED is left to refuse. */
	cr_assert(chmod(c.dir, 0755) == 0 && chmod(c.sock, 0777) == 0);
	/* Both on one CPU, the client at the lowest priority: the master's
	 * answer tends to come before the client has sent its line. */
	{
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(0, &one);
		if (sched_setaffinity(c.cr->pid, sizeof(one), &one) == 0)
			pin_cpu = 0;
	}
	/* Several times: whether the master's answer comes before or after
	 * cluster-ctl sends its line is a race, and both must end the same. */
	for (i = 0; i < 10; i++) {
		ctl_as(&r, 65534, argv);
		cr_assert_neq(exit_code(&r), 98, "cannot become uid 65534");
		cr_assert_eq(exit_code(&r), 1, "attempt %d as uid 65534: wait status 0x%x "
			     "(signal %d)\nstdout: %s\nstderr: %s", i, r.status,
			     WIFSIGNALED(r.status) ? WTERMSIG(r.status) : 0, r.out, r.err);
		cr_assert(strstr(r.err, "permission denied"), "attempt %d: stderr: %s", i, r.err);
		cr_assert(!strstr(r.out, "SLOT"), "the status leaked: %s", r.out);
	}
	ctl_as(&r, 65534, stop);
	cr_assert_neq(exit_code(&r), 0);
	cr_assert(cr_wait_exit(c.cr, 300) < 0, "another user stopped cluster-run");
	stop_cluster(&c);
}

Test(ctl, metrics_endpoint)
{
	struct cluster c;
	char where[32], buf[16384];
	int port = free_port(), i, n;

	snprintf(where, sizeof(where), "127.0.0.1:%d", port);
	start_cluster(&c, "2", "--metrics", where);
	cr_assert(strstr(c.cr->log, "metrics on http://"), "%s", c.cr->log);
	for (i = 0; i < 4; i++)
		cr_assert(http_get("127.0.0.1", c.port, buf, sizeof(buf), 5000) > 0);
	n = http_get("127.0.0.1", port, buf, sizeof(buf), 5000);
	cr_assert(n > 0, "GET /metrics: %s\n%s", strerror(errno), c.cr->log);
	cr_assert(!strncmp(buf, "HTTP/1.0 200 ", 13) || !strncmp(buf, "HTTP/1.1 200 ", 13), "%s",
		  buf);
	cr_assert(strstr(buf, "\ncluster_run_workers 2\n"), "%s", buf);
	cr_assert(strstr(buf, "\ncluster_run_worker_up{slot=\"0\""), "%s", buf);
	cr_assert(strstr(buf, "\ncluster_run_worker_up{slot=\"1\""), "%s", buf);
	cr_assert(strstr(buf, "# TYPE cluster_run_workers gauge"), "%s", buf);
	stop_cluster(&c);
}

/* One raw line to the control socket; the whole answer in buf (the master
 * closes after it).  Returns its length. */
static int raw_line(const char *sock, const char *line, size_t len, char *buf, size_t cap)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct pollfd p;
	size_t got = 0;
	ssize_t n;

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", sock);
	cr_assert(fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0);
	cr_assert(send(fd, line, len, MSG_NOSIGNAL) == (ssize_t)len);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	/* well under the master's 5 s client timeout: the answer must not
	 * be that timeout's close */
	while (got + 1 < cap && poll(&p, 1, 3000) == 1 &&
	       (n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return (int)got;
}

Test(ctl, raw_lines)
{
	static const char nul[] = "status\0junk\n";
	struct cluster c;
	char buf[4096];

	start_cluster(&c, "1", NULL, NULL);
	raw_line(c.sock, nul, sizeof(nul) - 1, buf, sizeof(buf));
	cr_assert(!strncmp(buf, "error: ", 7) && strstr(buf, "NUL"), "NUL byte: '%s'", buf);
	raw_line(c.sock, "scale 1 \n", 9, buf, sizeof(buf));
	cr_assert(!strncmp(buf, "ok\n", 3), "'scale 1 ' (trailing blank): '%s'", buf);
	raw_line(c.sock, " status\t\r\n", 10, buf, sizeof(buf));
	cr_assert(!strncmp(buf, "ok\n", 3), "' status\\t': '%s'", buf);
	raw_line(c.sock, "status --bogus\n", 15, buf, sizeof(buf));
	cr_assert(!strncmp(buf, "error: ", 7) && !strstr(buf, "unknown command"), "'%s'", buf);
	stop_cluster(&c);
}
