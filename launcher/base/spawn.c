/*
 * spawn.c - fork/exec done as libuv does it.
 *
 * Between fork and exec the child only makes async-signal-safe calls: it
 * puts itself in its own process group (so a stop signal reaches a wrapper
 * script's children too), takes the --user credentials, asks for SIGKILL
 * when the master dies (in that order: a credential change clears it), restores
 * what the master changed for itself (signal mask and dispositions, the
 * fd limit), makes the doorbell inheritable, and execs.  A seccomp worker
 * installs its filter last, just before exec, and sends the master its
 * notify fd: a->child_last, handed in by the mechanism (seccomp_notify.c;
 * prctl, seccomp, sendmsg and close, all system calls).  If exec fails the
 * child writes errno to a CLOEXEC pipe; EOF on that pipe means exec worked.
 */
#include "base/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void child_write_errno(int fd)
{
	int err = errno;

	while (write(fd, &err, sizeof(err)) < 0 && errno == EINTR)
		;
	_exit(127);
}

static void reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);      /* EINVAL for KILL/STOP: fine */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child(const struct spawn_args *a, int errfd, pid_t parent)
{
	int fl;

	setpgid(0, 0);
	if (a->creds && a->creds->drop &&
	    (setgroups((size_t)a->creds->ngroups, a->creds->groups) < 0 ||
	     setgid(a->creds->gid) < 0 || setuid(a->creds->uid) < 0))
		child_write_errno(errfd);
	/* after the credentials: changing them clears the death signal */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);     /* the master is already gone */
	reset_signals();
	setrlimit(RLIMIT_NOFILE, a->nofile);
	if (a->out_fd >= 0 && dup2(a->out_fd, STDOUT_FILENO) < 0)
		child_write_errno(errfd);
	if (a->err_fd >= 0 && dup2(a->err_fd, STDERR_FILENO) < 0)
		child_write_errno(errfd);
	fl = a->keep_fd >= 0 ? fcntl(a->keep_fd, F_GETFD) : 0;
	if (fl < 0 || (a->keep_fd >= 0 && fcntl(a->keep_fd, F_SETFD, fl & ~FD_CLOEXEC) < 0))
		child_write_errno(errfd);
	if (a->child_last && a->child_last(a) < 0)
		child_write_errno(errfd);
	execve(a->path, a->argv, a->envp);
	child_write_errno(errfd);
}

pid_t spawn_process(const struct spawn_args *a)
{
	pid_t parent = getpid(), pid;
	int pipefd[2], err = 0, status;
	ssize_t n;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		errno = err;
		return -1;
	}
	if (pid == 0) {
		close(pipefd[0]);
		child(a, pipefd[1], parent);
	}
	close(pipefd[1]);
	setpgid(pid, pid);      /* both sides: whoever runs first wins the race */
	do
		n = read(pipefd[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == (ssize_t)sizeof(err)) {
		waitpid(pid, &status, 0);
		errno = err;
		return -1;
	}
	return pid;
}

void spawn_signal(pid_t pid, int sig)
{
	/* The group is the worker's pid (setpgid in the child, above). */
	if (kill(-pid, sig) < 0 && errno == ESRCH)
		kill(pid, sig);
}
