/*
 * daemon_server - a server that leaves a daemon behind: after listening it
 * forks a child that setsid()s and forks again (the classic double fork),
 * so the grandchild is in a session and process group of its own and its
 * parent is gone.  Both the parent and the daemon accept on the inherited
 * listener, so a daemon that outlived cluster-run would keep the port.
 * The daemon prints "daemon <pid>" on stdout.
 *
 * How programs that daemonize for real do it (test_daemonize):
 *   --exit-after-fork  the parent exits 0 once the daemon exists, as nginx
 *                      without `daemon off` does: bind, listen, daemonize;
 *   --fork-first       the parent forks and exits 0 before anything is
 *                      bound, and the daemon binds, as memcached -d and
 *                      redis --daemonize yes do;
 *   --linger-ms N      with --fork-first: one fork, not two (memcached's
 *                      way), and the parent exits N ms after it, so the
 *                      daemon, its child, binds while it is still there
 *                      (its exit must not take the daemon along);
 *   --idle             the daemon serves nothing: with --fork-first it
 *                      never binds, otherwise it never has the listener
 *                      (a program that daemonizes to do something else).
 */
#include "helper_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int serve(const struct helper_opts *o, int fd, const char *who)
{
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn = accept(fd, (struct sockaddr *)&peer, &len);

		if (conn < 0) {
			if (helper_accept_error(o, errno) < 0)
				return 1;
			continue;
		}
		helper_serve(o, conn, fd, who, &peer, len, NULL);
	}
}

/* fork, setsid, fork (or with single, no second fork): 0 in the daemon;
 * the parent's side waits for the middle process (so the daemon exists
 * when it returns) and gets its pid.  drop, when not -1, is closed in the
 * middle process: the daemon never has it. */
static pid_t daemonize(int single, int drop)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("daemon_server: fork");
		exit(1);
	}
	if (pid > 0 && single)
		return pid;
	if (pid == 0) {
		if (setsid() < 0)
			_exit(1);
		if (drop >= 0)
			close(drop);
		pid = single ? 0 : fork();
		if (pid != 0)
			_exit(pid < 0);
		printf("daemon %d\n", (int)getpid());
		fflush(stdout);
		return 0;
	}
	waitpid(pid, NULL, 0);
	return pid;
}

int main(int argc, char **argv)
{
	int exit_after_fork = 0, fork_first = 0, idle = 0, linger_ms = 0;
	const struct helper_option extra[] = {
		{ "--exit-after-fork", HELPER_FLAG, &exit_after_fork },
		{ "--fork-first", HELPER_FLAG, &fork_first },
		{ "--linger-ms", HELPER_INT, &linger_ms },
		{ "--idle", HELPER_FLAG, &idle },
		{ NULL, 0, NULL },
	};
	struct helper_opts o;
	int fd;

	if (helper_parse(&o, argc, argv, extra) < 0)
		return 2;
	if (fork_first) {
		if (daemonize(linger_ms > 0, -1) != 0) {
			helper_sleep_ms(linger_ms);
			return 0;
		}
		while (idle)
			pause();
		fd = helper_listen(&o, o.port);
		if (fd < 0)
			return 1;
		helper_announce(&o, fd);
		return serve(&o, fd, "daemon");
	}
	fd = helper_listen(&o, o.port);
	if (fd < 0)
		return 1;
	helper_announce(&o, fd);
	if (daemonize(0, idle ? fd : -1) == 0) {
		while (idle)
			pause();
		exit(serve(&o, fd, "daemon"));
	}
	if (exit_after_fork)
		return 0;
	return serve(&o, fd, "main");
}
