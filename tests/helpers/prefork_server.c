/*
 * prefork_server - the Apache/gunicorn shape: the parent binds and listens,
 * then forks K children that all block in accept() on the inherited
 * listener.  The reply carries child=<index> and the child's own pid.
 *
 * The parent only supervises: it collects SIGTERM and SIGCHLD with
 * sigwaitinfo(), passes SIGTERM on to the children (which stop as the
 * common options say: die, ignore it, or finish gracefully), reaps them,
 * and exits once none is left: 0 if it was told to stop, 1 otherwise.
 * Children that die are not replaced.
 */
#include "helper_common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int child_main(const struct helper_opts *o, int fd, int index)
{
	char extra[32];

	snprintf(extra, sizeof(extra), "child=%d\n", index);
	while (!helper_stopping) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn = accept(fd, (struct sockaddr *)&peer, &len);

		if (conn < 0) {
			if (helper_accept_error(o, errno) < 0)
				return 1;
			continue;
		}
		helper_serve(o, conn, fd, "main", &peer, len, extra);
	}
	return 0;
}

/* Reap what has exited; returns how many children were reaped.  Deaths
 * other than the SIGTERM we passed on are worth a line on stderr. */
static int reap(const struct helper_opts *o, int stopping)
{
	int status, count = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		count++;
		if (WIFSIGNALED(status) && !(stopping && WTERMSIG(status) == SIGTERM))
			fprintf(stderr, "%s: child %ld killed by signal %d\n", o->prog,
				(long)pid, WTERMSIG(status));
	}
	return count;
}

static int supervise(const struct helper_opts *o, const pid_t *children,
		     int count, const sigset_t *wanted)
{
	int alive = count, stopping = 0;

	while (alive > 0) {
		int sig = sigwaitinfo(wanted, NULL);

		if (sig == SIGTERM && !stopping) {
			stopping = 1;
			for (int i = 0; i < count; i++)
				if (kill(children[i], SIGTERM) < 0 && errno != ESRCH)
					fprintf(stderr, "%s: kill %ld: %s\n", o->prog,
						(long)children[i], strerror(errno));
		} else if (sig == SIGCHLD) {
			alive -= reap(o, stopping);
		} else if (sig < 0 && errno != EINTR) {
			fprintf(stderr, "%s: sigwaitinfo: %s\n", o->prog, strerror(errno));
			return 1;
		}
	}
	return stopping ? 0 : 1;
}

int main(int argc, char **argv)
{
	int count = 2;
	const struct helper_option extra[] = {
		{ "--children", HELPER_INT, &count },
		{ NULL, 0, NULL },
	};
	struct helper_opts o;
	sigset_t wanted, old;
	pid_t *children;
	int fd, status;

	if (helper_parse(&o, argc, argv, extra) < 0 || helper_setup_signals(&o) < 0)
		return 2;
	if (count < 1 || (children = calloc((size_t)count, sizeof(*children))) == NULL) {
		fprintf(stderr, "%s: cannot fork %d children\n", o.prog, count);
		return 2;
	}
	/* Blocked before anyone can know we are up (the "listening" line),
	 * so no SIGTERM or SIGCHLD is lost or handled behind our back. */
	sigemptyset(&wanted);
	sigaddset(&wanted, SIGCHLD);
	if (!o.ignore_term)
		sigaddset(&wanted, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &wanted, &old) < 0) {
		fprintf(stderr, "%s: sigprocmask: %s\n", o.prog, strerror(errno));
		return 1;
	}
	fd = helper_listen(&o, o.port);
	if (fd < 0)
		return 1;
	helper_announce(&o, fd);
	for (int i = 0; i < count; i++) {
		children[i] = fork();
		if (children[i] < 0) {
			fprintf(stderr, "%s: fork: %s\n", o.prog, strerror(errno));
			return 1;
		}
		if (children[i] == 0) {
			if (sigprocmask(SIG_SETMASK, &old, NULL) < 0)
				_exit(1);
			exit(child_main(&o, fd, i));
		}
	}
	status = supervise(&o, children, count, &wanted);
	free(children);
	return status;
}
