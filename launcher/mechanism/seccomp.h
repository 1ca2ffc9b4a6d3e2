/*
 * seccomp.h - clustering without LD_PRELOAD: what the launcher knows of
 * seccomp user notification, for programs the shim cannot reach (static
 * and Go binaries).
 *
 *   seccomp_filter.c  the BPF filter a worker installs before exec, the
 *                     child's half of the hand-over of its notify fd, and
 *                     the probe of what the running kernel supports
 *   seccomp_notify.c  the master's half: one notify fd per worker in the
 *                     loop, each trapped bind/listen answered there
 *   seccomp_reuseport.c  rolling restart under reuseport: the replacement
 *                     gets a socket of its own, steering follows, the old
 *                     worker's queue is waited for (by retire.c)
 *   reuseport_group.c the kernel's order of a reuseport group, and steering
 *                     by slot whatever that order
 */
#ifndef LAUNCHER_SECCOMP_H
#define LAUNCHER_SECCOMP_H

#include <linux/filter.h>
#include <stdint.h>
#include <sys/types.h>

struct cluster;
struct worker;
struct listener;
struct spawn_args;

/* seccomp_filter.c */
/* The filter: other architectures allowed, bind and listen trapped. */
const struct sock_fprog *seccomp_filter_prog(void);
/* Child side, between fork and exec (async-signal-safe): no_new_privs,
 * install the filter, send its notify fd over sock, close both.
 * 0, or -1 with errno. */
int seccomp_child_install(const struct sock_fprog *prog, int sock);
/* NULL when the kernel has what seccomp clustering needs, else the name of
 * the missing feature ("SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9)"). */
const char *seccomp_kernel_lacks(void);

/* seccomp_notify.c */
/* Before spawning a worker: a socketpair for its notify fd; *sock is the
 * master's end.  0, or -1 (logged). */
int seccomp_spawn_prepare(struct cluster *c, struct spawn_args *a, int *sock);
/* After: take the notify fd from sock (closed) and watch it. */
int seccomp_spawn_done(struct cluster *c, struct worker *w, int sock);
/* The worker is gone: stop watching its notify fd. */
void seccomp_worker_free(struct cluster *c, struct worker *w);

/* seccomp_reuseport.c: rolling restart and scale-down under reuseport */
/* The socket to put into w for l, given what the policy gave (fd): a
 * replacement gets one of its own. */
int seccomp_reuseport_give(struct worker *w, struct listener *l, int fd);
/* w listens on l: steer its slot to w's own socket, if it has one. */
void seccomp_reuseport_listening(struct worker *w, struct listener *l);
/* The socket serving slot of l now (steering's target). */
int seccomp_reuseport_serving(const struct listener *l, int slot);
/* Whether st is a socket of l that this module made. */
struct stat;
int seccomp_reuseport_owns(const struct listener *l, const struct stat *st);
/* w is gone: close or promote the sockets it leaves. */
void seccomp_reuseport_worker_gone(struct cluster *c, struct worker *w);
/* Connections queued on the sockets w accepts on, which a retiring
 * seccomp worker must accept before its stop signal (retire.c asks); 0
 * for a worker of the shim. */
unsigned seccomp_reuseport_queued(struct cluster *c, struct worker *w);

/* reuseport_group.c: the kernel's order of a reuseport group */
void reuseport_group_join(const struct listener *l, int fd);
void reuseport_group_leave(const struct listener *l, int fd);
/* Steer slots 0..n-1 to their sockets; -1 when in slot order (the
 * caller's simple program does it). */
int reuseport_group_steer(struct listener *l, int n);


#endif
