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
 * execveat.  If the exec fails, the signal's default action follows (the
 * handler was installed with SA_RESETHAND and the signal is raised
 * again): the master dies and its guard stops the workers, as before.
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
#include <unistd.h>

extern char **environ;

static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

#define NFATAL (sizeof(fatal) / sizeof(fatal[0]))

static struct {
	int armed;
	int fallback_fd;
	char *const *argv;
	int *fds;               /* to keep open across the exec, state included */
	size_t nfds;
	char **envp;            /* environ + the give-back's variables */
	size_t why;             /* envp's index of the reason, one per signal: */
	char refused[NFATAL][128];
} crash = { .fallback_fd = -1 };

static void on_fatal(int sig)
{
	size_t i;

	if (crash.armed) {
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
	crash.envp[k++] = env_pair(UPGRADE_STATE_ENV, state_fd);
	crash.envp[k++] = env_pair(UPGRADE_OLD_ENV, fallback_fd);
	crash.envp[k++] = UPGRADE_FALLBACK_ENV "=1";
	for (i = 0; i < NFATAL; i++)
		snprintf(crash.refused[i], sizeof(crash.refused[i]), "%s=the new binary crashed "
			 "(signal %d, %s) while taking the state", UPGRADE_REFUSED_ENV, fatal[i],
			 sigabbrev_np(fatal[i]));
	crash.why = k;
	crash.envp[k++] = crash.refused[0];
	crash.envp[k] = NULL;
	if (!crash.envp[n] || !crash.envp[n + 1])
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
	crash.armed = 1;
	for (i = 0; i < NFATAL; i++)
		sigaction(fatal[i], &sa, NULL);
	return;
fail:
	/* no way back for a crash: as before this module */
	if (crash.envp) {
		free(crash.envp[n]);
		free(crash.envp[n + 1]);
	}
	free(crash.envp);
	free(crash.fds);
	crash.envp = NULL;
	crash.fds = NULL;
}

void upgrade_crash_disarm(void)
{
	struct sigaction sa;
	size_t i, n = 0;

	if (!crash.armed)
		return;
	crash.armed = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NFATAL; i++)
		sigaction(fatal[i], &sa, NULL);
	while (crash.envp[n])
		n++;
	/* the two variables built here, before the two static ones */
	free(crash.envp[n - 4]);
	free(crash.envp[n - 3]);
	free(crash.envp);
	free(crash.fds);
	crash.envp = NULL;
	crash.fds = NULL;
}
