/*
 * supervisor.c - the process side of supervision: signals, reaping, the
 * loop's before-sleep pass, and PID 1 / subreaper duties.  What happens
 * to slots and workers is slots.c's (the state machine) and retire.c's.
 *
 * Signals arrive through a signalfd into the one loop; nothing runs in a
 * signal handler.  Children are reaped with waitpid(-1, WNOHANG) until none
 * is left, which also reaps orphans adopted as PID 1 or as a subreaper;
 * follow.c decides what those orphans are (a daemon a worker left, to
 * follow, or leftovers to kill).
 *
 * The before-sleep pass runs once per turn of the loop: it applies what
 * handlers only marked (a worker that started listening, a listener with
 * connections to hand out), then lets the slots advance (slots_step), and
 * ends the loop once a stop has no worker left.  So message handlers never
 * call back up into the supervisor halfway through their own work.
 */
#include "supervise/supervisor.h"
#include "cluster.h"
#include "base/log.h"
#include "base/logline.h"
#include "base/loop.h"
#include "base/state.h"
#include "policy/balancer.h"
#include "supervise/accept_rate.h"
#include "supervise/follow.h"
#include "supervise/health.h"
#include "supervise/release.h"
#include "supervise/retire.h"
#include "supervise/rollout.h"
#include "supervise/slots.h"
#include "supervise/slots_recycle.h"
#include "supervise/slots_scale.h"
#include "supervise/worker.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static int64_t secs_ms(double s)
{
	return (int64_t)(s * 1000.0 + 0.5);
}

#define REAP_BATCH 64

/* Every child that exited.  Exits are gathered first, then the processes
 * they orphaned to us are looked at (follow_scan), and only then does each
 * worker's exit count: a daemon it left may be its process now
 * (follow.c), else the exit is its slot's (slots.c). */
static void reap(struct cluster *c)
{
	struct worker *w[REAP_BATCH];
	int st[REAP_BATCH], n, i, status;
	pid_t pid;

	do {
		n = 0;
		while (n < REAP_BATCH && (pid = waitpid(-1, &status, WNOHANG)) > 0) {
			struct worker *x = worker_by_pid(c, pid);

			follow_reaped(c, pid);  /* adopted, or a daemon followed */
			if (x) {
				w[n] = x;
				st[n++] = status;
			}
		}
		follow_scan(c);
		for (i = 0; i < n; i++)
			if (!follow_exit(c, w[i], st[i]))
				slots_worker_exited(c, w[i], st[i]);
	} while (n == REAP_BATCH);
}

void supervisor_finish(struct cluster *c)
{
	/* orphans a worker left (double-forked daemons reparented to us as
	 * subreaper or PID 1) do not outlive cluster-run either */
	follow_kill_all(c);
	loop_stop(c->loop);
}

/* See the file comment. */
static void before_sleep(struct loop *loop, void *data)
{
	struct cluster *c = data;
	int i, dirty;

	(void)loop;
	slots_heard_listens(c);
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		if (l->kick) {
			l->kick = 0;
			balancer_kick(c, l);
		}
	}
	/* the rollout looks at every slot's leaving workers: only when a
	 * slot changed (a busy loop turns once per connection) */
	dirty = c->slots_dirty;
	slots_step(c);
	if (dirty)
		rollout_step(c);
	if (c->stopping && c->nworkers == 0)
		supervisor_finish(c);
}

static void forward(struct cluster *c, int sig)
{
	int i;

	for (i = 0; i < c->nworkers; i++)
		worker_signal(c->workers[i], sig);
}

/* USR1 reopens our own log files (--log-dir: cluster-run writes every
 * worker's file itself).  It is not forwarded unless --forward-usr1:
 * programs give USR1 meanings of their own (Node opens its inspector on
 * 127.0.0.1:9229, which cluster-run would then cluster and announce; a
 * program without a handler dies of it).  `cluster-ctl signal USR1` is
 * the way to reach the workers. */
static void usr1(struct cluster *c)
{
	static int said;

	logline_reopen();
	if (c->opt->forward_usr1) {
		forward(c, SIGUSR1);
		return;
	}
	if (!c->opt->log_dir && !said) {
		said = 1;
		log_warnx("USR1: no --log-dir files to reopen, and USR1 is not forwarded to "
			  "the workers (use `cluster-ctl signal USR1`, or --forward-usr1)");
	}
}

static void signal_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct cluster *c = data;
	struct signalfd_siginfo si;

	(void)loop;
	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(c);
			break;
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			supervisor_stop(c, (int)si.ssi_signo);
			break;
		case SIGHUP:
			supervisor_reload(c);
			break;
		case SIGTTIN:
			supervisor_scale(c, +1);
			break;
		case SIGTTOU:
			supervisor_scale(c, -1);
			break;
		case SIGUSR1:
			usr1(c);
			break;
		case SIGUSR2:
			/* an in-place upgrade (surface/upgrade.c), as nginx
			 * and unicorn take USR2.  It used to be forwarded to
			 * the workers: `cluster-ctl signal USR2` still
			 * reaches them.  Forwarded as before when nobody
			 * wired the upgrade (unit tests). */
			if (c->hooks.upgrade_requested)
				c->hooks.upgrade_requested(c);
			else
				forward(c, SIGUSR2);
			break;
		default:
			forward(c, (int)si.ssi_signo);
			break;
		}
	}
}

static void quiet_warning(struct loop *loop, void *data)
{
	struct cluster *c = data;
	int i, attached = 0;

	(void)loop;
	c->quiet_timer = 0;
	for (i = 0; i < c->nworkers; i++)
		attached |= c->workers[i]->attached;
	if (attached)
		log_warnx("no worker is listening after %gs (it bound an address but "
			  "never called listen()); still waiting", c->opt->listen_timeout);
	else
		log_warnx("no worker has bound an address after %gs: is %s a server? "
			  "(io_uring programs cannot be clustered; raw socket system calls "
			  "need --via seccomp; see README)",
			  c->opt->listen_timeout, c->prog->path);
}

static int setup_signals(struct cluster *c)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP,
				    SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH };
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	c->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c->sigfd < 0)
		return -1;
	return loop_add_fd(c->loop, c->sigfd, EPOLLIN, signal_event, c);
}

int supervisor_start(struct cluster *c)
{
	if (setup_signals(c) < 0) {
		log_warn("signals");
		return -1;
	}
	/* Orphans of our workers come to us, not to init, so they are
	 * reaped and cannot outlive us (PID 1 gets them anyway). */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("PR_SET_CHILD_SUBREAPER");
	c->started_ms = loop_now_ms();
	loop_set_before_sleep(c->loop, before_sleep, c);
	c->hooks.doorbell_closed = worker_doorbell_closed;
	slots_start(c);
	c->quiet_timer = loop_timer(c->loop, secs_ms(c->opt->listen_timeout), quiet_warning, c);
	if (health_start(c, supervisor_replace) < 0) {
		log_warn("health checks");
		return -1;
	}
	if (accept_rate_start(c) < 0)
		log_warnx("accept rates: out of memory (status shows none)");
	return 0;
}

/* --- an in-place upgrade (supervisor.h) --- */

int supervisor_save(struct cluster *c, struct state_out *o)
{
	state_rec(o, "supervisor");
	state_i64(o, "quiet_due", loop_timer_due(c->loop, c->quiet_timer));
	state_i64(o, "started_ms", c->started_ms);
	return 0;
}

int supervisor_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "supervisor");
	int64_t due = r ? rec_i64(r, "quiet_due", -1) : -1;

	release_restore_end();  /* every module took its releases by now */
	/* The signal mask crossed the exec, and so did what is pending:
	 * a SIGCHLD of a worker that exited meanwhile is read at the first
	 * turn of the loop, and reaped then. */
	if (setup_signals(c) < 0) {
		log_warn("signals");
		return -1;
	}
	/* execve keeps it (prctl(2)); set again all the same, as cheap as
	 * asking, in case a kernel or a set-user-ID binary did not */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("PR_SET_CHILD_SUBREAPER");
	if (r && rec_has(r, "started_ms"))
		c->started_ms = rec_i64(r, "started_ms", c->started_ms);
	loop_set_before_sleep(c->loop, before_sleep, c);
	c->hooks.doorbell_closed = worker_doorbell_closed;
	if (due >= 0)
		c->quiet_timer = loop_timer_at(c->loop, due, quiet_warning, c);
	if (health_start(c, supervisor_replace) < 0) {
		log_warn("health checks");
		return -1;
	}
	if (accept_rate_start(c) < 0)
		log_warnx("accept rates: out of memory (status shows none)");
	/* what happened meanwhile (a listen heard, a slot changed): looked
	 * at in the first pass */
	c->slots_dirty = 1;
	return 0;
}
