/*
 * test_runtime_dir.c - where the control socket goes when the usual place
 * is not usable, and that cluster-ctl finds it there:
 *   - another user made /tmp/cluster-run-UID first (a directory or a
 *     symlink; XDG_RUNTIME_DIR unset): cluster-run still starts, with its
 *     socket under $HOME/.cluster-run, and cluster-ctl (same user, same
 *     environment) reaches it without -s or -p;
 *   - two masters that are each PID 1 of their own PID namespace
 *     (`unshare -pf --mount-proc`) share /run/cluster-run: both start, with
 *     different socket names, and each answers on its own.
 * Both need root (to be another user, to unshare); skipped otherwise.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char home[64];
static char foreign[64];

static void suite_fini(void)
{
	char cmd[256];

	harness_cleanup();
	harness_run_as_uid = -1;
	if (foreign[0]) {
		rmdir(foreign);
		unlink(foreign);
	}
	if (home[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", home);
	}
	foreign[0] = home[0] = '\0';
}

TestSuite(runtime_dir, .fini = suite_fini, .timeout = 60);

/* Run cluster-ctl ARGS as uid with the current environment; its exit
 * status, its output in out. */
static int ctl_as(uid_t uid, char *out, size_t cap, const char *a1, const char *a2,
		  const char *a3)
{
	const char *argv[] = { cluster_ctl_path(), a1, a2, a3, NULL };
	int p[2], status;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	cr_assert(pipe(p) == 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
			_exit(126);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while (len + 1 < cap && (n = read(p[0], out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(p[0]);
	cr_assert(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A uid nobody uses, so that no other test (or other run) has made its
 * /tmp/cluster-run-UID: setuid() needs no passwd entry. */
static uid_t need_root_and_fresh_uid(void)
{
	uid_t uid = (uid_t)(40000 + getpid() % 20000);

	if (geteuid() != 0)
		cr_skip_test("needs root (to run cluster-run as another user)");
	while (getpwuid(uid))
		uid++;
	return uid;
}

static void foreign_tmp(int symlink_it)
{
	uid_t uid = need_root_and_fresh_uid();
	char want[128], out[4096];
	const char *line;
	struct cr *cr;
	int port;

	snprintf(foreign, sizeof(foreign), "/tmp/cluster-run-%u", (unsigned)uid);
	if (access(foreign, F_OK) == 0) {
		foreign[0] = '\0';
		cr_skip_test("/tmp/cluster-run-%u exists already", (unsigned)uid);
	}
	/* made by another user (root here): not private to nobody */
	if (symlink_it)
		cr_assert(symlink("/tmp", foreign) == 0, "%s", strerror(errno));
	else
		cr_assert(mkdir(foreign, 0700) == 0, "%s", strerror(errno));
	snprintf(home, sizeof(home), "/tmp/cr-home-XXXXXX");
	cr_assert(mkdtemp(home));
	cr_assert(chown(home, uid, uid) == 0);
	cr_assert(chmod(home, 0700) == 0);
	setenv("HOME", home, 1);
	unsetenv("XDG_RUNTIME_DIR");
	harness_run_as_uid = (int)uid;
	cr = cr_start(NULL, "-n", "1", "--", helper("blocking_server"), "--port", "0", NULL);
	harness_run_as_uid = -1;
	port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(port, 0, "cluster-run did not start:\n%s", cr->log);
	snprintf(want, sizeof(want), "control socket %s/.cluster-run/", home);
	line = cr_wait_line(cr, want, 5000);
	cr_assert(line, "socket not in the fallback directory:\n%s", cr->log);
	cr_assert(strstr(cr->log, foreign), "no word about %s:\n%s", foreign, cr->log);
	cr_assert_eq(ctl_as(uid, out, sizeof(out), "status", NULL, NULL), 0,
		     "cluster-ctl did not find it: %s", out);
	cr_assert(strstr(out, "policy"), "%s", out);
	cr_assert_eq(ctl_as(uid, out, sizeof(out), "stop", NULL, NULL), 0, "%s", out);
	cr_assert_eq(cr_wait_exit(cr, 10000), 0, "%s", cr->log);
}

Test(runtime_dir, foreign_tmp_directory) { foreign_tmp(0); }
Test(runtime_dir, foreign_tmp_symlink) { foreign_tmp(1); }

/* The path after "control socket " in cr's log. */
static void socket_path(struct cr *cr, char *path, size_t cap)
{
	const char *line = cr_wait_line(cr, "control socket ", 10000);
	size_t n;

	cr_assert(line, "%s", cr->log);
	line += strlen("control socket ");
	n = strcspn(line, "\n");
	cr_assert_lt(n, cap);
	memcpy(path, line, n);
	path[n] = '\0';
}

Test(runtime_dir, two_pid1_masters)
{
	char p1[128], p2[128], out[4096];
	struct cr *a, *b;
	int status;

	if (geteuid() != 0)
		cr_skip_test("needs root (unshare -p)");
	status = system("unshare -pf --mount-proc true >/dev/null 2>&1");
	if (status != 0)
		cr_skip_test("unshare -pf --mount-proc does not work here");
	setenv("CLUSTER_RUN_WRAPPER", "unshare -pf --mount-proc --kill-child", 1);
	a = cr_start(NULL, "-n", "1", "--", helper("blocking_server"), "--port", "0", NULL);
	b = cr_start(NULL, "-n", "1", "--", helper("blocking_server"), "--port", "0", NULL);
	unsetenv("CLUSTER_RUN_WRAPPER");
	cr_assert_gt(cr_ready_port(a, 0, 20000), 0, "first:\n%s", a->log);
	cr_assert_gt(cr_ready_port(b, 0, 20000), 0, "second:\n%s", b->log);
	socket_path(a, p1, sizeof(p1));
	socket_path(b, p2, sizeof(p2));
	cr_assert(strcmp(p1, p2), "both use %s", p1);
	cr_assert(strstr(p1, "/1.ns"), "%s", p1);
	cr_assert_eq(ctl_as(0, out, sizeof(out), "-s", p1, "stop"), 0, "%s", out);
	cr_assert_eq(ctl_as(0, out, sizeof(out), "-s", p2, "stop"), 0, "%s", out);
	cr_assert_eq(cr_wait_exit(a, 10000), 0, "%s", a->log);
	cr_assert_eq(cr_wait_exit(b, 10000), 0, "%s", b->log);
}

/* Two masters of one user, cluster-ctl without -s/-p: it refuses (1) and
 * names both, so the user can pick one. */
Test(runtime_dir, several_masters_are_listed)
{
	uid_t uid = need_root_and_fresh_uid();
	char out[4096], pid[2][16];
	struct cr *cr[2];
	int i;

	snprintf(home, sizeof(home), "/tmp/cr-home-XXXXXX");
	cr_assert(mkdtemp(home));
	cr_assert(chown(home, uid, uid) == 0);
	cr_assert(chmod(home, 0700) == 0);
	setenv("XDG_RUNTIME_DIR", home, 1);
	harness_run_as_uid = (int)uid;
	for (i = 0; i < 2; i++)
		cr[i] = cr_start(NULL, "-n", "1", "--", helper("blocking_server"), "--port", "0",
				 NULL);
	harness_run_as_uid = -1;
	for (i = 0; i < 2; i++) {
		cr_assert_gt(cr_ready_port(cr[i], 0, 20000), 0, "%s", cr[i]->log);
		snprintf(pid[i], sizeof(pid[i]), "(pid %d)", (int)cr[i]->pid);
	}
	cr_assert_eq(ctl_as(uid, out, sizeof(out), "status", NULL, NULL), 1, "%s", out);
	cr_assert(strstr(out, "several"), "%s", out);
	cr_assert(strstr(out, pid[0]) && strstr(out, pid[1]), "%s", out);
	for (i = 0; i < 2; i++)
		cr_assert_eq(cr_stop(cr[i], SIGTERM, 10000), 0, "%s", cr[i]->log);
}
