/*
 * seccomp_filter.c - the filter a seccomp worker runs under, the child's
 * half of handing its notify fd to the master, and the kernel probe.
 *
 * The filter traps only bind and listen (SECCOMP_RET_USER_NOTIF), and
 * setsid, which a program calls once when it daemonizes (the master notes
 * the new session as the worker's: supervise/follow.c, which has no
 * doorbell to go by here), and allows everything else, so the data path
 * (accept, read, write) never leaves the kernel: trapping accept too would
 * cost about a quarter of the connection rate (issue 9's study).  A call made under another
 * architecture (a 32-bit int 0x80 call on x86_64) and x32 calls are let
 * through: they are not clustered (README "What cannot be reached").
 *
 * Installed between fork and exec, it is inherited by every thread and
 * every descendant of the program, so no SECCOMP_FILTER_FLAG_TSYNC is
 * needed.  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (5.19) keeps a Go
 * program's preemption signals from restarting a trapped bind over and
 * over; older kernels get the filter without it.
 *
 * Not here: answering the notifications (seccomp_notify.c).
 */
#include "mechanism/seccomp_filter.h"
#include "wire/protocol.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define THIS_AUDIT_ARCH AUDIT_ARCH_RISCV64
#endif

#ifdef THIS_AUDIT_ARCH
static struct sock_filter filter_code[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_AUDIT_ARCH, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bind, 3, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_listen, 2, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setsid, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
};
static const struct sock_fprog filter_prog = {
	.len = sizeof(filter_code) / sizeof(filter_code[0]),
	.filter = filter_code,
};
#endif

const struct sock_fprog *seccomp_filter_prog(void)
{
#ifdef THIS_AUDIT_ARCH
	return &filter_prog;
#else
	return NULL;
#endif
}

static int install(const struct sock_fprog *prog)
{
	int fd;

	fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			  SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
			  prog);
	if (fd < 0 && errno == EINVAL)  /* before 5.19 */
		fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				  SECCOMP_FILTER_FLAG_NEW_LISTENER, prog);
	return fd;
}

int seccomp_child_install(const struct sock_fprog *prog, int sock)
{
	const char byte = 'n';  /* the fd needs a message to ride on */
	int fd, err;

	if (!prog) {
		errno = ENOSYS;
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	fd = install(prog);
	if (fd < 0)
		return -1;
	/* the notify fd must never reach the program: sent, then closed
	 * (msg_send is async-signal-safe: fdpass.c) */
	err = msg_send(sock, &byte, 1, fd, 0) < 0 ? errno : 0;
	close(fd);
	close(sock);
	errno = err;
	return err ? -1 : 0;
}

/* In a throw-away child: can a filter with a listener be installed, and
 * does the listener know ADDFD?  An ADDFD for a notification that does
 * not exist fails with ENOENT where the ioctl exists (5.9), with EINVAL or
 * ENOTTY before.  Exit code: 0 fine, 1 no user notification, 2 no ADDFD. */
static void probe_child(void)
{
	static struct sock_filter allow[] = {
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 1, .filter = allow };
	struct seccomp_notif_addfd addfd;
	int fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(1);
	fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			  SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (fd < 0)
		_exit(1);
	memset(&addfd, 0, sizeof(addfd));
	addfd.id = 1;
	addfd.srcfd = 0;
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) == 0 || errno != ENOENT)
		_exit(2);
	_exit(0);
}

const char *seccomp_kernel_lacks(void)
{
	unsigned action = SECCOMP_RET_USER_NOTIF;
	int st, pfd;
	pid_t pid;

	if (!seccomp_filter_prog())
		return "a seccomp filter for this architecture (x86_64, aarch64, riscv64)";
	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0)
		return "seccomp user notification (Linux 5.0, CONFIG_SECCOMP_FILTER)";
	/* an fd that is not a pidfd: EBADF where the call exists */
	if (syscall(SYS_pidfd_getfd, -1, 0, 0) < 0 && errno == ENOSYS)
		return "pidfd_getfd (Linux 5.6)";
	pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pfd < 0 && errno == ENOSYS)
		return "pidfd_open (Linux 5.3)";
	if (pfd >= 0)
		close(pfd);
	pid = fork();
	if (pid < 0)
		return NULL;    /* cannot tell: try */
	if (pid == 0)
		probe_child();
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
		return "seccomp user notification (Linux 5.0, CONFIG_SECCOMP_FILTER)";
	if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
		return "SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9)";
	return NULL;
}
