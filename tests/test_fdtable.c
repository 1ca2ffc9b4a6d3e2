/*
 * test_fdtable.c - the shim's table of clustered fds, in process
 * (shim/fdtable.c compiled into this suite; shim_warn is stubbed): an fd
 * is known by (fd, st_dev, st_ino), so a number reused for another file is
 * no longer clustered; removing the last fd of a listener says so; a full
 * table refuses and warns; connection tracking is per fd number.
 */
#include "../shim/shim.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

static int warnings;

void shim_warn(const char *fmt, ...)
{
	(void)fmt;
	warnings++;
}

TestSuite(fdtable, .timeout = 30);

Test(fdtable, reused_number_is_not_clustered)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), other;

	cr_assert(fd >= 0);
	cr_assert_eq(fdtable_add(fd, 3), 0);
	cr_assert_eq(fdtable_find(fd), 3);
	cr_assert_eq(fdtable_find_checked(fd), 3);
	close(fd);
	other = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(other, fd, "the number was not reused (test setup)");
	cr_assert_eq(fdtable_find_checked(other), -1, "a reused number is still clustered");
	cr_assert_eq(fdtable_find(other), -1, "the stale entry was not dropped");
	close(other);
}

Test(fdtable, last_fd_of_a_listener)
{
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC), b = dup(a), last;

	cr_assert(a >= 0 && b >= 0);
	cr_assert_eq(fdtable_add(a, 5), 0);
	cr_assert_eq(fdtable_add(b, 5), 0);
	cr_assert_eq(fdtable_remove(a, &last), 5);
	cr_assert_eq(last, 0, "b still holds listener 5");
	cr_assert_eq(fdtable_remove(b, &last), 5);
	cr_assert_eq(last, 1);
	cr_assert_eq(fdtable_remove(b, &last), -1, "removed twice");
	close(a);
	close(b);
}

Test(fdtable, full_table_refuses_and_warns)
{
	int fds[200], n, i, refused = 0;

	for (n = 0; n < 200; n++) {
		fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		cr_assert(fds[n] >= 0);
		refused += fdtable_add(fds[n], 1) < 0;
	}
	cr_assert_gt(refused, 0, "200 fds in a table of 128");
	cr_assert_eq(warnings, refused);
	for (i = 0; i < n; i++)
		close(fds[i]);
}

Test(fdtable, connection_tracking)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	cr_assert(fd >= 0);
	cr_assert_eq(conn_peek(fd), -1);
	conn_track(fd, 7);
	cr_assert_eq(conn_peek(fd), 0);
	cr_assert_geq(conn_tracked_max(), fd);
	cr_assert_eq(conn_untrack(fd), 7);
	cr_assert_eq(conn_untrack(fd), -1, "untracked twice");
	close(fd);
}
