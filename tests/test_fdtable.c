/*
 * test_fdtable.c - the shim's table of clustered fds, in process
 * (shim/fdtable.c compiled into this suite; shim_warn is stubbed): an fd
 * is known by (fd, st_dev, st_ino), so a number reused for another file is
 * no longer clustered; removing the last fd of a listener says so (once,
 * when two threads remove its last two fds at once); a full table refuses
 * and warns; connection tracking is per fd number; a signal handler may
 * remove an fd while its thread is inside the table; a vfork() child
 * leaves our entries alone.
 */
#include "../shim/shim.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
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

/* Two threads close the last two fds of one listener at once, 2000 times:
 * exactly one of them hears it was the last (the master is told once). */
struct remover {
	int fd;
	int last;
	pthread_barrier_t *go;
};

static void *remove_one(void *arg)
{
	struct remover *r = arg;

	pthread_barrier_wait(r->go);
	fdtable_remove(r->fd, &r->last);
	return NULL;
}

Test(fdtable, last_fd_told_once_under_races)
{
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC), b = dup(a), round;
	pthread_barrier_t go;

	cr_assert(a >= 0 && b >= 0);
	pthread_barrier_init(&go, NULL, 2);
	for (round = 0; round < 2000; round++) {
		struct remover ra = { a, 0, &go }, rb = { b, 0, &go };
		pthread_t ta, tb;

		cr_assert_eq(fdtable_add(a, 9), 0);
		cr_assert_eq(fdtable_add(b, 9), 0);
		pthread_create(&ta, NULL, remove_one, &ra);
		pthread_create(&tb, NULL, remove_one, &rb);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		cr_assert_eq(ra.last + rb.last, 1, "round %d: %d removers saw the last fd go",
			     round, ra.last + rb.last);
	}
	pthread_barrier_destroy(&go);
	close(a);
	close(b);
}

/* A signal handler removes (as close() does) a listener fd while the
 * interrupted thread is inside the table (adding, checking, removing):
 * run in a child, watched with a deadline, since the failure is a
 * deadlock (a handler waiting for a lock its own thread holds). */
static volatile sig_atomic_t pending = -1, handled;

static void remove_in_handler(int sig)
{
	int last;

	(void)sig;
	if (pending >= 0) {
		fdtable_remove(pending, &last);
		close(pending);
		pending = -1;
		handled++;
	}
}

static int hammer_table(void)
{
	struct sigaction sa = { .sa_handler = remove_in_handler, .sa_flags = SA_RESTART };
	struct itimerval every = { { 0, 100 }, { 0, 100 } };
	int lfd = open("/dev/null", O_RDONLY | O_CLOEXEC), last;

	if (lfd < 0 || fdtable_add(lfd, 2) < 0)
		return 2;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &every, NULL);
	while (handled < 3000) {
		int d;

		if (pending < 0) {
			d = dup(lfd);
			if (d >= 0 && fdtable_add(d, 2) == 0)
				pending = d;
		}
		(void)fdtable_find_checked(lfd);
		d = dup(lfd);
		if (d >= 0 && fdtable_add(d, 2) == 0)
			fdtable_remove(d, &last);
		if (d >= 0)
			close(d);
	}
	return fdtable_find_checked(lfd) == 2 ? 0 : 3;
}

Test(fdtable, remove_from_signal_handler)
{
	pid_t pid = fork(), got = 0;
	long deadline;
	int st = 0;

	cr_assert(pid >= 0);
	if (pid == 0)
		_exit(hammer_table());
	for (deadline = 0; deadline < 2000 && (got = waitpid(pid, &st, WNOHANG)) == 0; deadline++)
		usleep(10000);
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		cr_assert_fail("a signal handler removing listener fds deadlocked the table "
			       "(20 s without 3000 removals)");
	}
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

/* A vfork() child runs in our memory: what it does to its own fds (dup2
 * over a listener's number, then a look at it) must not drop our entry. */
Test(fdtable, vfork_child_leaves_the_entry)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), other = open("/dev/zero", O_RDONLY);
	pid_t pid;

	cr_assert(fd >= 0 && other >= 0);
	cr_assert_eq(fdtable_add(fd, 4), 0);
	pid = vfork();
	if (pid == 0) {
		dup2(other, fd);
		(void)fdtable_find_checked(fd);         /* stale here: not ours to drop */
		_exit(0);
	}
	cr_assert(pid > 0);
	waitpid(pid, NULL, 0);
	cr_assert_eq(fdtable_find_checked(fd), 4, "the vfork child dropped our entry");
	close(fd);
	close(other);
}
