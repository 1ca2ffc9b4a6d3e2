/*
 * test_slots.c - the slot and worker state machines, in process: the
 * tables of allowed transitions (slots.c, worker.c) and the sequences
 * the supervisor really takes through them (a crash restart with its
 * backoff, a crash loop, a rolling reload and an aborted one, a
 * scale-down, a stop, a hung worker replaced at once, one recycled by
 * health.c's timer), driven on a fake cluster whose workers are made-up
 * pids on a clock the test moves (tests/common/fake_cluster.h).
 *
 * The setters abort on an edge missing from their table in a debug build
 * (NDEBUG unset, meson's default here), so a sequence below that takes
 * one crashes its test: the tables are checked against what the code
 * does, not only against themselves.
 */
#include "fake_cluster.h"
#include "cluster.h"
#include "policy/policy.h"
#include "supervise/health.h"
#include "supervise/rollout.h"
#include "supervise/slots.h"
#include "supervise/slots_recycle.h"
#include "supervise/slots_scale.h"
#include "supervise/supervisor.h"
#include "supervise/worker.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

TestSuite(slots, .timeout = 30);

#define NSLOT_STATES (SLOT_STOPPING + 1)
#define NWORKER_STATES (W_STOPPING + 1)

/* A cluster of n workers (and --backoff etc. from words) with one UDP
 * address under shared, started: every slot STARTING.  UDP, because a
 * datagram listener needs no census and no channel to drain, so a
 * retired fake worker is stopped at once. */
static struct cluster *start(const char *const *words)
{
	struct cluster *c = fake_cluster_new(words);

	fake_listener_add(c, policy_by_name("shared"), AF_INET, SOCK_DGRAM);
	slots_start(c);
	fake_turn(c);
	return c;
}

static void listen_all(struct cluster *c)
{
	int i;

	for (i = 0; i < c->target; i++)
		if (c->slots[i].state == SLOT_STARTING)
			fake_listens(c, c->slots[i].active);
}

/* The signals pid got, as a string: "15 18" */
static const char *signals_of(pid_t pid)
{
	static char buf[128];
	const int *s = fake_signalled(pid);

	buf[0] = '\0';
	for (; *s; s++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%d", buf[0] ? " " : "", *s);
	return buf;
}

/* The whole table, written out once more: a change to it must be made
 * here too, on purpose.  Rows: from; columns: to. */
Test(slots, slot_table)
{
	static const char *const allowed[NSLOT_STATES] = {
		/* to: Empty Backoff Starting Active Replacing Draining sTopping
		 *                  E B S A R D T */
		[SLOT_EMPTY]     = "1 1 1 0 0 0 1",
		[SLOT_BACKOFF]   = "1 1 1 0 0 1 1",
		[SLOT_STARTING]  = "1 1 1 1 0 1 1",
		[SLOT_ACTIVE]    = "1 1 1 1 1 1 1",
		[SLOT_REPLACING] = "1 1 1 1 1 1 1",
		[SLOT_DRAINING]  = "1 0 0 0 0 1 0",
		[SLOT_STOPPING]  = "1 0 0 0 0 0 1",
	};
	int from, to;

	for (from = 0; from < NSLOT_STATES; from++)
		for (to = 0; to < NSLOT_STATES; to++)
			cr_expect_eq(slot_transition_allowed(from, to), allowed[from][2 * to] == '1',
				     "%s -> %s", slot_state_name(from), slot_state_name(to));
	cr_expect(!slot_transition_allowed(NSLOT_STATES, SLOT_EMPTY), "out of range");
	cr_expect(!slot_transition_allowed(SLOT_EMPTY, NSLOT_STATES), "out of range");
	cr_expect(!slot_transition_allowed(-1, SLOT_EMPTY), "out of range");
}

Test(slots, worker_table)
{
	static const char *const allowed[NWORKER_STATES] = {
		/* to: Starting Ready Draining sTopping
		 *              S R D T */
		[W_STARTING] = "1 1 1 0",
		[W_READY]    = "0 1 1 0",
		[W_DRAINING] = "0 0 1 1",
		[W_STOPPING] = "0 0 0 1",
	};
	int from, to;

	for (from = 0; from < NWORKER_STATES; from++)
		for (to = 0; to < NWORKER_STATES; to++)
			cr_expect_eq(worker_transition_allowed(from, to),
				     allowed[from][2 * to] == '1', "%s -> %s",
				     worker_state_name(from), worker_state_name(to));
	cr_expect(!worker_transition_allowed(NWORKER_STATES, W_READY), "out of range");
}

#ifndef NDEBUG
/* A debug build stops at an illegal edge (a stopping worker back to
 * ready), with a core to look at. */
Test(slots, illegal_worker_edge_aborts, .signal = SIGABRT)
{
	struct cluster *c = start((const char *[]){ "-n", "1", NULL });
	struct worker *w = c->slots[0].active;

	fake_listens(c, w);
	supervisor_stop(c, SIGTERM);
	fake_turn(c);   /* a drained worker is asked once more in the next turn */
	cr_assert_eq(w->state, W_STOPPING);
	worker_set_state(w, W_READY);
}
#endif

/* Crash, restart at once the first time, then after backoff_min, then
 * twice that; a worker that ran past --min-uptime restarts at once again. */
Test(slots, crash_restart)
{
	struct cluster *c = start((const char *[]){ "-n", "2", "--backoff", "0.1:10",
						    "--min-uptime", "5", NULL });
	struct slot *s = &c->slots[0];
	struct worker *w;
	pid_t first;

	cr_assert_eq(fake_spawns, 2);
	listen_all(c);
	cr_assert(c->started_up, "every worker listens: said once");
	first = s->active->pid;

	/* restart now: a 0 ms timer, run in the same turn of the loop as
	 * the reaping that set it */
	fake_exits(c, s->active, W_EXITCODE(1, 0));
	cr_assert_eq(fake_spawns, 3);
	cr_assert_neq(s->active->pid, first);
	cr_assert_eq(s->restarts, 1);
	fake_listens(c, s->active);

	fake_exits(c, s->active, W_EXITCODE(1, 0));             /* 100 ms */
	fake_advance(c, 99);
	cr_assert_eq(s->state, SLOT_BACKOFF, "restarted before backoff_min");
	fake_advance(c, 1);
	fake_exits(c, s->active, W_EXITCODE(0, SIGSEGV));       /* 200 ms */
	fake_advance(c, 199);
	cr_assert_eq(s->state, SLOT_BACKOFF, "the backoff did not double");
	fake_advance(c, 1);
	w = s->active;
	fake_listens(c, w);
	cr_assert_str_eq(fake_worker_path(w->pid), "starting ready");

	fake_advance(c, 5000);                                  /* ran long enough */
	fake_exits(c, w, W_EXITCODE(1, 0));
	cr_assert_eq(s->state, SLOT_STARTING, "restarted at once");
	cr_assert_eq(s->restarts, 4);
	cr_assert_str_eq(fake_slot_path(0), "empty starting active backoff starting active "
			 "backoff starting backoff starting active backoff starting");
	cr_assert_str_eq(fake_slot_path(1), "empty starting active", "the other slot is left alone");
	fake_cluster_free(c);
}

/* A worker that never listens, --max-restarts times in a row: give up,
 * stop everything, exit with its status. */
Test(slots, crash_loop)
{
	struct cluster *c = start((const char *[]){ "-n", "1", "--max-restarts", "3",
						    "--backoff", "0.1:10", NULL });
	int i;

	for (i = 0; i < 2; i++) {
		fake_exits(c, c->slots[0].active, W_EXITCODE(7, 0));
		fake_advance(c, 100);
	}
	cr_assert(!c->stopping);
	fake_exits(c, c->slots[0].active, W_EXITCODE(7, 0));
	cr_assert_str_eq(fake_slot_path(0), "empty starting backoff starting backoff starting "
			 "empty");
	cr_assert(c->stopping, "gave up");
	cr_assert_eq(c->exit_status, 7, "the worker's status");
	fake_cluster_free(c);
}

/* A worker that could not even be started waits --backoff's maximum. */
Test(slots, cannot_start)
{
	struct cluster *c;

	fake_spawn_fails = 1;
	c = start((const char *[]){ "-n", "1", "--backoff", "0.1:10", NULL });
	cr_assert_null(c->slots[0].active);
	fake_spawn_fails = 0;
	fake_advance(c, 9999);
	cr_assert_eq(c->slots[0].state, SLOT_BACKOFF, "retried before backoff_max");
	fake_advance(c, 1);
	fake_listens(c, c->slots[0].active);
	cr_assert_str_eq(fake_slot_path(0), "empty backoff starting active");
	fake_cluster_free(c);
}

/* HUP: one slot at a time, each replacement listening before the old
 * worker is drained and stopped, and the next slot only once the old
 * worker has gone. */
Test(slots, rolling_reload)
{
	struct cluster *c = start((const char *[]){ "-n", "2", NULL });
	struct worker *old0, *old1, *nw;
	pid_t pid0, pid1;

	listen_all(c);
	old0 = c->slots[0].active;
	old1 = c->slots[1].active;
	pid0 = old0->pid;
	pid1 = old1->pid;
	supervisor_reload(c);
	fake_turn(c);
	cr_assert(slots_reloading(c));
	cr_assert_eq(c->slots[0].state, SLOT_REPLACING);
	cr_assert_eq(c->slots[1].state, SLOT_ACTIVE, "one slot at a time");
	nw = c->slots[0].next;
	cr_assert_not_null(nw);
	cr_assert_eq(old0->state, W_READY, "serves while its replacement starts");

	fake_listens(c, nw);
	cr_assert_eq(c->slots[0].active, nw);
	cr_assert_str_eq(fake_worker_path(pid0), "starting ready draining stopping",
			 "drained (nothing held), then stopped");
	cr_assert_str_eq(signals_of(pid0), "15");
	cr_assert_eq(c->slots[1].state, SLOT_ACTIVE, "waits until the old worker has gone");

	fake_exits(c, old0, W_EXITCODE(0, SIGTERM));
	cr_assert_eq(c->slots[1].state, SLOT_REPLACING);
	fake_listens(c, c->slots[1].next);
	cr_assert_str_eq(signals_of(pid1), "15");
	cr_assert(slots_reloading(c), "complete only once the last old worker has gone");
	fake_exits(c, old1, W_EXITCODE(0, SIGTERM));
	cr_assert(!slots_reloading(c));
	cr_assert_eq(c->nworkers, 2);
	cr_assert_eq(c->workers[0]->generation, c->generation);
	cr_assert_eq(c->workers[1]->generation, c->generation);
	cr_assert_str_eq(fake_slot_path(0), "empty starting active replacing active");
	cr_assert_str_eq(fake_slot_path(1), "empty starting active replacing active");
	fake_cluster_free(c);
}

/* A replacement that keeps exiting before it listens: the reload is
 * aborted and the old worker stays. */
Test(slots, reload_aborted)
{
	struct cluster *c = start((const char *[]){ "-n", "1", "--max-restarts", "3",
						    "--backoff", "0.1:10", NULL });
	struct worker *old;

	listen_all(c);
	old = c->slots[0].active;
	supervisor_reload(c);
	fake_turn(c);
	fake_exits(c, c->slots[0].next, W_EXITCODE(1, 0));
	cr_assert_not_null(c->slots[0].next, "the first retry at once");
	fake_exits(c, c->slots[0].next, W_EXITCODE(1, 0));
	cr_assert_null(c->slots[0].next, "the second waits on a timer");
	cr_assert_eq(c->slots[0].state, SLOT_REPLACING);
	fake_advance(c, 100);
	cr_assert_not_null(c->slots[0].next, "retried");
	fake_exits(c, c->slots[0].next, W_EXITCODE(1, 0));
	cr_assert(!slots_reloading(c), "aborted");
	cr_assert_eq(c->slots[0].active, old);
	cr_assert_eq(old->state, W_READY);
	cr_assert_str_eq(fake_slot_path(0), "empty starting active replacing active");
	fake_cluster_free(c);
}

/* TTOU: the last slot drains and empties once its worker has gone; TTIN
 * fills it again.  Scaling up again while the removed slot's worker is
 * still leaving reuses the slot at once (draining, empty, starting). */
Test(slots, scale_down)
{
	struct cluster *c = start((const char *[]){ "-n", "3", NULL });
	struct worker *w;
	pid_t pid;

	listen_all(c);
	w = c->slots[2].active;
	pid = w->pid;
	supervisor_scale(c, -1);
	fake_turn(c);
	cr_assert_eq(c->target, 2);
	cr_assert_eq(c->slots[2].state, SLOT_DRAINING);
	cr_assert_str_eq(fake_worker_path(pid), "starting ready draining stopping");
	cr_assert_str_eq(signals_of(pid), "15");
	fake_exits(c, w, W_EXITCODE(0, SIGTERM));
	cr_assert_eq(c->slots[2].state, SLOT_EMPTY);
	supervisor_scale(c, +1);
	fake_listens(c, c->slots[2].active);

	w = c->slots[2].active;                 /* down and up before it goes */
	supervisor_scale(c, -1);
	supervisor_scale(c, +1);
	cr_assert_neq(c->slots[2].active, w, "a new worker");
	fake_exits(c, w, W_EXITCODE(0, SIGTERM));
	fake_listens(c, c->slots[2].active);
	cr_assert_str_eq(fake_slot_path(2), "empty starting active draining empty starting "
			 "active draining empty starting active");
	cr_assert_str_eq(fake_slot_path(0), "empty starting active");
	cr_assert_str_eq(fake_slot_path(1), "empty starting active");
	fake_cluster_free(c);
}

/* TERM: every slot with a worker stops, one in backoff empties at once
 * and is not restarted; a second TERM kills. */
Test(slots, stop)
{
	struct cluster *c = start((const char *[]){ "-n", "2", "--backoff", "0.1:10", NULL });
	struct worker *w;
	pid_t pid;

	listen_all(c);
	fake_exits(c, c->slots[1].active, W_EXITCODE(1, 0));    /* restart now */
	fake_exits(c, c->slots[1].active, W_EXITCODE(1, 0));    /* 100 ms */
	cr_assert_eq(c->slots[1].state, SLOT_BACKOFF);

	w = c->slots[0].active;
	pid = w->pid;
	supervisor_stop(c, SIGTERM);
	fake_turn(c);
	cr_assert_eq(c->slots[0].state, SLOT_STOPPING);
	cr_assert_eq(w->state, W_STOPPING);
	cr_assert_str_eq(signals_of(pid), "15");
	fake_advance(c, 1000);
	cr_assert_eq(c->slots[1].state, SLOT_EMPTY, "no restart while stopping");
	supervisor_stop(c, SIGTERM);
	cr_assert_str_eq(signals_of(pid), "15 9", "a second TERM kills");
	fake_exits(c, w, W_EXITCODE(0, SIGKILL));
	cr_assert_eq(c->nworkers, 0);
	cr_assert_str_eq(fake_slot_path(0), "empty starting active stopping empty");
	cr_assert_str_eq(fake_slot_path(1), "empty starting active backoff starting backoff empty");
	fake_cluster_free(c);
}

/* health.c's hung worker: out of service at once (drained, stopped and
 * woken with CONT in case it is stopped) and its successor started at
 * once, straight from active to starting, no backoff in between. */
Test(slots, hung_worker_replaced_now)
{
	struct cluster *c = start((const char *[]){ "-n", "2", NULL });
	struct worker *w;
	pid_t pid;

	listen_all(c);
	w = c->slots[1].active;
	pid = w->pid;
	cr_assert_eq(supervisor_replace(c, w, "hang", "a test", 1), 0);
	cr_assert_str_eq(fake_worker_path(pid), "starting ready draining stopping");
	cr_assert_str_eq(signals_of(pid), "15 18");
	cr_assert_neq(c->slots[1].active, w);
	cr_assert_eq(c->slots[1].restarts, 1);
	fake_exits(c, w, W_EXITCODE(0, SIGTERM));
	fake_listens(c, c->slots[1].active);
	cr_assert_str_eq(fake_slot_path(1), "empty starting active starting active");
	fake_cluster_free(c);
}

/* Recycling (health.c, not now): the same replacing step as a reload,
 * one at a time. */
Test(slots, recycled_worker_replaced)
{
	struct cluster *c = start((const char *[]){ "-n", "1", NULL });
	struct worker *w;

	listen_all(c);
	w = c->slots[0].active;
	cr_assert_eq(supervisor_replace(c, w, "memory", "a test", 0), 0);
	cr_assert_eq(w->state, W_READY, "serves until its replacement listens");
	cr_assert_eq(supervisor_replace(c, w, "memory", "again", 0), -1, "one at a time");
	fake_listens(c, c->slots[0].next);
	cr_assert_eq(w->state, W_STOPPING);
	cr_assert_str_eq(fake_slot_path(0), "empty starting active replacing active");
	fake_cluster_free(c);
}

/* health.c on the fake clock: --max-requests counts what the worker took
 * (under shared its board's accepted count); at the limit the next tick
 * replaces it through the same replacing step. */
Test(slots, health_recycles_on_the_fake_clock)
{
	struct cluster *c = start((const char *[]){ "-n", "1", "--max-requests", "100", NULL });
	struct worker *w;

	listen_all(c);
	w = c->slots[0].active;
	cr_assert_eq(health_start(c, supervisor_replace), 0);
	cr_assert_not_null(w->board);
	w->board->l[0].accepted = 99;
	fake_advance(c, 100);                           /* a tick */
	cr_assert_eq(c->slots[0].state, SLOT_ACTIVE, "below the limit");
	w->board->l[0].accepted = 100;
	fake_advance(c, 99);
	cr_assert_eq(c->slots[0].state, SLOT_ACTIVE, "no tick yet");
	fake_advance(c, 1);
	cr_assert_eq(c->slots[0].state, SLOT_REPLACING, "recycled at the limit");
	fake_listens(c, c->slots[0].next);
	cr_assert_str_eq(fake_worker_path(w->pid), "starting ready draining stopping");
	cr_assert_str_eq(fake_slot_path(0), "empty starting active replacing active");
	health_free(c);
	fake_cluster_free(c);
}
