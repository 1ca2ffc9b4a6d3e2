/*
 * retire.c - taking a worker out of service without losing a connection,
 * under every policy and whatever the program does on SIGTERM:
 *
 *   1. it gets no new connections: each listener's policy drains it (the
 *      channel policies stop handing it any and take back what is queued
 *      on it; under shared and reuseport the shim stops the app
 *      accepting: board.c, shim/drain.c; through seccomp under reuseport
 *      steering already sends its slot's connections elsewhere:
 *      seccomp_reuseport.c).  At a stop the listeners drop new SYNs
 *      instead (slots.c, listener.c) and, under shared and reuseport,
 *      the workers first accept what the kernel queued: their socket
 *      closes after them, and would reset it (policy_shared.c);
 *   2. we wait until nothing is on its way to it (what its policies hold
 *      for it, and a seccomp worker's own accept queue) and the kernel
 *      says its processes hold none of the cluster's connections
 *      (census.c), at most --grace seconds;
 *   3. the stop signal; SIGKILL if it is still there --grace seconds later.
 *
 * This is the only drain loop, for both mechanisms: a mechanism below is
 * asked what is still queued (seccomp_reuseport_queued), never handed
 * the worker to stop.
 *
 * A rolling restart, a scale-down and a stop all go through here; a stop
 * leaves what is queued on a worker for it to finish (nobody else would).
 * Not here: which worker to retire and what comes after (slots.c).
 */
#include "supervise/retire.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/procstat.h"
#include "mechanism/seccomp_reuseport.h"
#include "net/board.h"
#include "net/census.h"
#include "policy/balancer.h"
#include "policy/policy.h"
#include "supervise/idle_close.h"
#include "supervise/worker.h"

#include <signal.h>

#define DRAIN_POLL_MS 25        /* how often a draining worker is looked at */

static int64_t grace_ms(const struct cluster *c)
{
	return (int64_t)(c->opt->grace * 1000.0 + 0.5);
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

/* A stopping worker whose processes all let go of the doorbell yet is
 * still there, EXEC_GRACE_MS later, exec'd a new image (the doorbell is
 * close-on-exec once the worker bound; the shim leaves the environment
 * then, so the new image has no shim): it did not take the stop signal as
 * a stop.  uwsgi 2.0 does that: SIGTERM is its "brutal reload" (it kills
 * its workers and re-execs itself; `--die-on-term` or SIGINT stop it).
 * It drained before the signal and holds no connection, so waiting out
 * --grace would only wait: it is killed now.  A process on its way out
 * closes its fds before it becomes a zombie: one still exiting
 * (PF_EXITING) or a zombie is left to the usual kill timer, and the delay
 * lets most be reaped first (the reap cancels the timer). */
#define EXEC_GRACE_MS 20

static void kill_reexeced(struct loop *loop, void *data)
{
	struct worker *w = data;
	struct procids id;

	(void)loop;
	w->kill_timer = 0;
	if (procstat_ids(w->pid, &id) < 0 || id.state == 'Z' || (id.flags & PROC_PF_EXITING)) {
		log_debug("worker %d (pid %d): let go of its doorbell on its way out (%c, flags %#x)",
			  w->slot, (int)w->pid, id.state ? id.state : '-', id.flags);
		w->kill_timer = loop_timer(w->c->loop, grace_ms(w->c), kill_now, w);
		return;
	}
	log_warnx("worker %d (pid %d): exec'd a new program on the stop signal instead of "
		  "exiting (uwsgi reloads on TERM: --stop-signal INT stops it); killing it",
		  w->slot, (int)w->pid);
	worker_signal(w, SIGKILL);
}

void worker_doorbell_closed(struct cluster *c, struct worker *w)
{
	log_debug("worker %d (pid %d): every process let go of its doorbell (%s)", w->slot,
		  (int)w->pid, worker_state_name(w->state));
	if (w->state != W_STOPPING || c->killed)
		return;
	loop_timer_cancel(c->loop, w->kill_timer);
	w->kill_timer = loop_timer(c->loop, EXEC_GRACE_MS, kill_reexeced, w);
}

void worker_stop(struct cluster *c, struct worker *w, int sig)
{
	loop_timer_cancel(c->loop, w->drain_timer);
	w->drain_timer = 0;
	worker_set_state(w, W_STOPPING);
	worker_signal(w, sig);
	if (!w->kill_timer)
		w->kill_timer = loop_timer(c->loop, grace_ms(c), kill_now, w);
}

/* Connections still on their way to w: by its listeners' policies, and
 * for a seccomp worker under reuseport the accept queue of the socket it
 * accepts on, which it empties itself (it cannot be stopped from
 * accepting; nothing new arrives there once steering moved on). */
static unsigned pending_for(struct cluster *c, struct worker *w)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		/* drain_deferred: still taking what the kernel queued (a
		 * stop under a channel policy: balancer.c's channel_drain) */
		if (w->routes[i].draining || w->routes[i].drain_deferred)
			n += l->ops->pending(c, w, l);
	}
	return n + seccomp_reuseport_queued(c, w);
}

/* Whether nothing can reach w any more once nothing is on its way: the
 * shim stops the app accepting, a channel policy stops handing it
 * connections.  Through seccomp nothing keeps a program from accepting
 * what reaches its socket: under reuseport steering sends new connections
 * elsewhere, but not at a stop, nor for a replacement that got no socket
 * of its own; under shared nothing does. */
static int cut_off(const struct worker *w)
{
	return w->c->prog->via != VIA_SECCOMP;
}

/* The census costs a dump of the machine's connections, so it is shared
 * (census.c): by the status requests, scrapes and drain checks of one
 * turn of the loop, and, for a draining worker, for as long as it is good
 * for it.  A census is good for w if it was taken after w was first seen
 * with nothing on its way (drain_quiet_seq, a census mark): from then on w
 * cannot take a new connection, so every one it has is in the census, and
 * only the walk of its fd tables has to be redone.  The shared snapshot
 * keeps that: a census numbered below the mark, even one of this turn, is
 * never used for w, and a newer one replaces it.  A worker that is not cut
 * off (seccomp) may have taken a connection since any earlier census, so
 * it gets this turn's at every check. */
static long held_now(struct cluster *c, struct worker *w)
{
	if (!cut_off(w))
		return census_held(census_fresh(c), w);
	return census_held(census_since(c, w->drain_quiet_seq), w);
}

/* Step 2 of the file comment, every DRAIN_POLL_MS.  The census is taken
 * only once nothing is on its way any more. */
static void drain_check(struct loop *loop, void *data)
{
	struct worker *w = data;
	struct cluster *c = w->c;
	long held;

	(void)loop;
	w->drain_timer = 0;
	if (loop_now_ms() - w->drain_started >= grace_ms(c)) {
		log_debug("worker %d (pid %d): still busy after %gs; stopping it",
			  w->slot, (int)w->pid, c->opt->grace);
		worker_stop(c, w, w->stop_sig);
		return;
	}
	if (pending_for(c, w) == 0) {
		/* First seen with nothing on its way: mark it, and ask from a
		 * timer due at once rather than now, so that the workers first
		 * seen so in one pass (a stop retires them all at once) share
		 * one census instead of taking one each, each one's mark
		 * being past the census the one before took. */
		if (cut_off(w) && !w->drain_quiet_seq) {
			w->drain_quiet_seq = census_next_mark(c);
			w->drain_timer = loop_timer(c->loop, 0, drain_check, w);
			return;
		}
		held = held_now(c, w);
		/* A failed census (no sock_diag here, fd tables we may not
		 * read): what the shim counted open, the only word left.  A
		 * seccomp worker has no shim and so counts nothing: it is
		 * stopped once nothing is on its way, as if the census had
		 * found nothing.  The one rule for both mechanisms. */
		if (held < 0)
			held = (long)worker_open_conns(w);
		if (held == 0) {
			worker_stop(c, w, w->stop_sig);
			return;
		}
		/* idle keep-alive connections would keep it until --grace */
		if (held > 0)
			idle_close_sweep(c, w, census_since(c, cut_off(w) ? w->drain_quiet_seq : 0));
	}
	w->drain_timer = loop_timer(c->loop, DRAIN_POLL_MS, drain_check, w);
}

void worker_retire(struct cluster *c, struct worker *w, int give_back, int sig)
{
	int i;

	if (w->state == W_DRAINING || w->state == W_STOPPING) {
		w->stop_sig = sig;      /* already leaving: the same end */
		return;
	}
	worker_set_state(w, W_DRAINING);
	w->stop_sig = sig;
	w->drain_started = loop_now_ms();
	/* A seccomp worker too, though no shim reads its board: its drain
	 * bits are never read, the in_accept count socket_pending reads is
	 * never raised (0), and a reuseport scale-down waits for its slot's
	 * queue, which pending_for waits for anyway.  slots_recycle.c's
	 * stop_hung drains seccomp workers the same way. */
	for (i = 0; i < c->nlisteners; i++) {
		struct listener *l = c->listeners[i];
		if (w->routes[i].bound)
			l->ops->drain(c, w, l, give_back);
	}
	/* keep-alive connections end behind a response (shim/hooks_io.c) */
	board_set_retiring(w);
	drain_check(c->loop, w);
}

/* The kill timer may have been kill_reexeced's (EXEC_GRACE_MS after the
 * doorbell closed): kill_now at its deadline ends the same way, SIGKILL,
 * with a line that says less.  Not worth a key for 20 ms. */
void retire_rearm(struct cluster *c, struct worker *w, int64_t drain_due, int64_t kill_due)
{
	if (drain_due >= 0)
		w->drain_timer = loop_timer_at(c->loop, drain_due, drain_check, w);
	if (kill_due >= 0)
		w->kill_timer = loop_timer_at(c->loop, kill_due, kill_now, w);
}
