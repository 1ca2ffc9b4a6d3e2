/*
 * program.h - find PROGRAM and tell, before any worker starts, whether it
 * can run at all and whether the shim can reach it.
 */
#ifndef LAUNCHER_PROGRAM_H
#define LAUNCHER_PROGRAM_H

#include <limits.h>

struct program {
	char path[PATH_MAX];    /* what execve() gets */
};

/* Resolve argv0 as execvp would and check it.  Returns -1 when it can run,
 * else the exit status, after one line on stderr saying why. */
int program_check(struct program *prog, const char *argv0, int force);

struct creds;
/* With --user: whether that user may execute it.  -1 when it may (or
 * cannot tell), else 126 after one line on stderr. */
int program_check_user(const struct program *prog, const struct creds *cr, const char *user);

#endif
