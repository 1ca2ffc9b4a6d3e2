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
#include "base/state.h"
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
 * is stopped: retire.c drains, then worker_stop(); slots_recycle.c's
 * stop_hung drains (at once) too.  A worker is born STARTING (worker_spawn) and
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

struct worker *worker_by_serial(struct cluster *c, uint64_t serial)
{
	int i;

	for (i = 0; serial && i < c->nworkers; i++)
		if (c->workers[i]->serial == serial)
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

/* --- an in-place upgrade (worker.h) --- */

static void save_routes(struct cluster *c, struct state_out *o, const struct worker *w)
{
	int i;

	for (i = 0; i < c->nlisteners && i < CLUSTER_MAX_LISTENERS; i++) {
		const struct route *r = &w->routes[i];

		state_rec(o, "route");
		state_u64(o, "worker", w->serial);
		state_u64(o, "lid", (uint64_t)i);
		state_i64(o, "bound", r->bound);
		state_i64(o, "listening", r->listening);
		state_i64(o, "given", r->given);
		state_i64(o, "released", r->released);
		state_fd(o, "chan", r->chan);
		state_fd(o, "chan_peer", r->chan_peer);
		state_i64(o, "full", r->full);
		state_u64(o, "queued_hint", r->queued_hint);
		state_u64(o, "sent", r->sent);
		state_u64(o, "back", r->back);
		state_u64(o, "handed", r->handed);
		state_u64(o, "closed", r->closed);
		state_i64(o, "draining", r->draining);
		state_i64(o, "drain_deferred", r->drain_deferred);
	}
}

static void save_one(struct cluster *c, struct state_out *o, const struct worker *w)
{
	int i;

	state_rec(o, "worker");
	state_u64(o, "serial", w->serial);
	state_i64(o, "slot", w->slot);
	state_i64(o, "pid", w->pid);
	state_i64(o, "pgid", w->pgid);
	state_i64(o, "spawned_pid", w->spawned_pid);
	state_u64(o, "doorbell_ino", w->doorbell_ino);
	state_bytes(o, "sessions", w->sessions, sizeof(w->sessions));
	state_u64(o, "nsessions", w->nsessions);
	state_i64(o, "daemon_failed", w->daemon_failed);
	state_str(o, "state", worker_state_name(w->state));
	state_u64(o, "generation", w->generation);
	state_u64(o, "release", w->rel ? w->rel->serial : 0);
	state_fd(o, "doorbell", w->doorbell);
	state_fd(o, "notify_fd", w->notify_fd);
	state_i64(o, "started_ms", w->started_ms);
	state_i64(o, "drain_started", w->drain_started);
	state_i64(o, "ever_ready", w->ever_ready);
	state_i64(o, "attached", w->attached);
	state_i64(o, "misbehaved", w->misbehaved);
	state_i64(o, "heard_listen", w->heard_listen);
	state_i64(o, "stop_sig", w->stop_sig);
	state_i64(o, "idle_close_warned", w->idle_close_warned);
	state_i64(o, "idle_swept_ms", w->idle_swept_ms);
	state_fd(o, "board_fd", w->board ? w->board_fd : -1);
	state_u64(o, "accept_opens", w->accept_opens);
	state_u64(o, "accept_queued", w->accept_queued);
	/* balancer.c's (fd_short.c): policy_state_restore re-arms it */
	state_i64(o, "fds_short", w->fds_short);
	state_i64(o, "fds_short_due", loop_timer_due(c->loop, w->fds_short_timer));
	output_save(w->out, o);
	for (i = 0; i < w->npeers; i++) {
		state_rec(o, "peer");
		state_u64(o, "worker", w->serial);
		state_fd(o, "fd", w->peers[i]->fd);
		state_i64(o, "pid", w->peers[i]->pid);
	}
	save_routes(c, o, w);
}

int worker_save(struct cluster *c, struct state_out *o)
{
	int i;

	for (i = 0; i < c->nworkers; i++)
		save_one(c, o, c->workers[i]);
	state_rec(o, "workers");
	state_u64(o, "spawned", c->spawned);
	return 0;
}

static int state_by_name(const char *name, enum worker_state *st)
{
	enum worker_state s;

	for (s = W_STARTING; s <= W_STOPPING; s++)
		if (!strcmp(name, worker_state_name(s))) {
			*st = s;
			return 0;
		}
	return -1;
}

/* The worker's plain values; its fds are taken by adopt_fds. */
static struct worker *restore_values(struct cluster *c, const struct state_rec *r)
{
	struct worker *w = calloc(1, sizeof(*w));
	int i;

	if (!w)
		return NULL;
	w->c = c;
	w->doorbell = w->board_fd = w->notify_fd = -1;
	for (i = 0; i < CLUSTER_MAX_LISTENERS; i++) {
		w->routes[i].chan = w->routes[i].chan_peer = -1;
		w->routes[i].w = w;
		w->routes[i].lid = (uint32_t)i;
	}
	w->serial = rec_u64(r, "serial", 0);
	w->slot = (int)rec_i64(r, "slot", -1);
	w->pid = (pid_t)rec_i64(r, "pid", 0);
	w->pgid = (pid_t)rec_i64(r, "pgid", w->pid);
	w->spawned_pid = (pid_t)rec_i64(r, "spawned_pid", w->pid);
	if (!w->serial || w->slot < 0 || w->slot >= MAX_WORKERS || w->pid <= 0 ||
	    state_by_name(rec_str(r, "state", ""), &w->state) < 0) {
		free(w);
		errno = EINVAL;
		return NULL;
	}
	w->doorbell_ino = (unsigned long)rec_u64(r, "doorbell_ino", 0);
	if (rec_bytes(r, "sessions", w->sessions, sizeof(w->sessions)) !=
	    (long)sizeof(w->sessions))
		memset(w->sessions, 0, sizeof(w->sessions));
	w->nsessions = (unsigned)rec_u64(r, "nsessions", 0);
	w->daemon_failed = (int)rec_i64(r, "daemon_failed", 0);
	w->generation = (unsigned)rec_u64(r, "generation", 0);
	w->rel = release_hold(release_by_serial(rec_u64(r, "release", 0)));
	w->started_ms = rec_i64(r, "started_ms", loop_now_ms());
	w->drain_started = rec_i64(r, "drain_started", 0);
	w->ever_ready = (int)rec_i64(r, "ever_ready", 0);
	w->attached = (int)rec_i64(r, "attached", 0);
	w->misbehaved = (int)rec_i64(r, "misbehaved", 0);
	w->heard_listen = (int)rec_i64(r, "heard_listen", 0);
	w->stop_sig = (int)rec_i64(r, "stop_sig", 0);
	/* census marks are numbered afresh by the new image (census.c
	 * starts again at 1): 0 has the drain check take a new mark */
	w->drain_quiet_seq = 0;
	w->idle_close_warned = (int)rec_i64(r, "idle_close_warned", 0);
	w->idle_swept_ms = rec_i64(r, "idle_swept_ms", 0);
	w->accept_opens = rec_u64(r, "accept_opens", UINT64_MAX);
	w->accept_queued = rec_u64(r, "accept_queued", UINT64_MAX);
	w->fds_short = (pid_t)rec_i64(r, "fds_short", 0);
	return w;
}

/* Its fds back in the loop.  A failure is logged and leaves the worker
 * less (no board: closes reported one by one; no doorbell: its shim's
 * reports lost), not the upgrade undone: the worker runs either way. */
static void adopt_fds(struct cluster *c, struct worker *w, const struct state_rec *r)
{
	int fd;

	if (board_adopt(w, rec_fd(r, "board_fd")) < 0)
		log_warn("worker %d (pid %d): its board after the upgrade", w->slot, (int)w->pid);
	if ((fd = rec_fd(r, "doorbell")) >= 0 && shim_peer_watch(w, fd) < 0)
		log_warn("worker %d (pid %d): its doorbell after the upgrade", w->slot, (int)w->pid);
	seccomp_worker_adopt(c, w, rec_fd(r, "notify_fd"));
	w->out = output_restore(c->loop, w->slot, w->pid, r);
}

static void restore_route(struct cluster *c, const struct state_rec *r)
{
	struct worker *w = worker_by_serial(c, rec_u64(r, "worker", 0));
	uint64_t lid = rec_u64(r, "lid", UINT64_MAX);
	int chan = rec_fd(r, "chan"), peer = rec_fd(r, "chan_peer");
	struct route *rt;

	if (!w || lid >= CLUSTER_MAX_LISTENERS)
		return;         /* a state another build wrote: its fds left as they are */
	rt = &w->routes[lid];
	rt->bound = (int)rec_i64(r, "bound", 0);
	rt->listening = (int)rec_i64(r, "listening", 0);
	rt->given = (int)rec_i64(r, "given", 0);
	rt->released = (int)rec_i64(r, "released", 0);
	rt->chan = chan;
	rt->chan_peer = peer;
	rt->full = (int)rec_i64(r, "full", 0);
	rt->queued_hint = (unsigned)rec_u64(r, "queued_hint", 0);
	rt->sent = rec_u64(r, "sent", 0);
	rt->back = rec_u64(r, "back", 0);
	rt->handed = rec_u64(r, "handed", 0);
	rt->closed = rec_u64(r, "closed", 0);
	rt->draining = (int)rec_i64(r, "draining", 0);
	rt->drain_deferred = (int)rec_i64(r, "drain_deferred", 0);
}

int worker_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r;
	struct worker **grown;
	int n = 0;

	for (r = state_first(in, "worker"); r; r = state_next(r))
		n++;
	grown = realloc(c->workers, (size_t)(c->nworkers + n + 1) * sizeof(*grown));
	if (!grown) {
		log_warnx("upgrade: workers: out of memory");
		return -1;
	}
	c->workers = grown;
	for (r = state_first(in, "worker"); r; r = state_next(r)) {
		struct worker *w = restore_values(c, r);

		if (!w) {
			log_warnx("upgrade: a worker's record is wrong or out of memory "
				  "(serial %llu)", (unsigned long long)rec_u64(r, "serial", 0));
			return -1;
		}
		c->workers[c->nworkers++] = w;
		if (w->serial > c->spawned)
			c->spawned = w->serial;
		adopt_fds(c, w, r);
	}
	for (r = state_first(in, "peer"); r; r = state_next(r)) {
		struct worker *w = worker_by_serial(c, rec_u64(r, "worker", 0));
		int fd = rec_fd(r, "fd");

		if (!w)
			continue;
		if (shim_peer_adopt_peer(w, fd, (pid_t)rec_i64(r, "pid", 0)) < 0)
			log_warnx("worker %d (pid %d): a process's socket lost in the upgrade",
				  w->slot, (int)w->pid);
	}
	for (r = state_first(in, "route"); r; r = state_next(r))
		restore_route(c, r);
	if ((r = state_first(in, "workers")) && rec_u64(r, "spawned", 0) > c->spawned)
		c->spawned = rec_u64(r, "spawned", 0);
	return 0;
}
