/*
 * test_timers.c - the master's timers: as many as it needs, in deadline
 * order, cancellable by id (an id that already fired or 0 is a no-op), and
 * safe to add or cancel from a timer's own callback.  Seen from outside:
 * 300 workers that all exit at once all get restarted, again and again
 * (with a fixed table of 256 timers some slots were never restarted).
 *
 * The loop is tested in-process, linked from the launcher's core library
 * (a unit suite in tests/meson.build).
 */
#include "harness.h"
#include "base/loop.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

TestSuite(timers, .fini = harness_cleanup, .timeout = 60);

struct fired {
	int order[8192];
	int n;
	int stop_after;         /* loop_stop when n reaches it */
};

struct tag {
	struct fired *f;
	int id;
	int64_t due;            /* earliest loop_now_ms() it may run at */
	int64_t due_hi;         /* the loop's deadline is at most this: the clock
				 * may move between our reading and the loop's
				 * (a busy machine preempts us in between) */
	int late;               /* ran before due */
};

static void record(struct loop *loop, void *data)
{
	struct tag *t = data;

	if (loop_now_ms() < t->due)
		t->late = 1;
	t->f->order[t->f->n++] = t->id;
	if (t->f->n == t->f->stop_after)
		loop_stop(loop);
}

static void stop_now(struct loop *loop, void *data)
{
	(void)data;
	loop_stop(loop);
}

static uint64_t add(struct loop *loop, struct tag *t, struct fired *f, int id, int64_t ms)
{
	uint64_t id_;

	t->f = f;
	t->id = id;
	t->due = loop_now_ms() + ms;
	t->late = 0;
	id_ = loop_timer(loop, ms, record, t);
	t->due_hi = loop_now_ms() + ms;
	return id_;
}

Test(timers, run_in_deadline_order_ties_in_order_added)
{
	static struct fired f;
	struct tag t[5];
	struct loop *loop = loop_new();
	int want[] = { 3, 1, 4, 2, 0 }, i;

	cr_assert(loop);
	f.stop_after = 5;
	add(loop, &t[0], &f, 0, 60);
	add(loop, &t[1], &f, 1, 20);
	add(loop, &t[2], &f, 2, 40);
	add(loop, &t[3], &f, 3, 0);
	add(loop, &t[4], &f, 4, 20);
	loop_timer(loop, 5000, stop_now, NULL);         /* a bound, not expected */
	loop_run(loop);
	cr_assert_eq(f.n, 5);
	for (i = 0; i < 5; i++) {
		cr_assert_eq(f.order[i], want[i], "position %d: timer %d, want %d", i, f.order[i],
			     want[i]);
		cr_assert(!t[i].late, "timer %d ran early", i);
	}
	loop_free(loop);
}

/* Timer a has fired when phase2 runs; phase2 adds b, c, d, cancels c (and
 * a, 0, c again: no-ops).  One loop_run: loop_stop is for good. */
struct cancels {
	struct fired f;
	struct tag t[4];
	uint64_t ids[4];
};

static void phase2(struct loop *loop, void *data)
{
	struct cancels *x = data;

	x->ids[1] = add(loop, &x->t[1], &x->f, 1, 10);
	x->ids[2] = add(loop, &x->t[2], &x->f, 2, 20);
	x->ids[3] = add(loop, &x->t[3], &x->f, 3, 30);
	loop_timer_cancel(loop, x->ids[0]);     /* already fired */
	loop_timer_cancel(loop, 0);
	loop_timer_cancel(loop, x->ids[2]);
	loop_timer_cancel(loop, x->ids[2]);     /* twice */
}

Test(timers, cancel_by_id_fired_or_zero_is_a_no_op)
{
	static struct cancels x;
	struct loop *loop = loop_new();

	cr_assert(loop);
	x.f.stop_after = 3;
	x.ids[0] = add(loop, &x.t[0], &x.f, 0, 0);
	cr_assert(x.ids[0] > 0);
	loop_timer(loop, 5, phase2, &x);
	loop_timer(loop, 5000, stop_now, NULL);         /* a bound */
	loop_run(loop);
	cr_assert(x.ids[1] > x.ids[0] && x.ids[2] > x.ids[1] && x.ids[3] > x.ids[2],
		  "ids must be new: %llu %llu %llu %llu", (unsigned long long)x.ids[0],
		  (unsigned long long)x.ids[1], (unsigned long long)x.ids[2],
		  (unsigned long long)x.ids[3]);
	cr_assert_eq(x.f.n, 3);
	cr_assert_eq(x.f.order[0], 0);
	cr_assert_eq(x.f.order[1], 1);
	cr_assert_eq(x.f.order[2], 3);
	loop_free(loop);
}

/* A callback that cancels a timer due in the same round, and one that
 * keeps re-arming itself at 0 ms: the cancelled one never runs, and the
 * re-arming one cannot keep a later timer (or epoll) from its turn. */
struct chain {
	struct loop *loop;
	uint64_t victim;
	int rearms;
	int victim_ran;
};

static void victim(struct loop *loop, void *data)
{
	struct chain *ch = data;

	(void)loop;
	ch->victim_ran = 1;
}

static void killer(struct loop *loop, void *data)
{
	struct chain *ch = data;

	loop_timer_cancel(loop, ch->victim);
}

static void rearm(struct loop *loop, void *data)
{
	struct chain *ch = data;

	ch->rearms++;
	loop_timer(loop, 0, rearm, ch);
}

Test(timers, callbacks_add_and_cancel)
{
	struct chain ch = { 0 };
	struct loop *loop = loop_new();

	cr_assert(loop);
	ch.loop = loop;
	/* same deadline: killer was added first, so it runs first */
	loop_timer(loop, 10, killer, &ch);
	ch.victim = loop_timer(loop, 10, victim, &ch);
	loop_timer(loop, 0, rearm, &ch);
	loop_timer(loop, 50, stop_now, NULL);
	loop_run(loop);
	cr_assert(!ch.victim_ran, "a timer cancelled by an earlier callback ran");
	cr_assert(ch.rearms > 1, "the re-arming timer ran %d time(s)", ch.rearms);
	loop_free(loop);
}

Test(timers, thousands_all_fire_cancelled_ones_do_not)
{
	static struct fired f;
	static struct tag t[6000];
	static uint64_t ids[6000];
	struct loop *loop = loop_new();
	int i, cancelled = 0;

	cr_assert(loop);
	srand(7);
	for (i = 0; i < 6000; i++) {
		ids[i] = add(loop, &t[i], &f, i, rand() % 80);
		cr_assert(ids[i] > 0, "timer %d not added", i);
	}
	for (i = 0; i < 6000; i += 3, cancelled++)
		loop_timer_cancel(loop, ids[i]);
	f.stop_after = 6000 - cancelled;
	loop_timer(loop, 10000, stop_now, NULL);        /* a bound */
	loop_run(loop);
	cr_assert_eq(f.n, 6000 - cancelled);
	for (i = 0; i < f.n; i++) {
		int id = f.order[i];

		cr_assert(id % 3 != 0, "cancelled timer %d ran", id);
		cr_assert(!t[id].late, "timer %d ran early", id);
		if (i > 0)
			cr_assert(t[f.order[i - 1]].due <= t[id].due_hi,
				  "timer %d (due %lld) ran after timer %d (due %lld)", id,
				  (long long)t[id].due, f.order[i - 1],
				  (long long)t[f.order[i - 1]].due);
	}
	loop_free(loop);
}

#define CRASHERS 300

/* How many slots report at least `want` restarts in the metrics; -1 when
 * the metrics cannot be read. */
static int slots_restarted(int port, unsigned want, char *buf, size_t cap)
{
	const char *p;
	int n = 0;

	if (http_get("127.0.0.1", port, buf, cap, 5000) <= 0)
		return -1;
	for (p = buf; (p = strstr(p, "\ncluster_run_worker_restarts_total{slot=\"")); p++) {
		int slot;
		unsigned restarts;

		if (sscanf(p, "\ncluster_run_worker_restarts_total{slot=\"%d\"} %u", &slot,
			   &restarts) == 2 && slot >= 0 && slot < CRASHERS && restarts >= want)
			n++;
	}
	return n;
}

/* Every slot's first restart is at once, the next ones after 0.5 s and 1 s:
 * all 300 restart timers are pending at the same moment, twice over. */
Test(timers, three_hundred_crashing_workers_all_restart, .timeout = 90)
{
	static char buf[262144];
	char where[32];
	int port = free_port(), n = -1;
	/* ~3 s on a quiet machine; generous for ASan with busy neighbours */
	int64_t deadline = loop_now_ms() + 45000;
	struct cr *cr;

	snprintf(where, sizeof(where), "127.0.0.1:%d", port);
	cr = cr_start(NULL, "-n", "300", "--max-restarts", "0", "--backoff", "0.5:1",
		      "--control", "none", "--metrics", where, "--", "sh", "-c", "exit 1", NULL);
	cr_assert(cr_wait_line(cr, "metrics on http://", 10000), "%s", cr->log);
	while (n != CRASHERS && loop_now_ms() < deadline) {
		/* keep reading its stderr: 300 "exited" lines a second must
		 * not fill the pipe and block the master */
		cr_wait_line(cr, "\001", 200);
		sleep_ms(100);
		n = slots_restarted(port, 3, buf, sizeof(buf));
	}
	cr_assert_eq(n, CRASHERS, "only %d of %d slots were restarted 3 times:\n%s", n, CRASHERS,
		     buf);
	cr_assert(!strstr(cr->log, "timer"), "%s", cr->log);
	cr_stop(cr, SIGTERM, 15000);
}
