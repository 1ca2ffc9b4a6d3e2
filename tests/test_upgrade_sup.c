/*
 * test_upgrade_sup.c - the supervise layer's part of an in-place upgrade
 * (surface/upgrade.h), in process on the fake cluster: releases, workers,
 * slots, the rollout, health and accept rates saved from one cluster in
 * the middle of a rolling reload (a replacement starting, a slot in
 * backoff after a kill -9, a worker leaving), read back into a fresh one
 * as the new image would, compared field by field, and then driven on:
 * the timers fire at their deadlines and the rollout completes.
 *
 * Both clusters live in this one process, so the fds the state names are
 * the same open files on both sides, as after a real exec.  The first
 * cluster is never freed (its fds are the second's now).
 */
#include "fake_cluster.h"
#include "cluster.h"
#include "base/loop.h"
#include "base/state.h"
#include "net/board.h"
#include "policy/policy.h"
#include "supervise/accept_rate.h"
#include "supervise/follow.h"
#include "supervise/health.h"
#include "supervise/release.h"
#include "supervise/rollout.h"
#include "supervise/slots.h"
#include "supervise/slots_state.h"
#include "supervise/worker.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

TestSuite(upgrade_sup, .timeout = 30);

static const char *const words[] = { "-n", "3", "--reload-batch", "1", "--max-requests", "1000",
				     "--backoff", "0.5:10", NULL };

static int no_replace(struct cluster *c, struct worker *w, const char *reason,
		      const char *detail, int now)
{
	(void)c; (void)w; (void)reason; (void)detail; (void)now;
	return -1;
}

static struct cluster *start(void)
{
	struct cluster *c = fake_cluster_listening(words);

	cr_assert_eq(health_start(c, no_replace), 0);
	cr_assert_eq(accept_rate_start(c), 0);
	return c;
}

/* The save sequence of upgrade.c, for the modules of this layer. */
static struct state_in *save(struct cluster *c)
{
	static fake_state_saver *const savers[] = { release_save, worker_save, slots_save,
						    rollout_save, health_save,
						    accept_rate_save, follow_save, NULL };

	return fake_state_trip(c, savers);
}

/* The new image: a fresh cluster of the same command line, its listener
 * (listener_restore's), then this layer's restores in upgrade.h's order. */
static struct cluster *restore(const struct state_in *in, int64_t now)
{
	struct cluster *c = fake_cluster_new(words);

	fake_now_ms = now;
	fake_listener_add(c, policy_by_name("shared"), AF_INET, SOCK_DGRAM);
	cr_assert_eq(release_restore(c, in), 0);
	cr_assert_eq(worker_restore(c, in), 0);
	cr_assert_eq(slots_restore(c, in), 0);
	cr_assert_eq(rollout_restore(c, in), 0);
	cr_assert_eq(health_restore(c, in), 0);
	cr_assert_eq(accept_rate_restore(c, in), 0);
	cr_assert_eq(follow_restore(c, in), 0);
	release_restore_end();
	cr_assert_eq(health_start(c, no_replace), 0);
	cr_assert_eq(accept_rate_start(c), 0);
	return c;
}

static uint64_t serial_of(const struct worker *w)
{
	return w ? w->serial : 0;
}

static uint64_t rel_serial(const struct release *r)
{
	return r ? r->serial : 0;
}

static void same_release(const struct release *a, const struct release *b)
{
	int i;

	cr_assert_eq(rel_serial(a), rel_serial(b));
	if (!a)
		return;
	cr_assert_eq(a->id, b->id);
	cr_assert_str_eq(a->path, b->path);
	for (i = 0; a->argv[i]; i++)
		cr_assert_str_eq(a->argv[i], b->argv[i]);
	cr_assert_null(b->argv[i]);
	cr_assert_eq(a->env.n, b->env.n);
	for (i = 0; i < (int)a->env.n; i++)
		cr_assert_str_eq(a->env.vars[i], b->env.vars[i]);
}

static void same_worker(const struct cluster *c1, const struct worker *a,
			const struct cluster *c2, const struct worker *b)
{
	int i;

	cr_assert_eq(a->serial, b->serial);
	cr_assert_eq(b->c, c2);
	cr_assert_eq(a->slot, b->slot);
	cr_assert_eq(a->pid, b->pid);
	cr_assert_eq(a->pgid, b->pgid);
	cr_assert_eq(a->spawned_pid, b->spawned_pid);
	cr_assert_eq(a->doorbell_ino, b->doorbell_ino);
	cr_assert_eq(a->state, b->state, "worker %llu: %s, restored %s",
		     (unsigned long long)a->serial, worker_state_name(a->state),
		     worker_state_name(b->state));
	cr_assert_eq(a->generation, b->generation);
	same_release(a->rel, b->rel);
	cr_assert_eq(a->doorbell, b->doorbell);
	cr_assert_eq(a->notify_fd, b->notify_fd);
	cr_assert_eq(a->started_ms, b->started_ms);
	cr_assert_eq(a->drain_started, b->drain_started);
	cr_assert_eq(a->ever_ready, b->ever_ready);
	cr_assert_eq(a->attached, b->attached);
	cr_assert_eq(a->stop_sig, b->stop_sig);
	cr_assert_eq(a->board_fd, b->board_fd);
	cr_assert_eq(a->accept_opens, b->accept_opens);
	cr_assert_eq(a->accept_queued, b->accept_queued);
	cr_assert_eq(loop_timer_due(c1->loop, a->drain_timer),
		     loop_timer_due(c2->loop, b->drain_timer));
	cr_assert_eq(loop_timer_due(c1->loop, a->kill_timer),
		     loop_timer_due(c2->loop, b->kill_timer));
	for (i = 0; i < c1->nlisteners; i++) {
		const struct route *x = &a->routes[i], *y = &b->routes[i];

		cr_assert_eq(y->w, b);
		cr_assert_eq(x->bound, y->bound);
		cr_assert_eq(x->listening, y->listening);
		cr_assert_eq(x->chan, y->chan);
		cr_assert_eq(x->handed, y->handed);
		cr_assert_eq(x->sent, y->sent);
		cr_assert_eq(x->draining, y->draining);
	}
	/* the board is the same shared page: what the shim counts in it
	 * goes on in the new image */
	cr_assert_not_null(b->board);
	cr_assert_neq((void *)a->board, (void *)b->board);
	atomic_store(&a->board->l[0].accepted, 1234 + a->serial);
	cr_assert_eq(board_accepted(b, 0), 1234 + a->serial);
}

static void same_slot(const struct cluster *c1, const struct slot *a,
		      const struct cluster *c2, const struct slot *b)
{
	cr_assert_eq(a->state, b->state, "slot %d: %s, restored %s", a->index,
		     slot_state_name(a->state), slot_state_name(b->state));
	cr_assert_eq(b->c, c2);
	cr_assert_eq(serial_of(a->active), serial_of(b->active));
	cr_assert_eq(serial_of(a->next), serial_of(b->next));
	cr_assert_eq(rel_serial(a->rel), rel_serial(b->rel));
	cr_assert_eq(rel_serial(a->next_rel), rel_serial(b->next_rel));
	cr_assert_eq(loop_timer_due(c1->loop, a->timer), loop_timer_due(c2->loop, b->timer),
		     "slot %d's timer", a->index);
	cr_assert_eq(loop_timer_due(c1->loop, a->ready_timer),
		     loop_timer_due(c2->loop, b->ready_timer), "slot %d's ready timer", a->index);
	cr_assert_eq(a->failures, b->failures);
	cr_assert_eq(a->listen_failures, b->listen_failures);
	cr_assert_eq(a->backoff_step, b->backoff_step);
	cr_assert_eq(a->last_status, b->last_status);
	cr_assert_eq(a->restarts, b->restarts);
	cr_assert_eq(a->ever_filled, b->ever_filled);
	cr_assert_eq(a->binds_until, b->binds_until);
}

/* The middle of a rolling reload (batch 1): slot 0 replaced, its old
 * worker stopping (its SIGKILL timer running), slot 2 in backoff after
 * its worker was killed (-9): everything the layer keeps comes back, and
 * the new image carries on from there. */
Test(upgrade_sup, round_trip_during_a_rollout)
{
	struct cluster *c1 = start(), *c2;
	struct rollout_view v1, v2;
	struct state_in *in;
	struct worker *killed, *leaving;
	char why[256];
	int i, spawns;

	cr_assert_eq(rollout_reload(c1, &(struct reload_request){ .batch = 1 }, why,
				    sizeof(why)), 0, "%s", why);
	fake_turn(c1);
	cr_assert_eq(c1->slots[0].state, SLOT_REPLACING);
	cr_assert_not_null(c1->slots[0].next);
	/* slot 0's replacement listens: the old worker leaves (UDP: nothing
	 * to drain, stopped at once, its SIGKILL due --grace later) */
	leaving = c1->slots[0].active;
	fake_listens(c1, c1->slots[0].next);
	cr_assert_eq(leaving->state, W_STOPPING);
	cr_assert_geq(loop_timer_due(c1->loop, leaving->kill_timer), 0);
	killed = c1->slots[2].active;
	fake_advance(c1, 11000);        /* past --min-uptime: restarts at once... */
	fake_exits(c1, killed, SIGKILL);
	fake_advance(c1, 1);
	fake_listens(c1, c1->slots[2].active);
	fake_exits(c1, c1->slots[2].active, SIGKILL);   /* ...then after a backoff */
	cr_assert_eq(c1->slots[2].state, SLOT_BACKOFF);
	cr_assert_geq(loop_timer_due(c1->loop, c1->slots[2].timer), 0);
	c1->workers[0]->routes[0].handed = 77;

	in = save(c1);
	c2 = restore(in, fake_now_ms);

	cr_assert_eq(c2->nworkers, c1->nworkers);
	cr_assert_eq(c2->target, c1->target);
	cr_assert_eq(c2->spawned, c1->spawned);
	cr_assert_eq(c2->generation, c1->generation);
	cr_assert_eq(c2->rolled, c1->rolled);
	same_release(c1->release, c2->release);
	same_release(c1->previous, c2->previous);
	cr_assert_neq((void *)c1->release, (void *)c1->previous);
	for (i = 0; i < c1->nworkers; i++)
		same_worker(c1, c1->workers[i], c2, c2->workers[i]);
	for (i = 0; i < MAX_WORKERS; i++)
		same_slot(c1, &c1->slots[i], c2, &c2->slots[i]);
	/* one struct release per release, shared as before */
	cr_assert_eq((void *)c2->slots[0].active->rel, (void *)c2->release);
	cr_assert_eq((void *)c2->slots[1].rel, (void *)c2->previous);
	rollout_view(c1, &v1);
	rollout_view(c2, &v2);
	cr_assert_eq(v1.active, 1);
	cr_assert_eq(v2.active, v1.active);
	cr_assert_eq(v2.batch, v1.batch);
	cr_assert_eq(v2.replaced, v1.replaced);
	cr_assert_eq(v2.generation, v1.generation);

	/* the new image goes on: slot 2's restart is due at its deadline,
	 * the replacements listen one batch at a time, the rollout ends */
	spawns = fake_spawns;
	fake_advance(c2, loop_timer_due(c2->loop, c2->slots[2].timer) - fake_now_ms);
	cr_assert_eq(fake_spawns, spawns + 1, "slot 2 restarted at its deadline");
	cr_assert_eq(c2->slots[2].state, SLOT_STARTING);
	fake_listens(c2, c2->slots[2].active);
	for (i = 0; i < 10 && c2->rolled < c2->generation; i++) {
		int k;

		for (k = 0; k < c2->target; k++)
			if (c2->slots[k].state == SLOT_REPLACING && c2->slots[k].next)
				fake_listens(c2, c2->slots[k].next);
		/* UDP: nothing to drain, the old workers are stopped; they exit */
		for (k = c2->nworkers - 1; k >= 0; k--)
			if (c2->workers[k]->state == W_STOPPING) {
				fake_exits(c2, c2->workers[k], 0);
				break;
			}
		fake_advance(c2, 30);
	}
	cr_assert_eq(c2->rolled, c2->generation, "the rollout completed after the upgrade");
	for (i = 0; i < c2->target; i++) {
		cr_assert_eq(c2->slots[i].state, SLOT_ACTIVE);
		cr_assert_eq((void *)c2->slots[i].active->rel, (void *)c2->release);
	}
	state_in_free(in);
	fake_cluster_free(c2);
}

/* Each restart reason counted before the upgrade is counted after it,
 * and the health tick runs again at its deadline. */
Test(upgrade_sup, health_and_rates_round_trip)
{
	struct cluster *c1 = start(), *c2;
	struct state_in *in;
	const char *last;

	fake_advance(c1, 11000);
	fake_exits(c1, c1->slots[1].active, SIGKILL);
	fake_advance(c1, 2500);         /* a few samples of the accept rates */
	in = save(c1);
	c2 = restore(in, fake_now_ms);
	last = health_last_exit(c2, 1);
	cr_assert_not_null(last);
	cr_assert_str_eq(last, health_last_exit(c1, 1));
	cr_assert_eq(accept_rate(c2, c2->workers[0], 2), accept_rate(c1, c1->workers[0], 2));
	fake_advance(c2, 1000);
	state_in_free(in);
	fake_cluster_free(c2);
}
