/*
 * guard.c - nothing of a cluster outlives its master, however the master
 * dies (kill -9 included).
 *
 * PR_SET_PDEATHSIG only covers the process the master forked: it fires when
 * the *immediate* parent exits, so setting it in every descendant would kill
 * programs that daemonize on purpose, and prefork children, fork-per-
 * connection children and setsid() daemons do not have it.  Instead, before
 * any worker exists, the master starts a guard: a tiny process (double
 * forked, so it is not one of the master's children that tests and users
 * count as workers) that holds the read end of a pipe whose write end only
 * the master holds (close-on-exec, so no worker inherits it).  The master
 * writes each worker's pid (= its process group) down the pipe, and 0 when
 * it exits normally.  EOF without that 0 means the master died: the guard
 * SIGKILLs every process of the cluster, scanning /proc again until a pass
 * finds none left (a process may fork while we kill).  A process belongs
 * to the cluster when
 *   - its owner is the master's user (or --user's) and its initial
 *     environment block holds CLUSTER_RUN_MASTER=PID:STARTTIME,
 *     which the master puts in its own environment, so every worker and
 *     every descendant, setsid() daemons and exec'd programs included,
 *     inherits it (nothing removes it; /proc/PID/environ shows the block the
 *     process started with, whatever it did to `environ` since), or
 *   - it is in a worker's process group and in the master's session, or
 *     in the group and session a followed daemon made (setsid: both are
 *     the daemon's pid, which the master tells the guard when it follows
 *     it; an nginx master that daemonized is found this way),
 *     whoever owns it (for programs that overwrite their environment block
 *     with a process title, like nginx, whose workers also change user:
 *     they stay in the worker's group; a process cannot join a group of
 *     another session), or
 *   - its parent is one of the above.
 * The guard costs nothing on the data path: it sleeps in read() until a
 * worker is spawned or the master goes.
 *
 * Not needed, hence not started, when the master is PID 1: the kernel kills
 * every process of a PID namespace when its init dies.  What it cannot
 * find: a process that left the worker's process group, overwrote its
 * environment block and whose parent is gone, all three (README).
 *
 * The guard can die too (kill -9 by someone tidying up "stray"
 * processes, the OOM killer).  The master watches its end of the pipe in
 * the loop: once the guard's read end is gone, the write end reports
 * EPOLLERR.  The master says so and starts a new guard, which it tells
 * every live worker's group again.  The guard is not the master's child
 * (so SIGCHLD cannot tell), and must not become one: the master is a
 * subreaper by then, so it clears that for the moment of the double
 * fork, or the guard would be handed to it when the middle process exits.
 */
#include "supervise/guard.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUARD_ENV "CLUSTER_RUN_MASTER"
#define MAX_GROUPS 4096
#define MAX_PROCS 8192
#define MAX_PASSES 500
#define MAX_RESTARTS 5          /* guards started within RESTART_WINDOW_MS... */
#define RESTART_WINDOW_MS 60000 /* ... before the master gives up on them */

struct guard_state {
	char marker[64];                /* "CLUSTER_RUN_MASTER=PID:START" */
	size_t marker_len;
	pid_t sid;                      /* the master's session */
	uid_t uids[3];                  /* owners whose processes may be ours */
	pid_t groups[MAX_GROUPS];       /* workers' process groups */
	int ngroups;
};

struct proc {
	pid_t pid, ppid, pgrp, sid;
	int ours;
};

static int guard_wfd = -1;
static pid_t guard_pid;
static struct guard_state guard;
static struct {
	int64_t at[MAX_RESTARTS];       /* when the last ones were started */
	int n;
} restarts;

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot; with
 * the pid it names one process for the life of the machine. */
static int read_stat(pid_t pid, struct proc *p, unsigned long long *start, char *state)
{
	char path[64], buf[1024], *r;
	unsigned long long st;
	int fd, ppid, pgrp, sid;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	r = strrchr(buf, ')');      /* the command name may hold anything */
	if (!r || sscanf(r + 2, "%c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
				"%*d %*d %llu", state, &ppid, &pgrp, &sid, &st) != 5)
		return -1;
	p->pid = pid;
	p->ppid = ppid;
	p->pgrp = pgrp;
	p->sid = sid;
	if (start)
		*start = st;
	return 0;
}

/* Whether the environment block the process started with holds the
 * marker, read in chunks that overlap by the marker's length. */
static int has_marker(const struct guard_state *g, pid_t pid)
{
	static char buf[65536 + 64];
	char path[64];
	size_t keep = 0;
	ssize_t n;
	int fd, found = 0;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (!found && (n = read(fd, buf + keep, sizeof(buf) - 64 - keep)) > 0) {
		size_t len = keep + (size_t)n, i;

		for (i = 0; i + g->marker_len <= len; i++)
			if ((i == 0 ? keep == 0 : buf[i - 1] == '\0') &&
			    i + g->marker_len < len && buf[i + g->marker_len] == '\0' &&
			    !memcmp(buf + i, g->marker, g->marker_len)) {
				found = 1;
				break;
			}
		keep = len < g->marker_len + 1 ? len : g->marker_len + 1;
		memmove(buf, buf + len - keep, keep);
	}
	close(fd);
	return found;
}

static int owner_allowed(const struct guard_state *g, pid_t pid)
{
	char path[64];
	struct stat st;
	size_t i;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st) < 0)
		return 0;
	for (i = 0; i < sizeof(g->uids) / sizeof(g->uids[0]); i++)
		if (st.st_uid == g->uids[i])
			return 1;
	return 0;
}

static int in_groups(const struct guard_state *g, pid_t pgrp)
{
	int i;

	for (i = 0; i < g->ngroups; i++)
		if (g->groups[i] == pgrp)
			return 1;
	return 0;
}

/* One pass: find every process of the cluster and SIGKILL it.  How many
 * were found. */
static int kill_pass(const struct guard_state *g)
{
	static struct proc procs[MAX_PROCS];
	struct dirent *e;
	int n = 0, i, j, found = 0, grew;
	pid_t self = getpid();
	DIR *d = opendir("/proc");

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < MAX_PROCS) {
		char *end, state;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 1 || pid == self || read_stat((pid_t)pid, &procs[n], NULL, &state) < 0 ||
		    state == 'Z' || state == 'X')
			continue;
		/* A worker's group in our session can only hold processes
		 * that descend from it, whatever uid they took (nginx's
		 * workers become nobody); so can the group of a followed
		 * daemon in the session it made (setsid: session = group =
		 * the daemon's pid, told us by follow.c).  Anyone can copy the
		 * marker into an environment, so it counts only for our own
		 * users. */
		procs[n].ours = (in_groups(g, procs[n].pgrp) &&
				 (procs[n].sid == g->sid || procs[n].sid == procs[n].pgrp)) ||
				(owner_allowed(g, (pid_t)pid) && has_marker(g, (pid_t)pid));
		n++;
	}
	closedir(d);
	do {                    /* children of ours are ours */
		grew = 0;
		for (i = 0; i < n; i++) {
			if (procs[i].ours)
				continue;
			for (j = 0; j < n; j++)
				if (procs[j].ours && procs[j].pid == procs[i].ppid) {
					procs[i].ours = grew = 1;
					break;
				}
		}
	} while (grew);
	for (i = 0; i < n; i++)
		if (procs[i].ours && kill(procs[i].pid, SIGKILL) == 0)
			found++;
	return found;
}

static void prune_groups(struct guard_state *g)
{
	int i;

	for (i = 0; i < g->ngroups;)
		if (kill(-g->groups[i], 0) < 0 && errno == ESRCH)
			g->groups[i] = g->groups[--g->ngroups];
		else
			i++;
}

static void note_group(struct guard_state *g, pid_t pgrp)
{
	if (g->ngroups == MAX_GROUPS)
		prune_groups(g);
	if (g->ngroups < MAX_GROUPS && !in_groups(g, pgrp))
		g->groups[g->ngroups++] = pgrp;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void guard_main(struct guard_state *g, int rfd, pid_t master)
{
	int32_t pid;
	ssize_t n;
	int pass, killed = 0, k;

	for (;;) {
		n = read(rfd, &pid, sizeof(pid));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == (ssize_t)sizeof(pid) && pid > 0) {
			note_group(g, (pid_t)pid);
			continue;
		}
		if (n == (ssize_t)sizeof(pid) && pid == 0)
			_exit(0);               /* the master is leaving normally */
		break;                          /* EOF: the master died */
	}
	/* Prune first: a group whose processes are all gone may be reused. */
	prune_groups(g);
	for (pass = 0; pass < MAX_PASSES && (k = kill_pass(g)) > 0; pass++) {
		killed += k;
		nap_ms(2);
	}
	if (killed)
		log_warnx("guard: master %d died; killed %d process%s of its workers",
			  (int)master, killed, killed == 1 ? "" : "es");
	_exit(0);
}

static void guard_child(struct guard_state *g, int rfd, pid_t master)
{
	int null, sig;

	setsid();       /* no terminal signals; the master's sid is in g */
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_IGN);
	prctl(PR_SET_NAME, "cluster-guard");
	if (dup2(rfd, 3) < 0)
		_exit(1);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
	}
	/* Hold nothing of the master's (or of whoever started it) but the
	 * pipe and stderr: nobody waits on us for an EOF. */
	if (close_range(4, ~0U, 0) < 0)
		for (int fd = 4; fd < 1024; fd++)
			close(fd);
	guard_main(g, 3, master);
}

static void guard_release(void)
{
	int32_t bye = 0;

	if (guard_wfd < 0)
		return;
	if (write(guard_wfd, &bye, sizeof(bye)) < 0) {
		/* the guard is gone already: nothing to tell */
	}
	close(guard_wfd);
	guard_wfd = -1;
}

/* Fork the guard (double: see the file comment); its pid, or -1.  The
 * write end of its pipe goes to guard_wfd. */
static pid_t spawn_guard(pid_t master)
{
	int p[2], q[2], st, reaper = 0;
	pid_t pid, got = -1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(q, O_CLOEXEC) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (prctl(PR_GET_CHILD_SUBREAPER, &reaper) == 0 && reaper)
		prctl(PR_SET_CHILD_SUBREAPER, 0);
	pid = fork();
	if (pid == 0) {
		pid_t g;

		close(p[1]);
		close(q[0]);
		g = fork();
		if (g == 0) {
			close(q[1]);
			guard_child(&guard, p[0], master);
		}
		if (write(q[1], &g, sizeof(g)) != (ssize_t)sizeof(g))
			_exit(1);
		_exit(0);
	}
	close(p[0]);
	close(q[1]);
	if (pid > 0) {
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (read(q[0], &got, sizeof(got)) != (ssize_t)sizeof(got))
			got = -1;
	}
	if (reaper)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	close(q[0]);
	if (got <= 0) {
		close(p[1]);
		return -1;
	}
	if (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0)
		log_warn("guard: pipe");
	guard_wfd = p[1];
	return got;
}

static void guard_event(struct loop *loop, int fd, uint32_t events, void *data);

/* Watch the guard's pipe in the loop: EPOLLERR once its reader is gone. */
static void watch_guard(struct cluster *c)
{
	if (c->loop && loop_add_fd(c->loop, guard_wfd, 0, guard_event, c) < 0)
		log_warn("guard: watching it");
}

/* The guard is gone: say so, start another, tell it every live worker. */
static void restart_guard(struct cluster *c)
{
	pid_t old = guard_pid;
	int64_t now = loop_now_ms();
	int i;

	if (guard_wfd >= 0) {
		if (c->loop)
			loop_del_fd(c->loop, guard_wfd);
		close(guard_wfd);
		guard_wfd = -1;
	}
	if (restarts.n == MAX_RESTARTS && now - restarts.at[0] < RESTART_WINDOW_MS) {
		log_warnx("guard (pid %d) died, %d times within %ds; going on without one "
			  "(a kill -9 of cluster-run would leave its workers running)", (int)old,
			  MAX_RESTARTS + 1, RESTART_WINDOW_MS / 1000);
		return;
	}
	if (restarts.n == MAX_RESTARTS)
		memmove(restarts.at, restarts.at + 1, sizeof(restarts.at[0]) * (MAX_RESTARTS - 1));
	else
		restarts.n++;
	restarts.at[restarts.n - 1] = now;
	guard_pid = spawn_guard(getpid());
	if (guard_pid < 0) {
		log_warn("guard (pid %d) died, and a new one cannot be started; going on "
			 "without one", (int)old);
		return;
	}
	log_warnx("guard (pid %d) died; a new one (pid %d) watches the workers", (int)old,
		  (int)guard_pid);
	watch_guard(c);
	for (i = 0; i < c->nworkers; i++)
		guard_watch(c, c->workers[i]->pgid);    /* a followed daemon's own */
}

static void guard_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	(void)loop;
	(void)fd;
	if (events & (EPOLLERR | EPOLLHUP))
		restart_guard(data);
}

int guard_start(struct cluster *c)
{
	unsigned long long start;
	struct proc self;
	pid_t master = getpid();
	char state;

	if (master == 1)
		return 0;
	if (read_stat(getpid(), &self, &start, &state) < 0) {
		log_warn("guard: /proc/self/stat");
		return -1;
	}
	snprintf(guard.marker, sizeof(guard.marker), "%s=%d:%llu", GUARD_ENV, (int)getpid(), start);
	guard.marker_len = strlen(guard.marker);
	if (setenv(GUARD_ENV, strchr(guard.marker, '=') + 1, 1) < 0) {
		log_warn("guard: %s", GUARD_ENV);
		return -1;
	}
	guard.sid = getsid(0);
	guard.uids[0] = getuid();
	guard.uids[1] = geteuid();
	guard.uids[2] = c->creds.drop ? c->creds.uid : geteuid();
	guard_pid = spawn_guard(master);
	if (guard_pid < 0) {
		log_warn("guard: fork");
		return -1;
	}
	watch_guard(c);
	atexit(guard_release);
	return 0;
}

void guard_watch(struct cluster *c, pid_t pgrp)
{
	int32_t v = (int32_t)pgrp;

	if (guard_wfd < 0 || write(guard_wfd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		return;
	/* EPIPE: someone killed the guard (SIGPIPE is ignored by then): a
	 * new one, which learns of every worker, this one included */
	if (errno == EPIPE) {
		restart_guard(c);
		return;
	}
	/* EAGAIN: it stopped reading (SIGSTOP).  Said once: we go on
	 * without it. */
	log_warn("guard: cannot note worker %d; going on without the guard", (int)pgrp);
	if (c->loop)
		loop_del_fd(c->loop, guard_wfd);
	close(guard_wfd);
	guard_wfd = -1;
}

/* --- an in-place upgrade (guard.h) --- */

int guard_save(struct cluster *c, struct state_out *o)
{
	(void)c;
	state_rec(o, "guard");
	state_fd(o, "wfd", guard_wfd);
	state_i64(o, "pid", guard_pid);
	state_str(o, "marker", guard.marker[0] ? guard.marker : NULL);
	state_i64(o, "sid", guard.sid);
	state_i64(o, "uid0", guard.uids[0]);
	state_i64(o, "uid1", guard.uids[1]);
	state_i64(o, "uid2", guard.uids[2]);
	state_bytes(o, "restarts", restarts.at, sizeof(restarts.at[0]) * (size_t)restarts.n);
	return 0;
}

int guard_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "guard");
	const char *marker;
	long n;

	if (!r || getpid() == 1)
		return 0;       /* none: PID 1 needs none (guard_start) */
	marker = rec_str(r, "marker", "");
	snprintf(guard.marker, sizeof(guard.marker), "%s", marker);
	guard.marker_len = strlen(guard.marker);
	guard.sid = (pid_t)rec_i64(r, "sid", getsid(0));
	guard.uids[0] = (uid_t)rec_i64(r, "uid0", getuid());
	guard.uids[1] = (uid_t)rec_i64(r, "uid1", geteuid());
	guard.uids[2] = (uid_t)rec_i64(r, "uid2", geteuid());
	n = rec_bytes(r, "restarts", restarts.at, sizeof(restarts.at));
	restarts.n = n > 0 ? (int)((size_t)n / sizeof(restarts.at[0])) : 0;
	/* workers started from now on inherit it, as from guard_start's
	 * setenv (the exec most likely carried it in the environment) */
	if (strchr(guard.marker, '=') && setenv(GUARD_ENV, strchr(guard.marker, '=') + 1, 1) < 0)
		log_warn("guard: %s", GUARD_ENV);
	guard_pid = (pid_t)rec_i64(r, "pid", 0);
	guard_wfd = rec_fd(r, "wfd");
	atexit(guard_release);
	if (guard_wfd < 0) {
		/* the old image went on without one (it gave up on restarts) */
		if (guard.marker[0])
			log_warnx("upgrade: no guard was running: going on without one");
		return 0;
	}
	watch_guard(c);
	return 0;
}
