/*
 * spawn.h - start one worker process.
 */
#ifndef LAUNCHER_SPAWN_H
#define LAUNCHER_SPAWN_H

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

/* Who a worker runs as (--user): resolved before fork, since getpwnam
 * and initgroups are not async-signal-safe. */
struct creds {
	int drop;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[64];
};

struct spawn_args {
	const char *path;
	char **argv;
	char **envp;
	int keep_fd;            /* made inheritable in the child (doorbell), or -1 */
	int out_fd, err_fd;     /* dup'ed to 1 and 2 when >= 0 */
	const struct rlimit *nofile;
	const struct creds *creds;
	/* --via seccomp: install this filter last, and send its notify fd
	 * over notify_sock (seccomp_filter.c).  NULL: the shim's way. */
	const struct sock_fprog *filter;
	int notify_sock;
	/* Called in the child last, just before exec (async-signal-safe
	 * only): the mechanism's own step, here the filter's installation.
	 * 0, or -1 with errno: the exec is not attempted.  May be NULL. */
	int (*child_last)(const struct spawn_args *a);
};

/* fork+exec.  Returns the pid, or -1 with errno: the exec error when the
 * program could not be executed, reported through a CLOEXEC pipe. */
pid_t spawn_process(const struct spawn_args *a);
/* sig to the process group a spawned process leads (a wrapper script's
 * server, a prefork server's children), or to the process alone when it
 * has left its group. */
void spawn_signal(pid_t pid, int sig);

/* How the supervisor starts and signals workers: spawn_process and kill(2)
 * unless struct cluster's `procs` points elsewhere.  A seam for tests,
 * which run slots.c, retire.c and health.c in process with fake workers:
 * a spawn that returns a made-up pid and starts nothing, a kill that
 * records the signal.  Their exits are then told to the supervisor the
 * way reaping would (slots_worker_exited). */
struct proc_ops {
	pid_t (*spawn)(const struct spawn_args *a);
	int (*kill)(pid_t pid, int sig);
};

#endif
