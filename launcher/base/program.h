/*
 * program.h - find PROGRAM and tell, before any worker starts, whether it
 * can run at all and whether the shim can reach it.
 */
#ifndef LAUNCHER_PROGRAM_H
#define LAUNCHER_PROGRAM_H

#include <limits.h>

#include "base/options.h"

struct program {
	char path[PATH_MAX];    /* what execve() gets */
	const char *shim_blind; /* why LD_PRELOAD cannot reach it, or NULL */
	int setuid;             /* setuid/setgid of another user */
	enum via via;           /* the mechanism chosen (mechanism.c) */
};

/* Resolve argv0 as execvp would and check it.  Returns -1 when it can run,
 * else the exit status, after one line on stderr saying why.  A static or
 * Go binary is not refused here: prog->shim_blind says why the shim cannot
 * reach it, and mechanism_choose() decides. */
int program_check(struct program *prog, const char *argv0, int force);

/* "PATH WHY, so cluster-run cannot share its sockets (use --force...)":
 * EXIT_CANNOT_EXEC, or -1 with a warning when force. */
int program_refuse(const char *path, const char *why, int force);


struct creds;
/* With --user: whether that user may execute it.  -1 when it may (or
 * cannot tell), else 126 after one line on stderr. */
int program_check_user(const struct program *prog, const struct creds *cr, const char *user);

#endif
