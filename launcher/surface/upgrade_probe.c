/*
 * upgrade_probe.c - before an upgrade saves anything, the new binary is
 * run once on the side with our arguments: it runs every check of a start
 * and answers with the state format it reads, its version and the shim
 * protocol it speaks.  Whatever else comes back (another program, an
 * older cluster-run, a check that fails, silence) refuses the upgrade.
 *
 * The probe runs under a child that delivers no SIGCHLD (clone3,
 * exit_signal 0) and never execs: execve resets a child's exit signal to
 * SIGCHLD, so the binary itself is that child's child, and the
 * supervisor's waitpid(-1) reaps neither.  The child exits with the
 * probe's status (128 + signal when killed); its pidfd in the loop says
 * when.  Its stdout and stderr are one pipe: the answer, or the failing
 * check's own line.
 */
#include "surface/upgrade_probe.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"
#include "wire/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLUSTER_RUN_VERSION
#define CLUSTER_RUN_VERSION "unknown"
#endif

#define PROBE_TIMEOUT_MS 10000
#define PROBE_ANSWER "cluster-run-upgrade"

static struct {
	struct loop *loop;
	char path[PATH_MAX];
	upgrade_probe_done *done;
	void *data;
	pid_t pid;
	int pidfd, out;
	uint64_t timer;
	char answer[2048];              /* its stdout and stderr */
	size_t answer_len;
} pr = { .pidfd = -1, .out = -1 };

static int probing;

int upgrade_probe_args(int *argc, char ***argv)
{
	if (*argc < 2 || strcmp((*argv)[1], UPGRADE_PROBE_ARG) != 0)
		return 0;
	/* PATH --upgrade-probe ARGS...: the checks of a start with ARGS */
	(*argv)[1] = (*argv)[0];
	(*argv)++;
	(*argc)--;
	probing = 1;
	return 1;
}

int upgrade_probing(void)
{
	return probing;
}

void upgrade_probe_answer(void)
{
	printf("%s format=%d version=%s protocol=%d\n", PROBE_ANSWER, STATE_FORMAT,
	       CLUSTER_RUN_VERSION, CLUSTER_PROTO_VERSION);
	fflush(stdout);
}

/* Let go of the probe (killed and reaped when still running), then tell. */
static void end(int ok, const char *version, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void end(int ok, const char *version, const char *fmt, ...)
{
	char why[PATH_MAX + 1024] = "";
	siginfo_t si;
	va_list ap;

	if (pr.pid > 0)
		kill(pr.pid, SIGKILL);
	if (pr.pidfd >= 0) {
		/* its zombie: nobody else reaps a child without SIGCHLD */
		if (pr.pid > 0)
			waitid(P_PIDFD, (id_t)pr.pidfd, &si, WEXITED | __WALL);
		loop_del_fd(pr.loop, pr.pidfd);
		close(pr.pidfd);
	}
	if (pr.out >= 0) {
		loop_del_fd(pr.loop, pr.out);
		close(pr.out);
	}
	loop_timer_cancel(pr.loop, pr.timer);
	pr.out = pr.pidfd = -1;
	pr.timer = 0;
	pr.pid = 0;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	pr.done(pr.data, ok, version, why);
}

/* The answer, once the probe closed its output and exited. */
static void judge(const siginfo_t *si)
{
	char version[64] = "", last[512] = "", *at, *line, *end_;
	int format = 0, protocol = 0;
	const char *path = pr.path;

	pr.answer[pr.answer_len < sizeof(pr.answer) ? pr.answer_len : sizeof(pr.answer) - 1] = '\0';
	/* its last line that says something: why a start check failed */
	for (line = pr.answer; *line; line = *end_ ? end_ + 1 : end_) {
		end_ = strchrnul(line, '\n');
		if (end_ > line && strncmp(line, PROBE_ANSWER, strlen(PROBE_ANSWER)) != 0)
			snprintf(last, sizeof(last), ": %.*s", (int)(end_ - line), line);
	}
	at = strstr(pr.answer, PROBE_ANSWER " ");
	if (at && sscanf(at, PROBE_ANSWER " format=%d version=%63s protocol=%d", &format,
			 version, &protocol) == 3) {
		if (format < STATE_FORMAT)
			end(0, NULL, "%s (version %s) reads state format %d, older than this one's %d",
			    path, version, format, STATE_FORMAT);
		else
			end(1, version, NULL);
		return;
	}
	if (si->si_code == CLD_EXITED && si->si_status < 128 && last[0] &&
	    strstr(pr.answer, "cluster-run: "))
		/* a cluster-run whose start checks failed with our arguments:
		 * its own line says why */
		end(0, NULL, "%s would not start with this cluster's options (status %d%s)", path,
		    si->si_status, last);
	else if (si->si_code == CLD_EXITED && si->si_status == 127)
		end(0, NULL, "%s could not be executed%s", path, last);
	else if (si->si_code == CLD_EXITED && si->si_status < 128)
		end(0, NULL, "%s is not a cluster-run that can take over (it exited with status %d "
		    "without answering %s)", path, si->si_status, UPGRADE_PROBE_ARG);
	else
		end(0, NULL, "%s is not a cluster-run that can take over (it was killed by signal "
		    "%d without answering %s)", path,
		    si->si_code == CLD_EXITED ? si->si_status - 128 : si->si_status,
		    UPGRADE_PROBE_ARG);
}

static void exited(struct loop *loop, int fd, uint32_t events, void *data)
{
	siginfo_t si;
	ssize_t n;

	(void)loop;
	(void)events;
	(void)data;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG | __WALL) < 0) {
		/* reaped by someone else (it cannot be: see the file
		 * comment): judge from its answer alone rather than spin */
		si.si_code = CLD_EXITED;
		si.si_status = 0;
	} else if (si.si_pid == 0) {
		return;
	}
	pr.pid = 0;
	/* what it wrote before it exited is all in the pipe by now */
	while (pr.answer_len < sizeof(pr.answer) - 1 &&
	       (n = read(pr.out, pr.answer + pr.answer_len,
			 sizeof(pr.answer) - 1 - pr.answer_len)) > 0)
		pr.answer_len += (size_t)n;
	judge(&si);
}

static void timeout(struct loop *loop, void *data)
{
	(void)loop;
	(void)data;
	pr.timer = 0;
	end(0, NULL, "%s did not answer %s in %d s", pr.path, UPGRADE_PROBE_ARG,
	    PROBE_TIMEOUT_MS / 1000);
}

/* The output is judged when the probe exited (exited()); this only keeps
 * a chatty one from filling the pipe. */
static void output(struct loop *loop, int fd, uint32_t events, void *data)
{
	ssize_t n;

	(void)data;
	if (pr.answer_len >= sizeof(pr.answer) - 1) {
		char sink[512];

		while (read(fd, sink, sizeof(sink)) > 0)
			;
		if (events & (EPOLLHUP | EPOLLERR))
			loop_mod_fd(loop, fd, 0);
		return;
	}
	n = read(fd, pr.answer + pr.answer_len, sizeof(pr.answer) - 1 - pr.answer_len);
	if (n > 0)
		pr.answer_len += (size_t)n;
	else if (n == 0 || (events & (EPOLLHUP | EPOLLERR)))
		loop_mod_fd(loop, fd, 0);
}

/* The child of the file comment: stdin /dev/null, stdout and stderr the
 * pipe, every signal unblocked and default, nothing of ours held.  Its
 * pid, with *pidfd and *out, or -1 with errno. */
static pid_t spawn(const char *path, char *const *argv, int *pidfd, int *out)
{
	struct clone_args args;
	int pipefd[2], nul;
	sigset_t none;
	pid_t pid;

	if (!argv) {
		errno = ENOMEM;
		return -1;
	}
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_PIDFD;
	args.pidfd = (uint64_t)(uintptr_t)pidfd;
	args.exit_signal = 0;
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		pid_t probe;
		int s, st;

		for (s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		/* nothing of ours held while it runs (a closed client must
		 * see its EOF, the guard the master's death), and it dies
		 * with us */
		close_range(3, ~0U, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		probe = fork();
		if (probe == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			execv(path, argv);
			_exit(127);
		}
		if (probe < 0)
			_exit(126);
		while (waitpid(probe, &st, 0) < 0)
			if (errno != EINTR)
				_exit(126);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	close(pipefd[1]);
	fcntl(*pidfd, F_SETFD, FD_CLOEXEC);
	*out = pipefd[0];
	return pid;
}

int upgrade_probe_run(struct loop *loop, const char *path, char *const *argv,
		      upgrade_probe_done *done, void *data)
{
	int err;

	pr.loop = loop;
	pr.done = done;
	pr.data = data;
	pr.answer_len = 0;
	snprintf(pr.path, sizeof(pr.path), "%s", path);
	pr.pid = spawn(path, argv, &pr.pidfd, &pr.out);
	if (pr.pid < 0) {
		pr.pid = 0;
		return -1;
	}
	if (loop_add_fd(loop, pr.out, EPOLLIN, output, NULL) < 0 ||
	    loop_add_fd(loop, pr.pidfd, EPOLLIN, exited, NULL) < 0 ||
	    !(pr.timer = loop_timer(loop, PROBE_TIMEOUT_MS, timeout, NULL))) {
		err = errno;
		kill(pr.pid, SIGKILL);
		waitid(P_PIDFD, (id_t)pr.pidfd, &(siginfo_t){ 0 }, WEXITED | __WALL);
		loop_del_fd(loop, pr.out);
		loop_del_fd(loop, pr.pidfd);
		close(pr.out);
		close(pr.pidfd);
		pr.out = pr.pidfd = -1;
		pr.pid = 0;
		errno = err ? err : ENOMEM;
		return -1;
	}
	return 0;
}
