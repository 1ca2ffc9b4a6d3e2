/*
 * limits.c - fail at start, in one line, where the kernel's limits would
 * make every worker fail later in ways that do not name the cause.
 *
 * Open files.  The master holds fds for every worker: with the limit too
 * low for N workers the first workers' binds fail with EMFILE in the
 * master, and what the program prints is a cascade of its own errors
 * (bind: Too many open files, then "address in use" from the next try)
 * until cluster-run gives up with 126.  main.c raises the soft limit to
 * the hard one; if that is still short of limits_fds_needed(), cluster-run
 * stops with status 2.  The estimate, counted on a running master with
 * /proc/PID/fd (README, "Limits"):
 *
 *   16 for the master itself (stdio, epoll, signalfd, the guard's pipe,
 *      the control and metrics sockets, sd_notify, the census's netlink
 *      socket, a listener, a connection in hand, log files)
 *   + 4 under a channel policy: the window of connections queued on a
 *      retiring worker, taken back into the master's table
 *   + (N + 1) x per worker (the + 1: a reload runs a replacement beside
 *      the worker it replaces), per worker:
 *        1 doorbell + 1 board + 1 private channel of its process
 *        + 2 output pipes (--log-prefix, --log-time, --log-format json,
 *          --log-dir) + 1 its --log-dir file
 *        + 1 seccomp notify fd (--via seccomp)
 *        + per listener (one assumed: the program's are not known yet):
 *          channel policies 2 (the channel's two ends); reuseport 1 (the
 *          slot's socket); shared 0.
 * Measured here at -n 4 and -n 8, steady and at the peak of a reload:
 * rr 30/36 and 50/56 fds (the estimate: 45, 65), with --log-dir 43/47 and
 * 75/83 (60, 92), reuseport 25/29 and 41/45 (36, 52), shared 22/25 and
 * 34/38 (31, 43).  The connections queued on the channels (4 a worker)
 * count against the same limit while in flight (not root's), which the
 * fd table's figure always exceeds.
 *
 * exec().  The kernel refuses an exec with E2BIG when one argument or
 * variable is longer than MAX_ARG_STRLEN (32 pages, 128 KiB with its
 * NUL), or when all of them with their pointers exceed a quarter of the
 * stack limit (capped at 6 MiB, at least 128 KiB: fs/exec.c).  The master
 * itself was exec'd with its own environment, but -e and --env-file add
 * to it: a 200 KiB value used to pass and then fail every start, every
 * 10 s, under a hint about io_uring.  The check builds slot N-1's
 * environment as worker_spawn does (the longest slot number).
 */
#include "supervise/limits.h"
#include "cluster.h"
#include "base/log.h"
#include "base/logline.h"
#include "supervise/worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MASTER_FDS 16
#define CHANNEL_FDS 2           /* the channel's two ends */
#define WINDOW_FDS 4            /* balancer.c's WINDOW */
#define MAX_ARG_STRLEN_ (32 * 4096L)
#define STACK_CAP (6L << 20)    /* _STK_LIM / 4 * 3 */
#define ARG_FLOOR (128L << 10)  /* ARG_MAX: the least the kernel allows */
#define ENV_MARGIN 128          /* what is not there yet: CLUSTER_RUN_MASTER
				 * (guard.c), CLUSTER_WORKERS' final value */

long limits_fds_needed(const struct cluster *c)
{
	const struct policy_ops *ops = c->opt->policy;
	long per = 3;

	if (logline_pipes_wanted())
		per += 2;
	if (c->opt->log_dir)
		per += 1;
	if (c->prog->via == VIA_SECCOMP)
		per += 1;
	if (ops->channel)
		per += CHANNEL_FDS;
	else if (ops->per_slot_sockets)
		per += 1;
	return MASTER_FDS + (ops->channel ? WINDOW_FDS : 0) + (c->opt->workers + 1L) * per;
}

int limits_check_fds(const struct cluster *c)
{
	long need = limits_fds_needed(c);
	struct rlimit now;

	if (getrlimit(RLIMIT_NOFILE, &now) < 0 || now.rlim_cur == RLIM_INFINITY ||
	    (long)now.rlim_cur >= need)
		return 0;
	log_warnx("%d worker%s under %s need about %ld open files in cluster-run; its limit is "
		  "%ld (hard limit %ld): raise it (ulimit -n %ld, LimitNOFILE=) or run fewer "
		  "workers (README, \"Limits\")", c->opt->workers, c->opt->workers == 1 ? "" : "s",
		  c->opt->policy->name, need, (long)now.rlim_cur,
		  now.rlim_max == RLIM_INFINITY ? -1L : (long)now.rlim_max, need);
	return -1;
}

/* The longest string, its index and total size of a NULL-ended list. */
static long measure(char *const *list, size_t *count, long *longest, size_t *at)
{
	long total = 0;
	size_t i;

	for (i = 0; list && list[i]; i++) {
		long len = (long)strlen(list[i]) + 1;

		total += len;
		if (len > *longest) {
			*longest = len;
			*at = i;
		}
	}
	*count = i;
	return total;
}

static long exec_limit(void)
{
	struct rlimit st;
	long limit = STACK_CAP;

	if (getrlimit(RLIMIT_STACK, &st) == 0 && st.rlim_cur != RLIM_INFINITY &&
	    (long)(st.rlim_cur / 4) < limit)
		limit = (long)(st.rlim_cur / 4);
	return limit > ARG_FLOOR ? limit : ARG_FLOOR;
}

/* One line about the longest string, when it is over MAX_ARG_STRLEN. */
static int too_long(const char *what, const char *s, long len)
{
	int name = (int)strcspn(s, "=");

	if (len <= MAX_ARG_STRLEN_)
		return 0;
	if (!strcmp(what, "variable"))
		log_warnx("the workers' environment variable %.*s=... is %ld bytes; exec() "
			  "takes at most %ld per variable (MAX_ARG_STRLEN): PROGRAM could never "
			  "start", name > 64 ? 64 : name, s, len - 1, MAX_ARG_STRLEN_ - 1);
	else
		log_warnx("an argument of PROGRAM is %ld bytes; exec() takes at most %ld "
			  "per argument (MAX_ARG_STRLEN)", len - 1, MAX_ARG_STRLEN_ - 1);
	return 1;
}

int limits_check_exec(struct cluster *c)
{
	int seccomp = c->prog->via == VIA_SECCOMP, sv[2] = { -1, -1 };
	long env_longest = 0, arg_longest = 0, total, limit = exec_limit();
	size_t nenv, nargs, env_at = 0, arg_at = 0;
	char **env;

	/* a doorbell of the real kind: its fd:inode is in the environment */
	if (!seccomp && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;       /* the spawn will say what is wrong */
	env = worker_env(c, c->opt->workers - 1, seccomp ? -1 : sv[1]);
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	if (!env)
		return 0;
	total = measure(env, &nenv, &env_longest, &env_at) +
		measure(c->opt->argv, &nargs, &arg_longest, &arg_at) +
		(long)strlen(c->prog->path) + 1 + ENV_MARGIN +
		(long)((nenv + (nargs ? nargs : 1)) * sizeof(char *));
	if (too_long("variable", env[env_at], env_longest) ||
	    too_long("argument", c->opt->argv[arg_at], arg_longest)) {
		worker_env_free(env);
		return -1;
	}
	worker_env_free(env);
	if (total <= limit)
		return 0;
	log_warnx("the workers' arguments and environment take %ld bytes; exec() takes at most "
		  "%ld (a quarter of the stack limit, ulimit -s, at most 6 MiB): PROGRAM could "
		  "never start", total, limit);
	return -1;
}
