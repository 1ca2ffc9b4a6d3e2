/*
 * seccomp_filter.h - the BPF filter a seccomp worker installs before exec, the
 * child's half of handing over its notify fd, and the kernel probe
 * (seccomp_filter.c).
 */
#ifndef LAUNCHER_MECHANISM_SECCOMP_FILTER_H
#define LAUNCHER_MECHANISM_SECCOMP_FILTER_H

#include <linux/filter.h>

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

#endif
