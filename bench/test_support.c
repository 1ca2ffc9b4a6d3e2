/*
 * test_support.c - see test_support.h.
 */
#include "test_support.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

void run_loadgen(int port, const char *args, char *report, size_t len)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s -p %d -d 10 -W 2 %s", getenv("LOADGEN"), port, args);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = 1;
	report[0] = '\n';
	while (n < len - 1) {
		size_t got = fread(report + n, 1, len - 1 - n, p);
		if (got == 0)
			break;
		n += got;
	}
	report[n] = '\0';
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
}

long value_of(const char *report, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\n%s=", key);
	const char *p = strstr(report, pat);
	cr_assert_not_null(p, "no %s in report:\n%s", key, report);
	return strtol(p + strlen(pat), NULL, 10);
}

void kill_leftover(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}
