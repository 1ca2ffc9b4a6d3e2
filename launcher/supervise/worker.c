/*
 * worker.c - one worker: its process (spawned as a process group), its
 * environment, and its lifetime in the master's table.
 *
 * Not here: what its processes say (mechanism/shim_peer.c: the shim's
 * messages; mechanism/seccomp_notify.c: trapped system calls), when workers
 * start and stop (slots.c), where connections go (policy/).
 */
#include "supervise/worker.h"
#include "cluster.h"
#include "base/envfile.h"
#include "base/log.h"
#include "base/logline.h"
#include "base/loop.h"
#include "base/output.h"
#include "base/procstat.h"
#include "base/spawn.h"
#include "mechanism/seccomp_notify.h"
#include "mechanism/shim_peer.h"
#include "net/board.h"
#include "net/listener.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "supervise/guard.h"
#include "supervise/release.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;



/* Processes are started and signalled through c->procs when a test set
 * it (spawn.h), else for real. */
static const struct proc_ops real_procs = { .spawn = spawn_process, .kill = kill };

static const struct proc_ops *procs_of(const struct cluster *c)
{
	return c->procs ? c->procs : &real_procs;
}

static int starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* The program's environment: ours with --env-file and -e over it (envfile.c),
 * minus stale cluster variables, plus the slot's.  The shim goes first in
 * LD_PRELOAD; the user's entries follow.  A seccomp worker (doorbell -1)
 * gets neither the shim nor a doorbell. */
static char **build_env(struct cluster *c, const struct release *rel, int slot, int doorbell)
{
	char **base = env_list_overlay(rel ? &rel->env : &c->opt->env, environ);
	const char *preload = NULL;
	size_t n = 0, k = 0;
	struct stat st;
	char **env;

	if (!base)
		return NULL;
	while (base[n])
		if (starts_with(base[n++], "LD_PRELOAD="))
			preload = base[n - 1] + strlen("LD_PRELOAD=");
	env = calloc(n + 5, sizeof(*env));
	if (!env) {
		free(base);
		return NULL;
	}
	for (n = 0; base[n]; n++) {
		const char *e = base[n];
		if (starts_with(e, CLUSTER_ENV_FD "=") || starts_with(e, CLUSTER_ENV_WORKER_ID "=") ||
		    starts_with(e, CLUSTER_ENV_WORKERS "=") || starts_with(e, "LD_PRELOAD="))
			continue;
		env[k++] = strdup(e);
	}
	if (doorbell < 0) {
		if ((preload && asprintf(&env[k++], "LD_PRELOAD=%s", preload) < 0) ||
		    asprintf(&env[k++], "%s=%d", CLUSTER_ENV_WORKER_ID, slot) < 0 ||
		    asprintf(&env[k++], "%s=%d", CLUSTER_ENV_WORKERS, c->target) < 0)
			env[k - 1] = NULL;
		free(base);
		return env;
	}
	/* fd:inode, so that a program started later from a saved copy of
	 * this environment cannot mistake another fd for the doorbell */
	if (fstat(doorbell, &st) < 0 ||
	    asprintf(&env[k++], "%s=%d:%lu", CLUSTER_ENV_FD, doorbell, (unsigned long)st.st_ino) < 0 ||
	    asprintf(&env[k++], "%s=%d", CLUSTER_ENV_WORKER_ID, slot) < 0 ||
	    asprintf(&env[k++], "%s=%d", CLUSTER_ENV_WORKERS, c->target) < 0 ||
	    asprintf(&env[k++], "LD_PRELOAD=%s%s%s", c->shim_path,
		     preload && *preload ? ":" : "", preload ? preload : "") < 0)
		env[k - 1] = NULL;
	free(base);
	return env;
}

static void free_env(char **env)
{
	size_t i;

	for (i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

char **worker_env(struct cluster *c, int slot, int doorbell)
{
	return build_env(c, c->release, slot, doorbell);
}

void worker_env_free(char **env)
{
	free_env(env);
}

const char *worker_state_name(enum worker_state st)
{
	switch (st) {
	case W_STARTING: return "starting";
	case W_READY:    return "ready";
	case W_DRAINING: return "draining";
	case W_STOPPING: return "stopping";
	}
	return "?";
}

/*
 * A worker's states only move forward, and it is always drained before it
 * is stopped: retire.c drains, then worker_stop(); slots.c's stop_hung
 * drains (at once) too.  A worker is born STARTING (worker_spawn) and
 * leaves the table by exiting (worker_free), from any state.  Setting the
 * state it already has is no transition and always allowed.
 */
#define TO(st) (1u << (st))
static const unsigned worker_edges[] = {
	[W_STARTING] =
		TO(W_READY) |           /* it listens (slots_worker_listening) */
		TO(W_DRAINING),         /* retired before it listened: stop,
					 * scale-down, a replaced slot */
	[W_READY] =
		TO(W_DRAINING),         /* retired; or hung (stop_hung) */
	[W_DRAINING] =
		TO(W_STOPPING),         /* nothing left, or --grace ran out */
	[W_STOPPING] = 0,               /* only its exit */
};
#undef TO

int worker_transition_allowed(enum worker_state from, enum worker_state to)
{
	const unsigned n = sizeof(worker_edges) / sizeof(worker_edges[0]);

	if ((unsigned)from >= n || (unsigned)to >= n)
		return 0;
	return from == to || (worker_edges[from] >> to & 1u);
}

/* The one way a worker changes state; an edge not in the table is a bug:
 * a debug build (NDEBUG unset) aborts, a release build says so and goes
 * on as asked (as slots.c's slot_set does). */
void worker_set_state(struct worker *w, enum worker_state to)
{
	if (!worker_transition_allowed(w->state, to)) {
		log_warnx("bug: worker %d (pid %d): %s -> %s is not a worker transition",
			  w->slot, (int)w->pid, worker_state_name(w->state),
			  worker_state_name(to));
#ifndef NDEBUG
		abort();
#endif
	}
	if (w->state != to)
		log_debug("worker %d (pid %d): %s -> %s", w->slot, (int)w->pid,
			  worker_state_name(w->state), worker_state_name(to));
	w->state = to;
}

struct worker *worker_spawn(struct cluster *c, int slot, struct release *rel)
{
	struct spawn_args a = { .path = rel ? rel->path : c->prog->path,
				.argv = rel ? rel->argv : c->opt->argv,
				.out_fd = -1, .err_fd = -1, .nofile = &c->nofile,
				.creds = &c->creds };
	struct worker *w = calloc(1, sizeof(*w)), **grown;
	int db[2] = { -1, -1 }, i, err, notify_sock = -1;
	int seccomp = c->prog->via == VIA_SECCOMP;
	struct stat st;

	grown = realloc(c->workers, (size_t)(c->nworkers + 1) * sizeof(*grown));
	if (!w || !grown) {
		free(w);
		if (grown)
			c->workers = grown;
		errno = ENOMEM;
		return NULL;
	}
	c->workers = grown;
	w->c = c;
	w->slot = slot;
	w->doorbell = -1;
	w->board_fd = -1;
	if (board_create(w) < 0)
		log_warn("worker %d: board (closes will be reported one by one)", slot);
	w->notify_fd = -1;
	for (i = 0; i < CLUSTER_MAX_LISTENERS; i++)
		w->routes[i].chan = w->routes[i].chan_peer = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, db) < 0)
		goto fail;
	a.keep_fd = seccomp ? -1 : db[1];
	/* its processes hold this end: how a daemon it leaves is known */
	if (!seccomp && fstat(db[1], &st) == 0)
		w->doorbell_ino = (unsigned long)st.st_ino;
	a.envp = build_env(c, rel, slot, a.keep_fd);
	if (seccomp && seccomp_spawn_prepare(c, &a, &notify_sock) < 0) {
		free_env(a.envp);
		a.envp = NULL;
	}
	if (logline_pipes_wanted())
		w->out = output_new(c->loop, slot, &a.out_fd, &a.err_fd);
	w->pid = a.envp ? procs_of(c)->spawn(&a) : -1;
	err = errno;
	free_env(a.envp);
	close(db[1]);
	if (a.filter)
		close(a.notify_sock);
	if (a.out_fd >= 0)
		close(a.out_fd);
	if (a.err_fd >= 0)
		close(a.err_fd);
	if (w->pid < 0) {
		if (notify_sock >= 0)
			close(notify_sock);
		errno = err;
		goto fail;
	}
	if (seccomp)
		seccomp_spawn_done(c, w, notify_sock);
	guard_watch(c, w->pid);
	if (shim_peer_watch(w, db[0]) < 0)
		log_warn("worker %d: doorbell", slot);
	if (w->out)
		output_set_pid(w->out, w->pid);
	w->state = W_STARTING;          /* born so: no transition */
	w->spawned_pid = w->pgid = w->pid;
	w->serial = ++c->spawned;
	w->generation = c->generation;
	w->rel = release_hold(rel);
	w->started_ms = loop_now_ms();
	c->workers[c->nworkers++] = w;
	log_event("worker %d (pid %d) started", slot, (int)w->pid);
	return w;
fail:
	err = errno;
	if (db[0] >= 0)
		close(db[0]);
	output_free(w->out);
	board_free(w);
	free(w);
	errno = err;
	return NULL;
}

/* The group a followed daemon's signals go to: the one it is in now (it
 * may setsid() after we began to follow it), never ours. */
static pid_t current_group(struct worker *w)
{
	struct procids id;

	if (w->pid != w->spawned_pid && procstat_ids(w->pid, &id) == 0 && id.pgrp > 1 &&
	    id.pgrp != getpgrp() && id.pgrp != w->pgid) {
		w->pgid = id.pgrp;
		guard_watch(w->c, w->pgid);
	}
	return w->pgid;
}

void worker_signal(struct worker *w, int sig)
{
	/* The whole process group: a wrapper script's server, a prefork
	 * server's children.  The group is the worker's pid (spawn.c), or
	 * the group of the daemon it left (follow.c). */
	const struct proc_ops *p = procs_of(w->c);

	if (p->kill(-current_group(w), sig) < 0 && errno == ESRCH)
		p->kill(w->pid, sig);
}

void worker_follow(struct worker *w, pid_t pid)
{
	struct procids id;

	w->pid = pid;
	w->pgid = pid;
	if (procstat_ids(pid, &id) == 0 && id.pgrp > 1 && id.pgrp != getpgrp())
		w->pgid = id.pgrp;
	guard_watch(w->c, w->pgid);
	/* It may setsid() only after we follow it (nginx forks, then the
	 * child calls setsid): its group and session will then be its pid,
	 * which the guard hears now, as it may never hear of it again. */
	if (w->pgid != pid)
		guard_watch(w->c, pid);
	if (w->out)
		output_set_pid(w->out, pid);
}

struct worker *worker_by_pid(struct cluster *c, pid_t pid)
{
	int i;

	for (i = 0; i < c->nworkers; i++)
		if (c->workers[i]->pid == pid)
			return c->workers[i];
	return NULL;
}

int worker_listens_like(const struct worker *w, const struct worker *old)
{
	int i, any = 0;

	for (i = 0; i < w->c->nlisteners; i++) {
		if (old && old->routes[i].listening && !w->routes[i].listening)
			return 0;
		any |= w->routes[i].listening;
	}
	return any;
}

void worker_free(struct cluster *c, struct worker *w)
{
	int i;

	seccomp_worker_free(c, w);
	balancer_release(c, w);
	shim_peer_forget(w);
	output_free(w->out);
	board_free(w);
	loop_timer_cancel(c->loop, w->drain_timer);
	loop_timer_cancel(c->loop, w->kill_timer);
	loop_timer_cancel(c->loop, w->fds_short_timer);
	loop_timer_cancel(c->loop, w->follow_timer);
	release_drop(w->rel);
	for (i = 0; i < c->nworkers; i++)
		if (c->workers[i] == w) {
			memmove(c->workers + i, c->workers + i + 1,
				(size_t)(c->nworkers - i - 1) * sizeof(*c->workers));
			c->nworkers--;
			break;
		}
	free(w);
}
