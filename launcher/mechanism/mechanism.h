/*
 * mechanism.h - how a worker's binds reach the master: the shim or seccomp
 * (mechanism.c).
 */
#ifndef LAUNCHER_MECHANISM_MECHANISM_H
#define LAUNCHER_MECHANISM_MECHANISM_H

#include "base/options.h"

struct program;

/* The shim or seccomp for this program (--via), the kernel features
 * seccomp needs, and the policies it allows.  -1 to go on, else the exit
 * status after one line on stderr. */
int mechanism_choose(struct options *opt, struct program *prog);
/* "auto", "shim", "seccomp". */
const char *via_name(enum via v);

#endif
