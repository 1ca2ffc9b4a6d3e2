/*
 * upgrade_crash.c - a new image that crashes while it takes the state
 * gives it back to the old binary, as one that refuses it does.
 *
 * The probe runs every start check before the exec, and a restore that
 * fails gives the state back (upgrade.c).  What neither covers is a bug
 * of the new binary that only the state shows: a crash in the middle of
 * the restore.  Until the last module is restored, no worker has been
 * signalled or sent anything (upgrade.h's rule), so the way back is
 * still open: a fatal signal in that window executes the old binary with
 * the state, and the old binary answers the upgrade as failed, "the new
 * binary crashed (signal N) while taking the state".
 *
 * A signal handler may call only async-signal-safe functions: the
 * environment, the argv and the list of fds to keep across the exec are
 * built when the handler is armed; the handler clears FD_CLOEXEC with
 * fcntl, picks the signal's reason among those prepared and calls
 * execveat, on a stack of its own (a stack overflow is a crash too).  If
 * the exec fails, the signal's default action follows (the handler was
 * installed with SA_RESETHAND and the signal is raised again): the master
 * dies and its guard stops the workers, as before.  A child the master
 * forks meanwhile (the seccomp probe, a bind with --user's rights)
 * inherits the handler; in it the handler does nothing but that.  The
 * disarm puts back whatever handled those signals before (a sanitizer's).
 *
 * Not covered: a crash before the state is read (nothing to give back
 * yet), a sanitizer's report (it exits, it does not raise), a hang.
 *
 * Not here: the give-back of a refusal (upgrade.c), what the old binary
 * does with the state (upgrade_adopt).
 */
#include "surface/upgrade_crash.h"
#include "surface/upgrade_env.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

extern char **environ;

static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

#define NFATAL (sizeof(fatal) / sizeof(fatal[0]))

static struct {
	int armed;
	pid_t pid;              /* the master's: a child forked meanwhile (the
				 * seccomp probe, a bind as --user) must die
				 * of its crash, not become a second master */
	int fallback_fd;
	char *const *argv;
	int *fds;               /* to keep open across the exec, state included */
	size_t nfds;
	char **envp;            /* environ + the give-back's variables */
	char *state_var, *old_var;      /* the two of them built here */
	size_t why;             /* envp's index of the reason, one per signal: */
	char refused[NFATAL][128];
	struct sigaction before[NFATAL];        /* put back at the disarm (a
						 * sanitizer's handlers) */
	stack_t stack;          /* a stack overflow still runs the handler */
} crash = { .fallback_fd = -1 };

static void on_fatal(int sig)
{
	size_t i;

	if (crash.armed && getpid() == crash.pid) {
		for (i = 0; i < NFATAL; i++)
			if (fatal[i] == sig)
				crash.envp[crash.why] = crash.refused[i];
		for (i = 0; i < crash.nfds; i++)
			fcntl(crash.fds[i], F_SETFD, 0);
		syscall(SYS_execveat, crash.fallback_fd, "", crash.argv, crash.envp,
			AT_EMPTY_PATH);
	}
	raise(sig);             /* SA_RESETHAND: the default action now */
}

static char *env_pair(const char *name, int value)
{
	char buf[96];

	snprintf(buf, sizeof(buf), "%s=%d", name, value);
	return strdup(buf);
}

/* What arm built for the handler, freed. */
static void drop_prepared(void)
{
	free(crash.state_var);
	free(crash.old_var);
	free(crash.envp);
	free(crash.fds);
	crash.envp = NULL;
	crash.fds = NULL;
	crash.state_var = crash.old_var = NULL;
}

void upgrade_crash_arm(int state_fd, int fallback_fd, char *const *argv, const int *fds,
		       size_t nfds)
{
	struct sigaction sa;
	size_t n = 0, i, k = 0;

	if (crash.armed || state_fd < 0 || fallback_fd < 0 || !argv)
		return;
	while (environ && environ[n])
		n++;
	crash.envp = calloc(n + 5, sizeof(*crash.envp));
	crash.fds = calloc(nfds + 2, sizeof(*crash.fds));
	if (!crash.envp || !crash.fds)
		goto fail;
	for (i = 0; i < n; i++)
		crash.envp[k++] = environ[i];
	crash.envp[k++] = crash.state_var = env_pair(UPGRADE_STATE_ENV, state_fd);
	crash.envp[k++] = crash.old_var = env_pair(UPGRADE_OLD_ENV, fallback_fd);
	crash.envp[k++] = UPGRADE_FALLBACK_ENV "=1";
	for (i = 0; i < NFATAL; i++)
		snprintf(crash.refused[i], sizeof(crash.refused[i]), "%s=the new binary crashed "
			 "(signal %d, %s) while taking the state", UPGRADE_REFUSED_ENV, fatal[i],
			 sigabbrev_np(fatal[i]));
	crash.why = k;
	crash.envp[k++] = crash.refused[0];
	crash.envp[k] = NULL;
	if (!crash.state_var || !crash.old_var)
		goto fail;
	for (i = 0; i < nfds; i++)
		crash.fds[i] = fds[i];
	crash.fds[nfds] = state_fd;
	crash.fds[nfds + 1] = fallback_fd;
	crash.nfds = nfds + 2;
	crash.fallback_fd = fallback_fd;
	crash.argv = argv;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	crash.stack.ss_size = SIGSTKSZ * 4;
	crash.stack.ss_sp = malloc(crash.stack.ss_size);
	if (crash.stack.ss_sp && sigaltstack(&crash.stack, NULL) == 0)
		sa.sa_flags |= SA_ONSTACK;
	crash.pid = getpid();
	crash.armed = 1;
	for (i = 0; i < NFATAL; i++)
		sigaction(fatal[i], &sa, &crash.before[i]);
	return;
fail:
	/* no way back for a crash: as before this module */
	drop_prepared();
}

void upgrade_crash_disarm(void)
{
	stack_t off = { .ss_flags = SS_DISABLE };
	size_t i;

	if (!crash.armed)
		return;
	crash.armed = 0;
	for (i = 0; i < NFATAL; i++)
		sigaction(fatal[i], &crash.before[i], NULL);
	if (crash.stack.ss_sp) {
		sigaltstack(&off, NULL);
		free(crash.stack.ss_sp);
		crash.stack.ss_sp = NULL;
	}
	drop_prepared();
}
