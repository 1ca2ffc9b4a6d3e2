/*
 * runtime_dir.h - where control sockets live, shared by cluster-run and
 * cluster-ctl so that `cluster-ctl -p PID` finds what `cluster-run` made.
 */
#ifndef LAUNCHER_RUNTIME_DIR_H
#define LAUNCHER_RUNTIME_DIR_H

#include <stddef.h>
#include <sys/types.h>

/* The private directory: /run/cluster-run for root, else
 * $XDG_RUNTIME_DIR/cluster-run, else /tmp/cluster-run-UID.  With create,
 * make it (mode 0700).  Either way it must be a directory owned by us with
 * no access for others: -1 (errno, EPERM when not private) otherwise. */
int runtime_dir(char *buf, size_t len, int create);
/* DIR/PID.sock */
int runtime_socket(char *buf, size_t len, pid_t pid, int create);

#endif
