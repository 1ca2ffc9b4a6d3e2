/*
 * test_unix.c - unix stream listeners under every policy, including the
 * common pattern of unlink(path) before bind(): the second worker must not
 * remove the master's live socket.  The socket file gets the program's
 * umask, a relative path works, and the file is removed at exit.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(unix_sockets, .fini = harness_cleanup, .timeout = 60);

static int unix_get(const char *path, char *buf, size_t cap)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		close(fd);
		return -1;
	}
	if (write(fd, req, sizeof(req) - 1) < 0)
		return -1;
	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
	return (int)n;
}

static void serve_unix(const char *policy, const char *path, int want_workers)
{
	struct cr *cr = cr_start(NULL, "-n", "3", "-p", policy, "--", helper("unix_server"),
				 "--path", path, "--unlink", "--umask", "077", NULL);
	int i, seen[3] = { 0 }, n = 0;
	char buf[4096], needle[256];
	struct stat st;

	snprintf(needle, sizeof(needle), "%s (unix) shared by 3 workers", path);
	cr_assert(cr_wait_line(cr, "(unix) shared by", 10000), "%s", cr->log);
	cr_assert(cr_wait_line(cr, " listening\n", 10000), "%s", cr->log);
	/* every worker unlinked the path before binding: it must still be there */
	cr_assert(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "socket file gone");
	cr_assert_eq(st.st_mode & 0777, 0700, "umask not honoured: %o", st.st_mode & 0777);
	for (i = 0; i < 30; i++) {
		char val[16];
		cr_assert(unix_get(path, buf, sizeof(buf)) > 0, "request %d failed", i);
		cr_assert(body_value(buf, "worker", val, sizeof(val)), "%s", buf);
		n += !seen[atoi(val) % 3]++;
	}
	cr_assert_geq(n, want_workers);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	cr_assert(stat(path, &st) < 0, "socket file left behind after exit");
}

static void in_tmp(const char *policy, int want)
{
	char dir[] = "/tmp/cr-unix-XXXXXX", path[128];

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	serve_unix(policy, path, want);
	rmdir(dir);
}

Test(unix_sockets, rr) { in_tmp("rr", 3); }
Test(unix_sockets, leastconn) { in_tmp("leastconn", 3); }
Test(unix_sockets, shared) { in_tmp("shared", 1); }

Test(unix_sockets, reuseport_falls_back_to_shared)
{
	char dir[] = "/tmp/cr-unix-XXXXXX", path[128];
	struct cr *cr;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	cr = cr_start(NULL, "-n", "2", "-p", "reuseport", "--", helper("unix_server"),
		      "--path", path, NULL);
	cr_assert(cr_wait_line(cr, "unix sockets have no SO_REUSEPORT", 10000), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0);
	rmdir(dir);
}

/* A relative path is the worker's, not the master's: cluster-run runs in
 * the same directory here, so the file appears right here. */
Test(unix_sockets, relative_path)
{
	char dir[] = "/tmp/cr-unix-XXXXXX", old[512];

	cr_assert(getcwd(old, sizeof(old)) && mkdtemp(dir) && chdir(dir) == 0);
	serve_unix("rr", "rel.sock", 3);
	cr_assert(chdir(old) == 0);
	rmdir(dir);
}
