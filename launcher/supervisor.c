/*
 * supervisor.c - the workers' lifecycle: start, restart with backoff, give
 * up on a crash loop, rolling restart, scaling, graceful stop.
 *
 * Signals arrive through a signalfd into the one loop; nothing runs in a
 * signal handler.  Children are reaped with waitpid(-1, WNOHANG) until none
 * is left, which also reaps orphans adopted as PID 1 or as a subreaper.
 *
 * Retiring a worker (rolling restart, scale-down) never loses a connection:
 *   1. it gets no new connections (state W_DRAINING);
 *   2. rr/leastconn: what is queued on its channel is taken back and handed
 *      to others, then we wait until it has closed the connections it
 *      accepted (reported by the shim), at most --grace seconds;
 *   3. the stop signal; SIGKILL if it is still there --grace seconds later.
 * Under shared, step 2 is the program's own business: it gets the stop
 * signal at once and finishes what it accepted, as it would alone.
 *
 * Restart policy (pm2 and Einhorn style): a worker that dies after a long
 * run (--min-uptime) is restarted at once; one that dies quickly waits
 * backoff_min, then twice as long each time, up to backoff_max.  A slot
 * whose workers exit --max-restarts times in a row before ever listening is
 * a crash loop: cluster-run stops everything and exits with that worker's
 * status.  During a rolling restart the same failures abort the reload and
 * keep the old workers instead.
 */
#include "cluster.h"
#include "log.h"
#include "loop.h"

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


static void fill_slot(struct cluster *c, int index);
static void roll_continue(struct cluster *c);

static int64_t secs_ms(double s)
{
	return (int64_t)(s * 1000.0 + 0.5);
}

/* "exited with status 1" / "killed by signal 9 (Killed)" */
static void describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended (wait status 0x%x)", st);
}

/* A shell's convention: the program's status, or 128+N for signal N. */
static int status_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st) ? WEXITSTATUS(st) : EXIT_GAVE_UP_CLEAN;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return EXIT_FAILURE_;
}

static void kill_now(struct loop *loop, void *data)
{
	struct worker *w = data;

	(void)loop;
	w->kill_timer = 0;
	log_warnx("worker %d (pid %d): still running %gs after the stop signal; killing it",
		  w->slot, (int)w->pid, w->c->opt->grace);
	worker_signal(w, SIGKILL);
}

static void stop_worker(struct cluster *c, struct worker *w, int sig)
{
	loop_timer_cancel(c->loop, w->drain_timer);
	w->drain_timer = 0;
	w->state = W_STOPPING;
	worker_signal(w, sig);
	if (!w->kill_timer)
		w->kill_timer = loop_timer(c->loop, secs_ms(c->opt->grace), kill_now, w);
}

static void drain_over(struct loop *loop, void *data)
{
	struct worker *w = data;

	(void)loop;
	w->drain_timer = 0;
	log_debug("worker %d (pid %d): %llu connection(s) still open after %gs; stopping it",
		  w->slot, (int)w->pid, (unsigned long long)worker_open_conns(w), w->c->opt->grace);
	stop_worker(w->c, w, w->c->opt->stop_signal);
}

/* reuseport scale-down: the removed slot's socket gets no new connections
 * (listener.c steers them away); stop the worker once it has accepted what
 * was queued on it, or when --grace runs out. */
static void reuseport_drain_check(struct loop *loop, void *data)
{
	struct worker *w = data;
	struct cluster *c = w->c;

	(void)loop;
	w->drain_timer = 0;
	if (reuseport_slot_queued(c, w->slot) == 0 ||
	    loop_now_ms() - w->drain_started >= secs_ms(c->opt->grace)) {
		stop_worker(c, w, c->opt->stop_signal);
		return;
	}
	w->drain_timer = loop_timer(c->loop, 50, reuseport_drain_check, w);
}

/* See the file comment: no new connections, give back the queued ones,
 * wait for the open ones, then the stop signal. */
static void retire(struct cluster *c, struct worker *w)
{
	int i;

	if (w->state == W_DRAINING || w->state == W_STOPPING)
		return;
	w->state = W_DRAINING;
	w->drain_started = loop_now_ms();
	if (c->opt->policy == POLICY_REUSEPORT && w->slot >= c->target) {
		reuseport_drain_check(c->loop, w);
		return;
	}
	for (i = 0; i < c->nlisteners; i++)
		balancer_take_back(c, w, c->listeners[i]);
	if (c->opt->policy == POLICY_SHARED || worker_open_conns(w) == 0) {
		stop_worker(c, w, c->opt->stop_signal);
		return;
	}
	w->drain_timer = loop_timer(c->loop, secs_ms(c->opt->grace), drain_over, w);
}

void supervisor_worker_idle(struct cluster *c, struct worker *w)
{
	if (w->state == W_DRAINING)
		stop_worker(c, w, c->opt->stop_signal);
}

void supervisor_worker_misbehaved(struct cluster *c, struct worker *w, const char *why)
{
	(void)c;
	if (w->misbehaved)
		return;         /* said and done: it is being killed */
	w->misbehaved = 1;
	log_warnx("worker %d (pid %d) %s; replacing it", w->slot, (int)w->pid, why);
	worker_signal(w, SIGKILL);
}

/* The replacement listens where the old worker did: swap them, and
 * retire the old one; the next slot follows when it has gone. */
static void replacement_ready(struct cluster *c, struct worker *nw)
{
	struct worker *old = c->slots[nw->slot].active;

	loop_timer_cancel(c->loop, nw->ready_timer);
	nw->ready_timer = 0;
	c->roll_new = NULL;
	c->slots[nw->slot].active = nw;
	if (!old || old == nw) {        /* the old one died meanwhile */
		roll_continue(c);
		return;
	}
	log_debug("worker %d: pid %d replaces pid %d", nw->slot, (int)nw->pid, (int)old->pid);
	c->roll_old = old;
	retire(c, old);
}

static void ready_timeout(struct loop *loop, void *data)
{
	struct worker *nw = data;

	(void)loop;
	nw->ready_timer = 0;
	log_warnx("worker %d (pid %d): not listening on every address after %gs; "
		  "replacing the old worker anyway", nw->slot, (int)nw->pid,
		  nw->c->opt->ready_timeout);
	replacement_ready(nw->c, nw);
}

/* Say once when the whole first generation listens: users (and tests)
 * know from then on that every worker takes connections. */
static void announce_ready(struct cluster *c)
{
	int i;

	if (c->announced_ready)
		return;
	for (i = 0; i < c->target; i++)
		if (!c->slots[i].active || c->slots[i].active->state != W_READY)
			return;
	c->announced_ready = 1;
	log_warnx("%d worker%s listening", c->target, c->target == 1 ? "" : "s");
}

void supervisor_worker_listening(struct cluster *c, struct worker *w)
{
	int replacing = w == c->roll_new;
	struct worker *old = replacing ? c->slots[w->slot].active : NULL;

	if (w->state != W_STARTING || !worker_listens_like(w, old == w ? NULL : old))
		return;
	w->state = W_READY;
	w->ever_ready = 1;
	c->slots[w->slot].failures = 0;
	loop_timer_cancel(c->loop, c->quiet_timer);
	c->quiet_timer = 0;
	if (replacing)
		replacement_ready(c, w);
	announce_ready(c);
}

/* Rolling restart: replace the lowest slot still running an older
 * generation, one slot at a time: the next when the old worker is gone.
 * A slot whose replacement failed waits for its backoff timer. */
static void roll_continue(struct cluster *c)
{
	int i;

	if (c->stopping || c->roll_new || c->roll_old)
		return;
	for (i = 0; i < c->target; i++) {
		struct worker *old = c->slots[i].active, *nw;

		if (!old || old->generation >= c->generation)
			continue;
		if (c->slots[i].restart_timer)
			return;
		nw = worker_spawn(c, i);
		if (!nw) {
			log_warn("reload: cannot start worker %d; keeping the old one", i);
			old->generation = c->generation;
			continue;
		}
		c->roll_new = nw;
		nw->ready_timer = loop_timer(c->loop, secs_ms(c->opt->ready_timeout),
					     ready_timeout, nw);
		return;
	}
	if (c->reloading) {
		c->reloading = 0;
		log_warnx("reload complete: %d worker%s of the new generation listening",
			  c->target, c->target == 1 ? "" : "s");
	}
}

static void restart_due(struct loop *loop, void *data)
{
	struct slot *s = data;

	(void)loop;
	s->restart_timer = 0;
	if (s->active)          /* a failed replacement: the roll retries */
		roll_continue(s->c);
	else
		fill_slot(s->c, s->index);
}

static int64_t next_delay(struct cluster *c, struct slot *s, int64_t uptime_ms)
{
	int64_t d;
	int k;

	if (uptime_ms >= secs_ms(c->opt->min_uptime))
		s->backoff_step = 0;
	if (s->backoff_step++ == 0)
		return 0;
	d = secs_ms(c->opt->backoff_min);
	for (k = 1; k < s->backoff_step - 1 && d < secs_ms(c->opt->backoff_max); k++)
		d *= 2;
	return d < secs_ms(c->opt->backoff_max) ? d : secs_ms(c->opt->backoff_max);
}

static void give_up(struct cluster *c, struct slot *s, const char *how)
{
	log_warnx("worker %d keeps exiting before it listens (last: %s); "
		  "giving up after %d attempts", s->index, how, s->failures);
	c->exit_status = status_code(s->last_status);
	supervisor_stop(c, SIGTERM);
}

/* The new generation does not start: keep the running workers, as if
 * they were the new generation, and forget the failed attempts. */
static void abort_roll(struct cluster *c, struct slot *s, const char *how)
{
	int i;

	log_warnx("reload aborted: the new worker %d keeps exiting before it "
		  "listens (last: %s); the running workers stay", s->index, how);
	for (i = 0; i < c->nworkers; i++)
		c->workers[i]->generation = c->generation;
	for (i = 0; i < c->target; i++) {
		c->slots[i].failures = 0;
		if (c->slots[i].active) {       /* a replacement retry, not a restart */
			loop_timer_cancel(c->loop, c->slots[i].restart_timer);
			c->slots[i].restart_timer = 0;
		}
	}
	c->reloading = 0;
}

/* An exit nobody asked for: restart the slot, or give up. */
static void unexpected_exit(struct cluster *c, struct slot *s, int was_replacement,
			    int ever_ready, int64_t uptime, const char *how)
{
	int64_t delay;

	if (!ever_ready)
		s->failures++;
	if (s->index >= c->target)
		return;         /* scaled away meanwhile */
	if (c->opt->max_restarts && s->failures >= c->opt->max_restarts) {
		if (was_replacement)
			abort_roll(c, s, how);
		else
			give_up(c, s, how);
		return;
	}
	delay = next_delay(c, s, uptime);
	if (delay)
		log_debug("worker %d: restart in %lld ms", s->index, (long long)delay);
	s->restart_timer = loop_timer(c->loop, delay, restart_due, s);
}

/* A slot beyond the target that no worker uses any more. */
static int w_slot_unused(struct cluster *c, int slot)
{
	int i;

	if (slot < c->target)
		return 0;
	for (i = 0; i < c->nworkers; i++)
		if (c->workers[i]->slot == slot)
			return 0;
	return 1;
}

static void worker_exited(struct cluster *c, struct worker *w, int st)
{
	struct slot *s = &c->slots[w->slot];
	int retiring = w->state == W_DRAINING || w->state == W_STOPPING;
	/* a replacement that was promoted (its old worker died) is the
	 * slot's worker: restarted, not counted as a failed reload */
	int was_replacement = w == c->roll_new && s->active != w;
	int ever_ready = w->ever_ready;
	int64_t uptime = loop_now_ms() - w->started_ms;
	int slot_index = w->slot;
	char how[96];

	describe_status(st, how, sizeof(how));
	if (w->state == W_STOPPING && WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL)
		snprintf(how, sizeof(how), "stopped by signal %d (%s), as asked", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	if (w == c->roll_new)
		c->roll_new = NULL;
	if (c->roll_old == w)
		c->roll_old = NULL;
	if (s->active == w) {
		s->active = NULL;
		/* the old worker died while its replacement starts: the
		 * replacement is the slot's worker now (no second one) */
		if (c->roll_new && c->roll_new->slot == w->slot)
			s->active = c->roll_new;
	}
	if (!retiring || c->opt->verbose)
		log_warnx("worker %d (pid %d) %s", w->slot, (int)w->pid, how);
	worker_free(c, w);
	if (w_slot_unused(c, slot_index))
		reuseport_close_slots(c, slot_index);
	if (c->stopping) {
		if (c->nworkers == 0)
			supervisor_finish(c);
		return;
	}
	if (!retiring) {
		s->last_status = st;
		unexpected_exit(c, s, was_replacement, ever_ready, uptime, how);
	}
	roll_continue(c);
}

static void reap(struct cluster *c)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct worker *w = worker_by_pid(c, pid);
		if (w)
			worker_exited(c, w, st);
		/* else: an adopted orphan, reaped so it leaves no zombie */
	}
}

static void fill_slot(struct cluster *c, int index)
{
	struct slot *s = &c->slots[index];
	struct worker *w;

	if (c->stopping || index >= c->target || s->active)
		return;
	w = worker_spawn(c, index);
	if (w && s->ever_filled)
		s->restarts++;
	s->ever_filled = 1;
	if (!w) {
		log_warn("worker %d: cannot start %s", index, c->prog->path);
		s->last_status = EXIT_CANNOT_EXEC << 8;
		s->failures++;
		if (c->opt->max_restarts && s->failures >= c->opt->max_restarts)
			give_up(c, s, "could not be started");
		else
			s->restart_timer = loop_timer(c->loop, secs_ms(c->opt->backoff_max),
						      restart_due, s);
		return;
	}
	s->active = w;
}

static void scale(struct cluster *c, int delta)
{
	int i;

	if (c->stopping)
		return;
	if (delta > 0) {
		if (c->target >= MAX_WORKERS) {
			log_warnx("already at %d workers, the most there can be", MAX_WORKERS);
			return;
		}
		c->slots[c->target] = (struct slot){ .c = c, .index = c->target };
		c->target++;
		log_warnx("scaling up to %d workers", c->target);
		reuseport_slots_changed(c);
		fill_slot(c, c->target - 1);
		return;
	}
	if (c->target <= 1) {
		log_warnx("already at one worker: not scaling down");
		return;
	}
	c->target--;
	log_warnx("scaling down to %d worker%s", c->target, c->target == 1 ? "" : "s");
	reuseport_slots_changed(c);
	loop_timer_cancel(c->loop, c->slots[c->target].restart_timer);
	c->slots[c->target].restart_timer = 0;
	c->slots[c->target].active = NULL;
	for (i = 0; i < c->nworkers; i++)
		if (c->workers[i]->slot >= c->target)
			retire(c, c->workers[i]);
}

static void kill_all(struct cluster *c)
{
	int i;

	c->killed = 1;
	for (i = 0; i < c->nworkers; i++)
		worker_signal(c->workers[i], SIGKILL);
}

void supervisor_reload(struct cluster *c)
{
	if (c->stopping)
		return;
	c->generation++;
	c->reloading = 1;
	log_warnx("reloading: replacing %d worker%s one at a time", c->target,
		  c->target == 1 ? "" : "s");
	roll_continue(c);
}

/* cluster-ctl scale N: one step at a time, as TTIN/TTOU would. */
int supervisor_scale_to(struct cluster *c, int n)
{
	if (n < 1 || n > MAX_WORKERS || c->stopping)
		return -1;
	while (c->target < n)
		scale(c, +1);
	while (c->target > n)
		scale(c, -1);
	return 0;
}

static void grace_over(struct loop *loop, void *data)
{
	struct cluster *c = data;
	int i;

	(void)loop;
	c->grace_timer = 0;
	for (i = 0; i < c->nworkers; i++)
		log_warnx("worker %d (pid %d): still running %gs after the stop signal; killing it",
			  c->workers[i]->slot, (int)c->workers[i]->pid, c->opt->grace);
	kill_all(c);
}

void supervisor_stop(struct cluster *c, int sig)
{
	int i, fwd = sig == SIGTERM ? c->opt->stop_signal : sig;

	if (c->stopping) {
		if (!c->killed && (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)) {
			log_warnx("second stop signal: killing the workers now");
			loop_timer_cancel(c->loop, c->grace_timer);
			c->grace_timer = 0;
			kill_all(c);
		}
		return;
	}
	c->stopping = 1;
	balancer_stop(c);
	for (i = 0; i < c->target; i++) {
		loop_timer_cancel(c->loop, c->slots[i].restart_timer);
		c->slots[i].restart_timer = 0;
	}
	loop_timer_cancel(c->loop, c->quiet_timer);
	if (c->nworkers == 0) {
		supervisor_finish(c);
		return;
	}
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		loop_timer_cancel(c->loop, w->drain_timer);
		loop_timer_cancel(c->loop, w->kill_timer);
		w->drain_timer = w->kill_timer = 0;
		w->state = W_STOPPING;
		worker_signal(w, fwd);
	}
	c->grace_timer = loop_timer(c->loop, secs_ms(c->opt->grace), grace_over, c);
}

/* Orphans a worker left behind (double-forked daemons reparented to us as
 * subreaper or PID 1) do not outlive cluster-run either. */
static void kill_adopted(void)
{
	char path[64], buf[4096];
	FILE *f;
	pid_t pid;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	f = fopen(path, "re");
	if (!f)
		return;
	while (fscanf(f, "%d", &pid) == 1) {
		kill(pid, SIGKILL);
		n++;
	}
	fclose(f);
	(void)buf;
	while (n-- > 0 && waitpid(-1, NULL, 0) > 0)
		;
}

void supervisor_finish(struct cluster *c)
{
	kill_adopted();
	loop_stop(c->loop);
}

static void forward(struct cluster *c, int sig)
{
	int i;

	for (i = 0; i < c->nworkers; i++)
		worker_signal(c->workers[i], sig);
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
			scale(c, +1);
			break;
		case SIGTTOU:
			scale(c, -1);
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
			  "(static, Go and io_uring programs cannot be clustered; see README)",
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
	int i;

	if (setup_signals(c) < 0) {
		log_warn("signals");
		return -1;
	}
	/* Orphans of our workers come to us, not to init, so they are
	 * reaped and cannot outlive us (PID 1 gets them anyway). */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("PR_SET_CHILD_SUBREAPER");
	c->target = c->opt->workers;
	c->started_ms = loop_now_ms();
	for (i = 0; i < c->target; i++)
		c->slots[i] = (struct slot){ .c = c, .index = i };
	for (i = 0; i < c->target && !c->stopping; i++)
		fill_slot(c, i);
	c->quiet_timer = loop_timer(c->loop, secs_ms(c->opt->listen_timeout), quiet_warning, c);
	return 0;
}
