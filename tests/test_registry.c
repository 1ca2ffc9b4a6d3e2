/*
 * test_registry.c - the table of policies (launcher/policy/policy.c) is the
 * one place a policy is listed, so a policy added to it is tested here
 * without a line of its own: every policy in the table is offered by
 * `cluster-run --help` (in the table's order, with its help line), named
 * by the unknown-policy error, and serves a request through a helper
 * server.  The suite links the launcher's core library to walk the table
 * itself, and drives the built cluster-run from outside for the rest.
 */
#include "harness.h"
#include "cluster.h"
#include "policy/policy.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(registry, .fini = harness_cleanup, .timeout = 120);

#define MAX_NAMES 64

struct help_policies {
	int n;
	char name[MAX_NAMES][32];
	char text[8192];        /* the section, blanks squeezed to one space */
};

/* The Policies section of --help: the first word of each line indented by
 * two spaces (wrapped lines are indented further), up to the blank line. */
static void read_help(struct help_policies *h)
{
	const char *argv[] = { cluster_run_path(), "--help", NULL };
	const char *line;
	struct run r;
	size_t len = 0;

	memset(h, 0, sizeof(*h));
	run_capture(&r, argv, 10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "--help: 0x%x %s",
		  r.status, r.err);
	line = strstr(r.out, "\nPolicies");
	cr_assert(line, "no Policies section in --help:\n%s", r.out);
	line = strchr(line + 1, '\n');
	for (; line && line[1] && line[1] != '\n'; line = strchr(line + 1, '\n')) {
		const char *p = line + 1;

		if (p[0] == ' ' && p[1] == ' ' && p[2] != ' ') {
			cr_assert(h->n < MAX_NAMES);
			sscanf(p + 2, "%31s", h->name[h->n++]);
		}
		/* the line joins h->text with its blanks squeezed, so a help line
		 * wrapped over two lines is still found whole */
		for (; *p && *p != '\n' && len + 2 < sizeof(h->text); p++) {
			int blank = isspace((unsigned char)*p);

			if (!blank || (len && h->text[len - 1] != ' '))
				h->text[len++] = blank ? ' ' : *p;
		}
		if (len && h->text[len - 1] != ' ')
			h->text[len++] = ' ';
	}
}

Test(registry, help_offers_every_policy_in_order)
{
	const struct policy_ops *const *p;
	struct help_policies h;
	int i = 0;

	read_help(&h);
	for (p = policy_table; *p; p++, i++) {
		cr_assert(i < h.n, "policy %s is not in --help's Policies", (*p)->name);
		cr_assert_str_eq(h.name[i], (*p)->name, "--help's policy %d", i + 1);
		cr_assert((*p)->help && *(*p)->help, "policy %s has no help line", (*p)->name);
		cr_assert(strstr(h.text, (*p)->help), "%s's help \"%s\" is not in: %s",
			  (*p)->name, (*p)->help, h.text);
	}
	cr_assert_eq(h.n, i, "--help lists %d policies, the table has %d", h.n, i);
}

Test(registry, unknown_policy_names_every_policy)
{
	const char *argv[] = { cluster_run_path(), "-p", "roulette", "--", "true", NULL };
	const struct policy_ops *const *p;
	struct run r;

	run_capture(&r, argv, 10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2, "0x%x %s", r.status, r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "%s", r.err);
	cr_assert(strstr(r.err, "'roulette'"), "%s", r.err);
	for (p = policy_table; *p; p++)
		cr_assert(strstr(r.err, (*p)->name), "%s is not named: %s", (*p)->name, r.err);
}

/* Under every policy of the table, two workers of event_server on port 0:
 * the announcement names the policy (a TCP listener keeps the asked-for
 * one), a request is answered by one of them, and TERM stops it with 0. */
Test(registry, every_policy_serves)
{
	const struct policy_ops *const *p;

	for (p = policy_table; *p; p++) {
		const char *name = (*p)->name;
		struct cr *cr = cr_start(NULL, "-n", "2", "-p", name, "--",
					 helper("event_server"), NULL);
		int port = cr_ready_port(cr, 0, 10000), slot = -1, status;
		char said[64];
		pid_t pid = 0;

		cr_assert(port > 0, "%s: not ready:\n%s", name, cr->log);
		snprintf(said, sizeof(said), "shared by 2 workers, policy %s,", name);
		cr_assert(strstr(cr->log, said), "%s:\n%s", name, cr->log);
		cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "%s: no answer:\n%s",
			     name, cr->log);
		cr_assert(slot == 0 || slot == 1, "%s: answered by slot %d", name, slot);
		status = cr_stop(cr, SIGTERM, 15000);
		cr_assert(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
			  "%s: status 0x%x\n%s", name, status, cr->log);
		cr_log_info("%s: served by slot %d (pid %d)", name, slot, (int)pid);
	}
}
