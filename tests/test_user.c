/*
 * test_user.c - --user: cluster-run started as root binds for its workers
 * (ports below 1024 included) and runs them as another user; an unknown
 * user or group is a command-line error.  And, tested as an attacker
 * would, nothing more than the user may have: a unix socket is bound with
 * the user's rights (it belongs to the user, and cannot be made in a
 * directory only root may write); a root service's SO_REUSEPORT group is
 * not joined (the start fails, as the program's own bind would as that
 * user); a worker that serves gets no privileged port, even while another
 * slot never listens.  Tests that need root skip with a message without it.
 */
#include "harness.h"
#include "tmpdir.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* The native "root service" of a test, killed even when an assertion ends
 * the test early. */
static pid_t service;

static void cleanup(void)
{
	if (service > 0) {
		kill(service, SIGKILL);
		waitpid(service, NULL, 0);
		service = 0;
	}
	tmpdir_fini();
}

TestSuite(user, .fini = cleanup, .timeout = 90);

/* Whether uid can execute path (every directory on the way included). */
static int user_can_run(uid_t uid, gid_t gid, const char *path)
{
	pid_t pid = fork();
	int st;

	cr_assert(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(2);
		_exit(access(path, X_OK) == 0 ? 0 : 1);
	}
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* run_capture's setup: become uid (and its number as gid: nobody's). */
static int drop_to(void *arg)
{
	struct passwd *pw = getpwuid((uid_t)*(int *)arg);

	if (!pw || setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		return -1;
	return 0;
}

static void need_root_and_nobody(uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	if (geteuid() != 0)
		cr_skip_test("--user needs cluster-run to run as root; this test is not root");
	pw = getpwnam("nobody");
	if (!pw)
		cr_skip_test("no user 'nobody' on this machine");
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (!user_can_run(*uid, *gid, helper("blocking_server")))
		cr_skip_test("nobody cannot run the helpers in %s (a build directory other "
			     "users cannot read?)", getenv("HELPERS_DIR"));
}

/* "Uid:\treal\teffective\tsaved\tfs" (and Gid:) from /proc/PID/status. */
static int proc_ids(pid_t pid, const char *key, unsigned ids[4])
{
	char path[64], line[256];
	size_t klen = strlen(key);
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen))
			found = sscanf(line + klen, "%u %u %u %u", &ids[0], &ids[1], &ids[2],
				       &ids[3]) == 4;
	fclose(f);
	return found;
}

static void assert_runs_as(pid_t pid, uid_t uid, gid_t gid)
{
	unsigned ids[4];
	int i;

	cr_assert(proc_ids(pid, "Uid:", ids), "no Uid line for pid %d", (int)pid);
	for (i = 0; i < 4; i++)
		cr_assert_eq(ids[i], uid, "pid %d: Uid %u %u %u %u, want all %u", (int)pid,
			     ids[0], ids[1], ids[2], ids[3], (unsigned)uid);
	cr_assert(proc_ids(pid, "Gid:", ids), "no Gid line for pid %d", (int)pid);
	for (i = 0; i < 4; i++)
		cr_assert_eq(ids[i], gid, "pid %d: Gid %u %u %u %u, want all %u", (int)pid,
			     ids[0], ids[1], ids[2], ids[3], (unsigned)gid);
}

Test(user, workers_run_as_user_on_a_privileged_port)
{
	uid_t uid;
	gid_t gid;
	struct cr *cr;
	pid_t kids[8];
	char buf[4096], val[32];
	unsigned ids[4];
	int n, i, port, seen[2] = { 0, 0 };

	need_root_and_nobody(&uid, &gid);
	if (!port_free(80, 0))
		cr_skip_test("port 80 on 127.0.0.1 is taken on this machine");
	cr = cr_start(NULL, "--user", "nobody", "-n", "2", "--control", "none", "--",
		      helper("blocking_server"), "--reuseaddr", "--port", "80", NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert_eq(port, 80, "no worker listening on port 80:\n%s", cr->log);
	n = cr_children(cr, kids, 8);
	cr_assert_eq(n, 2, "want 2 workers, found %d\n%s", n, cr->log);
	for (i = 0; i < n; i++)
		assert_runs_as(kids[i], uid, gid);
	cr_assert(proc_ids(cr->pid, "Uid:", ids) && ids[1] == 0,
		  "the master should stay root (it binds for the workers)");
	for (i = 0; i < 10; i++) {
		int w;

		cr_assert(http_get("127.0.0.1", 80, buf, sizeof(buf), 5000) > 0,
			  "request %d to port 80: %s\n%s", i, strerror(errno), cr->log);
		cr_assert(strstr(buf, " 200 "), "%s", buf);
		cr_assert(body_value(buf, "port", val, sizeof(val)) && !strcmp(val, "80"), "%s",
			  buf);
		w = response_worker(buf);
		if (w >= 0 && w < 2)
			seen[w] = 1;
	}
	cr_assert(seen[0] && seen[1], "both workers (as nobody) should have answered");
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
	cr_assert(port_free(80, 0), "port 80 still bound after the stop");
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void refused(const char *spec, const char *needle)
{
	struct cr *cr = cr_start(NULL, "--user", spec, "-n", "1", "--control", "none", "--",
				 "true", NULL);
	int st = cr_wait_exit(cr, 5000);

	cr_assert(st >= 0, "--user %s: still running:\n%s", spec, cr->log);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "--user %s: wait status 0x%x\n%s", spec,
		  st, cr->log);
	cr_assert_eq(count_lines(cr->log), 1, "--user %s: want one line:\n%s", spec, cr->log);
	cr_assert(!strncmp(cr->log, "cluster-run: ", 13), "%s", cr->log);
	cr_assert(strstr(cr->log, needle), "--user %s: no '%s' in: %s", spec, needle, cr->log);
}

Test(user, unknown_user_or_group)
{
	if (geteuid() != 0) {
		/* without root, any --user is refused the same way */
		refused("nobody", "root");
		return;
	}
	refused("nosuchuser", "nosuchuser");
	refused("nobody:nosuchgroup", "nosuchgroup");
}

static int answers_unix(const char *path, char *buf, size_t cap)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 5, 0 };

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	return len > 0;
}

Test(user, unix_socket_belongs_to_the_user)
{
	uid_t uid;
	gid_t gid;
	char dir[64], path[96], buf[4096];
	struct stat st;
	struct cr *cr;
	pid_t kids[4];
	int n;

	need_root_and_nobody(&uid, &gid);
	tmpdir_new(dir, "cr-user");
	cr_assert(chown(dir, uid, gid) == 0, "chown %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	cr = cr_start(NULL, "--user", "nobody", "-n", "2", "--control", "none", "--",
		      helper("unix_server"), "--path", path, NULL);
	cr_assert(cr_wait_line(cr, " listening\n", 10000), "%s", cr->log);
	n = cr_children(cr, kids, 4);
	cr_assert_eq(n, 2, "%s", cr->log);
	assert_runs_as(kids[0], uid, gid);
	cr_assert(lstat(path, &st) == 0, "%s: %s\n%s", path, strerror(errno), cr->log);
	cr_assert(S_ISSOCK(st.st_mode), "%s is not a socket", path);
	cr_assert_eq(st.st_uid, uid, "%s is owned by uid %u, want %u", path, (unsigned)st.st_uid,
		     (unsigned)uid);
	cr_assert_eq(st.st_gid, gid, "%s has gid %u, want %u", path, (unsigned)st.st_gid,
		     (unsigned)gid);
	cr_assert(answers_unix(path, buf, sizeof(buf)), "no answer on %s\n%s", path, cr->log);
	cr_assert(strstr(buf, "worker="), "%s", buf);
	cr_stop(cr, SIGTERM, 15000);
}

/* A directory only root may write (mode 755, root's): the nobody program
 * could not make its socket there, and under cluster-run it cannot either. */
Test(user, unix_socket_in_a_root_only_directory_is_refused)
{
	uid_t uid;
	gid_t gid;
	char dir[64], path[96];
	struct stat st;
	struct cr *cr;
	int status;

	need_root_and_nobody(&uid, &gid);
	tmpdir_new(dir, "cr-user");
	cr_assert(chmod(dir, 0755) == 0);
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	cr = cr_start(NULL, "--user", "nobody", "-n", "2", "--max-restarts", "1", "--control",
		      "none", "--", helper("unix_server"), "--path", path, NULL);
	status = cr_wait_exit(cr, 15000);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x\n%s", status,
		  cr->log);
	cr_assert(strstr(cr->log, "unix_server: bind"), "%s", cr->log);
	cr_assert(strstr(cr->log, "Permission denied"), "%s", cr->log);
	cr_assert(lstat(path, &st) < 0 && errno == ENOENT, "%s was made", path);
}

/* A native server as uid (fork; -1: as we are), SO_REUSEPORT set; its pid
 * once it listens on port. */
static pid_t native_reuseport_server(int port, int uid, gid_t gid)
{
	char pbuf[16];
	pid_t pid;
	int i;

	snprintf(pbuf, sizeof(pbuf), "%d", port);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		if (uid >= 0 && (setgroups(0, NULL) < 0 || setgid(gid) < 0 ||
				 setuid((uid_t)uid) < 0))
			_exit(2);
		execl(helper("blocking_server"), "blocking_server", "--reuseaddr", "--reuseport",
		      "--port", pbuf, (char *)NULL);
		_exit(127);
	}
	service = pid;
	for (i = 0; i < 250 && port_free(port, 0); i++)
		sleep_ms(20);
	cr_assert(!port_free(port, 0), "the native server does not listen");
	return pid;
}

/* The case: as nobody, a worker took most of the connections of a
 * root service that uses SO_REUSEPORT on its port.  The program itself, run
 * as nobody, gets EADDRINUSE; under cluster-run the start stops, and the
 * service keeps every connection. */
Test(user, root_services_reuseport_group_is_not_joined)
{
	static const char *const policies[] = { "rr", "shared", "reuseport" };
	uid_t uid;
	gid_t gid;
	int port = free_port(), i, k;
	pid_t root_service;
	struct run r;
	char pbuf[16], want[128];

	need_root_and_nobody(&uid, &gid);
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	root_service = native_reuseport_server(port, -1, 0);
	{
		const char *argv[] = { helper("blocking_server"), "--reuseaddr", "--reuseport",
				       "--port", pbuf, NULL };
		int as_nobody = (int)uid;

		run_capture(&r, argv, 5000, drop_to, &as_nobody);
		cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1 &&
			  strstr(r.err, "Address already in use"),
			  "natively, as nobody: status 0x%x\n%s", r.status, r.err);
	}
	for (k = 0; k < 3; k++) {
		const char *argv[] = { cluster_run_path(), "--user", "nobody", "-n", "2", "-p",
				       policies[k], "--control", "none", "--",
				       helper("blocking_server"), "--reuseaddr", "--reuseport",
				       "--port", pbuf, NULL };

		run_capture(&r, argv, 10000, NULL, NULL);
		snprintf(want, sizeof(want), "cannot bind 127.0.0.1:%d: Address already in use, "
			 "held by blocking_server (pid %d, uid 0)", port, (int)root_service);
		cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1, "%s: status 0x%x\n%s",
			  policies[k], r.status, r.err);
		cr_assert(strstr(r.err, want), "%s: want '%s' in:\n%s", policies[k], want, r.err);
		for (i = 0; i < 10; i++) {
			int slot;
			pid_t pid;

			cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0);
			cr_assert_eq(pid, root_service, "%s: a request went to pid %d", policies[k],
				     (int)pid);
		}
	}
	kill(root_service, SIGTERM);
	waitpid(root_service, NULL, 0);
	service = 0;
}

/* One GET to the serving slot; under reuseport, a connection steered to
 * the slot that never listens waits in its queue: ask again. */
static int get_served(int port, char *buf, size_t cap)
{
	int i;

	for (i = 0; i < 30; i++)
		if (http_get("127.0.0.1", port, buf, cap, 1000) > 0)
			return 1;
	return 0;
}

/* The case: while one slot never listens, an already-serving
 * nobody worker had the master bind port 9.  Each slot's start-up is its
 * own: slot 1 never listens, slot 0 serves, and its late bind of port 9 is
 * made with nobody's rights (refused); an unprivileged port still works;
 * --allow-bind lets the master bind port 9 for it. */
static void late_bind(const char *policy, const char *late_port, int allow, const char *want)
{
	int port = free_port(), n = 0;
	char pbuf[16], buf[4096], val[64];
	const char *argv[24];
	struct cr *cr;

	snprintf(pbuf, sizeof(pbuf), "%d", port);
	argv[n++] = "--user";
	argv[n++] = "nobody";
	argv[n++] = "-n";
	argv[n++] = "2";
	argv[n++] = "-p";
	argv[n++] = policy;
	argv[n++] = "--control";
	argv[n++] = "none";
	if (allow)
		argv[n++] = "--allow-bind";
	argv[n++] = "--";
	argv[n++] = helper("blocking_server");
	argv[n++] = "--port";
	argv[n++] = pbuf;
	argv[n++] = "--stall-worker";
	argv[n++] = "1";
	argv[n++] = "--late-bind";
	argv[n++] = late_port;
	argv[n] = NULL;
	cr = cr_startv(NULL, argv);
	cr_assert_eq(cr_port(cr, 0, 10000), port, "%s", cr->log);
	cr_assert(get_served(port, buf, sizeof(buf)), "%s: no answer\n%s", policy, cr->log);
	cr_assert_eq(response_worker(buf), 0, "%s", buf);
	cr_assert(body_value(buf, "late_bind", val, sizeof(val)), "%s", buf);
	cr_assert_str_eq(val, want, "%s, late bind of port %s: %s\n%s", policy, late_port, val,
			 cr->log);
	cr_stop(cr, SIGTERM, 15000);
}

Test(user, serving_worker_gets_no_privileged_port)
{
	static const char *const policies[] = { "rr", "shared", "reuseport" };
	uid_t uid;
	gid_t gid;
	char high[16];
	int k;

	need_root_and_nobody(&uid, &gid);
	if (!port_free(9, 0))
		cr_skip_test("port 9 on 127.0.0.1 is taken on this machine");
	for (k = 0; k < 3; k++) {
		late_bind(policies[k], "9", 0, "Permission denied");
		cr_assert(port_free(9, 0), "%s: port 9 was bound", policies[k]);
		snprintf(high, sizeof(high), "%d", free_port());
		late_bind(policies[k], high, 0, "ok");
	}
	late_bind("rr", "9", 1, "ok");
}
