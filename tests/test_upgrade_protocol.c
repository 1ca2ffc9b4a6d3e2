/*
 * test_upgrade_protocol.c - an upgrade across a change of the shim's
 * protocol (surface/upgrade.c, upgrade_adopt).
 *
 * There has been one protocol since upgrades exist, so the test hook
 * CLUSTER_RUN_TEST_STATE_PROTOCOL makes the old image write another into
 * the state, as if its workers' shims spoke it:
 *   - an older one: the new image adopts the workers, says it rolls them
 *     onto the new shim, and does (every slot gets a new pid, on the next
 *     generation), under connection-per-request load with no request
 *     failed, counted as one upgrade and one completed reload;
 *   - a newer one: the new image cannot understand those shims and gives
 *     the state back; cluster-ctl upgrade fails in one line that says
 *     why, the workers keep their pids and the cluster serves on.
 * Under rr (the master hands every connection) and shared (the workers
 * accept on the master's socket).
 */
#include "harness.h"
#include "tmpdir.h"
#include "upgrade_cluster.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(upgrade_protocol, .fini = tmpdir_fini, .timeout = 150);

/* The protocol this build speaks, from the probe's answer
 * ("cluster-run-upgrade format=F version=V protocol=P"). */
static int build_protocol(void)
{
	const char *argv[] = { cluster_run_path(), "--upgrade-probe", "-n", "1", "--",
			       helper("event_server"), NULL };
	struct run r;
	const char *p;

	run_capture(&r, argv, 60000, NULL, NULL);
	p = strstr(r.out, " protocol=");
	cr_assert(p && atoi(p + 10) > 0, "the probe said: %s%s", r.out, r.err);
	return atoi(p + 10);
}

/* Started with the state's protocol set to proto (the hook is read by
 * the image that saves the state: the first one, the one started here). */
static void start_with_protocol(struct upc *c, const char *policy, int proto)
{
	char v[16];

	snprintf(v, sizeof(v), "%d", proto);
	cr_assert_eq(setenv("CLUSTER_RUN_TEST_STATE_PROTOCOL", v, 1), 0);
	upc_start(c, 2, policy, "event_server", NULL);
	unsetenv("CLUSTER_RUN_TEST_STATE_PROTOCOL");
}

static void older_shims_are_rolled(const char *policy)
{
	struct upc c;
	struct run r;
	struct load *l;
	struct upc_worker w[16];
	pid_t before[16], after[16];
	long ok, failed;
	int proto = build_protocol(), i, n;

	start_with_protocol(&c, policy, proto - 1);
	cr_assert_eq(upc_slot_pids(&c, before, NULL), 2, "%s", c.cr->log);
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 100, 60000);

	upc_upgrade_ok(&c, NULL);
	cr_assert(cr_wait_line(c.cr, "rolling the workers onto the new shim", 30000), "%s",
		  c.cr->log);
	cr_assert(cr_wait_line(c.cr, "reload complete", 60000), "%s", c.cr->log);
	load_wait_more(l, 100, 60000);
	load_stop(l, &ok, &failed, NULL);
	cr_log_info("%s: %ld requests through the upgrade and the roll, %ld failed", policy,
		    ok, failed);
	cr_assert_eq(failed, 0, "%s: %ld of %ld failed\n%s", policy, failed, ok + failed,
		     c.cr->log);

	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 1, "%s", r.out);
	cr_assert_eq(json_num(r.out, "reloads_complete"), 1, "%s", r.out);
	n = upc_workers_of(r.out, w, 16);
	cr_assert_eq(n, 2, "%s", r.out);
	for (i = 0; i < n; i++)
		cr_assert_eq(w[i].generation, 1, "slot %d is on generation %u\n%s", w[i].slot,
			     w[i].generation, r.out);
	cr_assert_eq(upc_slot_pids(&c, after, NULL), 2);
	for (i = 0; i < 2; i++)
		cr_assert_neq(after[i], before[i], "slot %d kept pid %d: not rolled\n%s", i,
			      (int)before[i], c.cr->log);
	upc_stop(&c);
}

Test(upgrade_protocol, older_shims_are_rolled_rr) { older_shims_are_rolled("rr"); }
Test(upgrade_protocol, older_shims_are_rolled_shared) { older_shims_are_rolled("shared"); }

static void newer_shims_give_the_state_back(const char *policy)
{
	struct upc c;
	struct run r;
	struct load *l;
	pid_t before[16];
	char want[96];
	long ok, failed;
	int proto = build_protocol();

	start_with_protocol(&c, policy, proto + 1);
	cr_assert_eq(upc_slot_pids(&c, before, NULL), 2, "%s", c.cr->log);
	l = load_start_timeout(c.port, CLIENTS, REQUEST_MS);
	load_wait_more(l, 100, 60000);

	upc_upgrade_refused(&c, NULL, &r);
	snprintf(want, sizeof(want), "protocol %d, newer than this build's %d", proto + 1,
		 proto);
	cr_assert(strstr(r.err, want), "%s: the line does not say why: %s", policy, r.err);
	load_wait_more(l, 100, 60000);
	load_stop(l, &ok, &failed, NULL);
	cr_assert_eq(failed, 0, "%s: %ld of %ld failed\n%s", policy, failed, ok + failed,
		     c.cr->log);
	upc_same_pids(&c, before, "after the refused upgrade");
	upc_status(&c, &r);
	cr_assert_eq(json_num(r.out, "upgrades"), 0, "%s", r.out);
	cr_assert_eq(json_num(r.out, "upgrades_failed"), 1, "%s", r.out);
	upc_stop(&c);
}

Test(upgrade_protocol, newer_shims_give_the_state_back_rr)
{
	newer_shims_give_the_state_back("rr");
}

Test(upgrade_protocol, newer_shims_give_the_state_back_shared)
{
	newer_shims_give_the_state_back("shared");
}
