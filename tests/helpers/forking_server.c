/*
 * forking_server: the classic fork-per-connection server.  SIGCHLD is
 * caught with signal() (glibc: SA_RESTART) to reap children, and any
 * accept() error is fatal, as in many old servers: a blocking accept must
 * be restarted after the handler, not fail with EINTR.
 */
#include "helper_common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void reap(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

int main(int argc, char **argv)
{
	struct helper_opts o;
	int fd;

	if (helper_parse(&o, argc, argv, NULL) < 0)
		return 2;
	signal(SIGCHLD, reap);
	fd = helper_listen(&o, o.port);
	if (fd < 0)
		return 1;
	helper_announce(&o, fd);
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn = accept(fd, (struct sockaddr *)&peer, &len);
		pid_t pid;

		if (conn < 0) {
			fprintf(stderr, "forking_server: accept: %m\n");
			return 1;
		}
		pid = fork();
		if (pid == 0) {
			helper_serve(&o, conn, fd, "main", &peer, len, NULL);
			_exit(0);
		}
		close(conn);
	}
}
