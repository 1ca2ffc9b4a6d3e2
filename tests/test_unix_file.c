/*
 * test_unix_file.c - cluster-run removes at exit the unix socket file it
 * bound and nothing else, and as root for --user it never follows a
 * symlink on the socket's path to remove it (the file itself is made with
 * the workers' user's rights, who may follow what they like: test_user.c).
 *
 * The swaps a worker could make (it owns a directory on the path) are made
 * here by the test while cluster-run runs.  Tests that need root skip with
 * a message without it.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
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

TestSuite(unix_file, .fini = tmpdir_fini, .timeout = 60);

/* A socket file at path that is not cluster-run's (bound and closed). */
static void make_socket_file(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&un, sizeof(un)) == 0, "bind %s: %s",
		  path, strerror(errno));
	close(fd);
}

static int is_socket(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static struct cr *serve(const char *path, const char *user)
{
	struct cr *cr;

	if (user)
		cr = cr_start(NULL, "--user", user, "-n", "2", "--control", "none", "--",
			      helper("unix_server"), "--path", path, NULL);
	else
		cr = cr_start(NULL, "-n", "2", "--control", "none", "--",
			      helper("unix_server"), "--path", path, NULL);
	cr_assert(cr_wait_line(cr, " listening\n", 10000), "%s", cr->log);
	cr_assert(is_socket(path), "%s is not there\n%s", path, cr->log);
	return cr;
}

/* Someone moved our socket away and put their own at the path. */
Test(unix_file, another_file_at_the_path_is_left_alone)
{
	char dir[64], path[96], moved[96];
	struct cr *cr;

	tmpdir_new(dir, "cr-ufile");
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(moved, sizeof(moved), "%s/moved.sock", dir);
	cr = serve(path, NULL);
	cr_assert_eq(rename(path, moved), 0, "%s", strerror(errno));
	make_socket_file(path);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	cr_assert(is_socket(path), "cluster-run removed a socket file it did not create");
}

/* Our own file is still removed, as before. */
Test(unix_file, own_file_removed_at_exit)
{
	char dir[64], path[96];
	struct cr *cr;

	tmpdir_new(dir, "cr-ufile");
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	cr = serve(path, NULL);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	cr_assert(!is_socket(path), "socket file left behind after exit");
}

static struct passwd *need_root_and_nobody(void)
{
	struct passwd *pw;

	if (geteuid() != 0)
		cr_skip_test("--user needs cluster-run to run as root; this test is not root");
	pw = getpwnam("nobody");
	if (!pw)
		cr_skip_test("no user 'nobody' on this machine");
	return pw;
}

/* A directory of nobody's, where its program may make its socket. */
static void give(const char *dir, const struct passwd *pw)
{
	cr_assert(chown(dir, pw->pw_uid, pw->pw_gid) == 0, "chown %s: %s", dir, strerror(errno));
}

/* --user: a directory on the path swapped for a symlink to a directory
 * holding another socket of the same name.  root must not remove it. */
Test(unix_file, user_symlinked_directory_not_followed_at_exit)
{
	char dir[64], sub[96], old[96], victim[96], path[128], bait[128];
	struct passwd *pw = need_root_and_nobody();
	struct cr *cr;

	tmpdir_new(dir, "cr-ufile");
	give(dir, pw);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(old, sizeof(old), "%s/sub.old", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(path, sizeof(path), "%s/s.sock", sub);
	snprintf(bait, sizeof(bait), "%s/s.sock", victim);
	cr_assert(mkdir(sub, 0755) == 0 && mkdir(victim, 0755) == 0);
	give(sub, pw);
	make_socket_file(bait);
	cr = serve(path, "nobody");
	cr_assert(rename(sub, old) == 0 && symlink(victim, sub) == 0, "%s", strerror(errno));
	cr_stop(cr, SIGTERM, 15000);
	cr_assert(is_socket(bait), "root followed a symlink on the path and removed %s\n%s", bait,
		  cr->log);
}

/* --user: a path through a symlink is the user's to follow when the file is
 * made (it is made as that user, who owns it), but root does not follow it
 * at exit: the file is left in place, and cluster-run says so. */
Test(unix_file, user_socket_through_a_symlink_left_at_exit)
{
	char dir[64], real[96], link[96], path[128];
	struct passwd *pw = need_root_and_nobody();
	struct stat st;
	struct cr *cr;

	tmpdir_new(dir, "cr-ufile");
	give(dir, pw);
	snprintf(real, sizeof(real), "%s/real", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	snprintf(path, sizeof(path), "%s/s.sock", link);
	cr_assert(mkdir(real, 0755) == 0 && symlink(real, link) == 0);
	give(real, pw);
	cr = serve(path, "nobody");
	cr_assert(cr_wait_line(cr, "a symlink or \"..\" on the path", 2000), "%s", cr->log);
	cr_assert(lstat(path, &st) == 0 && st.st_uid == pw->pw_uid,
		  "the socket file should be nobody's (uid %u)", (unsigned)st.st_uid);
	cr_stop(cr, SIGTERM, 15000);
	cr_assert(is_socket(path), "root removed a file through a symlink\n%s", cr->log);
}
