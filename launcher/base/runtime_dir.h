/*
 * runtime_dir.h - where control sockets live, shared by cluster-run and
 * cluster-ctl so that `cluster-ctl -p PID` finds what `cluster-run` made.
 */
#ifndef LAUNCHER_RUNTIME_DIR_H
#define LAUNCHER_RUNTIME_DIR_H

#include <stddef.h>
#include <sys/types.h>

/* The private directory: /run/cluster-run for root, else
 * $XDG_RUNTIME_DIR/cluster-run, else /tmp/cluster-run-UID; when that one is
 * not ours and private (another user made it first), $HOME/.cluster-run.
 * With create, make it (mode 0700).  Whichever is taken must be a
 * directory owned by us with no access for others: -1 (errno, EPERM when
 * not private) when none is. */
int runtime_dir(char *buf, size_t len, int create);
/* 1 when the first candidate exists but is not ours and private (its path
 * in buf): worth a warning, since the fallback is used instead. */
int runtime_dir_refused(char *buf, size_t len);
/* The inode of our PID namespace (/proc/self/ns/pid). */
unsigned long runtime_pid_ns(void);
/* PID.sock in the initial PID namespace, PID.nsINODE.sock in others: two
 * masters that are PID 1 of their own containers sharing a runtime
 * directory do not clash. */
int runtime_socket_name(char *buf, size_t len, pid_t pid);
/* DIR/NAME */
int runtime_socket(char *buf, size_t len, pid_t pid, int create);

#endif
