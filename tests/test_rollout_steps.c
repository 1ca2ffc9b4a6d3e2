/*
 * test_rollout_steps.c - rollout.c's steps in process, on the fake
 * cluster (common/fake_cluster.h): which slots a batch replaces, when the
 * next batch starts (fewer than B old workers still leaving), a canary's
 * pause, and the way back of an abort, slot by slot.
 */
#include "fake_cluster.h"
#include "cluster.h"
#include "policy/policy.h"
#include "supervise/release.h"
#include "supervise/rollout.h"
#include "supervise/slots.h"
#include "supervise/slots_scale.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

TestSuite(rollout_steps, .timeout = 30);

static struct cluster *start(const char *const *words)
{
	return fake_cluster_listening(words);
}

static int count_state(const struct cluster *c, enum slot_state st)
{
	int i, n = 0;

	for (i = 0; i < c->target; i++)
		n += c->slots[i].state == st;
	return n;
}

/* Every replacement starting now listens; the old workers it replaced
 * (retired, stopped at once: UDP has nothing to drain) are kept until
 * the test lets them exit. */
static int listen_replacements(struct cluster *c, struct worker **old, int nold)
{
	int i, n = 0;

	for (i = 0; i < c->target; i++)
		if (c->slots[i].state == SLOT_REPLACING && c->slots[i].next) {
			old[nold + n++] = c->slots[i].active;
			fake_listens(c, c->slots[i].next);
		}
	return n;
}

static int on_release(const struct cluster *c, const struct release *rel)
{
	int i, n = 0;

	for (i = 0; i < c->target; i++)
		n += c->slots[i].active && c->slots[i].active->rel == rel &&
		     c->slots[i].state == SLOT_ACTIVE;
	return n;
}

/* --reload-batch 2 of 5: two at a time; the next two start once one of
 * the first two old workers has gone (fewer than 2 leaving), the last
 * one alone; complete when the last old worker has gone. */
Test(rollout_steps, batches_of_two)
{
	struct cluster *c = start((const char *[]){ "-n", "5", "--reload-batch", "2", NULL });
	struct worker *old[8];
	int n = 0;

	supervisor_reload(c);
	fake_turn(c);
	cr_assert_eq(count_state(c, SLOT_REPLACING), 2);
	n += listen_replacements(c, old, n);
	cr_assert_eq(n, 2);
	cr_assert_eq(count_state(c, SLOT_REPLACING), 0, "two old workers still leave");
	fake_exits(c, old[0], W_EXITCODE(0, SIGTERM));
	cr_assert_eq(count_state(c, SLOT_REPLACING), 2, "one left: the next batch starts");
	n += listen_replacements(c, old, n);
	fake_exits(c, old[1], W_EXITCODE(0, SIGTERM));
	fake_exits(c, old[2], W_EXITCODE(0, SIGTERM));
	cr_assert_eq(count_state(c, SLOT_REPLACING), 1, "the last slot");
	n += listen_replacements(c, old, n);
	cr_assert_eq(n, 5);
	cr_assert(slots_reloading(c));
	fake_exits(c, old[3], W_EXITCODE(0, SIGTERM));
	cr_assert(slots_reloading(c), "an old worker is still there");
	fake_exits(c, old[4], W_EXITCODE(0, SIGTERM));
	cr_assert(!slots_reloading(c));
	cr_assert_eq(on_release(c, c->release), 5);
	cr_assert_null(c->previous);
	fake_cluster_free(c);
}

/* 50% of 3 is 2 (rounded up); 1% of 3 is 1. */
Test(rollout_steps, percent_rounds_up)
{
	struct cluster *c = start((const char *[]){ "-n", "3", "--reload-batch", "50%", NULL });
	struct reload_request rq;
	struct rollout_view v;
	char why[256];

	supervisor_reload(c);
	fake_turn(c);
	cr_assert_eq(count_state(c, SLOT_REPLACING), 2);
	rollout_view(c, &v);
	cr_assert_eq(v.batch, 2);
	cr_assert_eq(v.total, 3);
	memset(&rq, 0, sizeof(rq));
	rq.batch_pct = 1;
	cr_assert_eq(rollout_reload(c, &rq, why, sizeof(why)), 0, "%s", why);
	rollout_view(c, &v);
	cr_assert_eq(v.batch, 1);
	fake_cluster_free(c);
}

/* A canary of one slot in four pauses, and stays paused however long;
 * a reload is refused meanwhile. */
Test(rollout_steps, canary_pause_holds)
{
	struct cluster *c = start((const char *[]){ "-n", "4", NULL });
	struct release *first = c->release;
	struct reload_request rq;
	struct rollout_view v;
	struct worker *old[8];
	char why[256];
	int n = 0;

	memset(&rq, 0, sizeof(rq));
	rq.canary = 1;
	cr_assert_eq(rollout_reload(c, &rq, why, sizeof(why)), 0, "%s", why);
	fake_turn(c);
	n += listen_replacements(c, old, n);
	cr_assert_eq(n, 1);
	fake_exits(c, old[0], W_EXITCODE(0, SIGTERM));
	cr_assert(c->roll_paused, "paused after the first batch");
	cr_assert_eq(c->previous, first);
	cr_assert_eq(on_release(c, first), 3);
	cr_assert_eq(on_release(c, c->release), 1);
	rollout_view(c, &v);
	cr_assert(v.active && v.paused && v.canary);
	cr_assert_eq(v.replaced, 1);
	fake_advance(c, 60000);
	cr_assert_eq(count_state(c, SLOT_REPLACING), 0, "a paused canary stays");
	cr_assert_eq(rollout_reload(c, &rq, why, sizeof(why)), -1);
	cr_assert(strstr(why, "a canary is paused"), "%s", why);
	/* a slot added meanwhile runs what the others run, not the canary */
	supervisor_scale(c, +1);
	cr_assert_eq(c->target, 5);
	cr_assert_eq(c->slots[4].rel, first);
	cr_assert_eq(c->slots[4].active->rel, first);
	fake_listens(c, c->slots[4].active);
	cr_assert_eq(on_release(c, first), 4);
	cr_assert(c->roll_paused, "still paused");
	fake_cluster_free(c);
}

/* abort brings the canary's slots back to the first release through
 * replacements, and the way back completes with every slot on it. */
Test(rollout_steps, abort_goes_back)
{
	struct cluster *c = start((const char *[]){ "-n", "4", "--reload-batch", "2", NULL });
	struct release *first = c->release;
	struct reload_request rq;
	struct worker *old[16];
	char why[256];
	int n = 0;

	memset(&rq, 0, sizeof(rq));
	rq.canary = 1;
	cr_assert_eq(rollout_reload(c, &rq, why, sizeof(why)), 0, "%s", why);
	fake_turn(c);
	n += listen_replacements(c, old, n);
	cr_assert_eq(n, 2);
	fake_exits(c, old[0], W_EXITCODE(0, SIGTERM));
	fake_exits(c, old[1], W_EXITCODE(0, SIGTERM));
	cr_assert(c->roll_paused);
	cr_assert_eq(rollout_abort(c, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(c->release, first);
	cr_assert_null(c->previous);
	fake_turn(c);
	cr_assert_eq(count_state(c, SLOT_REPLACING), 2, "the canary's two slots go back");
	cr_assert_eq(c->slots[0].next_rel, first);
	n += listen_replacements(c, old, n);
	fake_exits(c, old[2], W_EXITCODE(0, SIGTERM));
	fake_exits(c, old[3], W_EXITCODE(0, SIGTERM));
	cr_assert(!slots_reloading(c), "the way back is complete");
	cr_assert_eq(on_release(c, first), 4);
	cr_assert_eq(rollout_abort(c, why, sizeof(why)), -1, "nothing to abort now");
	cr_assert_eq(rollout_continue(c, why, sizeof(why)), -1, "nothing to continue");
	fake_cluster_free(c);
}

/* continue after a canary: the other slots, in batches, to the end. */
Test(rollout_steps, canary_continue)
{
	struct cluster *c = start((const char *[]){ "-n", "3", NULL });
	struct reload_request rq;
	struct worker *old[8];
	char why[256];
	int n = 0, i;

	memset(&rq, 0, sizeof(rq));
	rq.canary = 1;
	cr_assert_eq(rollout_reload(c, &rq, why, sizeof(why)), 0, "%s", why);
	fake_turn(c);
	n += listen_replacements(c, old, n);
	fake_exits(c, old[0], W_EXITCODE(0, SIGTERM));
	cr_assert(c->roll_paused);
	cr_assert_eq(rollout_continue(c, why, sizeof(why)), 0, "%s", why);
	for (i = 1; i < 3; i++) {
		fake_turn(c);
		n += listen_replacements(c, old, n);
		fake_exits(c, old[i], W_EXITCODE(0, SIGTERM));
	}
	cr_assert(!slots_reloading(c));
	cr_assert_eq(on_release(c, c->release), 3);
	fake_cluster_free(c);
}

/* A new release that exits before it listens (--max-restarts 1) stops
 * the rollout in its first batch: the old workers stay, the other
 * replacement of the batch still takes its slot, no other batch starts,
 * and the cluster's release is the previous one again. */
Test(rollout_steps, failing_release_stops_the_rollout)
{
	struct cluster *c = start((const char *[]){ "-n", "4", "--reload-batch", "2",
						    "--max-restarts", "1", NULL });
	struct release *first = c->release;
	struct worker *old1;

	supervisor_reload(c);
	fake_turn(c);
	cr_assert_eq(count_state(c, SLOT_REPLACING), 2);
	old1 = c->slots[1].active;
	fake_exits(c, c->slots[0].next, W_EXITCODE(1, 0));
	cr_assert(!slots_reloading(c), "aborted");
	cr_assert_eq(c->release, first, "back to the previous release");
	cr_assert_null(c->previous);
	cr_assert_eq(c->slots[0].state, SLOT_ACTIVE);
	cr_assert_eq(c->slots[0].active->rel, first);
	cr_assert_eq(c->slots[1].state, SLOT_REPLACING, "the other one goes on");
	fake_listens(c, c->slots[1].next);
	fake_exits(c, old1, W_EXITCODE(0, SIGTERM));
	cr_assert_neq(c->slots[1].active->rel, first, "it runs the new release");
	cr_assert_eq(count_state(c, SLOT_REPLACING), 0, "no other batch");
	cr_assert_eq(on_release(c, first), 3);
	fake_cluster_free(c);
}
