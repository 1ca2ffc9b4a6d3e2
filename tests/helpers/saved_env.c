/*
 * saved_env - a server that keeps a copy of its environment from before it
 * bound (Python's env=dict(os.environ), Java's ProcessBuilder) and starts a
 * child with it later, with the fd number CLUSTER_RUN_FD names now open on
 * an unrelated SOCK_SEQPACKET socket (the worst case: the type matches).
 * The child binds 127.0.0.1:0 and listens; it must get a port of its own,
 * and nothing may arrive on the unrelated socket.  The verdict is one line
 * on stderr: "saved-env: ok ..." or "saved-env: FAIL ...".  Then the
 * server serves on its clustered listener like any helper.
 */
#include "helper_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int child_main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return 1;
	printf("%d\n", ntohs(a.sin_port));
	return 0;
}

static char **copy_env(void)
{
	size_t n = 0, i;
	char **copy;

	while (environ[n])
		n++;
	copy = calloc(n + 1, sizeof(*copy));
	for (i = 0; copy && i < n; i++)
		copy[i] = strdup(environ[i]);
	return copy;
}

static int saved_fd(char **env)
{
	for (; *env; env++)
		if (!strncmp(*env, "CLUSTER_RUN_FD=", 15))
			return atoi(*env + 15);
	return -1;
}

/* Run the child with the saved environment; its port, or -1. */
static int run_child(const char *self, char **env, int num, int unrelated)
{
	char *argv[] = { (char *)self, "--child", NULL };
	int out[2], status, port = -1;
	char buf[32] = "";
	ssize_t n;
	pid_t pid;

	if (pipe(out) < 0 || (pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (dup2(unrelated, num) < 0 || dup2(out[1], 1) < 0)
			_exit(1);
		execve(self, argv, env);
		_exit(127);
	}
	close(out[1]);
	n = read(out[0], buf, sizeof(buf) - 1);
	close(out[0]);
	if (waitpid(pid, &status, 0) == pid && n > 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		port = atoi(buf);
	return port;
}

int main(int argc, char **argv)
{
	struct helper_opts o;
	char **env, junk[64];
	int fd, num, sp[2], port, mine;

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child_main();
	env = copy_env();
	if (helper_parse(&o, argc, argv, NULL) < 0 || !env)
		return 2;
	fd = helper_listen(&o, o.port);
	if (fd < 0)
		return 1;
	mine = helper_local_port(fd);
	num = saved_fd(env);
	if (num < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		fprintf(stderr, "saved-env: FAIL no CLUSTER_RUN_FD in the saved environment\n");
		return 1;
	}
	port = run_child("/proc/self/exe", env, num, sp[0]);
	if (port <= 0 || port == mine)
		fprintf(stderr, "saved-env: FAIL the child got port %d (the cluster's is %d)\n",
			port, mine);
	else if (recv(sp[1], junk, sizeof(junk), MSG_DONTWAIT) >= 0)
		fprintf(stderr, "saved-env: FAIL the child's shim talked to fd %d\n", num);
	else
		fprintf(stderr, "saved-env: ok child port %d, fd %d untouched\n", port, num);
	helper_announce(&o, fd);
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn = accept(fd, (struct sockaddr *)&peer, &len);

		if (conn < 0) {
			if (helper_accept_error(&o, errno) < 0)
				return 1;
			continue;
		}
		helper_serve(&o, conn, fd, "main", &peer, len, NULL);
	}
}
