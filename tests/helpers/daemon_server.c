/*
 * daemon_server - a server that leaves a daemon behind: after listening it
 * forks a child that setsid()s and forks again (the classic double fork),
 * so the grandchild is in a session and process group of its own and its
 * parent is gone.  Both the parent and the daemon accept on the inherited
 * listener, so a daemon that outlived cluster-run would keep the port.
 * The daemon prints "daemon <pid>" on stdout.
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

int main(int argc, char **argv)
{
	struct helper_opts o;
	pid_t pid;
	int fd;

	if (helper_parse(&o, argc, argv, NULL) < 0)
		return 2;
	fd = helper_listen(&o, o.port);
	if (fd < 0)
		return 1;
	helper_announce(&o, fd);
	pid = fork();
	if (pid < 0) {
		perror("daemon_server: fork");
		return 1;
	}
	if (pid == 0) {
		if (setsid() < 0)
			_exit(1);
		pid = fork();
		if (pid != 0)
			_exit(pid < 0);
		printf("daemon %d\n", (int)getpid());
		fflush(stdout);
		exit(serve(&o, fd, "daemon"));
	}
	waitpid(pid, NULL, 0);
	return serve(&o, fd, "main");
}
